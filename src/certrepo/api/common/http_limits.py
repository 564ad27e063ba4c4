"""What the HTTP protocol of `certrepo serve` (``slow_clients.LimitedHttpToolsProtocol``) checks and says,
apart from the protocol itself: the per-connection limits, the checks of a request head as the parser
hands it over piece by piece, the request target split without httptools' URL parser, the JSON
refusals, and its deadlines. No I/O here: the protocol calls these and writes what they return."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from certrepo.domain.errors import InvalidInput, MessageTooLarge

__all__ = [
    "PARSE_URL_MAX_BYTES",
    "ConnectionLimits",
    "Deadline",
    "Refusal",
    "header_refusal",
    "line_refusal",
    "malformed",
    "refusal_response",
    "split_origin_form",
    "target_form_refusal",
    "unfinished_head_refusal",
    "version_refusal",
]

# httptools.parse_url (the old http-parser URL parser, which keeps 16-bit offsets) refuses longer targets.
PARSE_URL_MAX_BYTES = 65535
_VERSION_BYTES = len(b" HTTP/1.1")  # every version llhttp accepts is written "HTTP/d.d"
_LINE_ENDS_BYTES = 4  # CRLF after the request line, and a lone CR or LF of the blank line ending the head
_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection limits of the HTTP server (units in the names); picklable for worker processes."""

    head_timeout_seconds: float
    body_timeout_seconds: float
    max_request_line_bytes: int
    max_header_bytes: int
    max_header_count: int


class Deadline:
    """A deadline moved on nearly every request and rarely reached: one timer behind it, which fires at the
    earliest and re-arms for what is left (a timer armed and cancelled per request cost ~2 µs of CPU)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float, expired: Callable[[], None]) -> None:
        self.seconds = seconds
        self._loop = loop
        self._expired = expired
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._due is not None

    def start(self) -> None:
        """Due ``seconds`` from now, whether it was running or not; ``expired`` is called then."""
        self._due = self._loop.time() + self.seconds
        if self._timer is None:
            self._timer = self._loop.call_later(self.seconds, self._fire)

    def stop(self) -> None:
        self._due = None  # the timer, if armed, finds nothing due

    def close(self) -> None:
        """Stop, and drop the timer: the connection is gone."""
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self._due is None:
            return
        left = self._due - self._loop.time()
        if left > 0:  # started again since the timer was armed
            self._timer = self._loop.call_later(left, self._fire)
            return
        self._due = None
        self._expired()


@dataclass(frozen=True)
class Refusal:
    """An answer the protocol gives itself, instead of the app: status and message for the client."""

    status: int
    message: str


def malformed(reason: str = "") -> Refusal:
    """400 for what the parser could not read; ``reason`` is llhttp's fixed text, never request bytes."""
    detail = f" ({reason})" if reason and "callback" not in reason else ""
    return Refusal(400, f"the request is not valid HTTP/1.1{detail}")


def line_refusal(method: bytes, target_bytes: int, limits: ConnectionLimits) -> Refusal | None:
    """414 when the request line, of which ``target_bytes`` of the target have arrived, is over the limit."""
    if len(method) + 1 + target_bytes + _VERSION_BYTES <= limits.max_request_line_bytes:
        return None
    return Refusal(
        414,
        f"the request line (method, path and query) is longer than {limits.max_request_line_bytes} bytes",
    )


def header_refusal(header_count: int, header_bytes: int, limits: ConnectionLimits) -> Refusal | None:
    """431 when the header fields parsed so far are too many or too large."""
    if header_count > limits.max_header_count:
        return Refusal(431, f"the request has more than {limits.max_header_count} header fields")
    if header_bytes > limits.max_header_bytes:
        return Refusal(431, f"the request headers have more than {limits.max_header_bytes} bytes")
    return None


def unfinished_head_refusal(head_bytes: int, line_bytes: int, limits: ConnectionLimits) -> Refusal | None:
    """431 when an unfinished head already holds more header bytes than allowed: the parser hands a header
    field over only once it ends, so one endless field is caught by the bytes received instead."""
    if head_bytes - line_bytes - _LINE_ENDS_BYTES <= limits.max_header_bytes:
        return None
    return Refusal(431, f"the request headers have more than {limits.max_header_bytes} bytes")


def version_refusal(
    http_version: str, host_count: int, transfer_codings: tuple[bytes, ...]
) -> Refusal | None:
    """400 for a head llhttp accepts but HTTP/1.1 servers must not (RFC 9112 §3.2, §6.1)."""
    if http_version not in ("1.0", "1.1"):
        return Refusal(400, f"HTTP/{http_version} is not supported: send HTTP/1.1")
    if host_count > 1:
        return Refusal(400, "the request has more than one Host header")
    if host_count == 0 and http_version == "1.1":
        return Refusal(400, "the request has no Host header (required in HTTP/1.1)")
    if transfer_codings and transfer_codings != (b"chunked",):
        # llhttp passes "gzip, chunked" through still encoded; nothing here would decode it.
        return Refusal(400, "the request uses a Transfer-Encoding other than chunked")
    return None


def target_form_refusal(target: bytes) -> Refusal | None:
    """414 for a target over PARSE_URL_MAX_BYTES not in origin form ("/path?query"): the other forms
    (absolute URL, authority, "*") only parse_url reads."""
    if target.startswith(b"/"):
        return None
    return Refusal(414, f"a request target over {PARSE_URL_MAX_BYTES} bytes must be a path and query")


def split_origin_form(target: bytes, root_path: str) -> tuple[str, bytes, bytes]:
    """``path``, ``raw_path`` and ``query_string`` of the ASGI scope for an origin-form target
    ("/path?query#fragment"), as uvicorn derives them from httptools.parse_url: path and query split at
    the first "?", the fragment dropped, the path percent-decoded."""
    raw_path, _, query = target.partition(b"#")[0].partition(b"?")
    path = raw_path.decode("ascii")  # llhttp refuses other bytes in a path
    if "%" in path:
        path = urllib.parse.unquote(path)
    return root_path + path, root_path.encode("ascii") + raw_path, query


def refusal_response(refusal: Refusal, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole HTTP/1.1 answer for ``refusal``: a JSON error in the REST shape (SPEC §3) with a request
    id, closing the connection."""
    request_id = uuid.uuid4().hex.upper()
    code = MessageTooLarge.code if refusal.status in (413, 414, 431) else InvalidInput.code
    body = json.dumps({"code": code, "message": refusal.message, "request_id": request_id}).encode()
    head = [b"HTTP/1.1 %d %s\r\n" % (refusal.status, _REASONS.get(refusal.status, b""))]
    head += [b"%s: %s\r\n" % (name, value) for name, value in default_headers]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        b"x-request-id: %s\r\n\r\n" % request_id.encode(),
    ]
    return b"".join(head) + body
