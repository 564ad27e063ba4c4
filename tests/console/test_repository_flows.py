"""The repository flows of the console through its forms: create, rename, reset, enable, delete, and
errors shown next to the form that caused them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from certrepo.domain.enums import DataSource, RepositoryStatus
from certrepo.domain.paging import Page
from certrepo.domain.repository import Binding, Repository
from certrepo.services.repositories import (
    create_repository,
    get_repository,
    list_repositories,
    reset_repository,
)
from tests.conftest import World
from tests.support.rows import insert_ca

from .conftest import Browser


async def _by_name(world: World, name: str) -> Repository:
    listed = await list_repositories(world.services, world.admin_call, page=Page(1, 500))
    matches = [r for r in listed.items if r.name == name]
    assert len(matches) == 1, f"expected one repository named {name!r}, found {len(matches)}"
    return matches[0]


async def _new(world: World, name: str, source: DataSource = DataSource.UPLOADED) -> int:
    created = await create_repository(world.services, world.admin_call, name=name, binding=Binding(source))
    assert created.id is not None
    return created.id


def _engine(world: World) -> AsyncEngine:
    engine = world.services.extras["engine"]
    assert isinstance(engine, AsyncEngine)
    return engine


# --- create -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "source"),
    [
        ({"data_source": "uploaded"}, DataSource.UPLOADED),
        ({"data_source": "uploaded_ca"}, DataSource.UPLOADED_CA),
        ({"data_source": "compliant", "ca_id": "", "trust_repository_id": ""}, DataSource.COMPLIANT),
        # Fields of other data sources are hidden in the panel but still posted: they are ignored.
        ({"data_source": "uploaded", "ca_id": "77", "trust_repository_id": "5"}, DataSource.UPLOADED),
    ],
    ids=["uploaded", "uploaded-ca", "compliant", "hidden-fields-ignored"],
)
async def test_the_create_panel_creates_a_repository_of_each_data_source(
    admin: Browser, world: World, form: dict[str, str], source: DataSource
) -> None:
    response = await admin.htmx_post(
        "/console/repositories", {"name": "made-here", **form}, trigger="create-form"
    )
    assert response.status_code == 200, response.text
    assert "Repository “made-here” created" in response.text
    created = await _by_name(world, "made-here")
    assert created.data_source is source and created.status is RepositoryStatus.ENABLED
    assert f'id="repository-{created.id}"' in response.text  # the redrawn table shows it


async def test_a_compliant_repository_can_name_an_uploaded_ca_repository_as_its_trust(
    admin: Browser, world: World
) -> None:
    trust_id = await _new(world, "trust-store", DataSource.UPLOADED_CA)
    panel = await admin.htmx_get("/console/repositories/new")
    assert f'<option value="{trust_id}">trust-store' in panel.text
    response = await admin.htmx_post(
        "/console/repositories",
        {"name": "contracts", "data_source": "compliant", "trust_repository_id": str(trust_id)},
        trigger="create-form",
    )
    assert response.status_code == 200, response.text
    assert (await _by_name(world, "contracts")).trust_repository_id == trust_id


async def test_a_private_repository_binds_the_chosen_intermediate_which_then_leaves_the_selector(
    admin: Browser, world: World
) -> None:
    account = world.admin.account.id
    root = await insert_ca(_engine(world), account_id=account, type_="root")
    free = await insert_ca(_engine(world), account_id=account)
    panel = await admin.htmx_get("/console/repositories/new")
    assert f'<option value="{free}">' in panel.text and f'<option value="{root}">' not in panel.text
    response = await admin.htmx_post(
        "/console/repositories",
        {"name": "issuing", "data_source": "private", "ca_id": str(free)},
        trigger="create-form",
    )
    assert response.status_code == 200, response.text
    assert (await _by_name(world, "issuing")).ca_id == free
    again = await admin.htmx_get("/console/repositories/new")
    assert f'<option value="{free}">' not in again.text


async def test_an_empty_name_defaults_to_the_instance_id(admin: Browser, world: World) -> None:
    response = await admin.htmx_post(
        "/console/repositories", {"name": "  ", "data_source": "uploaded"}, trigger="create-form"
    )
    assert response.status_code == 200
    listed = await list_repositories(world.services, world.admin_call, page=Page(1, 10))
    assert listed.items[0].name == listed.items[0].instance_id


@pytest.mark.parametrize(
    ("form", "status", "slot", "message"),
    [
        ({"data_source": "private"}, 400, "#create-form-ca_id-error", "needs an intermediate CA"),
        (
            {"data_source": "private", "ca_id": "999"},
            404,
            "#create-form-ca_id-error",
            "CA 999 does not exist",
        ),
        (
            {"data_source": "private", "ca_id": "abc"},
            400,
            "#create-form-ca_id-error",
            "positive whole number",
        ),
        ({"name": "x" * 65, "data_source": "uploaded"}, 400, "#create-form-name-error", "at most 64"),
        (
            {"name": "bad\u202ename", "data_source": "uploaded"},
            400,
            "#create-form-name-error",
            "control character",
        ),
        ({"data_source": "s3"}, 400, "#create-form-data_source-error", "is not one of"),
        ({}, 400, "#create-form-data_source-error", "choose a data source"),
    ],
    ids=[
        "private-without-ca",
        "unknown-ca",
        "ca-not-a-number",
        "name-too-long",
        "name-bidi",
        "bad-source",
        "no-source",
    ],
)
async def test_create_errors_are_aimed_at_the_field_that_caused_them(
    admin: Browser, world: World, form: dict[str, str], status: int, slot: str, message: str
) -> None:
    response = await admin.htmx_post("/console/repositories", form, trigger="create-form")
    assert response.status_code == status
    assert response.headers["HX-Retarget"].split(", ")[0] == slot
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert message in response.text and 'role="alert"' in response.text and "Traceback" not in response.text
    panel = await admin.htmx_get("/console/repositories/new")
    assert f'id="{slot[1:]}"' in panel.text  # the slot exists next to its field
    listed = await list_repositories(world.services, world.admin_call, page=Page(1, 10))
    assert listed.total == 0


async def test_a_trust_repository_of_the_wrong_kind_is_refused_next_to_its_selector(
    admin: Browser, world: World
) -> None:
    plain = await _new(world, "plain")
    response = await admin.htmx_post(
        "/console/repositories",
        {"data_source": "compliant", "trust_repository_id": str(plain)},
        trigger="create-form",
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"].startswith("#create-form-trust_repository_id-error")
    assert "uploaded_ca" in response.text


async def test_a_plain_form_post_is_redirected_and_its_error_is_a_page(admin: Browser, world: World) -> None:
    ok = await admin.client.post(
        "/console/repositories",
        data={"name": "plain-post", "data_source": "uploaded", "csrf_token": admin.csrf},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console/repositories"
    bad = await admin.client.post(
        "/console/repositories", data={"data_source": "private", "csrf_token": admin.csrf}
    )
    assert bad.status_code == 400 and "needs an intermediate CA" in bad.text and "<main" in bad.text


# --- rename -------------------------------------------------------------------------------------------


async def test_rename_in_place_saves_the_new_name(admin: Browser, world: World) -> None:
    rid = await _new(world, "before")
    page = await admin.client.get("/console/repositories")
    assert f'data-rename="rename-{rid}"' in page.text and f'id="rename-{rid}"' in page.text
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/rename", {"name": "  after  "}, trigger=f"rename-{rid}"
    )
    assert response.status_code == 200 and "Repository renamed to “after”" in response.text
    assert (await get_repository(world.services, world.admin_call, rid)).name == "after"


@pytest.mark.parametrize(
    ("name", "message"), [("", "must not be empty"), ("tab\tname", "control character")], ids=["empty", "tab"]
)
async def test_a_refused_name_is_shown_under_the_rename_form(
    admin: Browser, world: World, name: str, message: str
) -> None:
    rid = await _new(world, "keep")
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/rename", {"name": name}, trigger=f"rename-{rid}"
    )
    assert response.status_code == 400 and message in response.text
    assert f"#rename-{rid}-error" in response.headers["HX-Retarget"]
    assert (await get_repository(world.services, world.admin_call, rid)).name == "keep"


async def test_rename_from_the_repository_page_redraws_that_page(admin: Browser, world: World) -> None:
    rid = await _new(world, "detail")
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/rename",
        {"name": "detail-2"},
        trigger=f"rename-{rid}",
        current=f"/console/repositories/{rid}",
    )
    assert "Basic information" in response.text and "detail-2" in response.text


# --- reset, enable, delete ----------------------------------------------------------------------------


async def test_the_reset_dialog_says_it_cannot_be_undone_and_starts_with_reset_disabled(
    admin: Browser, world: World
) -> None:
    rid = await _new(world, "to-reset")
    dialog = await admin.htmx_get(f"/console/repositories/{rid}/reset")
    assert "I understand the risks of the reset operation" in dialog.text
    assert "cannot be undone" in dialog.text
    assert re.search(
        r'<button type="submit" id="reset-form-submit" class="btn danger" disabled>', dialog.text
    )


@pytest.mark.parametrize("value", [None, "", "false"], ids=["unticked", "empty", "false"])
async def test_reset_is_refused_without_the_risk_checkbox(
    admin: Browser, world: World, value: str | None
) -> None:
    rid = await _new(world, "guarded")
    form = {} if value is None else {"acknowledge_risk": value}
    response = await admin.htmx_post(f"/console/repositories/{rid}/reset", form, trigger="reset-form")
    assert response.status_code == 400 and "ConfirmationRequired" in response.text
    assert response.headers["HX-Retarget"].startswith("#reset-form-acknowledge_risk-error")
    assert (await get_repository(world.services, world.admin_call, rid)).is_enabled


async def test_reset_with_the_checkbox_resets_and_offers_enable_and_delete_instead(
    admin: Browser, world: World
) -> None:
    rid = await _new(world, "going")
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/reset", {"acknowledge_risk": "true"}, trigger="reset-form"
    )
    assert response.status_code == 200 and "was reset" in response.text
    assert (await get_repository(world.services, world.admin_call, rid)).status is RepositoryStatus.RESET
    assert f'id="enable-{rid}"' in response.text and f'id="delete-{rid}"' in response.text
    assert f'id="reset-{rid}"' not in response.text


async def test_enable_is_offered_only_on_a_reset_repository_and_takes_a_data_source(
    admin: Browser, world: World
) -> None:
    rid = await _new(world, "phoenix")
    refused = await admin.htmx_get(f"/console/repositories/{rid}/enable")
    assert refused.status_code == 409 and "only a reset repository can be enabled" in refused.text
    await reset_repository(world.services, world.admin_call, rid, acknowledge_risk=True)
    panel = await admin.htmx_get(f"/console/repositories/{rid}/enable")
    assert panel.status_code == 200 and 'name="data_source"' in panel.text
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/enable", {"data_source": "uploaded_ca"}, trigger="enable-form"
    )
    assert response.status_code == 200 and "enabled" in response.text
    enabled = await get_repository(world.services, world.admin_call, rid)
    assert enabled.is_enabled and enabled.data_source is DataSource.UPLOADED_CA


async def test_delete_is_refused_before_reset_and_works_after_it(admin: Browser, world: World) -> None:
    rid = await _new(world, "doomed")
    dialog = await admin.htmx_get(f"/console/repositories/{rid}/delete")
    assert dialog.status_code == 409 and "must be reset before it can be deleted" in dialog.text
    refused = await admin.htmx_post(f"/console/repositories/{rid}/delete", {}, trigger="delete-form")
    assert refused.status_code == 409 and "#delete-form-error" in refused.headers["HX-Retarget"].split(", ")
    await reset_repository(world.services, world.admin_call, rid, acknowledge_risk=True)
    response = await admin.htmx_post(f"/console/repositories/{rid}/delete", {}, trigger="delete-form")
    assert response.status_code == 200 and "Repository “doomed” deleted." in response.text
    listed = await list_repositories(world.services, world.admin_call, page=Page(1, 10))
    assert listed.total == 0


async def test_deleting_from_the_repository_page_goes_back_to_the_list(admin: Browser, world: World) -> None:
    rid = await _new(world, "own-page")
    await reset_repository(world.services, world.admin_call, rid, acknowledge_risk=True)
    response = await admin.htmx_post(
        f"/console/repositories/{rid}/delete",
        {},
        trigger="delete-form",
        current=f"/console/repositories/{rid}",
    )
    assert "Certificate Application Repositories" in response.text
    assert response.headers["HX-Replace-Url"] == "/console/repositories"


async def test_a_named_trust_repository_cannot_be_reset_and_the_dialog_says_why(
    admin: Browser, world: World
) -> None:
    trust = await _new(world, "anchors", DataSource.UPLOADED_CA)
    await create_repository(
        world.services, world.admin_call, name="signing", binding=Binding(DataSource.COMPLIANT, None, trust)
    )
    response = await admin.htmx_post(
        f"/console/repositories/{trust}/reset", {"acknowledge_risk": "true"}, trigger="reset-form"
    )
    assert response.status_code == 409 and "RepositoryInUse" in response.text and "signing" in response.text


async def test_an_operator_manages_repositories_too(operator: Browser, world: World) -> None:
    response = await operator.htmx_post(
        "/console/repositories", {"name": "ops", "data_source": "uploaded"}, trigger="create-form"
    )
    assert response.status_code == 200
    assert (await _by_name(world, "ops")).data_source is DataSource.UPLOADED
