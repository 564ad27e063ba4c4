"""ACS3-HMAC-SHA256 and V1 HMAC-SHA1 request authentication, with the official SDK as the oracle."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

import pytest
from alibabacloud_cas20200407.client import Client as CasClient
from alibabacloud_cas20200407.models import ListCertWarehouseRequest
from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.core import DaraCore
from darabonba.request import DaraRequest

from certrepo.api.acs.params import Params, decode_query
from certrepo.api.acs.signature import (
    REQUIRED_SIGNED_HEADERS,
    PendingSignature,
    acs3_canonical_request,
    canonical_query_string,
    check_timestamp,
    parse_request_auth,
)
from certrepo.domain.errors import (
    InvalidInput,
    InvalidTimeStamp,
    MissingParameter,
    SignatureDoesNotMatch,
)
from certrepo.domain.secrets import Secret

AK = "testAK"
SECRET = "testSecret"
DATE = "2025-01-02T03:04:05Z"
SIGNED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
NONCE = "0123456789abcdef0123456789abcdef"
HOST = "127.0.0.1:8080"
USER_AGENT = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
QUERY_16 = {"CurrentPage": "1", "ShowSize": "50", "Type": "uploadPCA", "Name": "my repo"}


@dataclass(frozen=True)
class Wire:
    """One request as the HTTP server sees it (header names lower-cased)."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes = b""

    def parse(self) -> PendingSignature:
        return parse_request_auth(
            method=self.method, path=self.path, raw_query=self.raw_query, headers=self.headers, body=self.body
        )

    def with_header(self, name: str, value: str | None) -> Wire:
        headers = {k: v for k, v in self.headers.items() if k != name}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)


def _raw_query(query: dict[str, str]) -> str:
    # darabonba's own URL composition, so '+' for spaces and %XX exactly as the SDK sends them.
    request = DaraRequest()
    request.pathname = "/"
    request.query = query
    request.headers = {"host": HOST}
    return str(urlsplit(DaraCore.compose_url(request)).query)


def sdk_acs3(
    query: dict[str, str] | None = None,
    *,
    body: bytes = b"",
    omit: tuple[str, ...] = (),
    sign_type: str = "ACS3-HMAC-SHA256",
    secret: str = SECRET,
) -> Wire:
    """A request signed by tea-openapi's Utils.get_authorization with the headers do_request sets."""
    headers = {
        "host": HOST,
        "x-acs-version": "2020-04-07",
        "x-acs-action": "ListCertWarehouse",
        "user-agent": USER_AGENT,
        "x-acs-date": DATE,
        "x-acs-signature-nonce": NONCE,
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "x-acs-credentials-provider": "static_ak",
    }
    for name in omit:
        del headers[name]
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(QUERY_16 if query is None else query)
    request.headers = headers
    payload = Utils.hash(body, sign_type).hex()
    authorization = Utils.get_authorization(request, sign_type, payload, AK, secret)
    return Wire("POST", "/", _raw_query(request.query), {**headers, "authorization": authorization}, body)


def sdk_v1(business: dict[str, str] | None = None, *, omit: tuple[str, ...] = (), **overrides: str) -> Wire:
    """A request signed like tea-openapi's do_rpcrequest (Config(signature_algorithm='v2'))."""
    query = {
        "Action": "ListCertWarehouse",
        "Format": "json",
        "Version": "2020-04-07",
        "Timestamp": DATE,
        "SignatureNonce": NONCE,
        **(QUERY_16 if business is None else business),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": AK,
        **overrides,
    }
    for name in omit:
        del query[name]
    query["Signature"] = Utils.get_rpcsignature(query, "POST", SECRET)
    headers = {"host": HOST, "x-acs-version": "2020-04-07", "x-acs-action": "ListCertWarehouse"}
    return Wire("POST", "/", _raw_query(query), headers)


# --- the worked example of reference §1.6 -----------------------------------------------------------

EXAMPLE_SIGNED_HEADERS = (
    "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;"
    "x-acs-signature-nonce;x-acs-version"
)
EXAMPLE_SIGNATURE = "201f4dcb5b9bfb043e2a00c84eda4f099547063cf673780fc4a20c0826d70fab"
EXAMPLE_CANONICAL_REQUEST = f"""POST
/
CurrentPage=1&Name=my%20repo&ShowSize=50&Type=uploadPCA
accept:application/json
host:127.0.0.1:8080
user-agent:{USER_AGENT}
x-acs-action:ListCertWarehouse
x-acs-content-sha256:{EMPTY_SHA256}
x-acs-credentials-provider:static_ak
x-acs-date:2025-01-02T03:04:05Z
x-acs-signature-nonce:0123456789abcdef0123456789abcdef
x-acs-version:2020-04-07

{EXAMPLE_SIGNED_HEADERS}
{EMPTY_SHA256}"""


