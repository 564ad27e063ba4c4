"""``POST /``: the Alibaba Cloud CAS-compatible RPC endpoint (SPEC §2.2, reference §1 and §9).

One request: parse the signature (ACS3-HMAC-SHA256 header or V1 HMAC-SHA1 query), find the access key,
verify, check the clock, remember the nonce (refusing a replay, on any node), check the version, route
on the action (``x-acs-action``, or ``Action`` for V1), run the handler. Every outcome is rendered here,
in one ``try``: product errors as ``{Code, Message, RequestId, HostId}`` with the status of
``api/common/errors.py``; anything else as a 500 ``InternalError`` carrying the request id, the trace in
the log.
"""

from __future__ import annotations

import functools
import json
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from certrepo.api.common.errors import retry_after_seconds, status_for
from certrepo.api.common.limits import read_body
from certrepo.api.common.requests import request_id_of
from certrepo.domain.errors import (
    CertrepoError,
    InvalidInput,
    InvalidTimeStamp,
    MissingParameter,
)
from certrepo.services.auth import principal_for_access_key
from certrepo.services.context import Call, Services
from certrepo.services.requests import SIGNATURE_WINDOW, remember_nonce

from .actions import find_handler, parameter_for
from .actions_context import ActionContext
from .params import Params
from .signature import PendingSignature, parse_request_auth

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_BODY_BYTES",
    "authenticate",
    "render_error",
    "render_internal_error",
    "router",
]

API_VERSION = "2020-04-07"
DEFAULT_MAX_BODY_BYTES = 1_048_576
_MEDIA_TYPE = "application/json;charset=utf-8"

log = structlog.get_logger("certrepo.api.acs")
router = APIRouter()


@router.post("/", include_in_schema=False)
async def rpc_endpoint(request: Request) -> Response:
    """Alibaba Cloud CAS 2020-04-07 RPC (parameters in the query, action in x-acs-action)."""
    services: Services = request.app.state.services
    request_id = request_id_of(request.scope)
    action: str | None = None
    try:
        body = await _read_body(request)
        raw_query = _raw_query(request.scope.get("query_string", b""))
        pending = parse_request_auth(
            method=request.method,
            path=request.scope["path"],
            raw_query=raw_query,
            headers=request.headers,
            body=body,
        )
        call = await authenticate(services, pending, request_id)
        action = _action_of(pending)
        handler = find_handler(action)
        result = await handler(ActionContext(services, call, Params.from_query(raw_query)))
    except CertrepoError as exc:
        return render_error(exc, request_id=request_id, host_id=_host_id(services.base_url), action=action)
    except Exception:
        log.exception("unhandled error in RPC action", request_id=request_id)
        return render_internal_error(request_id=request_id, host_id=_host_id(services.base_url))
    return _json(200, {**result, "RequestId": request_id}, request_id)


# --- authentication and routing ---------------------------------------------------------------------


async def authenticate(services: Services, pending: PendingSignature, request_id: str | None) -> Call:
    """The call of a signed request: key, signature, clock, nonce, in that order (a nonce is stored only
    for an authentic request, so that strangers cannot fill the table).

    Raises InvalidAccessKey, SignatureDoesNotMatch, InvalidTimeStamp, SignatureNonceUsed, MissingParameter."""
    principal, secret = await principal_for_access_key(services, pending.access_key_id)
    pending.verify(secret)
    pending.check_timestamp(services.clock(), SIGNATURE_WINDOW)
    if pending.nonce is None:
        raise MissingParameter("the signature nonce is required", details={"parameter": "SignatureNonce"})
    await remember_nonce(services, pending.nonce, pending.access_key_id)
    return Call(principal=principal, request_id=request_id)


def _action_of(pending: PendingSignature) -> str:
    # Both come from signed input: the x-acs-* headers (ACS3) or the Action/Version parameters (V1).
    version_name, action_name = (
        ("x-acs-version", "x-acs-action") if pending.style == "ACS3-HMAC-SHA256" else ("Version", "Action")
    )
    if not pending.version:
        raise MissingParameter(
            f"{version_name} is required ({API_VERSION})", details={"parameter": version_name}
        )
    if pending.version != API_VERSION:
        raise InvalidInput(
            f"{version_name} {pending.version[:32]!r} is not served here; this endpoint is CAS {API_VERSION}",
            details={"parameter": version_name},
        )
    if not pending.action:
        raise MissingParameter(f"{action_name} is required", details={"parameter": action_name})
    return pending.action


# --- request parts ----------------------------------------------------------------------------------


def _raw_query(query_string: bytes) -> str:
    try:
        # Percent-encoded ASCII from every SDK; raw UTF-8 is tolerated, anything else is refused.
        return query_string.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the query string is not valid UTF-8") from None


def _body_limit(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    limit = getattr(settings, "max_body_bytes", None)
    return limit if isinstance(limit, int) else DEFAULT_MAX_BODY_BYTES


async def _read_body(request: Request) -> bytes:
    """The body (empty from the Alibaba SDK; only hashed for the signature), refused past the limit; a
    client that leaves mid-body is bad input, not a fault."""
    return await read_body(request.scope, request.receive, _body_limit(request))


# --- rendering --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _host_id(base_url: str) -> str:
    return urlsplit(base_url).netloc or base_url


def _json(
    status: int, body: dict[str, object], request_id: str, headers: dict[str, str] | None = None
) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        content, status, headers={"x-acs-request-id": request_id, **(headers or {})}, media_type=_MEDIA_TYPE
    )


def _code(exc: CertrepoError) -> str:
    if isinstance(exc, InvalidTimeStamp):
        # One class, two Alibaba codes: InvalidTimeStamp.Format (unreadable) and .Expired (too far).
        reason = exc.details.get("reason")
        if isinstance(reason, str) and reason.startswith("InvalidTimeStamp."):
            return reason
    return exc.code


def _message(exc: CertrepoError, action: str | None) -> str:
    field = exc.details.get("field")
    parameter = parameter_for(action, field) if isinstance(field, str) else None
    return f"{exc.message} (parameter {parameter})" if parameter else exc.message


def render_error(exc: CertrepoError, *, request_id: str, host_id: str, action: str | None = None) -> Response:
    """Alibaba's error shape with the status of the one category table; ``x-acs-retry-after`` (ms) on
    Throttling, which makes the SDK raise its ThrottlingException. A REST field a domain error names is
    shown as the RPC parameter of ``action`` that carries it."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    retry = retry_after_seconds(exc)
    if retry is not None:
        headers = {"Retry-After": str(retry), "x-acs-retry-after": str(max(retry, 1) * 1000)}
    if status >= 500:
        log.error("unmapped product error", code=exc.code, request_id=request_id)
    body: dict[str, object] = {
        "Code": _code(exc),
        "Message": _message(exc, action),
        "RequestId": request_id,
        "HostId": host_id,
    }
    return _json(status, body, request_id, headers)


def render_internal_error(*, request_id: str, host_id: str) -> Response:
    """A 500 that names the request id and nothing else (the trace is in the log)."""
    body: dict[str, object] = {
        "Code": "InternalError",
        "Message": f"internal error; quote the request id {request_id} when reporting it",
        "RequestId": request_id,
        "HostId": host_id,
    }
    return _json(500, body, request_id)
