"""REST authentication and authorisation (SPEC §4): bad credentials, each role against each route, and
account isolation, on SQLite and PostgreSQL.

The role matrix has a few hundred cases, so one prepared service per database serves the whole module (a
fresh database per case would cost a minute); every case creates the objects it changes."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from tests.conftest import World, skip_or_fail
from tests.support.postgres import PostgresCluster

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.services.accounts import bootstrap

pytestmark = pytest.mark.asyncio(loop_scope="module")

_names = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


# --- one prepared service per database --------------------------------------------------------------


@dataclass
class Shared:
    """The module's service: the system admin's client and one user with an access key per role."""

    world: World
    app: object
    admin: httpx.AsyncClient
    user_ids: dict[str, int] = field(default_factory=dict)
    bearers: dict[str, str] = field(default_factory=dict)

    def client(self, bearer: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": bearer} if bearer is not None else {}
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://certrepo.test", headers=headers)

    def as_role(self, role: str) -> httpx.AsyncClient:
        return self.client(self.bearers[role])


def _database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "data" / "certrepo.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; storage tests ran on SQLite only")
    assert cluster is not None
    name = _unique("auth")
    cluster.psql(f"CREATE DATABASE {name} TEMPLATE certrepo_template")
    return cluster.url(name)


async def _create_user(admin: httpx.AsyncClient, role: str) -> int:
    response = await admin.post("/v1/users", json={"name": _unique(role), "role": role})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _create_key(admin: httpx.AsyncClient, user_id: int) -> tuple[str, str]:
    response = await admin.post("/v1/access-keys", json={"user_id": user_id})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["secret"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[Shared]:
    tmp_path = tmp_path_factory.mktemp("auth")
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=_database_url(request, tmp_path, sqlite_template),
        base_url="http://127.0.0.1:8080",
    )
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)
    admin = await bootstrap(services)
    assert admin is not None
    world = World(settings, services, admin)
    app = build_app(settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://certrepo.test", headers={"Authorization": world.admin_bearer}
    ) as client:
        result = Shared(world, app, client)
        result.user_ids["system_admin"] = admin.admin.id
        result.bearers["system_admin"] = world.admin_bearer
        for role in ("admin", "operator", "signer", "auditor"):
            user_id = await _create_user(client, role)
            key_id, secret = await _create_key(client, user_id)
            result.user_ids[role] = user_id
            result.bearers[role] = f"Bearer {key_id}:{secret}"
        try:
            yield result
        finally:
            await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def _repository(shared: Shared) -> int:
    response = await shared.admin.post("/v1/repositories", json={"data_source": "uploaded"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _grant(shared: Shared, user_id: int, repository_id: int) -> None:
    response = await shared.admin.put(f"/v1/users/{user_id}/grants/{repository_id}")
    assert response.status_code == 204, response.text


# --- missing and wrong credentials ------------------------------------------------------------------


async def test_a_request_without_authorization_is_refused_with_a_code(shared: Shared) -> None:
    async with shared.client(None) as anonymous:
        response = await anonymous.get("/v1/repositories")
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized" and "Bearer" in response.json()["message"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "header",
    ["Basic YWRtaW46c2VjcmV0", "Bearer", "Bearer no-colon-here", "Token CR123:secret", ""],
    ids=["basic-scheme", "bearer-without-credentials", "no-colon", "unknown-scheme", "empty"],
)
async def test_a_malformed_authorization_header_is_refused(shared: Shared, header: str) -> None:
    async with shared.client(header) as client:
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "Unauthorized"


async def test_an_unknown_access_key_id_is_refused(shared: Shared) -> None:
    async with shared.client("Bearer CRNOSUCHKEY0000000000000:whatever") as client:
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "InvalidAccessKeyId.NotFound"


async def test_a_wrong_secret_is_refused(shared: Shared) -> None:
    key_id = shared.world.admin.access_key.key.id
    async with shared.client(f"Bearer {key_id}:not-the-secret") as client:
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "SignatureDoesNotMatch"
    assert "not-the-secret" not in response.text


async def test_the_secret_of_another_key_is_refused(shared: Shared) -> None:
    _, other_secret = shared.bearers["operator"].removeprefix("Bearer ").split(":", 1)
    key_id = shared.world.admin.access_key.key.id
    async with shared.client(f"Bearer {key_id}:{other_secret}") as client:
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "SignatureDoesNotMatch"


async def test_a_revoked_key_is_refused_immediately_after_revocation(shared: Shared) -> None:
    key_id, secret = await _create_key(shared.admin, shared.user_ids["operator"])
    async with shared.client(f"Bearer {key_id}:{secret}") as client:
        assert (await client.get("/v1/repositories")).status_code == 200  # the secret is now cached
        revoked = await shared.admin.delete(f"/v1/access-keys/{key_id}")
        assert revoked.status_code == 204
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "InvalidAccessKeyId.NotFound"


async def test_a_key_can_revoke_itself_and_is_refused_afterwards(shared: Shared) -> None:
    key_id, secret = await _create_key(shared.admin, shared.user_ids["signer"])
    async with shared.client(f"Bearer {key_id}:{secret}") as client:
        assert (await client.delete(f"/v1/access-keys/{key_id}")).status_code == 204
        response = await client.get("/v1/access-keys")
    assert response.status_code == 401


async def test_keys_of_a_deleted_user_are_refused(shared: Shared) -> None:
    user_id = await _create_user(shared.admin, "operator")
    key_id, secret = await _create_key(shared.admin, user_id)
    async with shared.client(f"Bearer {key_id}:{secret}") as client:
        assert (await client.get("/v1/repositories")).status_code == 200
        assert (await shared.admin.delete(f"/v1/users/{user_id}")).status_code == 204
        response = await client.get("/v1/repositories")
    assert response.status_code == 401 and response.json()["code"] == "InvalidAccessKeyId.NotFound"


async def test_a_role_change_takes_effect_on_the_next_call(shared: Shared) -> None:
    user_id = await _create_user(shared.admin, "operator")
    key_id, secret = await _create_key(shared.admin, user_id)
    async with shared.client(f"Bearer {key_id}:{secret}") as client:
        created = await client.post("/v1/repositories", json={"data_source": "uploaded"})
        assert created.status_code == 201
        demoted = await shared.admin.patch(f"/v1/users/{user_id}", json={"role": "auditor"})
        assert demoted.status_code == 200
        refused = await client.post("/v1/repositories", json={"data_source": "uploaded"})
    assert refused.status_code == 403 and refused.json()["code"] == "Forbidden"


# --- each role against each route -------------------------------------------------------------------

ROLES = ["system_admin", "admin", "operator", "signer", "auditor"]
EVERYONE = frozenset(ROLES)
SYSTEM_ADMIN = frozenset({"system_admin"})
ADMINS = frozenset({"system_admin", "admin"})
MANAGERS = ADMINS | {"operator"}
AUDITORS = ADMINS | {"auditor"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, object] | None = None


class Arrange:
    """Objects a route needs, created by the system admin for the calling role's test. Each method is
    also a placeholder name of the route templates below."""

    def __init__(self, shared: Shared, role: str) -> None:
        self.shared, self.role = shared, role

    async def repository(self) -> int:
        """An enabled repository, granted to the module's signer (the only role grants matter to)."""
        repository_id = await _repository(self.shared)
        await _grant(self.shared, self.shared.user_ids["signer"], repository_id)
        return repository_id

    async def reset_repository(self) -> int:
        repository_id = await self.repository()
        response = await self.shared.admin.post(
            f"/v1/repositories/{repository_id}/reset", json={"acknowledge_risk": True}
        )
        assert response.status_code == 200, response.text
        return repository_id

    async def user(self) -> int:
        return await _create_user(self.shared.admin, "operator")

    async def signer(self) -> int:
        return await _create_user(self.shared.admin, "signer")

    async def new_name(self) -> str:
        return _unique("n")

    async def own_key(self) -> str:
        key_id, _ = await _create_key(self.shared.admin, self.shared.user_ids[self.role])
        return key_id

    async def other_key(self) -> str:
        key_id, _ = await _create_key(self.shared.admin, await self.user())
        return key_id