def example_wire() -> Wire:
    headers = {
        "accept": "application/json",
        "host": HOST,
        "user-agent": USER_AGENT,
        "x-acs-action": "ListCertWarehouse",
        "x-acs-content-sha256": EMPTY_SHA256,
        "x-acs-credentials-provider": "static_ak",
        "x-acs-date": DATE,
        "x-acs-signature-nonce": NONCE,
        "x-acs-version": "2020-04-07",
        "authorization": f"ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={EXAMPLE_SIGNED_HEADERS},"
        f"Signature={EXAMPLE_SIGNATURE}",
    }
    return Wire("POST", "/", "CurrentPage=1&Name=my+repo&ShowSize=50&Type=uploadPCA", headers)


def test_the_reference_example_builds_the_documented_canonical_request() -> None:
    wire = example_wire()
    canonical = acs3_canonical_request(
        method="POST",
        path="/",
        canonical_query=canonical_query_string(decode_query(wire.raw_query)),
        headers=wire.headers,
        signed_headers=EXAMPLE_SIGNED_HEADERS.split(";"),
        payload_hash=EMPTY_SHA256,
    )
    assert canonical == EXAMPLE_CANONICAL_REQUEST


def test_the_reference_example_has_the_documented_string_to_sign() -> None:
    pending = example_wire().parse()
    assert pending.strings_to_sign[0] == (
        "ACS3-HMAC-SHA256\nea7b91f564b0bd55657c38871a38e853ea83835e6bf291fcce3c211e85b32961"
    )


def test_the_reference_example_verifies_with_its_secret() -> None:
    example_wire().parse().verify(SECRET)


def test_the_reference_example_fails_with_another_secret() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="access key testAK"):
        example_wire().parse().verify("otherSecret")


def test_the_parsed_request_carries_key_nonce_time_and_route() -> None:
    pending = example_wire().parse()
    assert (pending.access_key_id, pending.nonce, pending.timestamp, pending.style) == (
        AK,
        NONCE,
        SIGNED_AT,
        "ACS3-HMAC-SHA256",
    )
    assert (pending.action, pending.version) == ("ListCertWarehouse", "2020-04-07")


# --- ACS3 against the SDK's signing code ------------------------------------------------------------

