"""HTTP limits of a real `certrepo serve`: they live in certrepo's extension of uvicorn's httptools protocol
(api/common/slow_clients.py), so only a real server shows them. Oversized bodies, header blocks and
request lines are refused early; a client too slow with its head or body is cut off at a deadline; while
slow clients hold connections, a normal request is still answered at once; what llhttp reads differently
from a plain HTTP/1.1 server (targets of 64 KiB and more, declined upgrades, pipelining) is served as one
would. Raw sockets throughout: an HTTP client library would refuse to send most of this."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from certrepo.config import Settings
from tests.support.server import free_port, init_json, serve

HEAD_TIMEOUT = 1.5  # seconds: CERTREPO_REQUEST_HEAD_TIMEOUT_SECONDS of the server under test
BODY_TIMEOUT = 1.0  # seconds: CERTREPO_REQUEST_BODY_TIMEOUT_SECONDS
SLACK = 4.0  # seconds of scheduling delay allowed on a loaded machine before a deadline counts as missed
PROMPT = 1.0  # seconds: a normal request is answered within this while slow clients wait (< HEAD_TIMEOUT)
DRIP_SECONDS = 0.05  # a slow client's pause between two bytes
MAX_BODY = Settings.model_fields["max_body_bytes"].default
MAX_LINE = Settings.model_fields["max_request_line_bytes"].default
MAX_HEADER_BYTES = Settings.model_fields["max_header_bytes"].default
MAX_HEADER_COUNT = Settings.model_fields["max_header_count"].default
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class Server:
    port: int
    bearer: str
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def is_healthy(self) -> bool:
        return httpx.get(self.url("/healthz"), timeout=5, trust_env=False).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `certrepo serve` for the module, with short head and body timeouts."""
    root = tmp_path_factory.mktemp("limits")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_") and k not in _PROXY_VARIABLES}
    env.update(
        PYTHONUNBUFFERED="1",  # the log is read after each test
        CERTREPO_LOG_LEVEL="warning",
        CERTREPO_REQUEST_HEAD_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
        CERTREPO_REQUEST_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
    )
    created = init_json(root / "data", env)
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name in _PROXY_VARIABLES:  # serve() polls /healthz with httpx, which follows proxy variables
            patch.delenv(name, raising=False)
        with serve(root / "data", port, env, root / "serve.log"):
            bearer = f"Bearer {created['access_key_id']}:{created['access_key_secret']}"
            yield Server(port, bearer, root / "serve.log")


@pytest.fixture(autouse=True)
def _no_server_fault(server: Server) -> Iterator[None]:
    """Whatever a test sends, the server logs no unhandled exception (a 5xx, or one nobody saw)."""
    before = server.log.stat().st_size
    yield
    assert server.is_healthy()  # also a turn of the server's loop for what the test left it to log
    with server.log.open("rb") as log:
        log.seek(before)
        logged = log.read().decode(errors="replace")
    assert "Traceback" not in logged and "Exception in ASGI application" not in logged, logged[-3000:]


# --- reading answers ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _recv(sock: socket.socket, deadline: float) -> bytes:
    """The next bytes from the server; b"" when it closed (or reset) the connection."""
    sock.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        return sock.recv(65536)
    except TimeoutError:
        pytest.fail("the server neither answered nor closed the connection in time")
    except ConnectionResetError:
        return b""


def _read_reply(sock: socket.socket, seconds: float) -> Reply | None:
    """One response, up to the end of its body; None when the server closed without answering."""
    deadline = time.monotonic() + seconds
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock, deadline)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = _parse_head(head)
    while len(body) < int(headers.get("content-length", "0")):
        chunk = _recv(sock, deadline)
        assert chunk, "the server closed the connection in the middle of its answer"
        body += chunk
    return Reply(status, headers, body)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), headers


def _replies_until_closed(sock: socket.socket, seconds: float) -> list[Reply]:
    """Every response the server sends on the connection until it closes it."""
    deadline = time.monotonic() + seconds
    data = b""
    while chunk := _recv(sock, deadline):
        data += chunk
    replies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status, headers = _parse_head(head)
        length = int(headers.get("content-length", "0"))
        replies.append(Reply(status, headers, rest[:length]))
        data = rest[length:]
    return replies


