"""Request ids: every response carries ``X-Request-Id``; audit events and error bodies name it."""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestIdMiddleware", "assign_request_id", "request_id_of"]

_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", "")) or "-"


class _RequestIds:
    """Unique ids without a system call per request: a random per-process prefix and a counter (a
    getrandom syscall per request cost ~10 µs on a VM). A forked child draws its own prefix."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(8).hex().upper()
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016X}"


_ids = _RequestIds()


def assign_request_id(scope: Scope) -> str:
    """The request's id, kept from a sane ``X-Request-Id`` of the caller or made here; stored in the scope."""
    given = ""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            break
    request_id = given if _VALID.match(given) else _ids.next()
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


class RequestIdMiddleware:
    """Pure ASGI (cheaper than BaseHTTPMiddleware on the hot path). Keeps a sane caller-given id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = (b"x-request-id", assign_request_id(scope).encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
