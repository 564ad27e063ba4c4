"""Key use: Sign, Verify, Encrypt, Decrypt with a stored certificate's key (SPEC §1.3, §1.4).

The hot path: one read-only lookup of certificate and repository, a key from the per-process cache
(opened and parsed once), the operation, then quota and audit through the group-committing ledger.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography import x509

from certrepo.crypto.keys import KeyCache, load_stored_private_key, public_key_of_certificate
from certrepo.crypto.messages import Message, decode_base64_field, decode_message
from certrepo.crypto.registry import SignatureAlgorithm, encryption_algorithm, signature_algorithm
from certrepo.crypto.sm2 import Sm2Signature
from certrepo.domain.access import Permission
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import DataSource, QuotaPool
from certrepo.domain.errors import (
    CertificateNotFound,
    CertrepoError,
    InvalidInput,
    MissingParameter,
)
from certrepo.domain.repository import Repository
from certrepo.pki.load import load_certificates

from .audit import event_for
from .certificates import PRIVATE_KEY_PURPOSE
from .context import Call, Services
from .hotcache import hot_cache_of
from .ledger import ledger_of
from .throttle import Throttle

__all__ = [
    "CertificateRef",
    "decrypt",
    "encrypt",
    "sign",
    "verify",
]


@dataclass(frozen=True)
class CertificateRef:
    """Which certificate: by identifier or by custom identifier (optionally within one repository)."""

    identifier: str | None = None
    custom_identifier: str | None = None
    repository_id: int | None = None


# --- per-process state ------------------------------------------------------------------------------


@dataclass
class _Caches:
    keys: KeyCache = field(default_factory=lambda: KeyCache(4096))
    certificates: OrderedDict[str, tuple[x509.Certificate, tuple[x509.Certificate, ...]]] = field(
        default_factory=OrderedDict
    )
    throttle: Throttle = field(default_factory=Throttle)


def _caches(services: Services) -> _Caches:
    caches = services.extras.get("operation_caches")
    if not isinstance(caches, _Caches):
        caches = _Caches()
        services.extras["operation_caches"] = caches
    return caches


def _x509(
    services: Services, certificate: Certificate
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    cache = _caches(services).certificates
    found = cache.get(certificate.identifier)
    if found is None:
        chain = tuple(load_certificates(certificate.chain_pem)) if certificate.chain_pem else ()
        found = (load_certificates(certificate.pem)[0], chain)
        cache[certificate.identifier] = found
        if len(cache) > 4096:
            cache.popitem(last=False)
    return found


# --- resolution -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    certificate: Certificate
    repository: Repository
    key: object | None  # the private key, when the operation needs one


async def _lookup(services: Services, call: Call, ref: CertificateRef) -> tuple[Certificate, Repository]:
    """Certificate and repository named by ``ref`` in the caller's account, through the hot cache."""
    account_id = call.principal.account_id
    name = f"id:{ref.identifier}" if ref.identifier else f"custom:{ref.custom_identifier}"
    cache = hot_cache_of(services)
    hit = None
    if cache is not None:
        await cache.ensure_fresh(services)
        hit = cache.targets.get((account_id, name))
    if hit is None:
        async with services.uow(read_only=True) as uow:
            if ref.identifier:
                certificate = await uow.certificates.get(ref.identifier)
            else:
                assert ref.custom_identifier is not None
                certificate = await uow.certificates.get_by_custom_identifier(
                    account_id, ref.custom_identifier
                )
            repository = (
                await uow.repositories.get(certificate.repository_id, with_count=False)
                if certificate
                else None
            )
        if certificate is None or repository is None or certificate.account_id != account_id:
            raise _not_found(ref)
        hit = (certificate, repository)
        if cache is not None:
            cache.targets.put((account_id, name), hit)
    return hit  # type: ignore[return-value]