QUERIES = {
    "plain": {"CurrentPage": "1", "ShowSize": "50"},
    "space": {"Name": "my repo"},
    "utf8-chinese": {"Name": "证书仓库 测试", "CommonName": "张三"},
    "empty-value": {"Name": "", "Type": "uploadPCA"},
    "unsorted-keys": {"Type": "x", "Name": "y", "CurrentPage": "2", "B": "1", "a": "2", "Tags.10.Key": "k"},
    "pem-and-reserved": {
        "Cert": "-----BEGIN CERTIFICATE-----\nMIIB+/abc==\n-----END CERTIFICATE-----\n",
        "Odd": "a&b=c;d?e#f%g*h~i'j(k)l!m",
    },
    "no-query": {},
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_a_request_signed_by_the_sdk_verifies(query: dict[str, str]) -> None:
    sdk_acs3(query).parse().verify(SECRET)


def test_a_space_sent_as_percent_20_instead_of_plus_still_verifies() -> None:
    wire = sdk_acs3({"Name": "my repo"})
    assert "Name=my+repo" in wire.raw_query
    replace(wire, raw_query=wire.raw_query.replace("my+repo", "my%20repo")).parse().verify(SECRET)


def test_a_signed_non_empty_body_verifies() -> None:
    sdk_acs3(body=b"Name=x").parse().verify(SECRET)


def test_a_key_outside_the_unreserved_set_verifies_in_the_sdk_form() -> None:
    # The Python SDK leaves keys unencoded in the canonical query; Alibaba's spec encodes them.
    sdk_acs3({"a b": "1", "c*d": "2"}).parse().verify(SECRET)


def test_a_secret_object_is_accepted() -> None:
    sdk_acs3().parse().verify(Secret(SECRET.encode()))


def test_a_wrong_secret_fails() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        sdk_acs3().parse().verify("wrong")


def test_a_tampered_query_value_fails() -> None:
    wire = sdk_acs3({"Name": "my repo", "ShowSize": "50"})
    tampered = replace(wire, raw_query=wire.raw_query.replace("ShowSize=50", "ShowSize=51"))
    with pytest.raises(SignatureDoesNotMatch):
        tampered.parse().verify(SECRET)


def test_an_added_query_parameter_fails() -> None:
    wire = sdk_acs3({"Name": "x"})
    with pytest.raises(SignatureDoesNotMatch):
        replace(wire, raw_query=wire.raw_query + "&Type=uploadCA").parse().verify(SECRET)


@pytest.mark.parametrize(
    ("name", "value"),
    [("user-agent", "curl/8"), ("x-acs-action", "DeleteWarehouse"), ("host", "evil:80")],
    ids=["user-agent", "action", "host"],
)
def test_a_tampered_signed_header_fails(name: str, value: str) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        sdk_acs3().with_header(name, value).parse().verify(SECRET)


def test_an_unsigned_extra_header_does_not_matter() -> None:
    sdk_acs3().with_header("accept-encoding", "gzip, deflate").parse().verify(SECRET)


def test_a_body_that_does_not_match_its_hash_header_is_refused() -> None:
    wire = replace(sdk_acs3(), body=b"smuggled")
    with pytest.raises(SignatureDoesNotMatch, match="x-acs-content-sha256"):
        wire.parse()


@pytest.mark.parametrize("name", REQUIRED_SIGNED_HEADERS)
def test_a_required_header_left_out_of_the_signature_is_refused(name: str) -> None:
    signed = sdk_acs3(omit=(name,))
    wire = signed.with_header(name, sdk_acs3().headers[name])
    with pytest.raises(SignatureDoesNotMatch, match=f"header {name} must be signed"):
        wire.parse()


@pytest.mark.parametrize("name", REQUIRED_SIGNED_HEADERS)
def test_a_required_header_absent_from_the_request_is_a_missing_parameter(name: str) -> None:
    with pytest.raises(MissingParameter, match=name):
        sdk_acs3(omit=(name,)).parse()


def test_an_unsigned_request_is_a_missing_parameter() -> None:
    wire = sdk_acs3().with_header("authorization", None)
    with pytest.raises(MissingParameter, match="not signed"):
        wire.parse()


def _with_authorization(text: str) -> Wire:
    return sdk_acs3().with_header("authorization", text)


GOOD_SIGNATURE = "0" * 64
WITH_ABSENT_HEADER = f"{EXAMPLE_SIGNED_HEADERS};x-missing"
MALFORMED = {
    "no-signature": (f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders={EXAMPLE_SIGNED_HEADERS}", "Signature"),
    "no-credential": (
        f"ACS3-HMAC-SHA256 SignedHeaders={EXAMPLE_SIGNED_HEADERS},Signature={GOOD_SIGNATURE}",
        "Credential",
    ),
    "empty-signed-headers": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=,Signature={GOOD_SIGNATURE}",
        "SignedHeaders",
    ),
    "piece-without-equals": (f"ACS3-HMAC-SHA256 Credential,Signature={GOOD_SIGNATURE}", "Name=Value"),
    "unknown-piece": (
        f"ACS3-HMAC-SHA256 Credential=AK,Scope=x,SignedHeaders=host,Signature={GOOD_SIGNATURE}",
        "unknown piece",
    ),
    "duplicate-piece": (
        f"ACS3-HMAC-SHA256 Credential=AK,Credential=AK,SignedHeaders=host,Signature={GOOD_SIGNATURE}",
        "twice",
    ),
    "signature-not-hex": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders={EXAMPLE_SIGNED_HEADERS},Signature={'z' * 64}",
        "64 hexadecimal",
    ),
    "signature-too-short": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders={EXAMPLE_SIGNED_HEADERS},Signature=abcd",
        "64 hexadecimal",
    ),
    "upper-case-header-name": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=Host;x-acs-date,Signature={GOOD_SIGNATURE}",
        "lower-case header name",
    ),
    "header-named-twice": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;host,Signature={GOOD_SIGNATURE}",
        "twice",
    ),
    "credential-with-space": (
        f"ACS3-HMAC-SHA256 Credential=A K,SignedHeaders={EXAMPLE_SIGNED_HEADERS},Signature={GOOD_SIGNATURE}",
        "Credential",
    ),
    "signed-header-absent": (
        f"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders={WITH_ABSENT_HEADER},Signature={GOOD_SIGNATURE}",
        "x-missing is listed in SignedHeaders but absent",
    ),
}


