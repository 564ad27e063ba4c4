"""Console fixtures: the app in process on SQLite, a client that signs in like a browser does."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.domain.enums import Role
from certrepo.services import auth
from certrepo.services.accounts import bootstrap, create_user
from tests.conftest import World

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BASE = "http://certrepo.test"
OPERATOR_PASSWORD = "operator-password-1"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Browser:
    """An httpx client with a cookie jar, and the CSRF token of its current session."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def sign_in(self, user_name: str, password: str) -> httpx.Response:
        page = await self.client.get("/console/sign-in")
        response = await self.client.post(
            "/console/sign-in",
            data={"user_name": user_name, "password": password, "csrf_token": csrf_of(page.text)},
        )
        if response.status_code == 303:
            self.csrf = csrf_of((await self.client.get("/console/repositories")).text)
        return response

    async def htmx_post(
        self,
        path: str,
        data: Mapping[str, str] | Mapping[str, str | list[str]],
        *,
        trigger: str,
        current: str = "/console/repositories",
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> httpx.Response:
        """What htmx sends: the form (multipart with ``files``), the CSRF header, the id of the form and
        the page it is on."""
        headers = {
            "HX-Request": "true",
            "HX-Trigger": trigger,
            "HX-Current-URL": BASE + current,
            "X-CSRF-Token": self.csrf,
        }
        return await self.client.post(path, data=data, files=files, headers=headers)

    async def htmx_get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers={"HX-Request": "true"})


def console_client(world: World) -> httpx.AsyncClient:
    app = build_app(world.settings, world.services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, at the lowest cost: the production parameters take ~0.5 s per hash or check on
    a CI core, and almost every console test signs in. The lockout and hashing rules are unchanged."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Console tests run on SQLite only (overrides the sqlite/postgres pair of tests/conftest.py): the
    console adds no storage path of its own; the store and API tests prove both databases."""
    target = tmp_path / "data" / "certrepo.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
async def browser(world: World) -> AsyncIterator[Browser]:
    """Not signed in yet."""
    async with console_client(world) as client:
        yield Browser(client)


@pytest.fixture
async def admin(world: World) -> AsyncIterator[Browser]:
    """Signed in as the bootstrapped admin."""
    async with console_client(world) as client:
        signed = Browser(client)
        response = await signed.sign_in(world.admin.admin.name, world.admin.admin_password.reveal().decode())
        assert response.status_code == 303, response.text
        yield signed


@pytest.fixture
async def operator(world: World) -> AsyncIterator[Browser]:
    """Signed in as an operator of the same account."""
    await create_user(
        world.services, world.admin_call, name="olga", role=Role.OPERATOR, password=OPERATOR_PASSWORD
    )
    async with console_client(world) as client:
        signed = Browser(client)
        assert (await signed.sign_in("olga", OPERATOR_PASSWORD)).status_code == 303
        yield signed


# --- one service for a whole module -------------------------------------------------------------------
# Most console tests only need a signed-in admin and repositories of their own. Preparing a database and
# signing in costs about half a second; modules whose tests each create what they use share one world
# (their tests run on the module's event loop: pytestmark = pytest.mark.asyncio(loop_scope="module")).


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_world(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("console") / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "certrepo.db")
    settings = Settings(
        data_dir=data, database_url=f"sqlite:///{data / 'certrepo.db'}", base_url="http://127.0.0.1:8080"
    )
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)
    created = await bootstrap(services)
    assert created is not None
    try:
        yield World(settings, services, created)
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_admin(shared_world: World) -> AsyncIterator[Browser]:
    """Signed in as the admin of the module's world."""
    async with console_client(shared_world) as client:
        signed = Browser(client)
        password = shared_world.admin.admin_password.reveal().decode()
        response = await signed.sign_in(shared_world.admin.admin.name, password)
        assert response.status_code == 303, response.text
        yield signed