def _not_found(ref: CertificateRef) -> CertificateNotFound:
    if ref.identifier:
        return CertificateNotFound(
            f"certificate {ref.identifier} does not exist", details={"identifier": ref.identifier}
        )
    return CertificateNotFound(
        f"no certificate has the custom identifier {ref.custom_identifier!r}",
        details={"custom_identifier": ref.custom_identifier},
    )


async def _resolve(
    services: Services, call: Call, ref: CertificateRef, *, needs_private_key: bool
) -> _Target:
    call.principal.require(Permission.USE_KEYS)
    if not ref.identifier and not ref.custom_identifier:
        raise MissingParameter(
            "name the certificate: identifier or custom_identifier", details={"field": "identifier"}
        )
    certificate, repository = await _lookup(services, call, ref)
    if not call.principal.can_see_repository(certificate.repository_id):
        raise _not_found(ref)  # a signer without a grant learns nothing about the certificate
    if ref.repository_id is not None and certificate.repository_id != ref.repository_id:
        raise CertificateNotFound(
            f"certificate {certificate.identifier} is not in repository {ref.repository_id}",
            details={"identifier": certificate.identifier},
        )
    repository.ensure_usable()
    _caches(services).throttle.hit(certificate.repository_id, repository.qps)
    key = None
    if needs_private_key:
        certificate.ensure_has_private_key()
        key = await _private_key(services, certificate)
    return _Target(certificate, repository, key)


async def _private_key(services: Services, certificate: Certificate) -> object:
    cache = _caches(services).keys
    cached = cache.get(certificate.identifier)
    if cached is not None:
        return cached
    async with services.uow(read_only=True) as uow:
        sealed = await uow.certificates.sealed_key(certificate.identifier)
    if sealed is None:
        raise _not_found(CertificateRef(identifier=certificate.identifier))  # deleted meanwhile
    key = load_stored_private_key(services.keystore.open(sealed[1], purpose=PRIVATE_KEY_PURPOSE))
    cache.put(certificate.identifier, key)
    return key


def _pool(repository: Repository) -> QuotaPool:
    return QuotaPool.CONTRACT if repository.data_source is DataSource.COMPLIANT else QuotaPool.APP


async def _account(
    services: Services, call: Call, target: _Target, action: str, algorithm: str, **details: object
) -> None:
    """Consume one unit of the repository's pool and record the key use; both durable before we answer."""
    event = event_for(
        services,
        call,
        action,
        repository_id=target.repository.id,
        certificate_id=target.certificate.identifier,
        algorithm=algorithm,
        details=dict(details),
    )
    await ledger_of(services).record(call.principal.account_id, _pool(target.repository), event)


async def _record_failure(
    services: Services, call: Call, target: _Target, action: str, algorithm: str, error: CertrepoError
) -> None:
    event = event_for(
        services,
        call,
        action,
        repository_id=target.repository.id,
        certificate_id=target.certificate.identifier,
        algorithm=algorithm,
        outcome="failure",
        details={"error": error.code},
    )
    await ledger_of(services).record(call.principal.account_id, None, event)


# --- operations -------------------------------------------------------------------------------------


async def sign(
    services: Services,
    call: Call,
    ref: CertificateRef,
    *,
    algorithm: str,
    message: str,
    message_type: str,
    distinguishing_id: str | None = None,
) -> bytes:
    """The signature of a message with the certificate's key. Raises NoPrivateKey, CertificateRevoked,
    CertificateExpired, AlgorithmMismatch, MessageTooLarge, InvalidInput, QuotaExhausted, Throttling."""
    target = await _resolve(services, call, ref, needs_private_key=True)
    try:
        target.certificate.ensure_can_use_private_key(services.clock())
        scheme = _signature_scheme(algorithm, distinguishing_id)
        decoded = decode_message(message, message_type)
        cert, chain = _x509(services, target.certificate)
        scheme.check_key(public_key_of_certificate(cert))
        signature = scheme.sign(
            target.key, decoded, certificate=cert, chain=chain, signing_time=services.clock()
        )
    except CertrepoError as exc:
        await _record_failure(services, call, target, "key.sign", algorithm, exc)
        raise
    await _account(services, call, target, "key.sign", scheme.name, message_type=message_type.upper())
    return signature