def _seconds_until_closed(sock: socket.socket, seconds: float) -> float:
    """How long the server took to close the connection (whatever it sent before)."""
    start = time.monotonic()
    deadline = start + seconds
    while _recv(sock, deadline):
        pass
    return time.monotonic() - start


def _assert_refused(reply: Reply | None, status: int, code: str) -> None:
    assert reply is not None, "the server closed the connection without an answer"
    assert reply.status == status, (reply.status, reply.body)
    body = reply.json()
    assert body["code"] == code and body["message"] and body["request_id"] == reply.headers["x-request-id"]


def _stream_chunks_until_answered(sock: socket.socket, limit_bytes: int) -> int:
    """Send a chunked body as fast as the server takes it, until it answers; the bytes sent by then."""
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    sent = 0
    sock.setblocking(False)
    try:
        while sent < limit_bytes:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                return sent
            if writable:
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    continue
        pytest.fail(f"no answer after {sent} bytes of body")
    finally:
        sock.setblocking(True)


def _post_head(server: Server, path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {server.bearer}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- oversized bodies -----------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_with_413_before_any_of_it_is_sent(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            _post_head(
                server,
                "/v1/repositories",
                "Content-Type: application/json",
                f"Content-Length: {64 * MAX_BODY}",
            )
        )
        _assert_refused(_read_reply(sock, 5), 413, "MessageTooLarge")


def test_a_streamed_oversized_body_is_answered_413_long_before_it_ends(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            _post_head(
                server, "/v1/repositories", "Content-Type: application/json", "Transfer-Encoding: chunked"
            )
        )
        sent = _stream_chunks_until_answered(sock, 256 * MAX_BODY)
        # The answer came while the client was still sending: socket buffers hold a few MiB, not 256.
        assert sent < 64 * MAX_BODY
        _assert_refused(_read_reply(sock, 5), 413, "MessageTooLarge")


def test_after_an_early_413_the_rest_of_the_body_is_drained_for_a_bounded_time(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            _post_head(
                server, "/v1/repositories", "Content-Type: application/json", "Transfer-Encoding: chunked"
            )
        )
        _stream_chunks_until_answered(sock, 256 * MAX_BODY)
        _assert_refused(_read_reply(sock, 5), 413, "MessageTooLarge")
        # The client goes on sending as fast as it can; the server stops reading it after BODY_TIMEOUT.
        start = time.monotonic()
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        with pytest.raises((BrokenPipeError, ConnectionResetError, TimeoutError)):
            sock.settimeout(BODY_TIMEOUT + SLACK)
            while time.monotonic() - start < BODY_TIMEOUT + SLACK:
                sock.sendall(chunk)
        assert time.monotonic() - start < BODY_TIMEOUT + SLACK, "the server kept draining the refused body"


# --- oversized heads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([f"X-Big: {'a' * MAX_HEADER_BYTES}"], id="one-huge-header"),
        pytest.param([f"X-H{n}: v" for n in range(MAX_HEADER_COUNT + 1)], id="one-header-too-many"),
        pytest.param([f"X-H{n}: v" for n in range(20_000)], id="twenty-thousand-headers"),
        pytest.param([f"X-H{n}: {'v' * 1000}" for n in range(600)], id="head-larger-than-the-parser-buffer"),
    ],
)
def test_an_oversized_header_block_is_refused_with_431(server: Server, headers: list[str]) -> None:
    with server.connect() as sock:
        sock.sendall(
            ("\r\n".join(["GET /healthz HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\r\n\r\n").encode()
        )
        _assert_refused(_read_reply(sock, 10), 431, "MessageTooLarge")
        _seconds_until_closed(sock, 5)
    assert server.is_healthy()


def test_a_header_that_never_ends_is_refused_with_431_once_it_passes_the_limit(server: Server) -> None:
    # The parser hands a header field over only once it ends: the bytes received must bound it (not 408).
    with server.connect() as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: " + b"a" * (2 * MAX_HEADER_BYTES)
        )
        _assert_refused(_read_reply(sock, HEAD_TIMEOUT / 2), 431, "MessageTooLarge")


def _long_target(line_bytes: int) -> bytes:
    """``GET /healthz?p=aaa… HTTP/1.1`` whose request line has exactly ``line_bytes`` bytes."""
    fixed = len(b"GET /healthz?p= HTTP/1.1")
    return b"GET /healthz?p=" + b"a" * (line_bytes - fixed) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_a_request_line_at_the_limit_is_served(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(_long_target(MAX_LINE))
        reply = _read_reply(sock, 10)
    assert reply is not None and reply.status == 200, reply


def test_a_target_over_64_kib_keeps_its_percent_decoded_path_and_drops_its_fragment(server: Server) -> None:
    # httptools' URL parser stops at 64 KiB: such a target is split without it, and must route the same.
    query = b"p=" + b"a" * 70_000
    with server.connect() as sock:
        sock.sendall(b"GET /heal%74hz?" + query + b"#part HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = _read_reply(sock, 10)
    assert reply is not None and reply.status == 200, reply


@pytest.mark.parametrize(
    ("line_bytes", "piece_bytes"),
    [
        pytest.param(MAX_LINE + 1, None, id="one-byte-over"),
        pytest.param(2 * MAX_LINE, None, id="twice-the-limit-at-once"),
        pytest.param(4 * MAX_LINE, 8192, id="four-times-the-limit-in-pieces"),
    ],
)
def test_a_request_line_over_the_limit_is_refused_with_414(
    server: Server, line_bytes: int, piece_bytes: int | None
) -> None:
    request = _long_target(line_bytes)
    with server.connect() as sock:
        try:
            for start in range(0, len(request), piece_bytes or len(request)):
                sock.sendall(request[start : start + (piece_bytes or len(request))])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end was sent: the answer is waiting
        _assert_refused(_read_reply(sock, 10), 414, "MessageTooLarge")
    assert server.is_healthy()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="not-http"),
        pytest.param(b"GET /healthz HTTP/1.1\r\n\r\n", id="no-host"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", id="header-without-colon"),
        pytest.param(b"GET /\x80\xff HTTP/1.1\r\nHost: x\r\n\r\n", id="non-ascii-target"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", id="nul-in-header"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", id="negative-length"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", id="two-lengths"
        ),
        pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", id="unknown-coding"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            id="gzip-chunked",
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", id="two-hosts"),
        pytest.param(b"GET /healthz\r\n\r\n", id="http-0.9"),
    ],
)
def test_malformed_http_is_refused_with_400_in_the_rest_error_shape(
    server: Server, request_bytes: bytes
) -> None:
    with server.connect() as sock:
        sock.sendall(request_bytes)
        _assert_refused(_read_reply(sock, 5), 400, "InvalidParameter")
    assert server.is_healthy()


# --- what llhttp reads differently -----------------------------------------------------------------------


_REPOSITORY = b'{"data_source": "uploaded"}'


@pytest.mark.parametrize(
    "framed_body",
    [
        pytest.param(b"Content-Length: %d\r\n\r\n%s" % (len(_REPOSITORY), _REPOSITORY), id="content-length"),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(_REPOSITORY), _REPOSITORY),
            id="chunked",
        ),
    ],
)
def test_a_declined_upgrade_offer_is_served_with_its_body_and_the_connection_goes_on(
    server: Server, framed_body: bytes
) -> None:
    # Java's HTTP clients offer h2c on plain http://; llhttp stops such a request at its head.
    offer = _post_head(
        server,
        "/v1/repositories",
        "Content-Type: application/json",
        "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
    ).removesuffix(b"\r\n")  # the framing header and the body follow
    with server.connect() as sock:
        sock.sendall(offer + framed_body)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        replies = _replies_until_closed(sock, 10)
    assert [reply.status for reply in replies] == [201, 200], replies
    assert replies[0].json()["data_source"] == "uploaded"


