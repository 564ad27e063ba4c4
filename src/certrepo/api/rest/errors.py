"""REST error rendering: one handler per kind, registered once; SPEC §3 shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from certrepo.api.common.errors import retry_after_seconds, status_for
from certrepo.api.common.requests import request_id_of
from certrepo.domain.errors import CertrepoError

__all__ = [
    "error_body",
    "error_responses",
    "install_error_handlers",
    "product_error_response",
    "server_fault_body",
    "validation_error_body",
]

log = structlog.get_logger("certrepo.api")

_STATUS_TEXT = {
    400: "bad input",
    401: "authentication failed",
    403: "not allowed",
    404: "not found",
    409: "state conflict",
    413: "too large",
    429: "limit reached",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer (401 and 400 always)."""
    from .schemas import ErrorBody

    wanted = sorted({400, 401, 429, *statuses})
    return {s: {"model": ErrorBody, "description": _STATUS_TEXT.get(s, "error")} for s in wanted}


def error_body(request_id: str, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SPEC §3 error body."""
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        body["details"] = details
    return body


def _body(request: Request, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return error_body(request_id_of(request.scope), code, message, details)


def product_error_response(exc: CertrepoError, request_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and extra headers of a product error (the one mapping, used by every REST path)."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    retry = retry_after_seconds(exc)
    if retry is not None:
        headers = {"Retry-After": str(retry), "x-acs-retry-after": str(retry * 1000)}
    if status >= 500:
        log.error("unmapped product error", code=exc.code, request_id=request_id)
    return status, error_body(request_id, exc.code, exc.message, exc.details or None), headers


async def _product_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CertrepoError)
    status, body, headers = product_error_response(exc, request_id_of(request.scope))
    return JSONResponse(body, status, headers=headers)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request body"


def validation_error_body(errors: Sequence[Any], request_id: str) -> dict[str, Any]:
    """The 400 body for pydantic's validation errors: the first one in the message, all the fields."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    code = "MissingParameter" if first.get("type") == "missing" else "InvalidParameter"
    message = f"{_where(tuple(first.get('loc', ())))}: {first.get('msg')}"
    fields = [_where(tuple(e.get("loc", ()))) for e in errors]
    return error_body(request_id, code, message, {"fields": fields})


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_error_body(exc.errors(), request_id_of(request.scope)), 400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "NotFound", 405: "MethodNotAllowed", 413: "MessageTooLarge"}
    code = codes.get(exc.status_code, "InvalidParameter" if exc.status_code < 500 else "InternalError")
    return JSONResponse(_body(request, code, str(exc.detail)), exc.status_code, headers=exc.headers)


def server_fault_body(request_id: str) -> dict[str, Any]:
    """Log the exception being handled with the request id; the 500 body names only the id."""
    log.exception("unhandled error", request_id=request_id)
    return error_body(request_id, "InternalError", "internal error; quote the request id when reporting it")


async def _server_fault(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(server_fault_body(request_id_of(request.scope)), 500)


def _declare_validation_errors_as_sent(app: FastAPI) -> None:
    """FastAPI documents a 422 on every operation with inputs; ``_validation_error`` answers 400 with the
    error body instead. Rewrite the document so that it declares what is really sent."""
    from .schemas import ErrorBody

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        bad_input = {
            "description": _STATUS_TEXT[400],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", bad_input)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CertrepoError, _product_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _server_fault)
    _declare_validation_errors_as_sent(app)
