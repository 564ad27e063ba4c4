"""The messages that Sign, Verify, Encrypt and Decrypt act on, as they arrive on the wire (SPEC §1.3, §2.1).

A message travels as text with a ``message_type``: ``RAW`` (the UTF-8 text itself), ``BASE64`` (base64 of
the bytes) or ``DIGEST`` (base64 of a hash the caller computed). ``BLIND`` is parsed so that it can be
refused clearly. Signatures and ciphertexts are always base64.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from certrepo.domain.errors import InvalidInput, MessageTooLarge, Unsupported

__all__ = [
    "DEFAULT_MAX_RAW_BYTES",
    "Message",
    "MessageType",
    "check_digest_size",
    "decode_base64_field",
    "decode_message",
    "encode_message",
    "hash_input",
    "hash_label",
]

# SPEC §1.3: RAW messages must be smaller than 4 KiB; larger ones are to be hashed by the caller (DIGEST).
DEFAULT_MAX_RAW_BYTES = 4096

# Line breaks and spaces are common in pasted base64 (PEM-style wrapping); they carry no data.
_WHITESPACE = re.compile(r"\s+")


class MessageType(StrEnum):
    """How the ``message`` text of a request encodes its bytes; values are the wire values."""

    RAW = "RAW"
    BASE64 = "BASE64"
    DIGEST = "DIGEST"
    BLIND = "BLIND"

    @classmethod
    def parse(cls, text: str) -> MessageType:
        """The message type named by ``text``, case-insensitively. Raises InvalidInput."""
        # Alibaba's own documentation spells "Base64" for Encrypt and "BASE64" elsewhere.
        try:
            return cls(text.strip().upper())
        except ValueError:
            supported = ", ".join(t.value for t in (cls.RAW, cls.BASE64, cls.DIGEST))
            raise InvalidInput(
                f"message_type {text!r} is not known; use one of {supported}",
                details={"field": "message_type"},
            ) from None


@dataclass(frozen=True)
class Message:
    """The bytes to sign, verify or encrypt; ``is_digest`` when they are a hash the caller computed."""

    data: bytes
    is_digest: bool = False

    def __repr__(self) -> str:
        # Message contents are the caller's data: never in logs or tracebacks.
        return f"Message(<{len(self.data)} bytes>, is_digest={self.is_digest})"


def decode_message(text: str, message_type: str, *, max_raw_bytes: int = DEFAULT_MAX_RAW_BYTES) -> Message:
    """Decode a wire message of ``message_type``.

    Raises InvalidInput (unknown type, bad base64, text that is not UTF-8), MessageTooLarge (RAW of
    ``max_raw_bytes`` or more) and Unsupported (BLIND).
    """
    kind = MessageType.parse(message_type)
    if kind is MessageType.RAW:
        data = _utf8(text, "message")
        if len(data) >= max_raw_bytes:
            raise MessageTooLarge(
                f"a RAW message must be smaller than {max_raw_bytes} bytes, this one has {len(data)};"
                " hash it and send the digest with message_type DIGEST",
                details={"limit_bytes": max_raw_bytes - 1, "size_bytes": len(data)},
            )
        return Message(data)
    if kind is MessageType.BASE64:
        return Message(decode_base64_field(text, "message"))
    if kind is MessageType.DIGEST:
        return Message(decode_base64_field(text, "message"), is_digest=True)
    # Blind signing needs a raw RSA operation on a blinded input. Doing that safely means a separate
    # design (key separation, unblinding checks), not a padding-free sign() improvised here.
    raise Unsupported("message type BLIND (blind signatures) is not supported; use RAW, BASE64 or DIGEST")


def encode_message(data: bytes, message_type: str) -> str:
    """Encode bytes for the wire as ``message_type`` asks (RAW: UTF-8 text, else base64).

    Raises InvalidInput when RAW is asked for bytes that are not UTF-8 text, Unsupported for BLIND.
    """
    kind = MessageType.parse(message_type)
    if kind is MessageType.BLIND:
        raise Unsupported("message type BLIND (blind signatures) is not supported; use RAW or BASE64")
    if kind is MessageType.RAW:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                "the result is not UTF-8 text and cannot be returned as RAW; ask for message_type BASE64"
            ) from None
    return base64.b64encode(data).decode("ascii")


def decode_base64_field(text: str, field: str) -> bytes:
    """Decode the standard base64 in request field ``field``. Raises InvalidInput naming the field."""
    compact = _WHITESPACE.sub("", text)
    try:
        # validate=True refuses characters outside the alphabet instead of silently dropping them.
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64", details={"field": field}) from None


def check_digest_size(message: Message, algorithm_name: str, digest_size: int, hash_name: str) -> None:
    """Require a DIGEST message to be as long as the algorithm's hash. Raises InvalidInput."""
    if message.is_digest and len(message.data) != digest_size:
        raise InvalidInput(
            f"{algorithm_name} expects a {digest_size}-byte {hash_name} digest for message_type DIGEST;"
            f" this one has {len(message.data)} bytes",
            details={"field": "message"},
        )


def hash_input(
    message: Message, algorithm_name: str, hash_algorithm: hashes.HashAlgorithm
) -> tuple[bytes, hashes.HashAlgorithm | Prehashed]:
    """The data and hash argument for cryptography's sign/verify. Raises InvalidInput (digest size)."""
    if not message.is_digest:
        return message.data, hash_algorithm
    check_digest_size(message, algorithm_name, hash_algorithm.digest_size, hash_label(hash_algorithm))
    # Prehashed: cryptography signs the given digest as is (same result as hashing the content).
    return message.data, Prehashed(hash_algorithm)


def hash_label(hash_algorithm: hashes.HashAlgorithm) -> str:
    """The usual spelling of a hash's name in messages: ``SHA-256`` for cryptography's ``sha256``."""
    return hash_algorithm.name.upper().replace("SHA", "SHA-", 1)


def _utf8(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Only lone surrogates get here (e.g. a JSON "\ud800" escape).
        raise InvalidInput(f"{field} is not valid UTF-8 text", details={"field": field}) from None
