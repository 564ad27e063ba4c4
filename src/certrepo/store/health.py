"""Readiness: the database answers, its schema is the newest migration, and this node's master keys open
the secrets stored there (a node started with another cluster's key file is the classic scale-out slip)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from certrepo.domain.secrets import SealedSecret

from .database import current_revision, head_revision
from .stores import sealed_secret_of
from .tables import key_material

__all__ = ["Readiness", "check_database"]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str
    schema_revision: str | None
    expected_revision: str | None
    problem: str | None = None


OpenSecret = Callable[[SealedSecret, str], object]  # the keystore's open(sealed, purpose); raises if it cannot


async def check_database(engine: AsyncEngine, open_secret: OpenSecret | None = None) -> Readiness:
    """Never raises: an operator reads ``problem`` to learn what is wrong. With ``open_secret``, the newest
    stored secret must open with this node's master keys (the plaintext is dropped at once)."""
    expected = head_revision()
    backend = engine.dialect.name
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            revision = await connection.run_sync(current_revision)
    except Exception as exc:  # noqa: BLE001 - any driver error means "not ready"; say which
        return Readiness(False, backend, None, expected, f"database unreachable: {type(exc).__name__}: {exc}")
    if revision != expected:
        return Readiness(
            False, backend, revision, expected, f"schema is at {revision}, expected {expected}: run migrations"
        )
    if open_secret is not None and (problem := await _master_key_problem(engine, open_secret)) is not None:
        return Readiness(False, backend, revision, expected, problem)
    return Readiness(True, backend, revision, expected)


async def _master_key_problem(engine: AsyncEngine, open_secret: OpenSecret) -> str | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(key_material).order_by(key_material.c.id.desc()).limit(1))).first()
    if row is None:
        return None
    try:
        open_secret(sealed_secret_of(row), row.purpose)
    except Exception as exc:  # noqa: BLE001 - whatever the keystore raises, the node cannot serve keys
        return (
            f"this node's master key cannot open stored secrets (secret {row.id}, master key version "
            f"{row.master_version}: {type(exc).__name__}); give every node the cluster's master key file or HSM"
        )
    return None
