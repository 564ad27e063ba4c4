"""Oversized request bodies are refused early: by Content-Length before reading, else while streaming."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certrepo.domain.errors import InvalidInput, MessageTooLarge

from .requests import request_id_of

__all__ = ["BodyLimitMiddleware", "read_body"]


def _over_limit(size: int, max_body_bytes: int) -> str:
    return f"request body of {size}+ bytes is over the limit of {max_body_bytes} bytes"


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, max_body_bytes: int) -> bytes:
    """The whole request body, for a handler that reads it itself. Raises MessageTooLarge as soon as the
    declared or received size passes the limit, and InvalidInput when the client leaves mid-body."""
    declared = _declared_length(scope)
    if declared is not None and declared > max_body_bytes:
        raise MessageTooLarge(_over_limit(declared, max_body_bytes))
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("the client closed the connection before sending the whole body")
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_body_bytes:
            raise MessageTooLarge(_over_limit(received, max_body_bytes))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, send, declared)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Answer 413 now and tell the app the client left, so it stops reading.
                    refused = True
                    await self._refuse(scope, send, received)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after a refusal the app's own answer has nowhere to go
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        body = json.dumps(
            {
                "code": MessageTooLarge.code,
                "message": _over_limit(size, self.max_body_bytes),
                "request_id": request_id_of(scope),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