Build = Callable[[Arrange], Awaitable[Request]]


async def _fill(arrange: Arrange, method: str, path: str, body: dict[str, object] | None) -> Request:
    """``{placeholders}`` in the path, or as whole body values, name Arrange methods."""
    names = {name for _, name, _, _ in string.Formatter().parse(path) if name}
    values = {name: await getattr(arrange, name)() for name in sorted(names)}
    filled: dict[str, object] | None = None
    if body is not None:
        filled = {}
        for key, value in body.items():
            if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
                value = await getattr(arrange, value[1:-1])()
            filled[key] = value
    return Request(method, path.format(**values), filled)


async def _existing_grant(arrange: Arrange) -> Request:
    repository_id, signer_id = await arrange.repository(), await arrange.signer()
    await _grant(arrange.shared, signer_id, repository_id)
    return Request("DELETE", f"/v1/users/{signer_id}/grants/{repository_id}")


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    allowed: frozenset[str]
    success: int
    body: dict[str, object] | None = None
    build: Build | None = None  # when the placeholders are not enough

    async def request(self, arrange: Arrange) -> Request:
        if self.build is not None:
            return await self.build(arrange)
        return await _fill(arrange, self.method, self.path, self.body)

    @property
    def operation(self) -> tuple[str, str]:
        return self.method, re.sub(r"\{[a-z_]+\}", "{}", self.path)


