"""The key-use routes without the framework's per-request machinery (issue 5's hot path).

`POST /v1/sign|verify|encrypt|decrypt` are what applications call thousands of times a second, and a
signature costs ~35 µs: FastAPI's routing over every route of the app, dependency solving and response
validation cost several times that. This ASGI middleware answers exactly those four paths itself, with
the same parts as the routes in operations.py — the same request models (validated by pydantic), the
same bearer authentication, the same route functions and the same error bodies — and hands every other
request to the app. The FastAPI routes stay: they document the API (OpenAPI) and are the contract the
fast path is tested against (tests/api/rest/test_keyuse_fastpath.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from certrepo.api.common.auth import authenticate_authorization_header
from certrepo.api.common.limits import read_body
from certrepo.api.common.requests import assign_request_id
from certrepo.domain.errors import CertrepoError
from certrepo.services.context import Call, Services

from . import operations as routes
from .errors import product_error_response, server_fault_body, validation_error_body
from .schemas import DecryptIn, EncryptIn, SignIn, VerifyIn

__all__ = ["CertrepoAPI", "KeyUseFastPath"]

_Route = Callable[..., Awaitable[BaseModel]]

_ROUTES: dict[str, tuple[type[BaseModel], _Route]] = {
    "/v1/sign": (SignIn, routes.sign),
    "/v1/verify": (VerifyIn, routes.verify),
    "/v1/encrypt": (EncryptIn, routes.encrypt),
    "/v1/decrypt": (DecryptIn, routes.decrypt),
}
_JSON = (b"content-type", b"application/json")


class KeyUseFastPath:
    """Answers the four key-use routes directly; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, *, services: Services, max_body_bytes: int) -> None:
        self.app = app
        self._services = services
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope)
        status, body, headers = await self._answer(scope, receive, request_id, *route)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _JSON,
                    (b"content-length", str(len(body)).encode()),
                    *((name.lower().encode(), value.encode()) for name, value in headers.items()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, receive: Receive, request_id: str, model: type[BaseModel], route: _Route
    ) -> tuple[int, bytes, dict[str, str]]:
        try:
            # The order of the full stack: the size limit, then authentication, then the body's shape.
            raw = await read_body(scope, receive, self._max_body_bytes)
            principal = await authenticate_authorization_header(self._services, _authorization(scope))
            # json.loads, then validation of the Python object: FastAPI's own steps, so the 400s read alike.
            try:
                payload = model.model_validate(json.loads(raw), from_attributes=True)
            except json.JSONDecodeError as exc:
                error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
                return 400, _dumps(validation_error_body([error], request_id)), {}
            except ValidationError as exc:
                return 400, _dumps(validation_error_body(exc.errors(include_url=False), request_id)), {}
            call = Call(principal=principal, request_id=request_id)
            result = await route(payload, self._services, call)
            return 200, result.model_dump_json().encode(), {}
        except CertrepoError as exc:
            status, error, headers = product_error_response(exc, request_id)
            return status, _dumps(error), headers
        except Exception:  # noqa: BLE001 - outside ServerErrorMiddleware: a fault is answered (and logged) here
            return 500, _dumps(server_fault_body(request_id)), {}


class CertrepoAPI(FastAPI):
    """The FastAPI app with the key-use fast path as its outermost layer (``app.state`` holds the
    services and settings it needs)."""

    def build_middleware_stack(self) -> ASGIApp:
        return KeyUseFastPath(
            super().build_middleware_stack(),
            services=self.state.services,
            max_body_bytes=self.state.settings.max_body_bytes,
        )


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
