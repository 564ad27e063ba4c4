"""Request authentication of the Alibaba-compatible RPC API: ACS3-HMAC-SHA256 and V1 HMAC-SHA1.

Pure logic, no I/O: the dispatcher hands in what the HTTP server received, gets a ``PendingSignature``
back, looks up the secret of ``access_key_id``, checks the clock and the nonce, then calls ``verify``.
The canonical forms follow ``reference/alibaba-cas-api.md`` §1.4-1.7, which mirror the official SDK
(tea-openapi ``Utils.get_authorization`` / ``get_rpcsignature``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import quote

from certrepo.api.acs.params import decode_query
from certrepo.domain.errors import InvalidTimeStamp, MissingParameter, SignatureDoesNotMatch
from certrepo.domain.secrets import Secret

__all__ = [
    "ACS3_ALGORITHM",
    "REQUIRED_SIGNED_HEADERS",
    "V1_METHOD",
    "PendingSignature",
    "SignatureStyle",
    "SignedRequest",
    "acs3_canonical_request",
    "canonical_query_string",
    "check_timestamp",
    "parse_request_auth",
    "parse_timestamp",
    "v1_string_to_sign",
]

ACS3_ALGORITHM: Final = "ACS3-HMAC-SHA256"
V1_METHOD: Final = "HMAC-SHA1"
SignatureStyle = Literal["ACS3-HMAC-SHA256", "HMAC-SHA1"]

# Without these signed, a captured request could be replayed against another host, action or body.
REQUIRED_SIGNED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
_KNOWN_UNSUPPORTED = ("ACS3-HMAC-SM3", "ACS3-RSA-SHA256")
_UNSUPPORTED_HINT = "only ACS3-HMAC-SHA256 and HMAC-SHA1 are supported"
_V1_AUTH_PARAMS = ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "SignatureMethod")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
# Access key ids and nonces are stored and compared; keep them short printable tokens.
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,128}")
_HEADER_NAME_RE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


@dataclass(frozen=True)
class SignedRequest:
    """Who signed a request, when, and how (the facts the caller checks against its stores)."""

    access_key_id: str
    nonce: str | None
    timestamp: datetime
    style: SignatureStyle


@dataclass(frozen=True)
class PendingSignature:
    """A parsed, not yet verified signature: everything needed to check it once the secret is known."""

    request: SignedRequest
    action: str | None
    version: str | None
    timestamp_name: str
    strings_to_sign: tuple[str, ...] = field(repr=False)
    signature: str = field(repr=False)

    @property
    def access_key_id(self) -> str:
        return self.request.access_key_id

    @property
    def nonce(self) -> str | None:
        return self.request.nonce

    @property
    def timestamp(self) -> datetime:
        return self.request.timestamp

    @property
    def style(self) -> SignatureStyle:
        return self.request.style

    def check_timestamp(self, now: datetime, window: timedelta = timedelta(minutes=15)) -> None:
        """Refuse a request signed too far from ``now``. Raises InvalidTimeStamp."""
        check_timestamp(self.timestamp, now, window, name=self.timestamp_name)

    def verify(self, secret: str | bytes | Secret) -> None:
        """Check the signature with the access key's secret. Raises SignatureDoesNotMatch."""
        key = _secret_bytes(secret)
        provided = self.signature.encode("ascii")
        matched = False
        # Every candidate is computed and compared, so timing does not tell which one matched.
        for sts in self.strings_to_sign:
            matched |= hmac.compare_digest(self._expected(key, sts), provided)
        if not matched:
            raise SignatureDoesNotMatch(self._mismatch_message(), details={"style": self.style})

    def _expected(self, key: bytes, sts: str) -> bytes:
        if self.style == ACS3_ALGORITHM:
            return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest().encode("ascii")
        digest = hmac.new(key + b"&", sts.encode("utf-8"), hashlib.sha1).digest()
        return base64.b64encode(digest)

    def _mismatch_message(self) -> str:
        base = f"the request signature does not match the one computed for access key {self.access_key_id}"
        if self.style == ACS3_ALGORITHM:
            # The ACS3 StringToSign holds only a hash, so it is safe to show and helps clients debug.
            server_sts = self.strings_to_sign[0].replace("\n", "\\n")
            return f"{base} ({ACS3_ALGORITHM}); server StringToSign: {server_sts}"
        # The V1 StringToSign holds every parameter value (private keys included): never echo it.
        return f"{base} ({V1_METHOD})"


def _secret_bytes(secret: str | bytes | Secret) -> bytes:
    if isinstance(secret, Secret):
        return secret.reveal()
    if isinstance(secret, str):
        return secret.encode("utf-8")
    return secret


# --- canonical forms ---------------------------------------------------------------------------------


def _pct(value: str) -> str:
    # RFC 3986 unreserved characters stay, everything else is %XX of the UTF-8 bytes (space -> %20).
    return quote(value, safe="~", encoding="utf-8")


