"""The certificate and CA forms into the typed inputs of services: upload, issue, verify-chain, the
key-use try-out, revoke, export, and CA create / import.

Like forms.py, every refusal names its form field (``details.field``). A certificate, key, chain or
CSR comes as a chosen file (``<field>_file``) or pasted text (``<field>``); a chosen file wins. Binary
files (DER, PKCS#12) are passed on base64-encoded, as the API takes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.datastructures import FormData, UploadFile

from certrepo.domain.enums import CaType, IssueUsage, KeyAlgorithm
from certrepo.domain.errors import InvalidInput, MessageTooLarge, MissingParameter
from certrepo.pki.issue import San
from certrepo.services.cas import CaImport, CaSpec
from certrepo.services.certificates import Upload
from certrepo.services.issuance import IssueRequest

from .forms import FormValues, checkbox, optional_days, optional_id, optional_text

__all__ = [
    "MAX_FILE_BYTES",
    "OPERATIONS",
    "SAN_TYPES",
    "ChainCheck",
    "KeyUse",
    "ca_import_from_form",
    "ca_spec_from_form",
    "issue_request_from_form",
    "key_use_from_form",
    "optional_moment",
    "text_or_file",
    "upload_from_form",
    "verify_from_form",
]

MAX_FILE_BYTES = 64 * 1024  # the service's upload limit; a larger file is refused before reading on
OPERATIONS = ("sign", "verify", "encrypt", "decrypt")
SAN_TYPES = ("dns", "email", "uri", "ip")
_MESSAGE_TYPES = ("RAW", "BASE64", "DIGEST")
_MAX_TEXT = 4 * MAX_FILE_BYTES  # pasted PEM of a 64 KiB upload, with room for line endings


def _file_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")
    return text if "-----BEGIN" in text else base64.b64encode(data).decode("ascii")


async def text_or_file(form: FormData, field: str, label: str, *, required: bool = False) -> str | None:
    """The file chosen in ``<field>_file`` (read up to the limit), else the text pasted in ``field``."""
    chosen = form.get(f"{field}_file")
    if isinstance(chosen, UploadFile):
        data = await chosen.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise MessageTooLarge(
                f"the {label} file {chosen.filename or ''} is larger than {MAX_FILE_BYTES // 1024} KiB",
                details={"field": field},
            )
        if data.strip():
            return _file_text(data)
    pasted = optional_text(form, field, max_length=_MAX_TEXT)
    if pasted is None and required:
        raise MissingParameter(f"choose a {label} file or paste it", details={"field": field})
    return pasted


def _secret(form: FormValues, field: str) -> str | None:
    """A password as typed: not trimmed (spaces may belong to it), None when empty."""
    value = form.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", details={"field": field})
    return value or None


def optional_moment(form: FormValues, field: str, label: str) -> datetime | None:
    """A ``datetime-local`` input (YYYY-MM-DDTHH:MM, seconds optional), read as UTC."""
    value = optional_text(form, field, max_length=32)
    if value is None:
        return None
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise InvalidInput(
        f"{label} {value!r} is not a date and time of the form YYYY-MM-DDTHH:MM (UTC)",
        details={"field": field},
    )


def _choice(form: FormValues, field: str, label: str, choices: tuple[str, ...], default: str) -> str:
    value = optional_text(form, field, max_length=64) or default
    if value not in choices:
        raise InvalidInput(f"{label} {value!r} is not one of {', '.join(choices)}", details={"field": field})
    return value


def _key_algorithm(form: FormValues, field: str = "key_algorithm") -> KeyAlgorithm | None:
    value = optional_text(form, field, max_length=32)
    if value is None:
        return None
    try:
        return KeyAlgorithm(value)
    except ValueError:
        names = ", ".join(a.value for a in KeyAlgorithm)
        raise InvalidInput(
            f"key algorithm {value!r} is not one of {names}", details={"field": field}
        ) from None


# --- upload and issue -------------------------------------------------------------------------------


async def upload_from_form(form: FormData) -> Upload:
    """The Upload of the upload panel: certificate (file or paste), key, chain, password, options."""
    return Upload(
        certificate=await text_or_file(form, "certificate", "certificate", required=True) or "",
        private_key=await text_or_file(form, "private_key", "private key"),
        chain=await text_or_file(form, "chain", "chain"),
        password=_secret(form, "password"),
        name=optional_text(form, "name", max_length=128),
        custom_identifier=optional_text(form, "custom_identifier", max_length=128),
        exportable=checkbox(form, "exportable"),
        allow_expired=checkbox(form, "allow_expired"),
    )


def _sans(form: FormData) -> tuple[San, ...]:
    """The SAN rows (type + value); rows left empty are skipped."""
    types, values = form.getlist("san_type"), form.getlist("san_value")
    sans: list[San] = []
    for number, (kind, value) in enumerate(zip(types, values, strict=False), start=1):
        if not isinstance(kind, str) or not isinstance(value, str):
            raise InvalidInput("SANs must be text", details={"field": "sans"})
        if not value.strip():
            continue
        if kind not in SAN_TYPES:
            raise InvalidInput(
                f"SAN {number} has type {kind!r}: choose DNS, email, URI or IP", details={"field": "sans"}
            )
        sans.append(San(kind, value.strip()))
    return tuple(sans)


async def issue_request_from_form(form: FormData) -> IssueRequest:
    """The IssueRequest of the issue panel. The key source decides which of CSR and key algorithm
    count (the other is hidden), and the validity choice which of days and dates."""
    usage_text = optional_text(form, "usage", max_length=32)
    try:
        usage = IssueUsage(usage_text or "")
    except ValueError:
        raise InvalidInput(
            "choose a profile: client, server or document signing", details={"field": "usage"}
        ) from None
    from_csr = _choice(form, "key_source", "key source", ("generate", "csr"), "generate") == "csr"
    by_dates = _choice(form, "validity", "validity", ("days", "dates"), "days") == "dates"
    return IssueRequest(
        usage=usage,
        csr=await text_or_file(form, "csr", "CSR", required=True) if from_csr else None,
        key_algorithm=None if from_csr else _key_algorithm(form),
        common_name=optional_text(form, "common_name", max_length=256),
        organization=optional_text(form, "organization", max_length=256),
        country=optional_text(form, "country", max_length=8),
        sans=_sans(form),
        validity_days=None if by_dates else optional_days(form, "days"),
        not_before=optional_moment(form, "not_before", "not before") if by_dates else None,
        not_after=optional_moment(form, "not_after", "not after") if by_dates else None,
        exportable=checkbox(form, "exportable") and not from_csr,
        name=optional_text(form, "name", max_length=128),
        custom_identifier=optional_text(form, "custom_identifier", max_length=128),
    )


# --- verify-chain and the try-out -------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    certificate: str
    intermediates: str | None
    hostname: str | None
    usage: str
    at: datetime | None


async def verify_from_form(form: FormData) -> ChainCheck:
    return ChainCheck(
        certificate=await text_or_file(form, "certificate", "certificate", required=True) or "",
        intermediates=await text_or_file(form, "intermediates", "intermediates"),
        hostname=optional_text(form, "hostname", max_length=253),
        usage=_choice(form, "usage", "usage", ("any", "server", "client"), "any"),
        at=optional_moment(form, "time", "time"),
    )


@dataclass(frozen=True)
class KeyUse:
    identifier: str
    operation: str
    algorithm: str
    message_type: str
    message: str
    signature: str | None


def key_use_from_form(form: FormValues) -> KeyUse:
    """The try-out panel: certificate, operation, algorithm, message and its type (RAW keeps its
    spaces and line breaks: they are part of what is signed)."""
    identifier = optional_text(form, "identifier", max_length=128)
    if identifier is None:
        raise MissingParameter("choose a certificate", details={"field": "identifier"})
    algorithm = optional_text(form, "algorithm", max_length=64)
    if algorithm is None:
        raise MissingParameter("choose an algorithm", details={"field": "algorithm"})
    message = form.get("message")
    if not isinstance(message, str) or not message:
        raise MissingParameter("enter a message", details={"field": "message"})
    operation = _choice(form, "operation", "operation", OPERATIONS, "sign")
    message_type = _choice(form, "message_type", "message type", _MESSAGE_TYPES, "RAW")
    return KeyUse(
        identifier=identifier,
        operation=operation,
        algorithm=algorithm,
        message_type=message_type,
        # Decrypt takes base64 ciphertext whatever the type says: only RAW text keeps its whitespace.
        message=message if message_type == "RAW" and operation != "decrypt" else message.strip(),
        signature=optional_text(form, "signature", max_length=_MAX_TEXT) if operation == "verify" else None,
    )


# --- CAs --------------------------------------------------------------------------------------------


def ca_spec_from_form(form: FormValues) -> CaSpec:
    """A root or an intermediate (its parent selector is hidden, so ignored, for a root)."""
    kind = CaType(_choice(form, "type", "CA type", ("root", "intermediate"), "root"))
    common_name = optional_text(form, "common_name", max_length=64)
    if common_name is None:
        raise MissingParameter("a CA needs a common name", details={"field": "common_name"})
    key_algorithm = _key_algorithm(form)
    if key_algorithm is None:
        raise MissingParameter("choose a key algorithm", details={"field": "key_algorithm"})
    parent_id = optional_id(form, "parent_id", "parent CA") if kind is CaType.INTERMEDIATE else None
    if kind is CaType.INTERMEDIATE and parent_id is None:
        raise MissingParameter(
            "an intermediate CA needs a parent CA to sign it", details={"field": "parent_id"}
        )
    path_len = optional_text(form, "path_len", max_length=4)
    if path_len is not None and not path_len.isdigit():
        raise InvalidInput("path length must be a whole number from 0 to 16", details={"field": "path_len"})
    return CaSpec(
        type=kind,
        common_name=common_name,
        key_algorithm=key_algorithm,
        parent_id=parent_id,
        validity_days=optional_days(form, "days", maximum=36500),
        path_len=int(path_len) if path_len is not None else None,
        organization=optional_text(form, "organization", max_length=64),
        country=optional_text(form, "country", max_length=8),
    )


async def ca_import_from_form(form: FormData) -> CaImport:
    return CaImport(
        certificate=await text_or_file(form, "certificate", "CA certificate", required=True) or "",
        private_key=await text_or_file(form, "private_key", "private key", required=True),
        chain=await text_or_file(form, "chain", "chain"),
        password=_secret(form, "password"),
    )
