"""The repository lifecycle of SPEC §1 over REST, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("world")


async def _create(api: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await api.post("/v1/repositories", json={"data_source": "uploaded", **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_defaults_the_name_to_the_instance_id(api: httpx.AsyncClient) -> None:
    repo = await _create(api)
    assert repo["name"] == repo["instance_id"]
    assert str(repo["instance_id"]).startswith("cas-wh-") and len(str(repo["instance_id"])) == 17
    assert repo["status"] == "enabled" and repo["qps"] == 1000 and repo["certificate_count"] == 0


async def test_the_whole_lifecycle_create_rename_reset_enable_reset_delete(api: httpx.AsyncClient) -> None:
    repo = await _create(api, name="  payments  ")
    assert repo["name"] == "payments"
    rid = repo["id"]
    renamed = await api.patch(f"/v1/repositories/{rid}", json={"name": "billing"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "billing"
    reset = await api.post(f"/v1/repositories/{rid}/reset", json={"acknowledge_risk": True})
    assert reset.status_code == 200
    assert reset.json()["status"] == "reset" and reset.json()["data_source"] is None
    enabled = await api.post(f"/v1/repositories/{rid}/enable", json={"data_source": "uploaded_ca"})
    assert enabled.status_code == 200
    assert enabled.json()["status"] == "enabled" and enabled.json()["data_source"] == "uploaded_ca"
    again = await api.post(f"/v1/repositories/{rid}/reset", json={"acknowledge_risk": True})
    assert again.status_code == 200
    deleted = await api.delete(f"/v1/repositories/{rid}")
    assert deleted.status_code == 204
    gone = await api.get(f"/v1/repositories/{rid}")
    assert gone.status_code == 404 and gone.json()["code"] == "NotFound.Repository"


async def test_delete_before_reset_is_refused_and_keeps_the_repository(api: httpx.AsyncClient) -> None:
    repo = await _create(api)
    response = await api.delete(f"/v1/repositories/{repo['id']}")
    assert response.status_code == 409 and response.json()["code"] == "RepositoryNotReset"
    assert (await api.get(f"/v1/repositories/{repo['id']}")).json()["status"] == "enabled"


@pytest.mark.parametrize("body", [{}, {"acknowledge_risk": False}], ids=["missing", "false"])
async def test_reset_without_acknowledgement_needs_confirmation(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    repo = await _create(api)
    response = await api.post(f"/v1/repositories/{repo['id']}/reset", json=body)
    assert response.status_code == 400 and response.json()["code"] == "ConfirmationRequired"
    assert (await api.get(f"/v1/repositories/{repo['id']}")).json()["status"] == "enabled"


async def test_enable_while_enabled_is_refused(api: httpx.AsyncClient) -> None:
    repo = await _create(api)
    response = await api.post(f"/v1/repositories/{repo['id']}/enable", json={"data_source": "uploaded"})
    assert response.status_code == 409 and response.json()["code"] == "RepositoryNotReset"


async def test_reset_of_a_reset_repository_answers_repository_disabled_whatever_was_sent(
    api: httpx.AsyncClient,
) -> None:
    repo = await _create(api)
    await api.post(f"/v1/repositories/{repo['id']}/reset", json={"acknowledge_risk": True})
    response = await api.post(f"/v1/repositories/{repo['id']}/reset", json={"acknowledge_risk": False})
    assert response.status_code == 409 and response.json()["code"] == "RepositoryDisabled"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 65, "65 characters"),
        ("bad\x07name", "control character"),
        ("tab\tname", "control character"),
        ("rtl\u202ename", "control character"),
    ],
    ids=["empty", "blank", "65-chars", "bell", "tab", "bidi-override"],
)
async def test_rename_refuses_bad_names(api: httpx.AsyncClient, name: str, fragment: str) -> None:
    repo = await _create(api, name="keep")
    response = await api.patch(f"/v1/repositories/{repo['id']}", json={"name": name})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameter" and fragment in response.json()["message"]
    assert (await api.get(f"/v1/repositories/{repo['id']}")).json()["name"] == "keep"


async def test_rename_accepts_64_characters_and_works_on_a_reset_repository(api: httpx.AsyncClient) -> None:
    repo = await _create(api)
    await api.post(f"/v1/repositories/{repo['id']}/reset", json={"acknowledge_risk": True})
    response = await api.patch(f"/v1/repositories/{repo['id']}", json={"name": "é" * 64})
    assert response.status_code == 200 and response.json()["name"] == "é" * 64


async def test_private_repository_without_a_ca_is_a_clear_client_error(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/repositories", json={"data_source": "private"})
    assert response.status_code == 400 and response.json()["code"] == "MissingParameter"
    assert "ca_id" in response.json()["message"]


async def test_private_repository_with_an_unknown_ca_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/repositories", json={"data_source": "private", "ca_id": 77})
    assert response.status_code == 404 and response.json()["code"] == "NotFound.CA"


async def test_unknown_data_source_is_invalid(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/repositories", json={"data_source": "s3"})
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter"
    assert "data_source" in response.json()["message"]


async def test_compliant_repository_trust_must_be_an_uploaded_ca_repository(api: httpx.AsyncClient) -> None:
    plain = await _create(api)
    refused = await api.post(
        "/v1/repositories", json={"data_source": "compliant", "trust_repository_id": plain["id"]}
    )
    assert refused.status_code == 400 and "uploaded_ca" in refused.json()["message"]


async def test_a_named_trust_repository_cannot_be_reset_while_named(api: httpx.AsyncClient) -> None:
    trust = await _create(api, data_source="uploaded_ca")
    compliant = await _create(api, data_source="compliant", trust_repository_id=trust["id"])
    refused = await api.post(f"/v1/repositories/{trust['id']}/reset", json={"acknowledge_risk": True})
    assert refused.status_code == 409 and refused.json()["code"] == "RepositoryInUse"
    assert str(compliant["id"]) in refused.json()["message"]
    await api.post(f"/v1/repositories/{compliant['id']}/reset", json={"acknowledge_risk": True})
    freed = await api.post(f"/v1/repositories/{trust['id']}/reset", json={"acknowledge_risk": True})
    assert freed.status_code == 200


async def test_list_filters_and_paginates(api: httpx.AsyncClient) -> None:
    for i in range(5):
        await _create(api, name=f"alpha-{i}")
    await _create(api, name="beta", data_source="uploaded_ca")
    page = (await api.get("/v1/repositories", params={"page": 2, "page_size": 2})).json()
    assert page["total"] == 6 and page["page"] == 2 and len(page["items"]) == 2
    alphas = (await api.get("/v1/repositories", params={"name": "ALPHA"})).json()
    assert alphas["total"] == 5
    cas = (await api.get("/v1/repositories", params={"data_source": "uploaded_ca"})).json()
    assert [r["name"] for r in cas["items"]] == ["beta"]
    too_big = await api.get("/v1/repositories", params={"page_size": 501})
    assert too_big.status_code == 400


async def test_every_response_carries_a_request_id(api: httpx.AsyncClient) -> None:
    ok = await api.get("/v1/repositories")
    err = await api.get("/v1/repositories/999")
    assert ok.headers["x-request-id"]
    assert err.json()["request_id"] == err.headers["x-request-id"]


async def test_a_deleted_repository_id_is_never_reused(api: httpx.AsyncClient) -> None:
    first = await _create(api)
    await api.post(f"/v1/repositories/{first['id']}/reset", json={"acknowledge_risk": True})
    await api.delete(f"/v1/repositories/{first['id']}")
    second = await _create(api)
    assert second["id"] != first["id"]