ROUTES = [
    Route("repository.create", "POST", "/v1/repositories", MANAGERS, 201, {"data_source": "uploaded"}),
    Route("repository.list", "GET", "/v1/repositories", EVERYONE, 200),
    Route("repository.get", "GET", "/v1/repositories/{repository}", EVERYONE, 200),
    Route("repository.rename", "PATCH", "/v1/repositories/{repository}", MANAGERS, 200, {"name": "renamed"}),
    Route(
        "repository.reset",
        "POST",
        "/v1/repositories/{repository}/reset",
        MANAGERS,
        200,
        {"acknowledge_risk": True},
    ),
    Route(
        "repository.enable",
        "POST",
        "/v1/repositories/{reset_repository}/enable",
        MANAGERS,
        200,
        {"data_source": "uploaded"},
    ),
    Route("repository.delete", "DELETE", "/v1/repositories/{reset_repository}", MANAGERS, 204),
    Route("user.create", "POST", "/v1/users", ADMINS, 201, {"name": "{new_name}", "role": "auditor"}),
    Route("user.list", "GET", "/v1/users", ADMINS, 200),
    Route("user.update", "PATCH", "/v1/users/{user}", ADMINS, 200, {"role": "auditor"}),
    Route("user.delete", "DELETE", "/v1/users/{user}", ADMINS, 204),
    Route("grant.add", "PUT", "/v1/users/{signer}/grants/{repository}", ADMINS, 204),
    Route(
        "grant.remove", "DELETE", "/v1/users/{signer}/grants/{repository}", ADMINS, 204, build=_existing_grant
    ),
    Route("access_key.list", "GET", "/v1/access-keys", EVERYONE, 200),
    Route("access_key.create_own", "POST", "/v1/access-keys", EVERYONE, 201, {}),
    Route(
        "access_key.create_for_another_user", "POST", "/v1/access-keys", ADMINS, 201, {"user_id": "{user}"}
    ),
    Route("access_key.revoke_own", "DELETE", "/v1/access-keys/{own_key}", EVERYONE, 204),
    Route("access_key.revoke_another_users", "DELETE", "/v1/access-keys/{other_key}", ADMINS, 204),
    Route(
        "account.create",
        "POST",
        "/v1/accounts",
        SYSTEM_ADMIN,
        201,
        {"name": "{new_name}", "admin_name": "{new_name}"},
    ),
    Route("account.list", "GET", "/v1/accounts", SYSTEM_ADMIN, 200),
    Route("audit.list", "GET", "/v1/audit-events", AUDITORS, 200),
    Route("audit.verify", "GET", "/v1/audit-events/verify", AUDITORS, 200),
    Route("audit.export", "GET", "/v1/audit-events/export", AUDITORS, 200),
    Route("quota.get", "GET", "/v1/quota", EVERYONE, 200),
    Route("quota.set", "PUT", "/v1/quota", ADMINS, 200, {"app": {"total": 1000}}),
]


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
@pytest.mark.parametrize("role", ROLES)
async def test_each_role_gets_exactly_the_routes_its_rights_allow(
    shared: Shared, role: str, route: Route
) -> None:
    request = await route.request(Arrange(shared, role))
    async with shared.as_role(role) as client:
        response = await client.request(request.method, request.path, json=request.body)
    if role in route.allowed:
        assert response.status_code == route.success, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "Forbidden" and response.json()["message"]


