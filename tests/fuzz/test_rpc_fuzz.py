"""Hostile calls of the Alibaba RPC endpoint (``POST /``), through the app in process: random and mutated
query strings, header values, Authorization shapes of ACS3-HMAC-SHA256 and V1 HMAC-SHA1, duplicated
parameters, bad percent-encoding, huge values. An unsigned or badly signed call is a 4xx with Alibaba's
error shape; a validly signed call with hostile parameters is never a 5xx.

The app is driven through raw ASGI messages, not an HTTP client, so that the query string and header
bytes reach it exactly as drawn (a client would re-encode them). What is drawn stays within what the
HTTP parser in front of the app lets through: request-target bytes are visible ASCII, header values are
any bytes but NUL, CR, LF and surrounding whitespace."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from alibabacloud_tea_openapi.utils import Utils
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID
from darabonba.request import DaraRequest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from certrepo.api.acs.actions import ACTIONS
from tests.factories import build, key_pem, make_chain, pem, rsa_key
from tests.fuzz import run_atheris
from tests.support.inprocess import in_process_app

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
SIGNED_EXAMPLES = settings(EXAMPLES, max_examples=120)
VERSION = "2020-04-07"
ALIBABA_ERROR_KEYS = {"Code", "Message", "RequestId", "HostId"}
CHAIN = make_chain("RPC Fuzz")

_VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))  # what h11 lets through in a request target
_V1_AUTH = ["AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod", "SignatureVersion"]
_BUSINESS = [
    "AcknowledgeRisk", "AfterTime", "Algorithm", "BeforeTime", "Biz", "Cert", "CertFilter", "CertId",
    "CertIdentifier", "CertType", "CiphertextBlob", "CommonName", "Country", "Csr", "CurrentPage",
    "CustomIdentifier", "Days", "EncryptCert", "EncryptPrivateKey", "Identifier", "Identifiers", "Immediately",
    "Key", "KeyWord", "Keyword", "Locality", "MaxResults", "Message", "MessageType", "Months", "Name",
    "NextToken", "NotAfter", "NotBefore", "OrderType", "Organization", "OrganizationUnit", "ParentIdentifier",
    "PcaInstanceId", "Plaintext", "PrivateKey", "Qps", "Reason", "SanType", "SanValue", "ShowSize", "SignCert",
    "SignPrivateKey", "SignatureValue", "SigningAlgorithm", "SourceType", "State", "Status", "Tags", "Tags.1.Key",
    "Tags.1.Value", "Tags.01.Key", "Tags.0.Value", "TrustWarehouseId", "Type", "Usage", "Value", "WarehouseId",
    "WarehouseInstanceId", "WarehouseInstanceIds", "WarehouseInstanceIds.1", "Years",
]  # fmt: skip
_SIGNED_HEADERS = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Rpc:
    """The app in process on a loop of its own (hypothesis drives plain functions), and the admin key."""

    app: Any
    loop: asyncio.AbstractEventLoop
    key_id: str
    secret: str
    host: str = "certrepo.test"
    warehouses: list[int] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)  # key type -> certificate identifier
    ciphertext: str = ""  # base64 of a message encrypted to the RSA certificate (RSAES_OAEP_SHA_256)
    issuing_ca: int = 0  # an EC intermediate bound to a private repository

    def post(self, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Answer:
        return self.loop.run_until_complete(self._post(query, headers, body))

    def rest(self, path: str, payload: dict[str, Any]) -> Any:
        """POST a JSON body to a REST route as the admin (bearer): for arranging what RPC does not offer."""
        headers = [(b"authorization", f"Bearer {self.key_id}:{self.secret}".encode()),
                   (b"content-type", b"application/json")]  # fmt: skip
        answer = self.loop.run_until_complete(self._post(b"", headers, json.dumps(payload).encode(), path))
        assert answer.status == 201, answer.body
        return answer.json()

    async def _post(
        self, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes, path: str = "/"
    ) -> Answer:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": [(b"content-length", str(len(body)).encode()), *headers],
            "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 40000),
            "state": {},
        }
        incoming = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        answer_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Answer(start["status"], answer_headers, content)

    def v1_query(self, action: str, pairs: list[tuple[str, str]]) -> bytes:
        """A V1 (HMAC-SHA1) signed query of ``pairs`` as given (duplicates too), signed by the admin key."""
        signed = [
            *pairs,
            ("Action", action),
            ("Version", VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", self.key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", uuid.uuid4().hex),
            ("Timestamp", _now_text()),
        ]
        # Alibaba's documented V1 algorithm, written out here rather than taken from certrepo.
        canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(signed))
        string_to_sign = f"POST&%2F&{_pct(canonical)}"
        digest = hmac.new(f"{self.secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        signed.append(("Signature", base64.b64encode(digest).decode()))
        return "&".join(f"{_pct(k)}={_pct(v)}" for k, v in signed).encode()

    def acs3_headers(
        self, action: str, query: dict[str, str], *, version: str = VERSION, body: bytes = b""
    ) -> list[tuple[bytes, bytes]]:
        """ACS3-HMAC-SHA256 headers for ``query`` and ``body``, signed by the official SDK's code."""
        headers = {
            "host": self.host,
            "x-acs-action": action,
            "x-acs-version": version,
            "x-acs-date": _now_text(),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        request = DaraRequest()
        request.method, request.pathname, request.query, request.headers = "POST", "/", dict(query), headers
        payload = Utils.hash(body, "ACS3-HMAC-SHA256").hex()
        authorization = Utils.get_authorization(
            request, "ACS3-HMAC-SHA256", payload, self.key_id, self.secret
        )
        return [
            (k.encode(), v.encode("utf-8")) for k, v in {**headers, "authorization": authorization}.items()
        ]


def _pct(value: str) -> str:
    return quote(value, safe="~", encoding="utf-8")


def _now_text(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_of(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{_pct(k)}={_pct(v)}" for k, v in pairs).encode()


@pytest.fixture(scope="module")
def rpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Rpc]:
    with in_process_app(tmp_path_factory.mktemp("rpc-fuzz")) as running:
        loop = running.loop
        client = _Rpc(
            running.app,
            loop,
            running.admin.access_key.key.id,
            running.admin.access_key.secret.reveal().decode(),
        )
        # Something for the actions to find: an uploaded repository holding a certificate with its key.
        for data_source in ("uploadedCertificate", "uploadedAuthorityCertificate"):
            created = client.post(client.v1_query("CreateWarehouse", [("Type", data_source)]), [])
            assert created.status == 200, created.body
            client.warehouses.append(created.json()["WhId"])
        rsa = rsa_key()
        rsa_cert = build("rsa.fuzz.example.com", rsa, sans=["rsa.fuzz.example.com"])
        for kind, certificate, key in (
            ("ec", pem(CHAIN.leaf) + pem(CHAIN.intermediate) + pem(CHAIN.root), key_pem(CHAIN.leaf_key)),
            ("rsa", pem(rsa_cert), key_pem(rsa)),
        ):
            upload = [
                ("WarehouseId", str(client.warehouses[0])),
                ("Cert", certificate),
                ("PrivateKey", key),
                ("CustomIdentifier", f"fuzz-{kind}"),
            ]
            uploaded = client.post(client.v1_query("UploadPCACert", upload), [])
            assert uploaded.status == 200, uploaded.body
            client.identifiers[kind] = uploaded.json()["Identifier"]
        root = client.rest(
            "/v1/cas", {"type": "root", "common_name": "RPC Fuzz Root", "key_algorithm": "ECC_256"}
        )
        sub = client.rest(
            "/v1/cas",
            {
                "type": "intermediate",
                "common_name": "RPC Fuzz CA",
                "key_algorithm": "ECC_256",
                "parent_id": root["id"],
            },
        )
        private = client.post(
            client.v1_query(
                "CreateWarehouse", [("Type", "pcaCertificate"), ("PcaInstanceId", str(sub["id"]))]
            ),
            [],
        )
        assert private.status == 200, private.body
        client.issuing_ca = sub["id"]
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        client.ciphertext = base64.b64encode(rsa.public_key().encrypt(b"fuzz", oaep)).decode()
        yield client



def _assert_alibaba_error(answer: Answer) -> None:
    assert 400 <= answer.status < 500, (answer.status, answer.body)
    body = answer.json()
    assert set(body) == ALIBABA_ERROR_KEYS, body
    assert isinstance(body["Code"], str) and body["Code"] and isinstance(body["Message"], str)
    assert answer.headers.get("x-acs-request-id") == body["RequestId"]


# --- strategies -------------------------------------------------------------------------------------------

_ODD_VALUES = [
    "", "%", "%G", "%zz", "%ff", "%c3%28", "%ed%a0%80", "%00", "+", "%2B", "%25", "&", "=", "==", "True",
    "false", "-1", "0", "1e9", "0x10", "１２", "99999999999999999999999999999999", "[]", '["a"]', '[1]', "{}",
    "null", "2025-13-45T25:61:61Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+00:00",
]  # fmt: skip
_raw_values = st.one_of(
    st.text(alphabet=_VCHAR, max_size=40),
    st.sampled_from(_ODD_VALUES),
    st.integers(-(2**70), 2**70).map(str),
)
_names = st.one_of(
    st.sampled_from([*_V1_AUTH, "Action", "Version", "Format", *_BUSINESS]), st.text(_VCHAR, max_size=12)
)


@st.composite
def _raw_queries(draw: st.DrawFn) -> bytes:
    """Query strings as bytes on the wire: free text, or name=value pairs with duplicates, odd separators,
    bad percent-encoding, and now and then one huge value."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet=_VCHAR, max_size=400)).encode()
    pairs = draw(st.lists(st.tuples(_names, _raw_values), max_size=12))
    twice: bool = draw(st.booleans())
    if pairs and twice:
        pairs.append(draw(st.sampled_from(pairs)))  # a parameter given twice
    if draw(st.integers(0, 9)) == 0:
        pairs.append((draw(_names), "A" * draw(st.sampled_from([70_000, 300_000]))))
    separator = draw(st.sampled_from(["&", "&", "&", ";", "&&"]))
    return separator.join(
        f"{name}={value}" if draw(st.integers(0, 9)) else name for name, value in pairs
    ).encode()


# Header value bytes h11 delivers: no NUL, CR, LF; whitespace only inside. Latin-1 maps each to one byte.
_HEADER_CHARS = [chr(c) for c in range(0x01, 0x100) if chr(c) not in "\x00\t\n\r\x0b\x0c "]
_header_values = st.one_of(
    st.text(alphabet=_HEADER_CHARS, max_size=80),
    st.text(alphabet=_HEADER_CHARS + [" ", "\t"], max_size=80).map(str.strip),
    st.sampled_from(
        ["", VERSION, "ListCertWarehouse", _EMPTY_SHA256, "2025-01-02T03:04:05Z", "ACS3-HMAC-SHA256"]
    ),
)
_ACS_HEADERS = [
    "authorization", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
    "x-acs-content-sha256", "host", "content-type", "x-acs-signature-method", "x-acs-security-token",
]  # fmt: skip


@st.composite
def _acs3_authorizations(draw: st.DrawFn, key_id: str) -> str:
    """``SCHEME Credential=…,SignedHeaders=…,Signature=…`` with every piece drawn, missing or twice."""
    scheme = draw(
        st.sampled_from(
            ["ACS3-HMAC-SHA256", "ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", "ACS3-RSA-SHA256", "acs3-hmac-sha256",
             "Bearer", "HMAC-SHA1", "", "ACS3-HMAC-SHA256\t"]
        )
    )  # fmt: skip
    values = {
        "Credential": st.sampled_from([key_id, "", "CRNOSUCHKEY", key_id + " ", "x" * 200, "a,b", "é"]),
        "SignedHeaders": st.one_of(
            st.sampled_from(
                [_SIGNED_HEADERS, "", "host", "HOST;x-acs-action", "host;host", ";", "host;x-acs-"]
            ),
            st.text(alphabet=_VCHAR, max_size=60),
        ),
        "Signature": st.one_of(
            st.sampled_from(["0" * 64, "g" * 64, "0" * 63, "", "A" * 64, "=" * 64]),
            st.binary(min_size=32, max_size=32).map(bytes.hex),
        ),
    }
    names = draw(st.lists(st.sampled_from([*values, "Foo", ""]), max_size=5))
    pieces = [f"{name}={draw(values[name]) if name in values else draw(_header_values)}" for name in names]
    if draw(st.integers(0, 5)) == 0:
        pieces.append(draw(st.text(alphabet=_VCHAR, max_size=20)))  # no '='
    joiner = draw(st.sampled_from([",", ", ", ",", ";", " "]))
    return f"{scheme} {joiner.join(pieces)}"


_v1_value_overrides = {
    "Signature": st.one_of(
        st.sampled_from(["", "AAAA", "not base64!", "A" * 28, base64.b64encode(b"x" * 20).decode(), "===="]),
        st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    ),
    "SignatureMethod": st.sampled_from(["HMAC-SHA1", "HMAC-SHA256", "hmac-sha1", ""]),
    "SignatureVersion": st.sampled_from(["1.0", "2.0", "", "1"]),
    "Timestamp": st.one_of(
        st.sampled_from(["", "2025-13-45T25:61:61Z", "9999-12-31T23:59:59Z", "2025-01-02T03:04:05", "now"]),
        st.text(max_size=30),
    ),
    "SignatureNonce": st.one_of(st.sampled_from(["", " ", "x" * 200, "é"]), st.text(max_size=40)),
}


# --- unsigned and badly signed calls ----------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_random_queries_and_headers_get_a_4xx_alibaba_error(rpc: _Rpc, data: st.DataObject) -> None:
    query = data.draw(_raw_queries(), label="query")
    names = data.draw(st.lists(st.sampled_from(_ACS_HEADERS), max_size=8), label="headers")
    headers = [(name.encode(), data.draw(_header_values).encode("latin-1")) for name in names]
    answer = rpc.post(query, headers)
    event(f"{answer.status} {answer.json().get('Code')}")
    _assert_alibaba_error(answer)


@EXAMPLES
@given(data=st.data())
def test_acs3_authorization_shapes_get_a_4xx_alibaba_error(rpc: _Rpc, data: st.DataObject) -> None:
    headers = {
        "host": rpc.host,
        "x-acs-action": data.draw(
            st.sampled_from(["ListCertWarehouse", "GetCertWarehouseQuota", "Nope", ""])
        ),
        "x-acs-version": data.draw(st.sampled_from([VERSION, "2015-01-01", ""])),
        "x-acs-date": data.draw(st.sampled_from([_now_text(), _now_text(timedelta(hours=1)), "yesterday"])),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": data.draw(
            st.sampled_from([_EMPTY_SHA256, _EMPTY_SHA256.upper(), "0" * 64, ""])
        ),
        "authorization": data.draw(_acs3_authorizations(rpc.key_id), label="authorization"),
    }
    dropped = data.draw(st.lists(st.sampled_from(sorted(headers)), max_size=2, unique=True), label="dropped")
    wire = [(k.encode(), v.encode("utf-8")) for k, v in headers.items() if k not in dropped]
    answer = rpc.post(data.draw(_raw_queries(), label="query"), wire)
    event(f"{answer.status} {answer.json().get('Code')}")
    _assert_alibaba_error(answer)


@EXAMPLES
@given(data=st.data())
def test_v1_signature_shapes_get_a_4xx_alibaba_error(rpc: _Rpc, data: st.DataObject) -> None:
    pairs = {
        "Action": "ListCertWarehouse",
        "Version": VERSION,
        "Format": "JSON",
        "AccessKeyId": data.draw(st.sampled_from([rpc.key_id, "CRNOSUCHKEY", "", "x" * 300])),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": _now_text(),
        "Signature": base64.b64encode(b"\x00" * 20).decode(),  # well-formed, and wrong
    }
    for name in data.draw(st.lists(st.sampled_from(sorted(_v1_value_overrides)), max_size=3, unique=True)):
        pairs[name] = data.draw(_v1_value_overrides[name], label=name)
    wire = [
        (k, v)
        for k, v in pairs.items()
        if k not in data.draw(st.lists(st.sampled_from(_V1_AUTH), max_size=2))
    ]
    if data.draw(st.booleans()):
        wire.append(data.draw(st.sampled_from(wire or [("Signature", "x")])))  # a parameter twice
    query = _query_of(wire)
    if data.draw(st.booleans()):
        query += b"&" + data.draw(_raw_queries())  # and raw junk after it
    answer = rpc.post(query, [(b"host", rpc.host.encode())])
    event(f"{answer.status} {answer.json().get('Code')}")
    _assert_alibaba_error(answer)


# --- validly signed calls with hostile parameters -----------------------------------------------------------

_PEM_TEXT = pem(CHAIN.leaf) + pem(CHAIN.intermediate)
_CSR_PEM = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz.example.test")]))
    .sign(CHAIN.leaf_key, hashes.SHA256())
    .public_bytes(serialization.Encoding.PEM)
    .decode()
)


def _mutated_text(text: str) -> st.SearchStrategy[str]:
    """``text`` with one to three characters replaced by printable ASCII."""
    edit = st.tuples(st.integers(0, len(text) - 1), st.characters(min_codepoint=32, max_codepoint=126))

    def apply(edits: list[tuple[int, str]]) -> str:
        chars = list(text)
        for at, char in edits:
            chars[at] = char
        return "".join(chars)

    return st.lists(edit, min_size=1, max_size=3).map(apply)


_signed_values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=60),  # no surrogates: UTF-8 cannot encode them
    st.sampled_from(_ODD_VALUES),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["fuzz-leaf", "RAW", "BASE64", "DIGEST", "SHA256withRSA", "SHA256withECDSA", "RSAES_OAEP_SHA_256",
                     "CA", "CERT", "ISSUE", "REVOKE", "uploadPCA", "pcaCertificate", "contract", "server", "client"]),
    st.sampled_from([_PEM_TEXT, _CSR_PEM]),
    _mutated_text(_PEM_TEXT),
    _mutated_text(_CSR_PEM),
    st.just("A" * 150_000),
)  # fmt: skip


# Calls that would succeed, per action: the fuzzing replaces, drops or adds parameters from there, so
# that the hostile value meets the code behind the checks of the other parameters. Actions that destroy
# (reset, delete, revoke) get no template: they must not empty the fixture's repository.
_B64 = base64.b64encode(b"fuzz message").decode()


def _template(rpc: _Rpc, action: str) -> dict[str, str]:
    ec, rsa, warehouse = rpc.identifiers["ec"], rpc.identifiers["rsa"], str(rpc.warehouses[0])
    if action in ("UploadPCACert", "UploadUserCertificate"):
        fresh = make_chain("RPC Upload")  # a certificate not stored yet (~2 ms: EC keys)
        chain, key = pem(fresh.leaf) + pem(fresh.intermediate) + pem(fresh.root), key_pem(fresh.leaf_key)
        if action == "UploadPCACert":
            return {"WarehouseId": warehouse, "Cert": chain, "PrivateKey": key}
        return {"Name": "fuzz", "Cert": chain, "Key": key}
    templates = {
        "Sign": {"CertIdentifier": ec, "SigningAlgorithm": "SHA256withECDSA", "Message": "hi", "MessageType": "RAW"},
        "Verify": {
            "CertIdentifier": ec, "SigningAlgorithm": "SHA256withECDSA", "Message": _B64, "MessageType": "RAW",
            "SignatureValue": base64.b64encode(b"0\x06\x02\x01\x01\x02\x01\x01").decode(),
        },
        "Encrypt": {"CertIdentifier": rsa, "Algorithm": "RSAES_OAEP_SHA_256", "Plaintext": _B64, "MessageType": "BASE64"},
        "Decrypt": {
            "CertIdentifier": rsa, "Algorithm": "RSAES_OAEP_SHA_256", "CiphertextBlob": rpc.ciphertext,
            "MessageType": "BASE64",
        },
        "ListCert": {"WarehouseId": warehouse, "CurrentPage": "1", "ShowSize": "10", "CertType": "CERT"},
        "DescribeWarehouseCert": {"CertIdentifier": ec},
        "CreateWarehouse": {"Type": "uploadedCertificate", "Name": "fuzz"},
        "UpdateWarehouse": {"WarehouseId": warehouse, "Name": "fuzz"},
        "ListCertWarehouse": {"CurrentPage": "1", "ShowSize": "10", "Name": "fuzz", "Type": "uploadPCA"},
        "ListWarehouse": {"CurrentPage": "1", "ShowSize": "10"},
        "ListUserCertificateOrder": {"CurrentPage": "1", "ShowSize": "10", "OrderType": "UPLOAD"},
        "GetCertWarehouseQuota": {},
        "CreateWHClientCertificate": {
            "ParentIdentifier": f"ca-{rpc.issuing_ca}", "Csr": _CSR_PEM, "Days": "30", "SanType": "2",
            "SanValue": "fuzz.example.test", "Usage": "server", "Immediately": "2",
        },
    }  # fmt: skip
    return templates.get(action, {})


_TEMPLATED = [
    "Sign", "Verify", "Encrypt", "Decrypt", "ListCert", "DescribeWarehouseCert", "CreateWarehouse", "UpdateWarehouse",
    "ListCertWarehouse", "ListWarehouse", "ListUserCertificateOrder", "GetCertWarehouseQuota", "UploadPCACert",
    "UploadUserCertificate", "CreateWHClientCertificate",
]  # fmt: skip


@SIGNED_EXAMPLES
@given(data=st.data())
def test_signed_v1_calls_with_hostile_parameters_are_never_a_5xx(rpc: _Rpc, data: st.DataObject) -> None:
    action = data.draw(
        st.sampled_from([*sorted(ACTIONS), "NoSuchAction", "listcertwarehouse"]), label="action"
    )
    params = _template(rpc, action)
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        name = data.draw(st.sampled_from(sorted(params) + _BUSINESS), label="parameter")
        if name in params and data.draw(st.integers(0, 4)) == 0:
            del params[name]
        else:
            params[name] = data.draw(_signed_values, label=name)
    pairs = sorted(params.items())
    if pairs and data.draw(st.integers(0, 9)) == 0:
        pairs.append(data.draw(st.sampled_from(pairs)))  # a business parameter given twice
    answer = rpc.post(rpc.v1_query(action, pairs), [(b"host", rpc.host.encode())])
    event(f"{action}: {answer.status} {answer.json().get('Code', 'ok')}")
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        _assert_alibaba_error(answer)
    else:
        assert answer.json()["RequestId"] == answer.headers["x-acs-request-id"]


def test_every_template_call_is_accepted(rpc: _Rpc) -> None:
    """The fuzzing starts from calls that succeed (else it would only ever meet the first check)."""
    refused = {}
    for action in _TEMPLATED:
        answer = rpc.post(
            rpc.v1_query(action, sorted(_template(rpc, action).items())), [(b"host", rpc.host.encode())]
        )
        if answer.status != 200:
            refused[action] = answer.json()
    assert not refused


@SIGNED_EXAMPLES
@given(data=st.data())
def test_signed_acs3_calls_with_hostile_actions_versions_and_queries_are_never_a_5xx(
    rpc: _Rpc, data: st.DataObject
) -> None:
    action = data.draw(
        st.one_of(st.sampled_from(sorted(ACTIONS)), st.text(alphabet=_VCHAR, max_size=30)), label="action"
    )
    version = data.draw(st.sampled_from([VERSION, VERSION, "2015-01-01", " 2020-04-07", "2020-04-07\x01"]))
    query = {
        name: data.draw(_signed_values, label=name)
        for name in data.draw(st.lists(st.sampled_from(_BUSINESS), max_size=6))
    }
    body = data.draw(st.sampled_from([b"", b"{}", b"x" * 1000]), label="body")
    answer = rpc.post(
        _query_of(sorted(query.items())), rpc.acs3_headers(action, query, version=version, body=body), body
    )
    event(f"{answer.status} {answer.json().get('Code', 'ok')}")
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        _assert_alibaba_error(answer)


# --- the fuzzing reaches the actions --------------------------------------------------------------------


def test_a_v1_call_signed_here_is_accepted(rpc: _Rpc) -> None:
    answer = rpc.post(rpc.v1_query("GetCertWarehouseQuota", []), [(b"host", rpc.host.encode())])
    assert answer.status == 200, answer.body


def test_an_acs3_call_signed_here_is_accepted(rpc: _Rpc) -> None:
    query = {"ShowSize": "5", "Name": "a b+c"}
    answer = rpc.post(_query_of(sorted(query.items())), rpc.acs3_headers("ListCertWarehouse", query))
    assert answer.status == 200, answer.body


# --- coverage-guided: the pure parsing under the dispatcher ------------------------------------------------

_ATHERIS_HEADERS = ["authorization", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                    "x-acs-content-sha256", "host"]  # fmt: skip
_ATHERIS_HARNESS = f"""
import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["certrepo.api.acs"]):
    from certrepo.api.acs.params import Params
    from certrepo.api.acs.signature import parse_request_auth
from certrepo.domain.errors import CertrepoError

HEADERS = {_ATHERIS_HEADERS!r}
NOW = datetime.now(UTC)


def getters(params):
    for name in params.names():
        for read in (params.int, params.bool, params.json_list, params.timestamp_ms, params.timestamp_s,
                     lambda n: params.enum(n, ["RAW", "BASE64"]), lambda n: params.str(n, max_len=64)):
            try:
                read(name)
            except CertrepoError:
                pass
        try:
            params.tags(name.split(".")[0])
        except CertrepoError:
            pass


def one_input(data: bytes) -> None:
    # Line 1 the query string (the dispatcher has refused non-UTF-8 already), then one header per line
    # in HEADERS order, "-" for an absent one; header values as Starlette decodes them (latin-1).
    query, *values = data.split(b"\\n")
    try:
        raw_query = query.decode("utf-8")
    except UnicodeDecodeError:
        return
    headers = {{name: value.decode("latin-1") for name, value in zip(HEADERS, values) if value != b"-"}}
    try:
        pending = parse_request_auth(method="POST", path="/", raw_query=raw_query, headers=headers, body=b"")
        pending.verify("secret")
        pending.check_timestamp(NOW)
    except CertrepoError:
        pass
    try:
        getters(Params.from_query(raw_query))
    except CertrepoError:
        pass


atheris.Setup(sys.argv, one_input)
atheris.Fuzz()
"""


def test_atheris_finds_no_other_exception_in_signature_and_parameter_parsing(
    rpc: _Rpc, tmp_path: Path
) -> None:
    """Coverage-guided, over the pure functions the dispatcher calls first: signature parsing and
    verification, parameter decoding and every typed getter; seeded with V1 and ACS3 requests signed here."""
    v1 = rpc.v1_query("ListCert", [("WarehouseId", "1"), ("Tags.1.Key", "k"), ("Identifiers", '["a"]')])
    acs3 = dict(rpc.acs3_headers("ListCertWarehouse", {"ShowSize": "5", "Name": "x"}))
    acs3_lines = [acs3.get(name.encode(), b"-") for name in _ATHERIS_HEADERS]
    seeds = [v1, b"\n".join([_query_of([("ShowSize", "5"), ("Name", "x")]), *acs3_lines])]
    run_atheris(_ATHERIS_HARNESS, seeds, tmp_path, seconds=2)