def canonical_query_string(pairs: Sequence[tuple[str, str]], *, encode_keys: bool = True) -> str:
    """The ACS3 CanonicalQueryString of form-decoded pairs: sorted, ``key=pct(value)`` joined by ``&``."""
    return "&".join(f"{_pct(k) if encode_keys else k}={_pct(v)}" for k, v in sorted(pairs))


def acs3_canonical_request(
    *,
    method: str,
    path: str,
    canonical_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The ACS3 CanonicalRequest (reference §1.4 step 6) over the headers named in SignedHeaders."""
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [method, path or "/", canonical_query, canonical_headers, ";".join(signed_headers), payload_hash]
    )


def _acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"


def v1_string_to_sign(method: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The V1 StringToSign: ``METHOD&%2F&pct(canonical)`` over every parameter but ``Signature``."""
    canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(p for p in pairs if p[0] != "Signature"))
    return f"{method}&%2F&{_pct(canonical)}"


# --- timestamps --------------------------------------------------------------------------------------


def parse_timestamp(value: str, *, name: str) -> datetime:
    """Parse an ISO 8601 time such as ``2025-01-02T03:04:05Z`` into aware UTC. Raises InvalidTimeStamp."""
    if _TIMESTAMP_RE.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidTimeStamp(
            f"InvalidTimeStamp.Format: {name} {shown!r} is not a time of the form YYYY-MM-DDThh:mm:ssZ",
            details={"reason": "InvalidTimeStamp.Format", "parameter": name},
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTimeStamp(
            f"InvalidTimeStamp.Format: {name} {value!r} is not a valid date and time",
            details={"reason": "InvalidTimeStamp.Format", "parameter": name},
        ) from None
    return parsed.astimezone(UTC)


def _format_utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_window(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


def check_timestamp(
    ts: datetime, now: datetime, window: timedelta = timedelta(minutes=15), *, name: str = "x-acs-date"
) -> None:
    """Refuse a signing time more than ``window`` away from ``now`` (both aware). Raises InvalidTimeStamp."""
    if ts.tzinfo is None or now.tzinfo is None:
        raise ValueError("check_timestamp needs timezone-aware datetimes")
    if abs(ts - now) > window:
        raise InvalidTimeStamp(
            f"{name} {_format_utc(ts)} is more than {_format_window(window)} from the server time",
            details={"reason": "InvalidTimeStamp.Expired", "parameter": name},
        )


# --- parsing -----------------------------------------------------------------------------------------


def parse_request_auth(
    *, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes
) -> PendingSignature:
    """Recognise and parse an ACS3 (Authorization header) or V1 (Signature query) signed request.

    Raises MissingParameter when the request is unsigned or lacks a required piece,
    SignatureDoesNotMatch when a piece is malformed or the algorithm unsupported,
    InvalidTimeStamp when the signing time is unreadable, InvalidInput when the query is not UTF-8.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        return _parse_acs3(
            method=method,
            path=path,
            raw_query=raw_query,
            headers=headers,
            body=body,
            authorization=authorization,
        )
    pairs = decode_query(raw_query)
    if any(key == "Signature" for key, _ in pairs):
        return _parse_v1(method=method, pairs=pairs)
    raise MissingParameter(
        "the request is not signed: send an Authorization header (ACS3-HMAC-SHA256) "
        "or a Signature query parameter (HMAC-SHA1)",
        details={"parameter": "Authorization"},
    )


def _malformed(what: str) -> SignatureDoesNotMatch:
    return SignatureDoesNotMatch(f"the Authorization header is malformed: {what}")


def _split_authorization(authorization: str) -> dict[str, str]:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme in _KNOWN_UNSUPPORTED:
        raise SignatureDoesNotMatch(f"signature algorithm {scheme} is not supported: {_UNSUPPORTED_HINT}")
    if scheme != ACS3_ALGORITHM:
        # The unknown scheme is not echoed: a misplaced bearer token must not reach a log.
        raise SignatureDoesNotMatch(
            f"the Authorization header uses an unsupported scheme: {_UNSUPPORTED_HINT}"
        )
    pieces: dict[str, str] = {}
    for piece in rest.split(","):
        name, eq, value = piece.strip().partition("=")
        if not eq:
            raise _malformed(f"piece {name[:32]!r} is not of the form Name=Value")
        if name not in ("Credential", "SignedHeaders", "Signature"):
            raise _malformed(f"unknown piece {name[:32]!r} (expected Credential, SignedHeaders, Signature)")
        if name in pieces:
            raise _malformed(f"{name} is given twice")
        pieces[name] = value.strip()
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not pieces.get(name):
            raise _malformed(f"{name} is missing or empty")
    return pieces


def _parse_signed_headers(value: str) -> list[str]:
    names = value.split(";")
    for name in names:
        if _HEADER_NAME_RE.fullmatch(name) is None:
            raise _malformed(f"SignedHeaders entry {name[:32]!r} is not a lower-case header name")
    if len(set(names)) != len(names):
        raise _malformed("SignedHeaders names a header twice")
    return names


def _check_acs3_headers(headers: Mapping[str, str], signed: list[str], body: bytes) -> None:
    for name in REQUIRED_SIGNED_HEADERS:
        if not headers.get(name, "").strip():
            raise MissingParameter(f"the header {name} is required", details={"parameter": name})
    for name in REQUIRED_SIGNED_HEADERS:
        if name not in signed:
            raise SignatureDoesNotMatch(f"the header {name} must be signed (listed in SignedHeaders)")
    for name in signed:
        if name not in headers:
            raise SignatureDoesNotMatch(f"the header {name} is listed in SignedHeaders but absent")
    if headers["x-acs-content-sha256"].strip().lower() != hashlib.sha256(body).hexdigest():
        raise SignatureDoesNotMatch("x-acs-content-sha256 does not match the SHA-256 of the request body")


def _check_token(value: str, what: str) -> str:
    if _TOKEN_RE.fullmatch(value) is None:
        raise SignatureDoesNotMatch(f"{what} must be 1 to 128 printable ASCII characters without spaces")
    return value


def _parse_acs3(
    *, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes, authorization: str
) -> PendingSignature:
    pieces = _split_authorization(authorization)
    access_key_id = _check_token(pieces["Credential"], "the Credential of the Authorization header")
    if _HEX64_RE.fullmatch(pieces["Signature"]) is None:
        raise _malformed("Signature must be 64 hexadecimal characters")
    signed = _parse_signed_headers(pieces["SignedHeaders"])
    _check_acs3_headers(headers, signed, body)
    nonce = _check_token(headers["x-acs-signature-nonce"].strip(), "x-acs-signature-nonce")
    timestamp = parse_timestamp(headers["x-acs-date"].strip(), name="x-acs-date")
    pairs = decode_query(raw_query)
    strings = [
        _acs3_string_to_sign(
            acs3_canonical_request(
                method=method,
                path=path,
                canonical_query=canonical_query_string(pairs, encode_keys=encode_keys),
                headers=headers,
                signed_headers=signed,
                # The header value as sent (already checked against the body), as the client signed it.
                payload_hash=headers["x-acs-content-sha256"].strip(),
            )
        )
        # Alibaba's spec percent-encodes keys, the Python SDK leaves them as they are; the two forms
        # differ only for keys outside A-Z a-z 0-9 - _ . ~, and then both are accepted.
        for encode_keys in (True, False)
    ]
    return PendingSignature(
        request=SignedRequest(access_key_id, nonce, timestamp, ACS3_ALGORITHM),
        action=headers["x-acs-action"].strip(),
        version=headers["x-acs-version"].strip(),
        timestamp_name="x-acs-date",
        strings_to_sign=tuple(dict.fromkeys(strings)),
        signature=pieces["Signature"].lower(),
    )


def _v1_params(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs:
        if key in _V1_AUTH_PARAMS or key in ("SignatureVersion", "Action", "Version"):
            if key in found:
                raise SignatureDoesNotMatch(f"the query parameter {key} is given twice")
            found[key] = value
    for key in _V1_AUTH_PARAMS:
        if not found.get(key):
            raise MissingParameter(f"the parameter {key} is required", details={"parameter": key})
    return found


def _parse_v1(*, method: str, pairs: Sequence[tuple[str, str]]) -> PendingSignature:
    found = _v1_params(pairs)
    if found["SignatureMethod"] != V1_METHOD:
        raise SignatureDoesNotMatch(f"SignatureMethod is not supported: {_UNSUPPORTED_HINT}")
    if found.get("SignatureVersion", "1.0") != "1.0":
        raise SignatureDoesNotMatch("SignatureVersion must be 1.0 for HMAC-SHA1 signatures")
    try:
        raw_signature = base64.b64decode(found["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raw_signature = b""
    if len(raw_signature) != hashlib.sha1().digest_size:
        raise SignatureDoesNotMatch("the Signature parameter must be the base64 of a 20-byte HMAC-SHA1")
    access_key_id = _check_token(found["AccessKeyId"], "AccessKeyId")
    nonce = _check_token(found["SignatureNonce"], "SignatureNonce")
    timestamp = parse_timestamp(found["Timestamp"], name="Timestamp")
    return PendingSignature(
        request=SignedRequest(access_key_id, nonce, timestamp, V1_METHOD),
        action=found.get("Action"),
        version=found.get("Version"),
        timestamp_name="Timestamp",
        strings_to_sign=(v1_string_to_sign(method, pairs),),
        signature=found["Signature"],
    )
