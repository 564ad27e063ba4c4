"""The HTTP/1.1 protocol of `certrepo serve`: uvicorn's httptools protocol with the limits it lacks for slow
clients and oversized request heads, and with request targets of 64 KiB and more.

Why httptools: uvicorn's h11 protocol is pure Python and cost ~170 µs of CPU per request more (a key-use
signature took 492 µs of server CPU with it, 321 µs with httptools). Why not plain httptools: the Alibaba
SDK sends certificates and keys in the query string, and uvicorn refuses any target over 65535 bytes with
400. Its llhttp parser reads such a target well; the refusal is ``httptools.parse_url`` in uvicorn's
``on_headers_complete`` (the old http-parser URL parser keeps 16-bit offsets). Such a target is split here
instead, the way uvicorn reads parse_url's answer. Why limits: uvicorn (0.54) waits for a request head as
long as a client cares to send it one byte at a time, for a request body the app reads without any
timeout, and bounds neither the request line nor the header block: a few hundred such sockets (slowloris,
slow POST) hold connections and app tasks forever. ``LimitedHttpToolsProtocol`` adds, per connection, the
nginx-style timeouts and the limits below; ``uvicorn_options`` in ``certrepo.server`` installs it.

* the request line and headers must arrive within ``head_timeout_seconds`` of connecting (or of the first
  byte of the next request on a kept-alive connection), else 408 and close (nginx
  ``client_header_timeout``: a deadline for the whole head, so dripping bytes does not extend it);
* while the app waits for a request body, a gap of ``body_timeout_seconds`` without a byte closes the
  connection, and the app sees ``http.disconnect`` (nginx ``client_body_timeout``);
* after an early answer (413 before the body was read), the rest of the body is drained for at most
  ``body_timeout_seconds``, then the connection closes (a bounded lingering close: closing at once with
  unread data would reset the connection, and the client could lose the answer);
* a request line over ``max_request_line_bytes`` is refused with 414, a header block over
  ``max_header_bytes`` or ``max_header_count`` fields with 431 — counted in the parser's callbacks as the
  bytes arrive, not once the head is whole —, malformed HTTP with 400, each as a JSON body in the REST
  error shape (SPEC §3) with a request id, and the connection closes;
* a request offering an Upgrade other than WebSocket (Java's clients offer h2c) is served over HTTP/1.1
  with its body, which llhttp leaves unread (uvicorn's own httptools protocol gives the app none).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .http_limits import (
    PARSE_URL_MAX_BYTES,
    ConnectionLimits,
    Deadline,
    Refusal,
    header_refusal,
    line_refusal,
    malformed,
    refusal_response,
    split_origin_form,
    target_form_refusal,
    unfinished_head_refusal,
    version_refusal,
)

__all__ = ["ConnectionLimits", "LimitedHttpToolsProtocol", "protocol_factory"]

_SHORTEST_METHOD_BYTES = 3  # GET, PUT: below this many target bytes the request line cannot be too long
_NOTED_HEADERS = frozenset((b"host", b"transfer-encoding", b"expect"))


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the protocol answers with its ``_refusal``."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a body idle timeout, exact head limits, JSON
    refusals and request targets up to ``max_request_line_bytes``."""

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
        self._max_header_count, self._max_header_bytes = limits.max_header_count, limits.max_header_bytes
        self._target_room = limits.max_request_line_bytes - len(b"  HTTP/1.1") - _SHORTEST_METHOD_BYTES
        self.url = b""
        self._target = bytearray()  # the target as it arrives: bytes += bytes would copy it for each piece
        self._in_head = True  # awaiting or reading a request head (else: its body, until it ends)
        self._head_bytes = 0  # received while in a head: bounds a header field the parser holds unfinished
        self._header_bytes = self._host_count = 0
        self._transfer_codings: tuple[bytes, ...] = ()
        self._head_deadline = Deadline(self.loop, limits.head_timeout_seconds, self._head_timed_out)
        self._body_deadline = Deadline(self.loop, limits.body_timeout_seconds, self._body_timed_out)
        self._draining = False  # answered before the body arrived: the body timer is a deadline, not a gap
        self._refusal: Refusal | None = None  # raised in a parser callback, answered after feed_data
        self._deferred: Refusal | None = None  # waits for the answers to earlier (pipelined) requests
        self._replaying_head = False  # a stand-in head carries a body after a declined Upgrade

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline.start()

    def data_received(self, data: bytes) -> None:
        if self._deferred is not None:
            return  # a refusal waits for its turn: nothing more is read into this connection
        self._unset_keepalive_if_required()
        if self._in_head:
            if not self._head_deadline.running:
                self._head_deadline.start()  # the first byte of the next request on a kept-alive connection
            self._head_bytes += len(data)
        if not self._feed(data):
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            refusal = unfinished_head_refusal(self._head_bytes, self._line_bytes(), self.limits)
            if refusal is not None:
                self._refuse(refusal)
                return
        self._follow_request()

    def _feed(self, data: bytes) -> bool:
        """Parse ``data``; False when the connection is done with (refused, or handed to WebSockets)."""
        while True:
            try:
                self.parser.feed_data(data)
                return True
            except httptools.HttpParserUpgrade as upgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                    return False
                self._unsupported_upgrade_warning()
                data = self._after_declined_upgrade(data[upgrade.args[0] :])
            except httptools.HttpParserError as error:
                refusal, self._refusal = self._refusal, None
                self._refuse(refusal or malformed(str(error)))
                return False

    def _after_declined_upgrade(self, rest: bytes) -> bytes:
        """What to parse after a request offering an Upgrade (Java's HTTP clients offer h2c) the server
        declines, answering it as if the offer were absent (RFC 9110 §7.8). llhttp ended that request at
        its head: a body it has is parsed again behind a stand-in head, by a fresh parser, into the same
        request (h11 read such requests whole; uvicorn's httptools protocol gives the app an empty body)."""
        length, chunked = 0, False
        for name, value in self.headers:
            if name == b"content-length":
                length = int(value)  # llhttp checked it: digits, one value
            elif name == b"transfer-encoding":
                chunked = True  # "chunked" alone, or on_headers_complete refused it
        if not length and not chunked:
            return rest  # no body: the resumed parser reads on from the next request
        self.cycle.more_body = True  # the app's task has not run yet: it sees the body after all
        self.cycle.message_event.clear()
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._replaying_head = True
        framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % length
        return b"POST / HTTP/1.1\r\nhost: -\r\n" + framing + b"\r\n\r\n" + rest

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline.close()
        self._body_deadline.close()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred is not None and self.cycle.response_complete and not self.transport.is_closing():
            refusal, self._deferred = self._deferred, None
            self._refuse(refusal)
            return
        self._follow_request()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's plain-text 400, should anything still call it, as a JSON refusal."""
        self._refuse(malformed())

    # --- parser callbacks: the head, counted as it arrives ------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._target.clear()
        self._header_bytes = self._host_count = 0
        self._transfer_codings = ()
        if not self._head_deadline.running:
            self._head_deadline.start()  # a pipelined request began inside a read

    def on_url(self, url: bytes) -> None:
        target = self._target
        target += url
        if len(target) > self._target_room:
            self._raise_if_refused(line_refusal(self.parser.get_method(), len(target), self.limits))

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        headers = self.headers
        headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4  # "name: value\r\n"
        if len(headers) > self._max_header_count or self._header_bytes > self._max_header_bytes:
            self._raise_if_refused(header_refusal(len(headers), self._header_bytes, self.limits))
        if name in _NOTED_HEADERS:
            self._note_header(name, value)

    def _note_header(self, name: bytes, value: bytes) -> None:
        if name == b"host":
            self._host_count += 1
        elif name == b"transfer-encoding":
            self._transfer_codings += tuple(coding.strip().lower() for coding in value.split(b","))
        elif value.lower() == b"100-continue":
            self.expect_100_continue = True

    def on_headers_complete(self) -> None:
        if self._replaying_head:  # the body that follows belongs to the request in self.cycle
            self._replaying_head = False
            self._end_head()
            return
        http_version = self.parser.get_http_version()
        if http_version != "1.1" or self._host_count != 1 or self._transfer_codings:
            self._raise_if_refused(version_refusal(http_version, self._host_count, self._transfer_codings))
        self.url = bytes(self._target)
        if len(self.url) <= PARSE_URL_MAX_BYTES:
            super().on_headers_complete()
        else:
            self._start_long_target_request()
        self._end_head()  # not before: a refusal raised above is answered as one for a head

    def _end_head(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._head_deadline.stop()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _start_long_target_request(self) -> None:
        """uvicorn's on_headers_complete for a target parse_url refuses: uvicorn parses a placeholder, and
        the scope gets the real path and query before the app's task first runs (creating it runs none of
        it; ``self.cycle`` holds this very scope dict)."""
        target = self.url
        self._raise_if_refused(target_form_refusal(target))
        path, raw_path, query = split_origin_form(target, self.root_path)
        self.url = b"/"
        try:
            super().on_headers_complete()
        finally:
            self.url = target
        self.scope["path"], self.scope["raw_path"], self.scope["query_string"] = path, raw_path, query

    def _line_bytes(self) -> int:
        """The request line's bytes so far, once its target has begun (else 0)."""
        if not self._target:
            return 0
        return len(self.parser.get_method()) + len(self._target) + len(b"  HTTP/1.1")

    def _raise_if_refused(self, refusal: Refusal | None) -> None:
        if refusal is not None:
            self._refusal = refusal  # feed_data raises HttpParserCallbackError; data_received answers this
            raise _Refused(refusal.message)

    # --- deadlines ---------------------------------------------------------------------------------------

    def _follow_request(self) -> None:
        """Move the body deadline after the parser or the app moved the request on (between requests it
        finds nothing to do when it expires)."""
        if self._in_head:
            if self._draining:
                self._end_drain()
            return
        if self.transport.is_closing():
            return
        if self.cycle.response_complete:
            if not self._draining:  # a deadline: the drained bytes do not move it
                self._draining = True
                self._body_deadline.start()
        else:
            self._body_deadline.start()  # a gap: each read of the body moves it

    def _end_drain(self) -> None:
        self._draining = False
        if self.transport.is_closing() or self._head_deadline.running:
            return  # closed, or the next request has begun
        if self.timeout_keep_alive_task is not None:
            return
        # The drained body ended and nothing followed: idle, as after any answer (uvicorn arms its
        # keep-alive timer only when an answer completes, and cancels it on every read).
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _head_timed_out(self) -> None:
        if self.transport.is_closing() or not self._in_head:
            return
        if self.flow.read_paused:  # pipelined requests wait for an answer: the client is not the one late
            self._head_deadline.start()
            return
        self.logger.info("Request head not received within %s s; closing.", self.limits.head_timeout_seconds)
        message = f"no complete request line and headers within {self.limits.head_timeout_seconds:g} seconds"
        self._refuse(Refusal(408, message))

    def _body_timed_out(self) -> None:
        if self.transport.is_closing() or self._in_head:
            return
        if not self._draining and (self.flow.read_paused or self.cycle.waiting_for_100_continue):
            # uvicorn stopped reading until the app takes what is buffered, or the client waits for the
            # "100 Continue" the app has not asked for yet: the client is not late.
            self._body_deadline.start()
            return
        what = "Unread request body still arriving" if self._draining else "Request body stalled"
        self.logger.info("%s after %s s; closing.", what, self.limits.body_timeout_seconds)
        # The app, if it still waits for the body, gets http.disconnect from connection_lost.
        self.transport.close()

    # --- answers -------------------------------------------------------------------------------------

    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` in place of the app, then close; or only close when an answer has begun."""
        cycle = self.cycle
        if cycle is not None and not self._in_head:  # the refusal concerns the body of cycle's request
            if cycle.response_started or self.pipeline:
                self.transport.close()  # answered, answering, or an earlier answer is owed: too late
                return
            cycle.disconnected = True  # the app gets http.disconnect, and its own answer is dropped
            cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete:
            self._deferred = refusal  # a pipelined head: its refusal follows the earlier request's answer
            self.flow.pause_reading()
            return
        if refusal.status != 408:
            self.logger.warning("Invalid HTTP request received: %d %s", refusal.status, refusal.message)
        self.transport.write(refusal_response(refusal, self.server_state.default_headers))
        self.transport.close()


def protocol_factory(limits: ConnectionLimits) -> Callable[..., asyncio.Protocol]:
    """What uvicorn's ``http`` option takes to build ``LimitedHttpToolsProtocol`` with ``limits``: a partial
    of a module-level class, so that uvicorn can pickle it for its worker processes."""
    return functools.partial(LimitedHttpToolsProtocol, limits=limits)