def test_pipelined_requests_are_answered_in_order_up_to_a_malformed_one(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"
        )
        replies = _replies_until_closed(sock, 10)
    assert [reply.status for reply in replies] == [200, 404, 400], replies
    _assert_refused(replies[2], 400, "InvalidParameter")


# --- slow clients -------------------------------------------------------------------------------------


def _drip_until_answered(sock: socket.socket, data: bytes, seconds: float) -> int:
    """Send ``data`` one byte every DRIP_SECONDS (then keep dripping header bytes), until the server
    answers or closes; the bytes sent."""
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], DRIP_SECONDS)  # the pause, cut short by an answer
        if readable:
            return sent
        try:
            sock.send(data[sent : sent + 1] if sent < len(data) else b"a")
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += 1
    pytest.fail(f"the server kept a dripping client for {seconds} s ({sent} bytes)")


def test_a_client_that_sends_nothing_gets_408_and_is_disconnected_at_the_head_deadline(
    server: Server,
) -> None:
    with server.connect() as sock:
        start = time.monotonic()
        reply = _read_reply(sock, HEAD_TIMEOUT + SLACK)
        waited = time.monotonic() - start
        _assert_refused(reply, 408, "InvalidParameter")
        _seconds_until_closed(sock, SLACK)
    assert HEAD_TIMEOUT * 0.8 <= waited <= HEAD_TIMEOUT + SLACK


