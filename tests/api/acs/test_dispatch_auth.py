"""Authentication and routing of POST / against a real server, with the official SDK as the client:
signature, access key, clock window, nonce replay, version, action; and the error body of every refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils

from certrepo.api.acs.actions import ACTIONS

from .conftest import Identity, Server, call_action, rpc_error


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[requests.PreparedRequest]]:
    """Every request the SDK puts on the wire during the test, exactly as sent."""
    sent: list[requests.PreparedRequest] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(request.copy())
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    yield sent


def replay(prepared: requests.PreparedRequest) -> httpx.Response:
    """Send a captured request again, byte for byte in everything that was signed."""
    assert prepared.url is not None
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
    headers = {k: v if isinstance(v, str) else v.decode() for k, v in prepared.headers.items()}
    return httpx.post(prepared.url, headers=headers, content=body, timeout=20)


def utc_text(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def instances_named(client: CasClient, name: str) -> int:
    body = client.list_cert_warehouse(models.ListCertWarehouseRequest(name=name)).body
    return int(body.total_count or 0)


# --- the error body ---------------------------------------------------------------------------------


def test_a_refusal_has_code_message_request_id_and_host_id(acs_server: Server) -> None:
    client = acs_server.client(Identity(acs_server.admin.access_key_id, "wrong-secret"))
    error = rpc_error(lambda: client.get_cert_warehouse_quota())
    assert set(error.data) >= {"Code", "Message", "RequestId", "HostId", "statusCode"}
    assert error.data["HostId"] == acs_server.endpoint and error.request_id == error.data["RequestId"]
    assert error.data["RequestId"] in error.message


def test_an_answer_carries_its_request_id_in_body_and_header(admin_client: CasClient) -> None:
    result = call_action(admin_client, "GetCertWarehouseQuota")
    assert result["statusCode"] == 200
    assert (
        result["body"]["RequestId"] and result["headers"]["x-acs-request-id"] == result["body"]["RequestId"]
    )


# --- who is calling ---------------------------------------------------------------------------------


def test_a_wrong_secret_is_signature_does_not_match(acs_server: Server) -> None:
    client = acs_server.client(Identity(acs_server.admin.access_key_id, "wrong-secret"))
    error = rpc_error(lambda: client.list_cert_warehouse(models.ListCertWarehouseRequest()))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 401)
    assert "ACS3-HMAC-SHA256" in error.data["Message"]


def test_an_unknown_access_key_is_not_found(acs_server: Server) -> None:
    client = acs_server.client(Identity("CRNOSUCHKEY0000000000000", "whatever"))
    error = rpc_error(lambda: client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 401)


def test_a_revoked_access_key_is_refused(acs_server: Server) -> None:
    operator = acs_server.identity_with_role(acs_server.admin, "operator")
    client = acs_server.client(operator)
    assert client.get_cert_warehouse_quota().status_code == 200
    with acs_server.rest() as rest:
        assert rest.delete(f"/v1/access-keys/{operator.access_key_id}").status_code == 204
    error = rpc_error(lambda: client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 401)


def test_a_tampered_query_is_signature_does_not_match(
    admin_client: CasClient, wire: list[requests.PreparedRequest]
) -> None:
    name = f"tamper-{uuid.uuid4().hex[:8]}"
    admin_client.list_cert_warehouse(models.ListCertWarehouseRequest(name=name))
    captured = wire[-1].copy()
    assert captured.url is not None and f"Name={name}" in captured.url
    captured.url = captured.url.replace(f"Name={name}", "Name=other")
    response = replay(captured)
    assert (response.status_code, response.json()["Code"]) == (401, "SignatureDoesNotMatch")


def test_an_unsigned_request_is_a_missing_parameter(acs_server: Server) -> None:
    response = httpx.post(
        f"{acs_server.base_url}/?CurrentPage=1", headers={"x-acs-action": "ListCertWarehouse"}
    )
    body = response.json()
    assert (response.status_code, body["Code"]) == (400, "MissingParameter")
    assert set(body) == {"Code", "Message", "RequestId", "HostId"}


# --- the clock and the nonce ------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-16, 16], ids=["16-minutes-old", "16-minutes-ahead"])
def test_a_signing_time_outside_15_minutes_is_expired(
    admin_client: CasClient, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: utc_text(timedelta(minutes=minutes))))
    error = rpc_error(lambda: admin_client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("InvalidTimeStamp.Expired", 401)


def test_a_signing_time_within_15_minutes_is_accepted(
    admin_client: CasClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: utc_text(timedelta(minutes=-14))))
    assert admin_client.get_cert_warehouse_quota().status_code == 200


def test_an_unreadable_signing_time_is_a_format_error(
    admin_client: CasClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: "yesterday"))
    error = rpc_error(lambda: admin_client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("InvalidTimeStamp.Format", 401)


def test_a_nonce_used_twice_is_refused(admin_client: CasClient, monkeypatch: pytest.MonkeyPatch) -> None:
    nonce = uuid.uuid4().hex
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    assert admin_client.get_cert_warehouse_quota().status_code == 200
    error = rpc_error(lambda: admin_client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("SignatureNonceUsed", 401)


def test_a_replayed_request_is_refused_and_does_not_act_twice(
    admin_client: CasClient, wire: list[requests.PreparedRequest]
) -> None:
    name = f"replay-{uuid.uuid4().hex[:8]}"
    admin_client.create_warehouse(models.CreateWarehouseRequest(name=name, type="uploadedCertificate"))
    response = replay(wire[-1])
    assert (response.status_code, response.json()["Code"]) == (401, "SignatureNonceUsed")
    assert instances_named(admin_client, name) == 1


def test_a_nonce_of_a_refused_request_stays_usable(
    acs_server: Server, admin_client: CasClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only authentic requests store their nonce: a forger cannot burn the nonces of others.
    nonce = uuid.uuid4().hex
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    forger = acs_server.client(Identity(acs_server.admin.access_key_id, "wrong-secret"))
    assert rpc_error(lambda: forger.get_cert_warehouse_quota()).code == "SignatureDoesNotMatch"
    assert admin_client.get_cert_warehouse_quota().status_code == 200


# --- version and action -----------------------------------------------------------------------------


def test_another_api_version_is_refused(admin_client: CasClient) -> None:
    error = rpc_error(lambda: call_action(admin_client, "ListCertWarehouse", version="2018-08-13"))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "x-acs-version" in error.data["Message"] and "2020-04-07" in error.data["Message"]


def test_an_unknown_action_is_refused_by_name(admin_client: CasClient) -> None:
    error = rpc_error(lambda: call_action(admin_client, "DescribeEverything"))
    assert (error.code, error.status_code) == ("InvalidAction.NotFound", 404)
    assert "DescribeEverything" in error.data["Message"] and "does not exist" in error.data["Message"]


# SPEC §2.2: the Alibaba actions and certrepo's three extensions.
SPEC_ACTIONS = [
    "CreateWarehouse",
    "DeleteWarehouse",
    "ListWarehouse",
    "ListCertWarehouse",
    "GetCertWarehouseQuota",
    "ListCert",
    "DescribeWarehouseCert",
    "UploadPCACert",
    "DeletePCACert",
    "CreateWHClientCertificate",
    "RevokeWHClientCertificate",
    "Sign",
    "Verify",
    "Encrypt",
    "Decrypt",
    "UploadUserCertificate",
    "GetUserCertificateDetail",
    "DeleteUserCertificate",
    "ListUserCertificateOrder",
    "ResetWarehouse",
    "EnableWarehouse",
    "UpdateWarehouse",
]


def test_the_action_table_serves_exactly_the_actions_of_the_spec() -> None:
    assert sorted(ACTIONS) == sorted(SPEC_ACTIONS)


@pytest.mark.parametrize("action", SPEC_ACTIONS)
def test_every_action_reaches_its_handler(admin_client: CasClient, action: str) -> None:
    # Called without parameters, an action answers (listings) or names what is missing: it was served.
    try:
        call_action(admin_client, action, {})
    except ClientException as error:
        assert (error.code, error.status_code) == ("MissingParameter", 400), error.data


def test_action_names_are_case_sensitive(admin_client: CasClient) -> None:
    assert rpc_error(lambda: call_action(admin_client, "listcertwarehouse")).code == "InvalidAction.NotFound"


def test_get_on_the_root_is_not_answered_by_the_rpc_endpoint(acs_server: Server) -> None:
    # Browsers that GET / reach the console; the RPC endpoint answers POST only.
    response = httpx.get(f"{acs_server.base_url}/", follow_redirects=False)
    assert "RequestId" not in response.text


# --- the older HMAC-SHA1 (V1) signature -------------------------------------------------------------


def test_the_v1_signature_style_is_routed_by_the_action_parameter(acs_server: Server) -> None:
    client = acs_server.client(signature_algorithm="v2")
    name = f"v1-{uuid.uuid4().hex[:8]}"
    created = client.create_warehouse(models.CreateWarehouseRequest(name=name, type="uploadCA"))
    assert created.body.warehouse_instance_id
    assert instances_named(acs_server.client(), name) == 1


def test_the_v1_signature_style_with_a_wrong_secret_is_refused(acs_server: Server) -> None:
    client = acs_server.client(Identity(acs_server.admin.access_key_id, "wrong"), signature_algorithm="v2")
    error = rpc_error(lambda: client.get_cert_warehouse_quota())
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 401)
    assert "HMAC-SHA1" in error.data["Message"]


def test_the_v1_signature_style_checks_the_version_parameter(acs_server: Server) -> None:
    client = acs_server.client(signature_algorithm="v2")
    error = rpc_error(lambda: call_action(client, "GetCertWarehouseQuota", version="2019-01-01"))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "Version" in error.data["Message"]
