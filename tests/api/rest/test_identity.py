"""Users, signer grants, access keys and accounts over REST (SPEC §1, §4), on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import World

from certrepo.store.tables import metadata

pytestmark = pytest.mark.usefixtures("world")


async def _user(
    api: httpx.AsyncClient, name: str, role: str = "operator", **extra: object
) -> dict[str, object]:
    response = await api.post("/v1/users", json={"name": name, "role": role, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _repository(api: httpx.AsyncClient) -> int:
    response = await api.post("/v1/repositories", json={"data_source": "uploaded"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _as(api: httpx.AsyncClient, key_id: str, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport,
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {key_id}:{secret}"},
    )


# --- users ------------------------------------------------------------------------------------------


async def test_a_created_user_is_listed_without_any_password_material(api: httpx.AsyncClient) -> None:
    created = await _user(api, "alice", "auditor", password="correct horse battery")
    listed = (await api.get("/v1/users")).json()
    assert created["name"] == "alice" and created["role"] == "auditor"
    assert [u["name"] for u in listed] == ["admin", "alice"]
    assert all(set(u) == {"id", "name", "role", "created_at"} for u in listed)


async def test_a_user_role_and_password_can_be_changed(api: httpx.AsyncClient) -> None:
    user = await _user(api, "bob")
    changed = await api.patch(f"/v1/users/{user['id']}", json={"role": "signer", "password": "x" * 12})
    assert changed.status_code == 200 and changed.json()["role"] == "signer"
    assert [u["role"] for u in (await api.get("/v1/users")).json() if u["id"] == user["id"]] == ["signer"]


async def test_a_deleted_user_is_gone_and_its_keys_with_it(api: httpx.AsyncClient) -> None:
    user = await _user(api, "carol")
    key = (await api.post("/v1/access-keys", json={"user_id": user["id"]})).json()
    deleted = await api.delete(f"/v1/users/{user['id']}")
    assert deleted.status_code == 204
    assert "carol" not in [u["name"] for u in (await api.get("/v1/users")).json()]
    assert key["id"] not in [k["id"] for k in (await api.get("/v1/access-keys")).json()]
    again = await api.delete(f"/v1/users/{user['id']}")
    assert again.status_code == 404


async def test_a_duplicate_user_name_is_a_conflict(api: httpx.AsyncClient) -> None:
    await _user(api, "dave")
    response = await api.post("/v1/users", json={"name": "dave", "role": "signer"})
    assert response.status_code == 409 and "dave" in response.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PATCH"], ids=["create", "update"])
async def test_a_password_shorter_than_12_characters_is_refused(api: httpx.AsyncClient, method: str) -> None:
    if method == "POST":
        response = await api.post("/v1/users", json={"name": "erin", "role": "operator", "password": "short"})
    else:
        user = await _user(api, "erin")
        response = await api.patch(f"/v1/users/{user['id']}", json={"password": "x" * 11})
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"
    assert "password" in response.json()["message"]


@pytest.mark.parametrize(
    "name",
    ["", "with space", "-leading-dash", "x" * 65, "tab\tname", "nul\x00name"],
    ids=["empty", "space", "leading-dash", "65-chars", "tab", "nul"],
)
async def test_an_invalid_user_name_is_refused(api: httpx.AsyncClient, name: str) -> None:
    response = await api.post("/v1/users", json={"name": name, "role": "operator"})
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"


async def test_an_unknown_role_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/users", json={"name": "frank", "role": "root"})
    assert response.status_code == 400 and "role" in response.json()["message"]


async def test_an_admin_cannot_demote_itself(api: httpx.AsyncClient, world: World) -> None:
    admin_id = world.admin.admin.id
    response = await api.patch(f"/v1/users/{admin_id}", json={"role": "operator"})
    assert response.status_code == 409 and "own role" in response.json()["message"]
    assert (await api.get("/v1/users")).json()[0]["role"] == "admin"


async def test_an_admin_cannot_delete_itself(api: httpx.AsyncClient, world: World) -> None:
    response = await api.delete(f"/v1/users/{world.admin.admin.id}")
    assert response.status_code == 409


async def test_another_admin_cannot_delete_the_system_admin(api: httpx.AsyncClient, world: World) -> None:
    other = await _user(api, "grace", "admin")
    key = (await api.post("/v1/access-keys", json={"user_id": other["id"]})).json()
    async with _as(api, key["id"], key["secret"]) as grace:
        response = await grace.delete(f"/v1/users/{world.admin.admin.id}")
    assert response.status_code == 409
    assert len((await api.get("/v1/users")).json()) == 2


async def test_an_unknown_user_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.patch("/v1/users/4242", json={"role": "auditor"})
    assert response.status_code == 404 and "4242" in response.json()["message"]


# --- grants -----------------------------------------------------------------------------------------


async def test_a_signer_can_be_granted_a_repository_and_the_grant_withdrawn(api: httpx.AsyncClient) -> None:
    signer = await _user(api, "heidi", "signer")
    repository_id = await _repository(api)
    granted = await api.put(f"/v1/users/{signer['id']}/grants/{repository_id}")
    twice = await api.put(f"/v1/users/{signer['id']}/grants/{repository_id}")
    removed = await api.delete(f"/v1/users/{signer['id']}/grants/{repository_id}")
    again = await api.delete(f"/v1/users/{signer['id']}/grants/{repository_id}")
    assert (granted.status_code, twice.status_code, removed.status_code) == (204, 204, 204)
    assert again.status_code == 404


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
async def test_grants_are_only_for_signers(api: httpx.AsyncClient, role: str) -> None:
    user = await _user(api, f"ivan-{role}", role)
    repository_id = await _repository(api)
    response = await api.put(f"/v1/users/{user['id']}/grants/{repository_id}")
    assert response.status_code == 400 and "signers" in response.json()["message"]


async def test_a_grant_on_an_unknown_repository_is_not_found(api: httpx.AsyncClient) -> None:
    signer = await _user(api, "judy", "signer")
    response = await api.put(f"/v1/users/{signer['id']}/grants/999")
    assert response.status_code == 404 and response.json()["code"] == "NotFound.Repository"


# --- access keys ------------------------------------------------------------------------------------


async def test_an_access_key_secret_is_shown_once_and_never_listed(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/access-keys", json={"description": "ci"})
    assert created.status_code == 201
    key = created.json()
    assert key["secret"] and key["status"] == "active" and key["description"] == "ci"
    listed = await api.get("/v1/access-keys")
    assert key["id"] in [k["id"] for k in listed.json()]
    assert all("secret" not in k for k in listed.json())
    assert key["secret"] not in listed.text


async def test_a_new_access_key_works_as_a_bearer_token(api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/access-keys", json={})).json()
    async with _as(api, key["id"], key["secret"]) as client:
        response = await client.get("/v1/repositories")
    assert response.status_code == 200


async def test_the_database_never_holds_an_access_key_secret_in_plaintext(
    api: httpx.AsyncClient, world: World
) -> None:
    key = (await api.post("/v1/access-keys", json={})).json()
    engine = world.services.extras["engine"]
    dumped: list[str] = []
    async with engine.connect() as connection:  # type: ignore[attr-defined]
        for table in metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            dumped.extend(repr(row) for row in rows)
    everything = "\n".join(dumped)
    assert key["id"] in everything
    assert key["secret"] not in everything
    assert key["secret"].encode().hex() not in everything


async def test_a_revoked_key_is_listed_as_revoked_and_cannot_be_revoked_twice(api: httpx.AsyncClient) -> None:
    key = (await api.post("/v1/access-keys", json={})).json()
    assert (await api.delete(f"/v1/access-keys/{key['id']}")).status_code == 204
    listed = {k["id"]: k for k in (await api.get("/v1/access-keys")).json()}
    assert listed[key["id"]]["status"] == "revoked" and listed[key["id"]]["revoked_at"]
    again = await api.delete(f"/v1/access-keys/{key['id']}")
    assert again.status_code == 409


async def test_revoking_an_unknown_key_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/access-keys/CRNOSUCHKEY")
    assert response.status_code == 404


async def test_a_key_for_an_unknown_user_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/access-keys", json={"user_id": 4242})
    assert response.status_code == 404


# --- accounts ---------------------------------------------------------------------------------------


async def test_the_system_admin_creates_an_account_with_a_working_first_admin(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/accounts", json={"name": "acme", "admin_name": "acme-admin"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "acme" and created["admin_name"] == "acme-admin"
    assert len(created["admin_password"]) >= 12
    async with _as(api, created["access_key_id"], created["access_key_secret"]) as acme:
        users = (await acme.get("/v1/users")).json()
    assert [(u["name"], u["role"]) for u in users] == [("acme-admin", "admin")]
    assert [a["name"] for a in (await api.get("/v1/accounts")).json()] == ["default", "acme"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "default", "admin_name": "someone"}, "name"),
        ({"name": "fresh", "admin_name": "admin"}, "admin_name"),
    ],
    ids=["account-name", "admin-name"],
)
async def test_a_taken_account_or_admin_name_is_a_conflict(
    api: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await api.post("/v1/accounts", json=body)
    assert response.status_code == 409 and response.json()["details"]["field"] == field
    assert len((await api.get("/v1/accounts")).json()) == 1


@pytest.mark.parametrize(
    "body",
    [{"name": "   ", "admin_name": "ok-admin"}, {"name": "x\x00y", "admin_name": "ok-admin"}],
    ids=["blank", "nul"],
)
async def test_an_invalid_account_name_is_refused(api: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await api.post("/v1/accounts", json=body)
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"


async def test_only_the_system_admin_manages_accounts(api: httpx.AsyncClient) -> None:
    other = await _user(api, "mallory", "admin")
    key = (await api.post("/v1/access-keys", json={"user_id": other["id"]})).json()
    async with _as(api, key["id"], key["secret"]) as mallory:
        created = await mallory.post("/v1/accounts", json={"name": "evil", "admin_name": "evil-admin"})
        listed = await mallory.get("/v1/accounts")
    assert created.status_code == 403 and listed.status_code == 403
    assert "system admin" in created.json()["message"]
