"""Shared fixtures: databases (SQLite always, PostgreSQL when initdb is there), wired services, clients."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.domain.access import Principal
from certrepo.domain.enums import Role
from certrepo.services.accounts import Bootstrap, bootstrap
from certrepo.services.context import Call, Services
from certrepo.store.database import migrate
from tests.support.postgres import PostgresCluster, start_cluster

REQUIRE_ALL = os.environ.get("CERTREPO_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip for a missing optional component, unless CI demands everything (CERTREPO_REQUIRE_ALL=1)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (CERTREPO_REQUIRE_ALL=1 turns this skip into a failure)")
    pytest.skip(reason)


# --- speed ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id at its minimum cost: every bootstrap and sign-in hashes a password, and the production
    cost (~0.5 s here) would dominate the suite. The code path is the same; test_password_hashing checks
    the production parameters."""
    from argon2 import PasswordHasher

    from certrepo.services import auth

    production = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    auth._dummy_hash.cache_clear()
    try:
        yield
    finally:
        auth._hasher = production
        auth._dummy_hash.cache_clear()


# --- databases --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster | None]:
    """One cluster for the session, with a migrated template database; None without initdb."""
    try:
        cluster = start_cluster()
    except FileNotFoundError:
        yield None
        return
    try:
        cluster.psql("CREATE DATABASE certrepo_template")
        migrate(cluster.url("certrepo_template"))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "certrepo.db"
    migrate(f"sqlite:///{path}")
    return path


_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """A fresh, migrated database per test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "data" / "certrepo.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; storage tests ran on SQLite only")
    assert cluster is not None
    name = f"t{os.getpid()}_{next(_counter)}"
    cluster.psql(f"CREATE DATABASE {name} TEMPLATE certrepo_template")
    return cluster.url(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    return Settings(data_dir=data_dir, database_url=database_url, base_url="http://127.0.0.1:8080")


@dataclass
class World:
    """A prepared service: its settings, services, the bootstrapped admin and its access key."""

    settings: Settings
    services: Services
    admin: Bootstrap

    @property
    def admin_call(self) -> Call:
        a = self.admin.admin
        return Call(Principal(a.account_id, a.id, a.name, Role.ADMIN, is_system_admin=True), "test")

    @property
    def admin_bearer(self) -> str:
        key = self.admin.access_key
        return f"Bearer {key.key.id}:{key.secret.reveal().decode()}"


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)
    result = await bootstrap(services)
    assert result is not None
    try:
        yield World(settings, services, result)
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]
        await services.uow.dispose()  # type: ignore[attr-defined]


@pytest.fixture
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API in process, authenticated as the bootstrapped admin."""
    app = build_app(world.settings, world.services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://certrepo.test", headers={"Authorization": world.admin_bearer}
    ) as client:
        yield client
