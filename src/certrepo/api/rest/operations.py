"""/v1/sign, /v1/verify, /v1/encrypt, /v1/decrypt: use a stored key without seeing it."""

from __future__ import annotations

import base64

from fastapi import APIRouter

from certrepo.domain.errors import InvalidInput
from certrepo.services import operations as service
from certrepo.services.operations import CertificateRef

from .deps import CallDep, ServicesDep
from .errors import error_responses
from .schemas import DecryptIn, DecryptOut, EncryptIn, EncryptOut, SignIn, SignOut, VerifyIn, VerifyOut

router = APIRouter(prefix="/v1", tags=["key use"])
_RESPONSES = error_responses(403, 404, 409, 413)


def _ref(body: SignIn | EncryptIn | DecryptIn) -> CertificateRef:
    return CertificateRef(identifier=body.identifier, custom_identifier=body.custom_identifier)


@router.post("/sign", responses=_RESPONSES)
async def sign(body: SignIn, services: ServicesDep, call: CallDep) -> SignOut:
    """Sign with the certificate's private key."""
    signature = await service.sign(
        services,
        call,
        _ref(body),
        algorithm=body.algorithm,
        message=body.message,
        message_type=body.message_type,
        distinguishing_id=body.distinguishing_id,
    )
    return SignOut(signature=base64.b64encode(signature).decode())


@router.post("/verify", responses=_RESPONSES)
async def verify(body: VerifyIn, services: ServicesDep, call: CallDep) -> VerifyOut:
    """Verify a signature with the certificate's public key; a bad signature is valid: false."""
    valid = await service.verify(
        services,
        call,
        _ref(body),
        algorithm=body.algorithm,
        message=body.message,
        message_type=body.message_type,
        signature=body.signature,
        distinguishing_id=body.distinguishing_id,
    )
    return VerifyOut(valid=valid)


@router.post("/encrypt", responses=_RESPONSES)
async def encrypt(body: EncryptIn, services: ServicesDep, call: CallDep) -> EncryptOut:
    """Encrypt with the certificate's public key."""
    ciphertext = await service.encrypt(
        services, call, _ref(body), algorithm=body.algorithm, plaintext=body.plaintext, message_type=body.message_type
    )
    return EncryptOut(ciphertext=base64.b64encode(ciphertext).decode())


@router.post("/decrypt", responses=_RESPONSES)
async def decrypt(body: DecryptIn, services: ServicesDep, call: CallDep) -> DecryptOut:
    """Decrypt with the certificate's private key."""
    kind = body.message_type.strip().upper()
    if kind not in ("BASE64", "RAW"):
        raise InvalidInput("message_type must be BASE64 or RAW", details={"field": "message_type"})
    plaintext = await service.decrypt(services, call, _ref(body), algorithm=body.algorithm, ciphertext=body.ciphertext)
    if kind == "RAW":
        try:
            return DecryptOut(plaintext=plaintext.decode())
        except UnicodeDecodeError:
            raise InvalidInput("the plaintext is not UTF-8 text; ask for message_type BASE64") from None
    return DecryptOut(plaintext=base64.b64encode(plaintext).decode())