@pytest.mark.parametrize(("authorization", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_authorization_header_says_what_is_wrong(authorization: str, fragment: str) -> None:
    with pytest.raises(SignatureDoesNotMatch, match=fragment):
        _with_authorization(authorization).parse()


@pytest.mark.parametrize("algorithm", ["ACS3-HMAC-SM3", "ACS3-RSA-SHA256"])
def test_another_acs3_algorithm_is_refused_by_name(algorithm: str) -> None:
    signed = sdk_acs3()
    authorization = signed.headers["authorization"].replace("ACS3-HMAC-SHA256", algorithm, 1)
    with pytest.raises(SignatureDoesNotMatch, match=f"{algorithm} is not supported: only ACS3-HMAC-SHA256"):
        signed.with_header("authorization", authorization).parse()


def test_an_sdk_request_signed_with_sm3_is_refused() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="ACS3-HMAC-SM3 is not supported"):
        sdk_acs3(sign_type="ACS3-HMAC-SM3").parse()


def test_an_unknown_scheme_is_refused_without_echoing_the_header() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="unsupported scheme") as caught:
        _with_authorization("Bearer sk-live-0123456789").parse()
    assert "sk-live" not in caught.value.message


def test_a_query_that_is_not_utf8_is_invalid_input() -> None:
    wire = sdk_acs3()
    with pytest.raises(InvalidInput, match="UTF-8"):
        replace(wire, raw_query="Name=%FF%FE").parse()


@pytest.mark.parametrize(
    "date",
    ["2025-01-02 03:04:05Z", "yesterday", "2025-13-02T03:04:05Z", "2025-01-02T03:04:05", ""],
    ids=["space", "word", "month-13", "no-zone", "empty"],
)
def test_an_unreadable_signing_date_is_an_invalid_timestamp_format(date: str) -> None:
    wire = sdk_acs3().with_header("x-acs-date", date)
    error_type = MissingParameter if date == "" else InvalidTimeStamp
    with pytest.raises(error_type) as caught:
        wire.parse()
    if error_type is InvalidTimeStamp:
        assert caught.value.details["reason"] == "InvalidTimeStamp.Format"


# --- clock window ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), timedelta(minutes=15), -timedelta(minutes=15)],
    ids=["same", "15-min-late", "15-min-early"],
)
def test_a_signing_time_within_the_window_is_accepted(offset: timedelta) -> None:
    check_timestamp(SIGNED_AT, SIGNED_AT + offset)


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)], ids=["late", "early"]
)
def test_a_signing_time_outside_the_window_is_refused(offset: timedelta) -> None:
    with pytest.raises(InvalidTimeStamp) as caught:
        check_timestamp(SIGNED_AT, SIGNED_AT + offset)
    assert (
        caught.value.message == "x-acs-date 2025-01-02T03:04:05Z is more than 15 minutes from the server time"
    )


def test_a_custom_window_is_named_in_the_message() -> None:
    with pytest.raises(InvalidTimeStamp, match="more than 5 minutes"):
        check_timestamp(SIGNED_AT, SIGNED_AT + timedelta(minutes=6), timedelta(minutes=5))


def test_the_pending_signature_checks_its_own_time() -> None:
    with pytest.raises(InvalidTimeStamp, match="^x-acs-date"):
        sdk_acs3().parse().check_timestamp(SIGNED_AT + timedelta(hours=1))


# --- V1 HMAC-SHA1 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_a_v1_request_signed_by_the_sdk_verifies(query: dict[str, str]) -> None:
    sdk_v1(query).parse().verify(SECRET)


def test_a_v1_request_carries_key_nonce_time_and_route() -> None:
    pending = sdk_v1().parse()
    assert (pending.access_key_id, pending.nonce, pending.timestamp, pending.style) == (
        AK,
        NONCE,
        SIGNED_AT,
        "HMAC-SHA1",
    )
    assert (pending.action, pending.version) == ("ListCertWarehouse", "2020-04-07")


def test_a_v1_request_with_a_wrong_secret_fails() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="HMAC-SHA1"):
        sdk_v1().parse().verify("wrong")


def test_a_tampered_v1_value_fails() -> None:
    wire = sdk_v1()
    with pytest.raises(SignatureDoesNotMatch):
        replace(wire, raw_query=wire.raw_query.replace("ShowSize=50", "ShowSize=51")).parse().verify(SECRET)