async def verify(
    services: Services,
    call: Call,
    ref: CertificateRef,
    *,
    algorithm: str,
    message: str | Message,
    message_type: str,
    signature: str,
    distinguishing_id: str | None = None,
) -> bool:
    """Whether ``signature`` is valid for the message under the certificate's public key. A bad
    signature is False, never an error; revoked or expired certificates can still verify."""
    target = await _resolve(services, call, ref, needs_private_key=False)
    try:
        scheme = _signature_scheme(algorithm, distinguishing_id)
        decoded = message if isinstance(message, Message) else decode_message(message, message_type)
        raw_signature = decode_base64_field(signature, "signature")
        cert, _chain = _x509(services, target.certificate)
        public_key = public_key_of_certificate(cert)
        scheme.check_key(public_key)
        valid = scheme.verify(public_key, decoded, raw_signature, certificate=cert)
    except CertrepoError as exc:
        await _record_failure(services, call, target, "key.verify", algorithm, exc)
        raise
    await _account(services, call, target, "key.verify", scheme.name, valid=valid)
    return valid


async def encrypt(
    services: Services, call: Call, ref: CertificateRef, *, algorithm: str, plaintext: str, message_type: str
) -> bytes:
    """Encrypt with the certificate's public key (OAEP, SM2PKE). Revoked or expired: refused."""
    target = await _resolve(services, call, ref, needs_private_key=False)
    try:
        target.certificate.ensure_can_use_private_key(services.clock())
        scheme = encryption_algorithm(algorithm)
        data = _plaintext(plaintext, message_type)
        cert, _chain = _x509(services, target.certificate)
        public_key = public_key_of_certificate(cert)
        scheme.check_key(public_key)
        ciphertext = scheme.encrypt(public_key, data)
    except CertrepoError as exc:
        await _record_failure(services, call, target, "key.encrypt", algorithm, exc)
        raise
    await _account(services, call, target, "key.encrypt", scheme.name)
    return ciphertext


async def decrypt(
    services: Services, call: Call, ref: CertificateRef, *, algorithm: str, ciphertext: str
) -> bytes:
    """Decrypt with the certificate's private key. A revoked certificate may still decrypt what was
    encrypted to it (its key is not compromised by that); an expired one too."""
    target = await _resolve(services, call, ref, needs_private_key=True)
    try:
        scheme = encryption_algorithm(algorithm)
        raw = decode_base64_field(ciphertext, "ciphertext")
        cert, _chain = _x509(services, target.certificate)
        scheme.check_key(public_key_of_certificate(cert))
        plaintext = scheme.decrypt(target.key, raw)
    except CertrepoError as exc:
        await _record_failure(services, call, target, "key.decrypt", algorithm, exc)
        raise
    await _account(services, call, target, "key.decrypt", scheme.name)
    return plaintext


def _signature_scheme(algorithm: str, distinguishing_id: str | None) -> SignatureAlgorithm:
    """The named scheme; SM3withSM2 with the caller's distinguishing ID when one is given. Raises
    Unsupported (unknown algorithm), InvalidInput (an ID for another algorithm)."""
    scheme = signature_algorithm(algorithm)
    if distinguishing_id is None:
        return scheme
    if not isinstance(scheme, Sm2Signature):
        raise InvalidInput(
            f"distinguishing_id applies to SM3withSM2 only, not {scheme.name}", details={"field": "distinguishing_id"}
        )
    return Sm2Signature(scheme.name, distinguishing_id.encode())


def _plaintext(text: str, message_type: str) -> bytes:
    kind = message_type.strip().upper()
    if kind == "RAW":
        return text.encode()
    if kind == "BASE64":
        return decode_base64_field(text, "plaintext")
    raise InvalidInput(
        f"message_type {message_type!r} does not apply to encryption; use RAW or BASE64",
        details={"field": "message_type"},
    )
