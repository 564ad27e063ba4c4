"""Console over HTTP: sign-in, session cookie, lockout, CSRF, and that every page renders."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from certrepo.app import build_app
from certrepo.domain.enums import DataSource, Role
from certrepo.domain.paging import Page
from certrepo.domain.repository import Binding
from certrepo.services.accounts import create_user, delete_user, list_users
from certrepo.services.auth import LOCKOUT_AFTER_FAILURES
from certrepo.services.repositories import create_repository, reset_repository
from tests.conftest import World

from .conftest import BASE, Browser, console_client, csrf_of


def _admin_password(world: World) -> str:
    return world.admin.admin_password.reveal().decode()


# --- entry and sign-in ------------------------------------------------------------------------------


async def test_a_browser_asking_for_the_root_is_sent_to_the_console(browser: Browser) -> None:
    response = await browser.client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 303 and response.headers["location"] == "/console"


async def test_an_api_client_asking_for_the_root_still_gets_a_json_404(browser: Browser) -> None:
    response = await browser.client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json()["code"] == "NotFound"


async def test_a_page_without_a_session_sends_to_sign_in_and_back(browser: Browser) -> None:
    response = await browser.client.get("/console/audit?action=repository.reset")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/audit%3Faction%3Drepository.reset"


async def test_an_htmx_request_without_a_session_is_redirected_by_htmx(browser: Browser) -> None:
    response = await browser.htmx_get("/console/repositories")
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/console/sign-in"


async def test_signing_in_sets_an_http_only_same_site_cookie_and_goes_to_next(
    browser: Browser, world: World
) -> None:
    page = await browser.client.get("/console/sign-in?next=/console/audit")
    response = await browser.client.post(
        "/console/sign-in",
        data={
            "user_name": "admin",
            "password": _admin_password(world),
            "csrf_token": csrf_of(page.text),
            "next": "/console/audit",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/audit"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # base_url is http here
    assert (await browser.client.get("/console/audit")).status_code == 200


async def test_the_session_cookie_is_secure_when_the_service_is_served_over_https(world: World) -> None:
    services = dataclasses.replace(world.services, base_url="https://certrepo.example")
    app = build_app(world.settings, services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.get("/console/sign-in")
    assert "secure" in response.headers["set-cookie"].lower()


async def test_next_never_leads_off_the_console(browser: Browser, world: World) -> None:
    page = await browser.client.get("/console/sign-in")
    response = await browser.client.post(
        "/console/sign-in",
        data={
            "user_name": "admin",
            "password": _admin_password(world),
            "csrf_token": csrf_of(page.text),
            "next": "https://evil.example/console",
        },
    )
    assert response.headers["location"] == "/console/repositories"


async def test_a_wrong_password_is_refused_with_a_message_on_the_form(browser: Browser) -> None:
    response = await browser.sign_in("admin", "not-the-password")
    assert response.status_code == 401
    assert "user name or password is wrong" in response.text and 'id="sign-in-form-error"' in response.text
    assert (await browser.client.get("/console/repositories")).status_code == 303


async def test_repeated_failures_lock_the_user_even_against_the_right_password(
    browser: Browser, world: World
) -> None:
    for _ in range(LOCKOUT_AFTER_FAILURES):
        assert (await browser.sign_in("admin", "wrong-password")).status_code == 401
    response = await browser.sign_in("admin", _admin_password(world))
    assert response.status_code == 401 and "locked" in response.text


async def test_every_sign_in_attempt_on_a_user_is_audited_with_its_outcome(browser: Browser, world: World) -> None:
    assert (await browser.sign_in("nobody-by-this-name", "whatever")).status_code == 401  # no account to log to
    assert (await browser.sign_in("admin", "wrong-password")).status_code == 401
    assert (await browser.sign_in("admin", _admin_password(world))).status_code == 303
    async with world.services.uow(read_only=True) as uow:
        events, _ = await uow.audit.list(
            account_id=world.admin.account.id, page=Page(1, 50), action="user.sign_in"
        )
    outcomes = sorted((e.outcome, e.details.get("reason"), e.actor) for e in events)
    actor = f"user:{world.admin.admin.id}"
    assert outcomes == [("failure", "wrong password", actor), ("success", None, actor)]
    assert all(e.request_id for e in events)


async def test_sign_out_clears_the_session(admin: Browser) -> None:
    response = await admin.client.post("/console/sign-out", data={"csrf_token": admin.csrf})
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in?signed_out=1"
    assert (await admin.client.get("/console/repositories")).status_code == 303
    assert "You are signed out." in (await admin.client.get("/console/sign-in?signed_out=1")).text


async def test_an_altered_session_cookie_is_not_accepted(admin: Browser) -> None:
    token = admin.client.cookies.get("certrepo_session")
    assert token is not None
    admin.client.cookies.clear()
    admin.client.cookies.set(
        "certrepo_session",
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        domain="certrepo.test",
        path="/console",
    )
    assert (await admin.client.get("/console/repositories")).status_code == 303


async def test_a_deleted_user_is_signed_out_on_the_next_request(operator: Browser, world: World) -> None:
    users = {u.name: u.id for u in await list_users(world.services, world.admin_call)}
    await delete_user(world.services, world.admin_call, users["olga"])
    response = await operator.client.get("/console/repositories")
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")


# --- CSRF ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
async def test_a_post_without_the_session_csrf_token_is_refused(
    admin: Browser, world: World, token: str | None
) -> None:
    data = {"name": "sneaky", "data_source": "uploaded"}
    if token is not None:
        data["csrf_token"] = token
    response = await admin.client.post("/console/repositories", data=data)
    assert response.status_code == 403 and "CSRF" in response.text
    listing = await admin.client.get("/console/repositories")
    assert "sneaky" not in listing.text


async def test_the_csrf_token_of_another_session_is_refused(admin: Browser, world: World) -> None:
    async with console_client(world) as other_client:
        other = Browser(other_client)
        await other.sign_in("admin", _admin_password(world))
    assert other.csrf and other.csrf != admin.csrf
    response = await admin.client.post(
        "/console/repositories", data={"name": "x", "data_source": "uploaded", "csrf_token": other.csrf}
    )
    assert response.status_code == 403


async def test_a_foreign_token_in_the_header_is_refused_for_htmx(admin: Browser, world: World) -> None:
    admin.csrf = "A" * 43
    response = await admin.htmx_post(
        "/console/repositories", {"data_source": "uploaded"}, trigger="create-form"
    )
    assert response.status_code == 403 and response.headers["HX-Retarget"] == "#flash"


async def test_the_sign_in_form_needs_its_csrf_token_too(browser: Browser, world: World) -> None:
    await browser.client.get("/console/sign-in")
    response = await browser.client.post(
        "/console/sign-in", data={"user_name": "admin", "password": _admin_password(world)}
    )
    assert response.status_code == 403


# --- every page ---------------------------------------------------------------------------------------


async def _repositories(world: World) -> tuple[int, int]:
    enabled = await create_repository(
        world.services, world.admin_call, name="payments", binding=Binding(DataSource.UPLOADED)
    )
    reset = await create_repository(
        world.services, world.admin_call, name="old-ca", binding=Binding(DataSource.UPLOADED_CA)
    )
    assert enabled.id is not None and reset.id is not None
    await reset_repository(world.services, world.admin_call, reset.id, acknowledge_risk=True)
    return enabled.id, reset.id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/console/repositories", "Certificate Application Repositories"),
        ("/console/repositories?name=pay&data_source=uploaded&status=enabled", "payments"),
        ("/console/repositories/{enabled}", "Basic information"),
        ("/console/repositories/{enabled}?keyword=x&status=issued&expiring_within_days=30", "No certificate"),
        ("/console/repositories/{reset}", "This repository is reset"),
        ("/console/repositories/new", "Create Repository"),
        ("/console/repositories/{enabled}/reset", "I understand the risks of the reset operation"),
        ("/console/repositories/{reset}/enable", "Enable repository"),
        ("/console/repositories/{reset}/delete", "Delete repository"),
        ("/console/audit", "repository.reset"),
        (
            "/console/audit?action=repository.create&repository_id={enabled}&since=2020-01-01",
            "repository.create",
        ),
        ("/console/access-keys", "created with the account"),
        ("/console/users", "system admin"),
    ],
    ids=[
        "repositories",
        "repositories-filtered",
        "repository",
        "repository-search",
        "repository-reset",
        "create-panel",
        "reset-dialog",
        "enable-panel",
        "delete-dialog",
        "audit",
        "audit-filtered",
        "access-keys",
        "users",
    ],
)
async def test_every_page_renders_for_an_admin_with_the_quota_at_the_top(
    admin: Browser, world: World, path: str, expected: str
) -> None:
    enabled, reset = await _repositories(world)
    response = await admin.client.get(path.format(enabled=enabled, reset=reset))
    assert response.status_code == 200, response.text
    assert expected in response.text
    assert 'class="quota"' in response.text and "API calls" in response.text


async def test_pages_carry_security_headers(admin: Browser) -> None:
    response = await admin.client.get("/console/repositories")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"


async def test_an_unknown_console_page_is_a_404_page(admin: Browser) -> None:
    response = await admin.client.get("/console/nowhere")
    assert response.status_code == 404 and "there is no console page at /console/nowhere" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_a_missing_repository_is_a_404_page_not_a_trace(admin: Browser) -> None:
    response = await admin.client.get("/console/repositories/987654")
    assert response.status_code == 404 and "repository 987654 does not exist" in response.text
    assert "Traceback" not in response.text


async def test_static_files_are_served(browser: Browser) -> None:
    for name in ("htmx.min.js", "console.js", "console.css"):
        assert (await browser.client.get(f"/console/static/{name}")).status_code == 200


async def test_an_operator_sees_neither_users_nor_audit(operator: Browser) -> None:
    page = await operator.client.get("/console/repositories")
    assert 'href="/console/users"' not in page.text and 'href="/console/audit"' not in page.text
    assert (await operator.client.get("/console/users")).status_code == 403
    assert (await operator.client.get("/console/audit")).status_code == 403


async def test_an_auditor_sees_repositories_without_the_controls_that_change_them(world: World) -> None:
    await create_user(
        world.services, world.admin_call, name="aud", role=Role.AUDITOR, password="auditor-password"
    )
    await create_repository(
        world.services, world.admin_call, name="seen", binding=Binding(DataSource.UPLOADED)
    )
    async with console_client(world) as client:
        auditor = Browser(client)
        await auditor.sign_in("aud", "auditor-password")
        page = await client.get("/console/repositories")
    assert "seen" in page.text and "Create Repository" not in page.text and "Modify" not in page.text
