"""Key use: Sign, Verify, Encrypt, Decrypt (reference §4.12-4.15) on services/operations.py.

The certificate is named by ``CertIdentifier`` (an identifier, or ``{CertId}-cn-hangzhou``) or by
``CustomIdentifier``, optionally within ``WarehouseId``. Alibaba's two documents disagree on what
Verify's ``Message`` is under ``MessageType=RAW``: Sign takes the text itself, Verify documents base64 of
the data. Verify therefore base64-decodes a RAW message when it is valid base64 and otherwise takes the
text itself, so that both ``Verify(RAW, base64(m))`` (Alibaba's documented form) and ``Verify(RAW, m)``
for text that is not base64 verify what ``Sign(RAW, m)`` signed. Text that happens to be valid base64
(``"abcd"``) is read as base64, as Alibaba documents.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Final

from certrepo.crypto.messages import (
    DEFAULT_MAX_RAW_BYTES,
    Message,
    MessageType,
    decode_base64_field,
    encode_message,
)
from certrepo.domain.errors import InvalidInput, MessageTooLarge, MissingParameter
from certrepo.services import operations
from certrepo.services.operations import CertificateRef

from .actions_context import ActionContext, Handler, resolve_certificate_identifier, resolve_repository_id
from .shapes import repository_ref

__all__ = ["HANDLERS", "PARAMETERS"]

_SIGN_TYPES: Final = tuple(t.value for t in MessageType)
_VERIFY_TYPES: Final = (MessageType.RAW.value, MessageType.BASE64.value, MessageType.DIGEST.value)
# Encrypt and Decrypt spell it Base64 (any case is accepted); answers keep the caller's meaning.
_CIPHER_TYPES: Final = (MessageType.RAW.value, MessageType.BASE64.value)


async def _ref(ctx: ActionContext) -> CertificateRef:
    """CertIdentifier or CustomIdentifier (not both), and WarehouseId when given."""
    handle = ctx.params.str("CertIdentifier") or None
    custom = ctx.params.str("CustomIdentifier") or None
    if handle and custom:
        raise InvalidInput(
            "name the certificate once: CertIdentifier or CustomIdentifier, not both",
            details={"parameter": "CustomIdentifier"},
        )
    if not handle and not custom:
        raise MissingParameter(
            "the parameter CertIdentifier (or CustomIdentifier) is required",
            details={"parameter": "CertIdentifier"},
        )
    ref = repository_ref(ctx.params, required=False)
    repository_id = await resolve_repository_id(ctx, ref) if ref is not None else None
    identifier = await resolve_certificate_identifier(ctx, handle) if handle else None
    return CertificateRef(identifier=identifier, custom_identifier=custom, repository_id=repository_id)


def _handle(ctx: ActionContext) -> dict[str, object]:
    """Encrypt and Decrypt answer with the handle the caller used."""
    handle = ctx.params.str("CertIdentifier")
    if handle:
        return {"CertIdentifier": handle}
    return {"CustomIdentifier": ctx.params.str("CustomIdentifier")}


def _required(ctx: ActionContext, name: str) -> str:
    value = ctx.params.str(name, required=True)
    assert value is not None
    return value


async def sign(ctx: ActionContext) -> dict[str, object]:
    """Sign: Message, MessageType (RAW default | BASE64 | DIGEST | BLIND), SigningAlgorithm,
    CertIdentifier | CustomIdentifier, WarehouseId? -> Signature (base64)."""
    message = _required(ctx, "Message")
    algorithm = _required(ctx, "SigningAlgorithm")
    message_type = ctx.params.enum("MessageType", _SIGN_TYPES) or MessageType.RAW.value
    signature = await operations.sign(
        ctx.services,
        ctx.call,
        await _ref(ctx),
        algorithm=algorithm,
        message=message,
        message_type=message_type,
    )
    return {"Signature": base64.b64encode(signature).decode("ascii")}


def _verify_message(text: str, message_type: str) -> str | Message:
    """Verify's Message: RAW is base64 of the data when it decodes as base64, else the text itself."""
    if message_type != MessageType.RAW.value:
        return text  # BASE64 and DIGEST: the service decodes them
    try:
        data = decode_base64_field(text, "message")
    except InvalidInput:
        return text  # not base64: the raw text, as Sign takes it
    if len(data) >= DEFAULT_MAX_RAW_BYTES:
        # The RAW limit is on the data (SPEC §1.3), whichever way it travelled.
        raise MessageTooLarge(
            f"a RAW message must be smaller than {DEFAULT_MAX_RAW_BYTES} bytes, this one has {len(data)};"
            " hash it and send the digest with MessageType DIGEST",
            details={"limit_bytes": DEFAULT_MAX_RAW_BYTES - 1, "size_bytes": len(data)},
        )
    return Message(data)


