"""How the RPC endpoint renders outcomes: the one error table, Alibaba's body, Throttling's retry header,
and the 500 for anything unexpected (in process, with requests signed by the SDK's own code)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from starlette.responses import Response
from structlog.testing import capture_logs

from certrepo.api.acs import dispatcher
from certrepo.api.acs.actions_context import ActionContext
from certrepo.api.acs.dispatcher import render_error, render_internal_error
from certrepo.api.common.errors import status_for
from certrepo.app import build_app
from certrepo.domain.errors import (
    CertrepoError,
    ConfirmationRequired,
    InvalidInput,
    InvalidTimeStamp,
    MissingParameter,
    QuotaExhausted,
    RepositoryDisabled,
    SignatureNonceUsed,
    Throttling,
    all_error_classes,
)
from tests.conftest import World

HOST = "certrepo.test"
# Rendering does not depend on the database: the in-process tests run on SQLite only (the SDK tests cover
# both backends end to end).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _body(response: Response) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(bytes(response.body))
    return decoded


# --- render_error -----------------------------------------------------------------------------------


def test_throttling_sets_x_acs_retry_after_in_milliseconds_so_the_sdk_throttles() -> None:
    response = render_error(Throttling("too fast", retry_after_seconds=3), request_id="R-1", host_id="h")
    assert response.status_code == 429
    assert (response.headers["x-acs-retry-after"], response.headers["retry-after"]) == ("3000", "3")
    # The SDK raises ThrottlingException exactly when this returns a positive number.
    assert Utils.get_throttling_time_left(dict(response.headers)) == 3000
    assert _body(response) == {"Code": "Throttling", "Message": "too fast", "RequestId": "R-1", "HostId": "h"}


def test_quota_exhausted_is_429_without_a_retry_header() -> None:
    # Waiting does not refill a quota pool: the SDK must not treat it as throttling.
    response = render_error(QuotaExhausted("the app pool is used up"), request_id="R", host_id="h")
    assert response.status_code == 429 and "x-acs-retry-after" not in response.headers


ERROR_CASES = {
    "missing": (MissingParameter("the parameter Name is required"), 400, "MissingParameter"),
    "state": (RepositoryDisabled("repository 1 is reset"), 409, "RepositoryDisabled"),
    "replay": (SignatureNonceUsed("used"), 401, "SignatureNonceUsed"),
    "expired": (
        InvalidTimeStamp("too old", details={"reason": "InvalidTimeStamp.Expired"}),
        401,
        "InvalidTimeStamp.Expired",
    ),
    "unreadable-time": (
        InvalidTimeStamp("bad", details={"reason": "InvalidTimeStamp.Format"}),
        401,
        "InvalidTimeStamp.Format",
    ),
}


@pytest.mark.parametrize(("error", "status", "code"), ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_a_product_error_renders_with_its_code_and_the_shared_status(
    error: CertrepoError, status: int, code: str
) -> None:
    response = render_error(error, request_id="R-2", host_id="cas.local")
    assert (response.status_code, _body(response)["Code"]) == (status, code)
    assert response.headers["content-type"] == "application/json;charset=utf-8"


def test_a_domain_field_is_named_as_its_rpc_parameter() -> None:
    error = ConfirmationRequired("send acknowledge_risk: true", details={"field": "acknowledge_risk"})
    message = _body(render_error(error, request_id="R", host_id="h"))["Message"]
    assert message == "send acknowledge_risk: true (parameter AcknowledgeRisk)"


@pytest.mark.parametrize("error_class", all_error_classes(), ids=lambda c: c.__name__)
def test_every_product_error_renders_in_the_rpc_shape(error_class: type[CertrepoError]) -> None:
    error = error_class("x") if error_class is not Throttling else Throttling("x", retry_after_seconds=1)
    response = render_error(error, request_id="R", host_id="h")
    assert response.status_code == status_for(error)
    assert set(_body(response)) == {"Code", "Message", "RequestId", "HostId"}


def test_an_internal_error_names_only_the_request_id() -> None:
    response = render_internal_error(request_id="R-500", host_id="h")
    body = _body(response)
    assert (response.status_code, body["Code"], body["RequestId"]) == (500, "InternalError", "R-500")
    assert "R-500" in str(body["Message"])


# --- the endpoint in process ------------------------------------------------------------------------


@pytest.fixture
async def rpc(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(world.settings, world.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{HOST}") as client:
        yield client


def signed(world: World, action: str, query: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A URL and headers signed with the SDK's own ACS3 code, as the admin's access key."""
    headers = {
        "host": HOST,
        "x-acs-version": "2020-04-07",
        "x-acs-action": action,
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = query
    request.headers = headers
    key = world.admin.access_key
    payload = hashlib.sha256(b"").hexdigest()
    authorization = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", payload, key.key.id, key.secret.reveal().decode()
    )
    return f"/?{urlencode(query)}", {**headers, "authorization": authorization}


@sqlite_only
async def test_a_signed_request_in_process_gets_its_answer(world: World, rpc: httpx.AsyncClient) -> None:
    url, headers = signed(world, "GetCertWarehouseQuota", {})
    response = await rpc.post(url, headers=headers)
    assert response.status_code == 200 and response.json()["AppUseCount"] == 0


@sqlite_only
async def test_an_unexpected_exception_is_a_500_with_the_request_id_and_a_logged_trace(
    world: World, rpc: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_ctx: ActionContext) -> dict[str, object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dispatcher, "find_handler", lambda _action: broken)
    url, headers = signed(world, "GetCertWarehouseQuota", {})
    with capture_logs() as logs:
        response = await rpc.post(url, headers=headers)
    body = response.json()
    assert (response.status_code, body["Code"]) == (500, "InternalError")
    assert body["RequestId"] == response.headers["x-request-id"] and "a bug" not in response.text
    assert any(entry.get("exc_info") and entry.get("request_id") == body["RequestId"] for entry in logs)


@sqlite_only
async def test_a_body_over_the_limit_is_refused_before_anything_else(
    world: World, rpc: httpx.AsyncClient
) -> None:
    url, headers = signed(world, "GetCertWarehouseQuota", {})
    too_big = b"x" * (world.settings.max_body_bytes + 1)
    response = await rpc.post(url, headers=headers, content=too_big)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("action", "parameter"),
    [
        ("Sign", "SigningAlgorithm"),
        ("Encrypt", "Algorithm"),
        ("CreateWHClientCertificate", None),
        (None, None),
    ],
    ids=["sign", "encrypt", "no-such-field", "before-routing"],
)
def test_a_domain_field_is_named_as_the_parameter_of_the_action(
    action: str | None, parameter: str | None
) -> None:
    error = InvalidInput("algorithm 'X' is not known", details={"field": "algorithm"})
    message = _body(render_error(error, request_id="R", host_id="h", action=action))["Message"]
    assert message == (f"algorithm 'X' is not known (parameter {parameter})" if parameter else error.message)


def test_an_invalid_input_with_a_parameter_detail_is_not_renamed() -> None:
    error = InvalidInput("the parameter MaxResults must be at most 500", details={"parameter": "MaxResults"})
    assert _body(render_error(error, request_id="R", host_id="h"))["Message"] == error.message
