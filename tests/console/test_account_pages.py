"""Audit log filters, access keys (secret shown once, revoke) and users (admins) in the console."""

from __future__ import annotations

import re

import pytest

from certrepo.domain.enums import DataSource, Role
from certrepo.domain.repository import Binding
from certrepo.services.accounts import create_user, list_access_keys, list_users
from certrepo.services.repositories import create_repository
from tests.conftest import World

from .conftest import Browser


async def test_the_audit_log_filters_by_action_and_repository(admin: Browser, world: World) -> None:
    first = await create_repository(
        world.services, world.admin_call, name="a", binding=Binding(DataSource.UPLOADED)
    )
    await create_repository(world.services, world.admin_call, name="b", binding=Binding(DataSource.UPLOADED))
    everything = await admin.client.get("/console/audit")
    assert (
        everything.text.count("repository.create</td>") == 2 and "account.bootstrap</td>" in everything.text
    )
    one = await admin.client.get(f"/console/audit?action=repository.create&repository_id={first.id}")
    assert one.text.count("repository.create</td>") == 1 and "account.bootstrap</td>" not in one.text


async def test_an_audit_date_filter_in_the_future_shows_nothing(admin: Browser) -> None:
    response = await admin.client.get("/console/audit?since=2999-01-01")
    assert response.status_code == 200 and "No audit event matches." in response.text


@pytest.mark.parametrize(
    ("query", "message"),
    [("since=yesterday", "YYYY-MM-DD"), ("repository_id=-3", "positive whole number")],
    ids=["bad-date", "bad-repository"],
)
async def test_a_malformed_audit_filter_is_explained(admin: Browser, query: str, message: str) -> None:
    response = await admin.client.get(f"/console/audit?{query}")
    assert response.status_code == 400 and message in response.text


async def test_a_new_access_key_shows_its_secret_once(admin: Browser, world: World) -> None:
    response = await admin.htmx_post("/console/access-keys", {"description": "ci runner"}, trigger="key-form")
    assert response.status_code == 200
    secret = re.search(r'id="created-key-secret">([^<]+)<', response.text)
    key_id = re.search(r'id="created-key-id">([^<]+)<', response.text)
    assert secret and key_id and "shown only this once" in response.text
    assert len(secret.group(1)) >= 30
    later = await admin.client.get("/console/access-keys")
    assert key_id.group(1) in later.text and "ci runner" in later.text
    assert secret.group(1) not in later.text


async def test_an_admin_creates_a_key_for_another_user(admin: Browser, world: World) -> None:
    signer = await create_user(world.services, world.admin_call, name="sig", role=Role.SIGNER, password=None)
    response = await admin.htmx_post("/console/access-keys", {"user_id": str(signer.id)}, trigger="key-form")
    assert response.status_code == 200 and "Access key created for sig" in response.text


async def test_revoking_an_access_key_asks_first_then_revokes(admin: Browser, world: World) -> None:
    key_id = world.admin.access_key.key.id
    dialog = await admin.htmx_get(f"/console/access-keys/{key_id}/revoke")
    assert "cannot be undone" in dialog.text
    response = await admin.htmx_post(f"/console/access-keys/{key_id}/revoke", {}, trigger="revoke-form")
    assert response.status_code == 200 and f"Access key {key_id} revoked." in response.text
    keys = await list_access_keys(world.services, world.admin_call)
    assert not next(k for k, _ in keys if k.id == key_id).is_active
    again = await admin.htmx_post(f"/console/access-keys/{key_id}/revoke", {}, trigger="revoke-form")
    assert again.status_code == 409 and "already revoked" in again.text


async def test_an_admin_adds_a_user_changes_its_role_and_deletes_it(admin: Browser, world: World) -> None:
    added = await admin.htmx_post(
        "/console/users",
        {"name": "carol", "role": "auditor", "password": "a-long-password"},
        trigger="user-form",
    )
    assert added.status_code == 200 and "User carol (auditor) added." in added.text
    carol = next(u for u in await list_users(world.services, world.admin_call) if u.name == "carol")
    assert carol.role is Role.AUDITOR and carol.password_hash
    changed = await admin.htmx_post(
        f"/console/users/{carol.id}/role", {"role": "signer"}, trigger=f"role-{carol.id}"
    )
    assert changed.status_code == 200 and "carol is now signer." in changed.text
    deleted = await admin.htmx_post(
        f"/console/users/{carol.id}/delete", {}, trigger=f"delete-user-{carol.id}-form"
    )
    assert deleted.status_code == 200
    assert "carol" not in {u.name for u in await list_users(world.services, world.admin_call)}


@pytest.mark.parametrize(
    ("form", "slot", "message"),
    [
        ({"name": "d", "role": "admin", "password": "short"}, "#user-form-password-error", "at least 12"),
        ({"name": "bad name!", "role": "admin"}, "#user-form-name-error", "is not valid"),
        ({"name": "admin", "role": "admin"}, "#user-form-name-error", "is taken"),
        ({"name": "e", "role": "root"}, "#user-form-role-error", "role must be one of"),
    ],
    ids=["short-password", "bad-name", "taken", "bad-role"],
)
async def test_user_form_errors_land_next_to_their_field(
    admin: Browser, form: dict[str, str], slot: str, message: str
) -> None:
    response = await admin.htmx_post("/console/users", form, trigger="user-form")
    assert response.status_code in (400, 409) and message in response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == slot
