"""Connection limits uvicorn's h11 protocol lacks: slow clients and oversized request heads.

uvicorn (0.54) waits for a request head as long as a client cares to send it one byte at a time, and
waits for a request body the app reads without any timeout: a few hundred such sockets (slowloris,
slow POST) hold connections and app tasks forever. Its h11 parser bounds the head only loosely (its
``max_incomplete_event_size`` is checked on incomplete reads, so a head up to twice as long gets through
when it arrives in two reads) and counts no header fields. ``LimitedH11Protocol`` adds, per connection,
the nginx-style timeouts and the limits below; ``uvicorn_options`` in ``certrepo.server`` installs it.

* the request line and headers must arrive within ``head_timeout_seconds`` of connecting (or of the first
  byte of the next request on a kept-alive connection), else 408 and close (nginx
  ``client_header_timeout``: a deadline for the whole head, so dripping bytes does not extend it);
* while the app waits for a request body, a gap of ``body_timeout_seconds`` without a byte closes the
  connection, and the app sees ``http.disconnect`` (nginx ``client_body_timeout``);
* after an early answer (413 before the body was read), the rest of the body is drained for at most
  ``body_timeout_seconds``, then the connection closes (a bounded lingering close: closing at once with
  unread data would reset the connection, and the client could lose the answer);
* a request line over ``max_request_line_bytes`` is refused with 414, a header block over
  ``max_header_bytes`` or ``max_header_count`` fields with 431, malformed HTTP with 400, each as a JSON
  body in the REST error shape (SPEC §3) with a request id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from certrepo.domain.errors import InvalidInput, MessageTooLarge

__all__ = ["ConnectionLimits", "LimitedH11Protocol", "head_refusal", "protocol_factory"]

_Refusal = tuple[int, str]  # HTTP status, message
_HTTP_VERSION_BYTES = len(b" HTTP/1.1")
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

    @property
    def max_head_bytes(self) -> int:
        """What the parser buffers at most for an incomplete head: the request line and headers."""
        return self.max_request_line_bytes + self.max_header_bytes


def head_refusal(event: h11.Request, limits: ConnectionLimits) -> _Refusal | None:
    """The status and message refusing a parsed request head over ``limits``, or None when it fits."""
    line_bytes = len(event.method) + 1 + len(event.target) + _HTTP_VERSION_BYTES
    if line_bytes > limits.max_request_line_bytes:
        return 414, (
            f"the request line (method, path and query) has {line_bytes} bytes; "
            f"at most {limits.max_request_line_bytes} are accepted"
        )
    if len(event.headers) > limits.max_header_count:
        return (
            431,
            f"the request has {len(event.headers)} header fields; at most {limits.max_header_count} are accepted",
        )
    header_bytes = sum(len(name) + len(value) + 4 for name, value in event.headers)  # "name: value\r\n"
    if header_bytes > limits.max_header_bytes:
        return (
            431,
            f"the request headers have {header_bytes} bytes; at most {limits.max_header_bytes} are accepted",
        )
    return None


def _parser_refusal(error: h11.RemoteProtocolError, line_seen: bool, limits: ConnectionLimits) -> _Refusal:
    if error.error_status_hint == 431:  # h11's "Receive buffer too long": the head never ended
        if not line_seen:
            return 414, f"the request line is longer than {limits.max_request_line_bytes} bytes"
        return 431, f"the request head is longer than {limits.max_head_bytes} bytes"
    if error.error_status_hint == 501:
        return 400, "the request uses a Transfer-Encoding other than chunked"
    # h11's own message may quote the request: it is not echoed.
    return 400, "the request is not valid HTTP/1.1"


class _LimitedConnection(h11.Connection):
    """h11's server side, refusing heads over the limits and remembering why for the answer."""

    def __init__(self, limits: ConnectionLimits) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        self.limits = limits
        self.refusal: _Refusal | None = None
        self._line_seen = False  # a newline arrived since the request began: its request line is complete

    def receive_data(self, data: bytes) -> None:
        self._line_seen = self._line_seen or b"\n" in data
        super().receive_data(data)

    def start_next_cycle(self) -> None:
        super().start_next_cycle()
        self._line_seen = False

    def next_event(self) -> type[h11.NEED_DATA | h11.PAUSED] | h11.Event:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as error:
            self.refusal = _parser_refusal(error, self._line_seen, self.limits)
            raise
        if isinstance(event, h11.Request):
            self.refusal = head_refusal(event, self.limits)
            if self.refusal is not None:
                # uvicorn answers a RemoteProtocolError with send_400_response, which renders the refusal.
                raise h11.RemoteProtocolError(self.refusal[1], error_status_hint=self.refusal[0])
        return event


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body idle timeout and exact head limits."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.conn = _LimitedConnection(limits)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._draining = False  # answered before the body arrived: the body timer is a deadline, not a gap

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.head_timeout_seconds, self._head_timed_out)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            # The first byte of the next request on a kept-alive connection starts its deadline.
            self._head_timer = self.loop.call_later(self.limits.head_timeout_seconds, self._head_timed_out)
        super().data_received(data)
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request()

    def send_400_response(self, msg: str) -> None:
        """Every parser refusal (400, 414, 431) as a JSON body; uvicorn has logged ``msg`` already."""
        refusal = self.conn.refusal if isinstance(self.conn, _LimitedConnection) else None
        status, message = refusal or (400, "the request is not valid HTTP/1.1")
        code = MessageTooLarge.code if status in (414, 431) else InvalidInput.code
        self._refuse(status, code, message)

    # --- timers ------------------------------------------------------------------------------------------

    def _follow_request(self) -> None:
        """Re-arm or drop the timers after the parser or the app moved the request on."""
        if self.transport.is_closing():
            return
        their, ours = self.conn.their_state, self.conn.our_state
        if their is not h11.IDLE and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if their is not h11.SEND_BODY:
            self._drop_body_timer()
            self._draining = False
        elif ours in (h11.DONE, h11.MUST_CLOSE):
            if not self._draining:  # a deadline: the drained bytes do not extend it
                self._draining = True
                self._arm_body_timer()
        else:
            self._arm_body_timer()  # a gap: each byte of the body restarts it

    def _arm_body_timer(self) -> None:
        self._drop_body_timer()
        self._body_timer = self.loop.call_later(self.limits.body_timeout_seconds, self._body_timed_out)

    def _drop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.logger.info("Request head not received within %s s; closing.", self.limits.head_timeout_seconds)
        message = f"no complete request line and headers within {self.limits.head_timeout_seconds:g} seconds"
        self._refuse(408, InvalidInput.code, message)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if not self._draining and (self.flow.read_paused or self._awaiting_continue()):
            # uvicorn stopped reading until the app takes what is buffered, or the client waits for the
            # "100 Continue" the app has not asked for yet: the client is not late.
            self._arm_body_timer()
            return
        what = "Unread request body still arriving" if self._draining else "Request body stalled"
        self.logger.info("%s after %s s; closing.", what, self.limits.body_timeout_seconds)
        # The app, if it still waits for the body, gets http.disconnect from connection_lost.
        self.transport.close()

    def _awaiting_continue(self) -> bool:
        return self.cycle is not None and self.cycle.waiting_for_100_continue

    # --- answers -------------------------------------------------------------------------------------

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` with a JSON error in the REST shape, then close the connection."""
        request_id = uuid.uuid4().hex.upper()
        body = json.dumps({"code": code, "message": message, "request_id": request_id}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", request_id.encode()),
        ]
        try:
            response = h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))
            for event in (response, h11.Data(data=body), h11.EndOfMessage()):
                output = self.conn.send(event)
                if output:
                    self.transport.write(output)
        except h11.LocalProtocolError:
            pass  # a response had begun already: closing is all that is left
        self.transport.close()


def protocol_factory(limits: ConnectionLimits) -> Callable[..., asyncio.Protocol]:
    """What uvicorn's ``http`` option takes to build ``LimitedH11Protocol`` with ``limits``: a partial of a
    module-level class, so that uvicorn can pickle it for its worker processes."""
    return functools.partial(LimitedH11Protocol, limits=limits)