async def verify(ctx: ActionContext) -> dict[str, object]:
    """Verify: Message, MessageType (RAW default | DIGEST; BASE64 too), SignatureValue, SigningAlgorithm,
    CertIdentifier | CustomIdentifier, WarehouseId? -> SignatureValid (a bad signature is false)."""
    message = _required(ctx, "Message")
    signature = _required(ctx, "SignatureValue")
    algorithm = _required(ctx, "SigningAlgorithm")
    message_type = ctx.params.enum("MessageType", _VERIFY_TYPES) or MessageType.RAW.value
    valid = await operations.verify(
        ctx.services,
        ctx.call,
        await _ref(ctx),
        algorithm=algorithm,
        message=_verify_message(message, message_type),
        message_type=message_type,
        signature=signature,
    )
    return {"SignatureValid": valid}


async def encrypt(ctx: ActionContext) -> dict[str, object]:
    """Encrypt: Algorithm, Plaintext, MessageType (RAW default | Base64), CertIdentifier |
    CustomIdentifier, WarehouseId? -> CertIdentifier, CiphertextBlob (base64)."""
    algorithm = _required(ctx, "Algorithm")
    plaintext = _required(ctx, "Plaintext")
    message_type = ctx.params.enum("MessageType", _CIPHER_TYPES) or MessageType.RAW.value
    ciphertext = await operations.encrypt(
        ctx.services,
        ctx.call,
        await _ref(ctx),
        algorithm=algorithm,
        plaintext=plaintext,
        message_type=message_type,
    )
    return {**_handle(ctx), "CiphertextBlob": base64.b64encode(ciphertext).decode("ascii")}


async def decrypt(ctx: ActionContext) -> dict[str, object]:
    """Decrypt: Algorithm, CiphertextBlob (base64), MessageType (Base64 default: base64 plaintext | RAW:
    UTF-8 text), CertIdentifier | CustomIdentifier, WarehouseId? -> CertIdentifier, Plaintext."""
    algorithm = _required(ctx, "Algorithm")
    ciphertext = _required(ctx, "CiphertextBlob")
    message_type = ctx.params.enum("MessageType", _CIPHER_TYPES) or MessageType.BASE64.value
    plaintext = await operations.decrypt(
        ctx.services, ctx.call, await _ref(ctx), algorithm=algorithm, ciphertext=ciphertext
    )
    return {**_handle(ctx), "Plaintext": encode_message(plaintext, message_type)}


HANDLERS: Final[Mapping[str, Handler]] = {
    "Sign": sign,
    "Verify": verify,
    "Encrypt": encrypt,
    "Decrypt": decrypt,
}

_HANDLE: Final = {"identifier": "CertIdentifier", "custom_identifier": "CustomIdentifier"}
PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = {
    "Sign": {**_HANDLE, "algorithm": "SigningAlgorithm", "message": "Message", "message_type": "MessageType"},
    "Verify": {
        **_HANDLE,
        "algorithm": "SigningAlgorithm",
        "message": "Message",
        "message_type": "MessageType",
        "signature": "SignatureValue",
    },
    "Encrypt": {**_HANDLE, "algorithm": "Algorithm", "plaintext": "Plaintext", "message_type": "MessageType"},
    "Decrypt": {
        **_HANDLE,
        "algorithm": "Algorithm",
        "ciphertext": "CiphertextBlob",
        "message_type": "MessageType",
    },
}