def test_a_v1_request_signed_with_another_http_method_fails() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        replace(sdk_v1(), method="GET").parse().verify(SECRET)


@pytest.mark.parametrize("name", ["AccessKeyId", "SignatureNonce", "Timestamp", "SignatureMethod"])
def test_a_v1_request_without_an_auth_parameter_is_a_missing_parameter(name: str) -> None:
    with pytest.raises(MissingParameter, match=name):
        sdk_v1(omit=(name,)).parse()


def test_a_v1_request_with_another_method_is_refused() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="only ACS3-HMAC-SHA256 and HMAC-SHA1"):
        sdk_v1(SignatureMethod="HMAC-SHA256").parse()


def test_a_v1_signature_that_is_not_base64_of_20_bytes_is_malformed() -> None:
    wire = sdk_v1()
    start = wire.raw_query.index("Signature=")
    broken = wire.raw_query[:start] + "Signature=abc"
    with pytest.raises(SignatureDoesNotMatch, match="20-byte"):
        replace(wire, raw_query=broken).parse()


def test_a_v1_time_outside_the_window_names_the_timestamp_parameter() -> None:
    with pytest.raises(InvalidTimeStamp, match="^Timestamp 2025-01-02T03:04:05Z"):
        sdk_v1().parse().check_timestamp(SIGNED_AT - timedelta(days=1))


# --- wire capture of the real SDK --------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes


class _CaptureServer(HTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CaptureHandler)
        self.captured: list[Captured] = []


class _CaptureHandler(BaseHTTPRequestHandler):
    timeout = 5  # seconds on the socket, so a stuck client cannot hang the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path, _, raw_query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        assert isinstance(self.server, _CaptureServer)
        self.server.captured.append(Captured(self.command, path, raw_query, headers, body))
        payload = b'{"RequestId":"x"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def capture_server() -> Iterator[_CaptureServer]:
    server = _CaptureServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


E2E_NAME = "证书 repo/+&=~"


def _call_sdk(server: _CaptureServer, monkeypatch: pytest.MonkeyPatch, **config: str) -> Captured:
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    port = server.server_address[1]
    client = CasClient(
        Config(
            endpoint=f"127.0.0.1:{port}",
            protocol="http",
            access_key_id=AK,
            access_key_secret=SECRET,
            connect_timeout=5000,
            read_timeout=5000,
            **config,
        )
    )
    before = len(server.captured)
    response = client.list_cert_warehouse(
        ListCertWarehouseRequest(current_page=1, show_size=50, type="uploadPCA", name=E2E_NAME)
    )
    assert response.body.request_id == "x"
    assert len(server.captured) == before + 1
    return server.captured[-1]


def _parse_captured(captured: Captured) -> PendingSignature:
    return parse_request_auth(
        method=captured.method,
        path=captured.path,
        raw_query=captured.raw_query,
        headers=captured.headers,
        body=captured.body,
    )


def test_a_request_captured_from_the_sdk_in_acs3_mode_verifies(
    capture_server: _CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _call_sdk(capture_server, monkeypatch)
    pending = _parse_captured(captured)
    pending.verify(SECRET)
    pending.check_timestamp(datetime.now(UTC))
    assert (pending.style, pending.access_key_id, pending.action) == (
        "ACS3-HMAC-SHA256",
        AK,
        "ListCertWarehouse",
    )
    assert Params.from_query(captured.raw_query).str("Name") == E2E_NAME


def test_a_request_captured_from_the_sdk_in_acs3_mode_fails_with_another_secret(
    capture_server: _CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        _parse_captured(_call_sdk(capture_server, monkeypatch)).verify("otherSecret")


def test_a_request_captured_from_the_sdk_in_v1_mode_verifies(
    capture_server: _CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _call_sdk(capture_server, monkeypatch, signature_algorithm="v2")
    pending = _parse_captured(captured)
    pending.verify(SECRET)
    pending.check_timestamp(datetime.now(UTC))
    assert (pending.style, pending.access_key_id, pending.action) == ("HMAC-SHA1", AK, "ListCertWarehouse")
    assert Params.from_query(captured.raw_query).str("Name") == E2E_NAME


def test_a_request_captured_from_the_sdk_in_v1_mode_fails_with_another_secret(
    capture_server: _CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _call_sdk(capture_server, monkeypatch, signature_algorithm="v2")
    with pytest.raises(SignatureDoesNotMatch):
        _parse_captured(captured).verify("otherSecret")
