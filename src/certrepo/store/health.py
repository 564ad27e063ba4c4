"""Readiness: the database answers and its schema is the newest migration."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import current_revision, head_revision

__all__ = ["Readiness", "check_database"]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str
    schema_revision: str | None
    expected_revision: str | None
    problem: str | None = None


async def check_database(engine: AsyncEngine) -> Readiness:
    """Never raises: an operator reads ``problem`` to learn what is wrong."""
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
    return Readiness(True, backend, revision, expected)