async def test_the_role_matrix_covers_every_operation_on_its_paths(shared: Shared) -> None:
    """A new method on these paths must join the matrix; routes of later issues need rows of their own."""
    document = shared.app.openapi()  # type: ignore[attr-defined]
    matrix = {r.operation for r in ROUTES}
    paths = {path for _, path in matrix}
    documented = {
        (method.upper(), re.sub(r"\{[a-z_]+\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
    }
    assert sorted({op for op in documented if op[1] in paths} ^ matrix) == []


# --- signers see only what they were granted; auditors read everything -----------------------------


async def test_a_signer_lists_only_the_repositories_granted_to_it(shared: Shared) -> None:
    signer_id = await _create_user(shared.admin, "signer")
    key_id, secret = await _create_key(shared.admin, signer_id)
    granted, _hidden = await _repository(shared), await _repository(shared)
    await _grant(shared, signer_id, granted)
    async with shared.client(f"Bearer {key_id}:{secret}") as signer:
        listed = (await signer.get("/v1/repositories", params={"page_size": 500})).json()
    assert [r["id"] for r in listed["items"]] == [granted] and listed["total"] == 1


async def test_a_signer_gets_not_found_for_a_repository_it_was_not_granted(shared: Shared) -> None:
    hidden = await _repository(shared)
    async with shared.as_role("signer") as signer:
        response = await signer.get(f"/v1/repositories/{hidden}")
    assert response.status_code == 404 and response.json()["code"] == "NotFound.Repository"


async def test_revoking_a_grant_hides_the_repository_from_the_signer_again(shared: Shared) -> None:
    signer_id = await _create_user(shared.admin, "signer")
    key_id, secret = await _create_key(shared.admin, signer_id)
    repository_id = await _repository(shared)
    await _grant(shared, signer_id, repository_id)
    async with shared.client(f"Bearer {key_id}:{secret}") as signer:
        assert (await signer.get(f"/v1/repositories/{repository_id}")).status_code == 200
        removed = await shared.admin.delete(f"/v1/users/{signer_id}/grants/{repository_id}")
        assert removed.status_code == 204
        response = await signer.get(f"/v1/repositories/{repository_id}")
    assert response.status_code == 404


async def test_an_auditor_reads_every_repository_of_its_account(shared: Shared) -> None:
    repository_id = await _repository(shared)
    async with shared.as_role("auditor") as auditor:
        shown = await auditor.get(f"/v1/repositories/{repository_id}")
        listed = (await auditor.get("/v1/repositories", params={"page_size": 500})).json()
    assert shown.status_code == 200
    assert repository_id in [r["id"] for r in listed["items"]]


async def test_a_non_admin_lists_only_its_own_access_keys(shared: Shared) -> None:
    async with shared.as_role("operator") as operator:
        keys = (await operator.get("/v1/access-keys")).json()
    own_key_id = shared.bearers["operator"].removeprefix("Bearer ").split(":")[0]
    assert own_key_id in [k["id"] for k in keys]
    assert {k["user_name"] for k in keys} == {keys[0]["user_name"]}


# --- accounts are isolated --------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenant(shared: Shared) -> AsyncIterator[httpx.AsyncClient]:
    """The admin of a second account, created by the system admin."""
    response = await shared.admin.post(
        "/v1/accounts", json={"name": _unique("tenant"), "admin_name": _unique("tenant-admin")}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    async with shared.client(f"Bearer {created['access_key_id']}:{created['access_key_secret']}") as client:
        yield client


async def test_another_account_does_not_list_our_repositories(
    shared: Shared, tenant: httpx.AsyncClient
) -> None:
    await _repository(shared)
    own = await tenant.post("/v1/repositories", json={"data_source": "uploaded", "name": "theirs"})
    listed = (await tenant.get("/v1/repositories", params={"page_size": 500})).json()
    assert [r["id"] for r in listed["items"]] == [own.json()["id"]]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "stolen"}),
        ("POST", "/reset", {"acknowledge_risk": True}),
        ("DELETE", "", None),
    ],
    ids=["get", "rename", "reset", "delete"],
)
async def test_another_account_cannot_reach_our_repository(
    shared: Shared, tenant: httpx.AsyncClient, method: str, suffix: str, body: dict[str, object] | None
) -> None:
    repository_id = await _repository(shared)
    response = await tenant.request(method, f"/v1/repositories/{repository_id}{suffix}", json=body)
    assert response.status_code == 404 and response.json()["code"] == "NotFound.Repository"
    unchanged = (await shared.admin.get(f"/v1/repositories/{repository_id}")).json()
    assert unchanged["status"] == "enabled" and unchanged["name"] != "stolen"


