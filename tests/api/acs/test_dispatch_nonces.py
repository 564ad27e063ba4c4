"""The replay guard behind the RPC endpoint: nonces kept in the database (services/requests.py), on
SQLite and PostgreSQL, purged once they are too old to be replayed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from certrepo.app import build_services, prepare_storage
from certrepo.config import Settings
from certrepo.domain.enums import DataSource
from certrepo.domain.errors import RepositoryNotFound, SignatureNonceUsed
from certrepo.domain.repository import Binding
from certrepo.services.context import Services
from certrepo.services.repositories import create_repository
from certrepo.services.requests import (
    NONCE_RETENTION,
    PURGE_INTERVAL,
    get_repository_by_instance_id,
    remember_nonce,
)
from tests.conftest import World

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the services."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
async def services(settings: Settings, clock: Clock) -> AsyncIterator[Services]:
    """Services on a fresh migrated database (no account: nonces need none), with a settable clock."""
    prepare_storage(settings, create_master_key=True)
    built, _ = build_services(settings)
    try:
        yield dataclasses.replace(built, clock=clock)
    finally:
        await built.extras["engine"].dispose()  # type: ignore[attr-defined]


async def test_a_new_nonce_is_accepted_and_a_second_use_refused(services: Services) -> None:
    await remember_nonce(services, "n-1", "AK1")
    with pytest.raises(SignatureNonceUsed, match="n-1"):
        await remember_nonce(services, "n-1", "AK1")


async def test_a_nonce_is_refused_for_another_access_key_too(services: Services) -> None:
    await remember_nonce(services, "n-2", "AK1")
    with pytest.raises(SignatureNonceUsed):
        await remember_nonce(services, "n-2", "AK2")


async def test_a_refused_replay_leaves_other_nonces_working(services: Services) -> None:
    await remember_nonce(services, "n-3", "AK1")
    with pytest.raises(SignatureNonceUsed):
        await remember_nonce(services, "n-3", "AK1")
    await remember_nonce(services, "n-4", "AK1")


async def test_concurrent_uses_of_one_nonce_let_exactly_one_through(services: Services) -> None:
    results = await asyncio.gather(
        *(remember_nonce(services, "n-race", "AK1") for _ in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, SignatureNonceUsed) for r in results if r is not None)


async def test_a_nonce_is_kept_for_the_whole_replay_window(services: Services, clock: Clock) -> None:
    # A request signed 15 minutes ahead and first seen at T0 stays acceptable until T0 + 30 minutes.
    await remember_nonce(services, "n-5", "AK1")
    clock.now = T0 + timedelta(minutes=30) - timedelta(seconds=1)
    await remember_nonce(services, "purge-trigger-1", "AK1")  # a purge runs here, and must keep n-5
    with pytest.raises(SignatureNonceUsed):
        await remember_nonce(services, "n-5", "AK1")


async def test_an_old_nonce_is_purged_once_it_cannot_be_replayed(services: Services, clock: Clock) -> None:
    await remember_nonce(services, "n-6", "AK1")
    clock.now = T0 + NONCE_RETENTION + PURGE_INTERVAL
    await remember_nonce(services, "purge-trigger-2", "AK1")
    await remember_nonce(services, "n-6", "AK1")  # gone from the table, so accepted again


async def test_a_repository_is_found_by_its_instance_id(world: World) -> None:
    created = await create_repository(
        world.services, world.admin_call, name="by-instance", binding=Binding(DataSource.UPLOADED)
    )
    found = await get_repository_by_instance_id(world.services, world.admin_call, created.instance_id)
    assert found.id == created.id and found.name == "by-instance"


async def test_an_unknown_instance_id_is_repository_not_found(world: World) -> None:
    with pytest.raises(RepositoryNotFound, match="cas-wh-aaaaaaaaaa"):
        await get_repository_by_instance_id(world.services, world.admin_call, "cas-wh-aaaaaaaaaa")
