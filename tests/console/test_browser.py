"""The console in a real browser: Debian's chromium driven by Playwright against `certrepo serve`.

One server and one browser for the module (starting them is the slow part); each test makes its own
repositories. Screenshots of the main pages go to docs/screenshots/ (linked from the README).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import skip_or_fail
from tests.factories import key_pem, make_chain, pem
from tests.support.server import free_port, init_json, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAPTOP = {"width": 1366, "height": 820}
TIMEOUT_MS = 20_000  # generous: CI machines run other suites at the same time

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Server:
    url: str
    admin_user: str
    admin_password: str
    ca_id: int


def _add_intermediate(url: str, bearer: str) -> int:
    """A root and a free intermediate CA for the Private Certificates data source, through the REST API
    as any client would (the CA tests below create theirs in the console)."""
    headers = {"Authorization": bearer}
    root = httpx.post(
        f"{url}/v1/cas",
        json={"type": "root", "common_name": "Acme Root CA", "key_algorithm": "ECC_256"},
        headers=headers,
        timeout=30,
    )
    root.raise_for_status()
    intermediate = httpx.post(
        f"{url}/v1/cas",
        json={
            "type": "intermediate",
            "common_name": "Acme Clients CA",
            "key_algorithm": "ECC_256",
            "parent_id": root.json()["id"],
        },
        headers=headers,
        timeout=30,
    )
    intermediate.raise_for_status()
    return int(intermediate.json()["id"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CHROMIUM.exists():
        skip_or_fail(
            f"{CHROMIUM} is missing (apt-get install chromium); browser tests need Debian's chromium"
        )
    data = tmp_path_factory.mktemp("browser") / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CERTREPO_BASE_URL": url}
    created = init_json(data, env)
    with serve(data, port, env, data.parent / "serve.log", startup_seconds=20):
        bearer = f"Bearer {created['access_key_id']}:{created['access_key_secret']}"
        ca_id = _add_intermediate(url, bearer)
        yield Server(url, created["admin_user"], created["admin_password"], ca_id)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed in the venv")
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def signed_in(chromium: Any, server: Server) -> Iterator[Any]:
    """A browser context signed in as the admin `certrepo init` printed (cookies shared by its pages)."""
    context = chromium.new_context(viewport=LAPTOP, base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")  # the root sends a browser to the console, which asks for sign-in
    _shot(page, "sign-in.png")
    page.get_by_label("User name").fill(server.admin_user)
    page.get_by_label("Password").fill(server.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/repositories")
    page.close()
    try:
        yield context
    finally:
        context.close()


def _console_error(errors: list[str], message: Any) -> None:
    """Console errors include Content-Security-Policy violations (an inline style or script slipped in);
    chromium also logs the 4xx answers the console expects (error messages to show): not those."""
    if message.type == "error" and not message.text.startswith("Failed to load resource: the server"):
        errors.append(message.text)


@pytest.fixture
def page(signed_in: Any) -> Iterator[Any]:
    page = signed_in.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: _console_error(errors, msg))
    page.goto("/console/repositories")
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def _row(page: Any, name: str) -> Any:
    return page.locator("tbody tr", has=page.get_by_role("link", name=name, exact=True))


def _repository_id(page: Any, name: str) -> str:
    row_id = _row(page, name).get_attribute("id")
    assert row_id and row_id.startswith("repository-")
    return str(row_id.removeprefix("repository-"))


def _create(
    page: Any,
    name: str,
    source: str,
    *,
    ca: str | None = None,
    ca_name: str | None = None,
    trust: str | None = None,
) -> None:
    from playwright.sync_api import expect

    page.locator("#open-create").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    page.locator("#create-form-name").fill(name)
    page.locator(f"#create-form input[name=data_source][value={source}]").check()
    if ca_name is not None:
        ca = page.locator("#create-form-ca option", has_text=ca_name).get_attribute("value")
    if ca is not None:
        page.locator("#create-form-ca").select_option(ca)
    if trust is not None:
        page.locator("#create-form-trust").select_option(label=trust)
    page.locator("#create-form button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(_row(page, name)).to_be_visible()


# --- the tests ------------------------------------------------------------------------------------


def test_a_repository_of_each_data_source_is_created_from_the_panel(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    _create(page, "web-servers", "uploaded")
    _create(page, "partner-roots", "uploaded_ca")
    _create(page, "internal-clients", "private", ca=str(server.ca_id))
    _create(page, "contracts", "compliant", trust="partner-roots (" + _instance(page, "partner-roots") + ")")
    for name, label in [
        ("web-servers", "Upload Certificate"),
        ("partner-roots", "Uploaded CA Certificates"),
        ("internal-clients", "Private Certificates"),
        ("contracts", "Compliant Certificates"),
    ]:
        expect(_row(page, name)).to_contain_text(label)
        expect(_row(page, name)).to_contain_text("Enabled")
    _shot(page, "repositories.png")


def _instance(page: Any, name: str) -> str:
    return str(_row(page, name).locator(".mono").inner_text()).strip()


def test_a_missing_intermediate_ca_is_explained_next_to_the_selector(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#open-create").click()
    page.locator("#create-form input[name=data_source][value=private]").check()
    expect(page.locator("#create-form-ca")).to_be_visible()
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-form-ca_id-error")).to_contain_text("needs an intermediate CA")
    _shot(page, "create-error.png")
    page.keyboard.press("Escape")
    expect(page.locator("dialog#dialog")).to_be_hidden()


def test_rename_in_place_through_modify_and_save(page: Any) -> None:
    from playwright.sync_api import expect

    _create(page, "renamable", "uploaded")
    rid = _repository_id(page, "renamable")
    modify = page.locator(f'[data-rename="rename-{rid}"]')
    assert modify.evaluate("e => getComputedStyle(e).opacity") == "0"  # hidden until hover or focus
    modify.focus()
    assert modify.evaluate("e => getComputedStyle(e).opacity") == "1"
    page.locator(f"#repository-{rid}").hover()
    modify.click()
    field = page.locator(f"#rename-{rid}-input")
    expect(field).to_be_focused()
    field.fill("renamed-in-place")
    page.locator(f"#rename-{rid}").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Repository renamed to “renamed-in-place”.")).to_be_visible()
    expect(_row(page, "renamed-in-place")).to_be_visible()


def test_reset_waits_for_the_checkbox_then_enable_and_delete(page: Any) -> None:
    from playwright.sync_api import expect

    _create(page, "short-lived", "uploaded")
    rid = _repository_id(page, "short-lived")
    page.locator(f"#reset-{rid}").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_contain_text("The reset cannot be undone.")
    submit = page.locator("#reset-form-submit")
    expect(submit).to_be_disabled()
    page.get_by_label("I understand the risks of the reset operation").check()
    expect(submit).to_be_enabled()
    _shot(page, "reset-dialog.png")
    page.get_by_label("I understand the risks of the reset operation").uncheck()
    expect(submit).to_be_disabled()
    page.get_by_label("I understand the risks of the reset operation").check()
    submit.click()
    expect(dialog).to_be_hidden()
    expect(_row(page, "short-lived")).to_contain_text("Reset")
    expect(page.locator(f"#reset-{rid}")).to_have_count(0)

    page.locator(f"#enable-{rid}").click()
    page.locator("#enable-form input[name=data_source][value=uploaded_ca]").check()
    page.locator("#enable-form").get_by_role("button", name="Enable").click()
    expect(dialog).to_be_hidden()
    expect(_row(page, "short-lived")).to_contain_text("Uploaded CA Certificates")
    expect(page.locator(f"#delete-{rid}")).to_have_count(0)  # delete is offered only after a reset

    page.locator(f"#reset-{rid}").click()
    page.get_by_label("I understand the risks of the reset operation").check()
    page.locator("#reset-form-submit").click()
    expect(dialog).to_be_hidden()
    page.locator(f"#delete-{rid}").click()
    expect(dialog).to_contain_text("cannot be undone")
    page.locator("#delete-form-submit").click()
    expect(page.get_by_text("Repository “short-lived” deleted.")).to_be_visible()
    expect(_row(page, "short-lived")).to_have_count(0)


def test_the_repository_page_and_the_audit_log(page: Any) -> None:
    from playwright.sync_api import expect

    _create(page, "payments-api", "uploaded")
    page.get_by_role("link", name="payments-api", exact=True).click()
    expect(page.get_by_role("heading", name="payments-api")).to_be_visible()
    expect(page.get_by_text("Basic information")).to_be_visible()
    _shot(page, "repository.png")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("table.audit")).to_contain_text("repository.reset")
    _shot(page, "audit.png")


def test_a_certificate_is_uploaded_found_by_search_and_its_key_tried(page: Any) -> None:
    from playwright.sync_api import expect

    shop, other = make_chain("Shop"), make_chain("Warehouse")
    _create(page, "shop-frontends", "uploaded")
    page.get_by_role("link", name="shop-frontends", exact=True).click()
    dialog = page.locator("dialog#dialog")

    # A key that belongs to another certificate is refused next to the key field; the form stays.
    page.locator("#open-upload").click()
    expect(dialog).to_be_visible()
    page.locator("#upload-form-certificate-file").set_input_files(
        files=[{"name": "shop.pem", "mimeType": "application/x-pem-file", "buffer": pem(shop.leaf).encode()}]
    )
    page.locator("#upload-form-private_key").fill(key_pem(other.leaf_key))
    page.locator("#upload-form-chain").fill(pem(shop.intermediate) + pem(shop.root))
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#upload-form-private_key-error")).to_contain_text("does not match the certificate")
    page.locator("#upload-form-private_key").fill(key_pem(shop.leaf_key))
    page.locator("#upload-form-exportable-box").check()
    page.locator("#upload-form button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Certificate “shop.example.com” uploaded")).to_be_visible()

    page.locator("#open-upload").click()
    page.locator("#upload-form-certificate").fill(pem(other.leaf))
    page.locator("#upload-form-chain").fill(pem(other.intermediate) + pem(other.root))
    page.locator("#upload-form button[type=submit]").click()
    expect(page.get_by_text("Certificate “warehouse.example.com” uploaded")).to_be_visible()

    page.get_by_role("searchbox", name="Search").fill("shop")
    page.get_by_role("button", name="Search", exact=True).click()
    rows = page.locator("table.certificates tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("shop.example.com")

    # The try-out's algorithm list follows the chosen certificate (htmx asks for the list that fits).
    page.locator("#tryout-panel summary").click()
    warehouse = page.locator("#tryout-form-identifier option", has_text="warehouse").get_attribute("value")
    with page.expect_response(lambda r: f"tryout-algorithms?identifier={warehouse}" in r.url) as answer:
        page.locator("#tryout-form-identifier").select_option(warehouse)
    assert answer.value.status == 200
    expect(page.locator("#tryout-form-algorithm option[value=SHA256withECDSA]")).to_have_count(1)

    page.get_by_role("link", name="shop.example.com").click()
    expect(page.get_by_role("heading", name="shop.example.com")).to_be_visible()
    expect(page.locator("#cert-chain-title")).to_be_visible()
    expect(page.get_by_text("Shop Intermediate", exact=False).first).to_be_visible()
    _shot(page, "certificate.png")

    page.locator("#tryout-form-message").fill("order 1001 paid")
    page.locator("#tryout-form").get_by_role("button", name="Run").click()
    expect(page.locator("#tryout-output")).to_have_value(re.compile(r"^[A-Za-z0-9+/=]{40,}$"))
    signature = page.locator("#tryout-output").input_value()
    page.locator("#tryout-form input[name=operation][value=verify]").check()
    page.locator("#tryout-form-signature").fill(signature)
    page.locator("#tryout-form").get_by_role("button", name="Run").click()
    expect(page.locator("#tryout-form-result")).to_contain_text("The signature matches the message")


def test_cas_are_created_and_a_private_repository_issues_and_revokes(page: Any) -> None:
    from playwright.sync_api import expect

    dialog = page.locator("dialog#dialog")
    page.get_by_role("link", name="Private CAs").click()
    expect(page.get_by_role("heading", name="Certificate authorities")).to_be_visible()
    page.locator("#open-create-ca").click()
    expect(dialog).to_be_visible()
    page.locator("#ca-form-common_name").fill("Browser Root CA")
    page.locator("#ca-form-organization").fill("Acme Corp")
    page.locator("#ca-form button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("table.cas")).to_contain_text("Browser Root CA")

    page.locator("#open-create-ca").click()
    page.locator("#ca-form input[name=type][value=intermediate]").check()
    parent = page.locator("#ca-form-parent_id option", has_text="Browser Root CA").get_attribute("value")
    page.locator("#ca-form-parent_id").select_option(parent)
    page.locator("#ca-form-common_name").fill("Browser Issuing CA")
    page.locator("#ca-form button[type=submit]").click()
    expect(dialog).to_be_hidden()
    issuing = page.locator("table.cas tbody tr", has_text="Browser Issuing CA")
    expect(issuing).to_contain_text("free")
    expect(issuing).to_contain_text("Browser Root CA")
    _shot(page, "ca.png")

    page.get_by_role("link", name="Repositories").click()
    _create(page, "order-service", "private", ca_name="Browser Issuing CA")
    page.get_by_role("link", name="order-service", exact=True).click()
    page.locator("#open-issue").click()
    expect(dialog).to_be_visible()
    page.locator("#issue-form-common_name").fill("orders.internal.example")
    page.locator("#issue-form-organization").fill("Acme Corp")
    page.get_by_label("Value of SAN 1").fill("orders.internal.example")
    page.get_by_role("button", name="+ Add a SAN").click()
    added = page.locator("#issue-form-san-rows .san-row").last
    expect(added.locator("input")).to_be_focused()
    added.locator("select").select_option("ip")
    added.locator("input").fill("10.1.2.3")
    page.locator("#issue-form-exportable-box").check()
    page.locator("#issue-form-days").fill("90")
    page.locator("#issue-form .dialog-body").evaluate("body => { body.scrollTop = 0; }")
    _shot(page, "issue.png")
    page.locator("#issue-form button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#issued")).to_contain_text("shown only this once")
    expect(page.locator("#issued-key")).to_have_value(re.compile("-----BEGIN PRIVATE KEY-----"))

    page.locator("#issued").get_by_role("link", name="orders.internal.example").click()
    expect(page.get_by_role("heading", name="orders.internal.example")).to_be_visible()
    expect(page.locator("table.sans")).to_contain_text("10.1.2.3")
    page.locator("#open-revoke").click()
    expect(dialog).to_contain_text("CRL and OCSP responder will say so at once")
    page.locator("#revoke-form-reason").select_option("key_compromise")
    page.locator("#revoke-form-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Certificate revoked (key compromise).")).to_be_visible()
    expect(page.locator(".badges")).to_contain_text("Revoked")
    expect(page.locator("#open-revoke")).to_have_count(0)


@pytest.mark.parametrize("path", ["/console/repositories", "/console/cas", "/console/expiring"])
def test_the_console_fits_a_narrow_screen(signed_in: Any, path: str) -> None:
    from playwright.sync_api import expect

    page = signed_in.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width}px wide)"
        if path == "/console/repositories":
            _shot(page, "repositories-narrow.png")
    finally:
        page.close()