async def test_another_account_sees_none_of_our_audit_events(
    shared: Shared, tenant: httpx.AsyncClient
) -> None:
    repository_id = await _repository(shared)
    events = (await tenant.get("/v1/audit-events", params={"page_size": 500})).json()
    filtered = (await tenant.get("/v1/audit-events", params={"repository_id": repository_id})).json()
    exported = (await tenant.get("/v1/audit-events/export")).text
    ours = (await shared.admin.get("/v1/audit-events", params={"repository_id": repository_id})).json()
    assert ours["total"] >= 1
    assert filtered["total"] == 0
    assert all(e["repository_id"] != repository_id for e in events["items"])
    assert {e["action"] for e in events["items"]} <= {"account.create", "repository.create"}
    assert f'"repository_id":{repository_id},' not in exported
    assert len(exported.splitlines()) == events["total"]


async def test_another_account_cannot_touch_our_users_grants_or_keys(
    shared: Shared, tenant: httpx.AsyncClient
) -> None:
    signer_id = await _create_user(shared.admin, "signer")
    key_id, _ = await _create_key(shared.admin, signer_id)
    repository_id = await _repository(shared)
    assert (await tenant.patch(f"/v1/users/{signer_id}", json={"role": "admin"})).status_code == 404
    assert (await tenant.put(f"/v1/users/{signer_id}/grants/{repository_id}")).status_code == 404
    assert (await tenant.post("/v1/access-keys", json={"user_id": signer_id})).status_code == 404
    assert (await tenant.delete(f"/v1/access-keys/{key_id}")).status_code == 404
    assert signer_id not in [u["id"] for u in (await tenant.get("/v1/users")).json()]
    assert key_id not in [k["id"] for k in (await tenant.get("/v1/access-keys")).json()]


async def test_an_account_admin_is_not_the_system_admin(tenant: httpx.AsyncClient) -> None:
    listed = await tenant.get("/v1/accounts")
    created = await tenant.post("/v1/accounts", json={"name": _unique("x"), "admin_name": _unique("x")})
    assert listed.status_code == 403 and created.status_code == 403