def test_a_head_dripped_byte_by_byte_is_cut_off_at_the_same_deadline(server: Server) -> None:
    with server.connect() as sock:
        start = time.monotonic()
        sent = _drip_until_answered(
            sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", HEAD_TIMEOUT + SLACK
        )
        _assert_refused(_read_reply(sock, SLACK), 408, "InvalidParameter")
        waited = time.monotonic() - start
    # Each byte arrived in time, yet the deadline is the head's: dripping did not extend it.
    assert sent > 5 and HEAD_TIMEOUT * 0.8 <= waited <= HEAD_TIMEOUT + SLACK


def test_on_a_kept_alive_connection_the_next_head_has_the_same_deadline(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = _read_reply(sock, 5)
        assert first is not None and first.status == 200
        _drip_until_answered(
            sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", HEAD_TIMEOUT + SLACK
        )
        _assert_refused(_read_reply(sock, SLACK), 408, "InvalidParameter")


@pytest.mark.parametrize("path", ["/v1/repositories", "/v1/sign", "/"], ids=["rest", "key-use", "rpc"])
def test_a_body_that_stalls_is_cut_off_at_the_body_timeout(server: Server, path: str) -> None:
    with server.connect() as sock:
        sock.sendall(
            _post_head(server, path, "Content-Type: application/json", "Content-Length: 1000") + b'{"data": '
        )
        waited = _seconds_until_closed(sock, BODY_TIMEOUT + SLACK)
    assert BODY_TIMEOUT * 0.8 <= waited <= BODY_TIMEOUT + SLACK
    assert server.is_healthy()


def test_slow_clients_do_not_keep_a_normal_request_waiting(server: Server) -> None:
    slow: list[socket.socket] = []
    try:
        for index in range(60):
            sock = server.connect()
            if index % 3 == 1:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # a head never finished
            elif index % 3 == 2:
                sock.sendall(
                    _post_head(
                        server, "/v1/repositories", "Content-Type: application/json", "Content-Length: 100"
                    )
                )  # a body never sent
            slow.append(sock)
        start = time.monotonic()
        response = httpx.get(
            server.url("/v1/repositories"),
            headers={"Authorization": server.bearer},
            timeout=10,
            trust_env=False,
        )
        answered = time.monotonic() - start
        held, _, _ = select.select(slow, [], [], 0)
        assert response.status_code == 200 and answered < PROMPT, (response.status_code, answered)
        assert not held, (
            "the slow clients were cut off before the normal request was made: the test proves nothing"
        )
        # And each slow client is then cut off at its deadline.
        for sock in slow:
            _seconds_until_closed(sock, max(HEAD_TIMEOUT, BODY_TIMEOUT) + SLACK)
    finally:
        for sock in slow:
            sock.close()
