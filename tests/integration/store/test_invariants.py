"""Invariants the database holds across nodes: each test uses two engines, as two server nodes would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.conftest import World
from tests.support.rows import insert_ca

from certrepo.app import build_services
from certrepo.domain.enums import DataSource, QuotaPool
from certrepo.domain.errors import CaAlreadyBound, QuotaExhausted
from certrepo.domain.repository import Binding
from certrepo.services import audit, repositories
from certrepo.services.context import Services


@pytest.fixture
async def second_node(world: World) -> AsyncIterator[Services]:
    services, _ = build_services(world.settings)
    try:
        yield services
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


def _engine(services: Services):  # type: ignore[no-untyped-def]
    return services.extras["engine"]


async def test_two_nodes_binding_one_intermediate_at_once_exactly_one_wins(
    world: World, second_node: Services
) -> None:
    ca_id = await insert_ca(_engine(world.services), account_id=world.admin.account.id)
    binding = Binding(DataSource.PRIVATE, ca_id=ca_id)
    results = await asyncio.gather(
        *[
            repositories.create_repository(node, world.admin_call, name=f"n{i}", binding=binding)
            for i, node in enumerate([world.services, second_node] * 3)
        ],
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(e, CaAlreadyBound) for e in losers), losers


async def test_the_database_refuses_a_second_binding_even_past_the_service_check(world: World) -> None:
    ca_id = await insert_ca(_engine(world.services), account_id=world.admin.account.id)
    await repositories.create_repository(
        world.services, world.admin_call, name="a", binding=Binding(DataSource.PRIVATE, ca_id=ca_id)
    )
    async with world.services.uow() as uow:
        existing = await uow.repositories.get_by_ca(ca_id)
        assert existing is not None
        clone = existing.__class__(**{**existing.__dict__, "id": None, "instance_id": "cas-wh-zzzzzzzzzz"})
        with pytest.raises(CaAlreadyBound):
            await uow.repositories.add(clone)


async def test_reset_releases_the_intermediate_for_another_repository(world: World) -> None:
    ca_id = await insert_ca(_engine(world.services), account_id=world.admin.account.id)
    binding = Binding(DataSource.PRIVATE, ca_id=ca_id)
    first = await repositories.create_repository(world.services, world.admin_call, name="a", binding=binding)
    assert first.id is not None
    await repositories.reset_repository(world.services, world.admin_call, first.id, acknowledge_risk=True)
    second = await repositories.create_repository(world.services, world.admin_call, name="b", binding=binding)
    assert second.ca_id == ca_id


async def test_a_root_ca_cannot_be_bound(world: World) -> None:
    from certrepo.domain.errors import InvalidInput

    root = await insert_ca(_engine(world.services), account_id=world.admin.account.id, type_="root")
    with pytest.raises(InvalidInput, match="root CA"):
        await repositories.create_repository(
            world.services, world.admin_call, name="r", binding=Binding(DataSource.PRIVATE, ca_id=root)
        )


async def test_quota_is_never_over_consumed_by_concurrent_nodes(world: World, second_node: Services) -> None:
    account = world.admin.account.id
    async with world.services.uow() as uow:
        await uow.quota.set_total(account, QuotaPool.APP, 7)
        await uow.commit()

    async def consume(node: Services) -> bool:
        try:
            async with node.uow() as uow:
                await uow.quota.consume(account, QuotaPool.APP)
                await uow.commit()
            return True
        except QuotaExhausted:
            return False

    outcomes = await asyncio.gather(*[consume(n) for n in [world.services, second_node] * 10])
    assert outcomes.count(True) == 7
    async with world.services.uow() as uow:
        assert (await uow.quota.get(account))[QuotaPool.APP] == (7, 7)


async def test_concurrent_audit_writers_on_two_nodes_form_one_verifiable_chain(
    world: World, second_node: Services
) -> None:
    async def rename(node: Services, repository_id: int, i: int) -> None:
        await repositories.rename_repository(node, world.admin_call, repository_id, f"name-{i}")

    created = [
        await repositories.create_repository(
            world.services, world.admin_call, name=f"r{i}", binding=Binding(DataSource.UPLOADED)
        )
        for i in range(4)
    ]
    await asyncio.gather(
        *[
            rename(node, repo.id, i)  # type: ignore[arg-type]
            for i, (node, repo) in enumerate(zip([world.services, second_node] * 8, created * 4, strict=True))
        ]
    )
    report = await audit.verify_chain(world.services)
    assert report.intact and report.events == 1 + 4 + 16


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        ("UPDATE audit_events SET action = 'repository.delete' WHERE sequence = 2", 2),
        ("UPDATE audit_events SET details = '{}' WHERE sequence = 3", 3),
        ("DELETE FROM audit_events WHERE sequence = 2", 2),
        ("DELETE FROM audit_events WHERE sequence = 4", 4),
        (
            ("INSERT INTO audit_events (sequence, account_id, at, actor, action, outcome, details, prev_hash, hash)"
            " SELECT sequence + 1, account_id, at, actor, action, outcome, details, hash, hash FROM audit_events"
            " WHERE sequence = 4"),
            5,
        ),
    ],
    ids=["edited-action", "edited-details", "deleted-middle", "deleted-last", "appended-behind-the-head"],
)
async def test_an_edited_or_deleted_audit_event_is_detected(world: World, tamper: str, broken_at: int) -> None:
    for i in range(3):
        await repositories.create_repository(
            world.services, world.admin_call, name=f"r{i}", binding=Binding(DataSource.UPLOADED)
        )
    assert (await audit.verify_chain(world.services)).intact
    async with _engine(world.services).begin() as connection:
        await connection.execute(text(tamper))
    report = await audit.verify_chain(world.services)
    assert not report.intact and report.first_broken_sequence == broken_at, report


async def test_access_key_secrets_are_not_in_the_database_in_plaintext(world: World) -> None:
    secret = world.admin.access_key.secret.reveal()
    if world.settings.resolved_database_url.startswith("sqlite"):
        await _engine(world.services).dispose()
        path = Path(world.settings.resolved_database_url.removeprefix("sqlite:///"))
        blob = b"".join(p.read_bytes() for p in [path, path.with_name(path.name + "-wal")] if p.exists())
    else:
        async with _engine(world.services).connect() as connection:
            rows = (await connection.execute(text("SELECT ciphertext FROM key_material"))).all()
            dump = (await connection.execute(text("SELECT * FROM access_keys"))).all()
        blob = b"".join(r[0] for r in rows) + repr(dump).encode()
    assert len(blob) > 0 and secret not in blob
