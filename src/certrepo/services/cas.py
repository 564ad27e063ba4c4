"""CA use cases (SPEC §1.2): create a root or an intermediate, import a CA with its key, list, show; and
what the CA itself does for issuance and revocation: open its sealed key, publish its CRL.

CA keys are sealed by the keystore like every key (purpose ``ca-key``). Slow work (key generation,
parsing and validating an import) runs outside the write transaction, so that SQLite's single writer is
held for milliseconds only.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certrepo.domain.access import Permission
from certrepo.domain.ca import CertificateAuthority, CrlRecord, IssuedRecord, crl_url_of, ocsp_url_of
from certrepo.domain.enums import CaType, KeyAlgorithm, RevocationReason
from certrepo.domain.errors import (
    CaNotFound,
    DuplicateCertificate,
    InvalidInput,
    KeyMismatch,
    MissingParameter,
    NoPrivateKey,
    StateConflict,
    Unsupported,
)
from certrepo.domain.paging import Page, PageOf
from certrepo.domain.secrets import SealedSecret
from certrepo.pki.chain import order_chain, validate_ca_upload
from certrepo.pki.crl import RevokedEntry, build_crl, crl_der
from certrepo.pki.facts import certificate_facts, is_ca
from certrepo.pki.issue import SubjectSpec, build_intermediate_ca, build_root_ca, new_serial
from certrepo.pki.keygen import KeyPool, PrivateKey, generate_private_key
from certrepo.pki.load import (
    LoadedKey,
    check_key_matches,
    check_supported_key,
    load_certificates,
    load_private_key_fast,
    load_upload,
)
from certrepo.pki.sm2 import certificate_public_key

from .audit import event_for
from .context import Call, Services
from .ports import UnitOfWork

__all__ = [
    "CA_KEY_PURPOSE",
    "CRL_REFRESH_AFTER",
    "CRL_VALIDITY",
    "CaImport",
    "CaSpec",
    "SignerOfCa",
    "ca_certificate",
    "create_ca",
    "get_ca",
    "import_ca",
    "list_cas",
    "load_ca",
    "load_signer",
    "open_ca_key",
    "publish_crl",
    "signer_of",
    "take_key",
]

CA_KEY_PURPOSE = "ca-key"
# TODO(issue 4): move to Settings (CERTREPO_CRL_VALIDITY_HOURS) once config.py takes the field.
CRL_VALIDITY = timedelta(days=7)  # nextUpdate - thisUpdate of every CRL
CRL_REFRESH_AFTER = timedelta(days=1)  # a CRL older than this is re-signed when fetched
BACKDATE = timedelta(minutes=1)  # notBefore slack for relying parties whose clock lags a little
DEFAULT_ROOT_DAYS = 3650
DEFAULT_INTERMEDIATE_DAYS = 1825
MAX_CA_DAYS = 36500


@dataclass(frozen=True)
class CaSpec:
    """A CA to create: a self-signed root, or an intermediate signed by ``parent_id``."""

    type: CaType
    common_name: str
    key_algorithm: KeyAlgorithm
    parent_id: int | None = None
    validity_days: int | None = None
    path_len: int | None = None
    organization: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class CaImport:
    """An existing CA certificate with its private key, and optionally its issuers (up to a root)."""

    certificate: str
    private_key: str | None = field(default=None, repr=False)
    chain: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignerOfCa:
    """A CA ready to sign: its record, parsed certificate, opened key (process memory only) and its
    chain, the CA first and its root last."""

    ca: CertificateAuthority
    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()


# --- helpers shared with issuance and revocation ------------------------------------------------------

_SIGNERS = "ca_signers"  # services.extras key of this process's cache of opened CAs
_MAX_SIGNERS = 1024
_MAX_CHAIN = 16


@functools.lru_cache(maxsize=256)
def ca_certificate(pem: str) -> x509.Certificate:
    """The parsed certificate of a CA (cached: CA certificates are immutable and parsed on every issue)."""
    return load_certificates(pem)[0]


async def load_ca(uow: UnitOfWork, call: Call, ca_id: int) -> CertificateAuthority:
    """A CA of the caller's account, else CaNotFound."""
    ca = await uow.cas.get(ca_id)
    if ca is None or ca.account_id != call.principal.account_id:
        raise CaNotFound(f"CA {ca_id} does not exist", details={"ca_id": ca_id})
    return ca


async def open_ca_key(services: Services, uow: UnitOfWork, ca: CertificateAuthority) -> PrivateKey:
    """The CA's private key, opened from the keystore. Raises NoPrivateKey when it has none here."""
    sealed = await uow.cas.sealed_key(ca.id)
    if sealed is None:
        raise NoPrivateKey(
            f"CA {ca.id} ({ca.common_name}) was imported without its private key: it cannot sign",
            details={"ca_id": ca.id},
        )
    der = services.keystore.open(sealed, purpose=CA_KEY_PURPOSE)
    return load_private_key_fast(der)  # type: ignore[return-value]  # CAs hold RSA, EC, Ed25519 or SM2 keys


async def signer_of(services: Services, uow: UnitOfWork, ca_id: int) -> SignerOfCa | None:
    """The CA ready to sign, or None when it does not exist. Raises NoPrivateKey (a key-less anchor).

    Opened CAs are kept per process (in ``services.extras``): a CA's certificate and key never change, and
    issuance, CRL and OCSP then cost no key decryption and no CA queries. The key stays in process memory
    as it does while signing; what may change (the repository bound to the CA) is never read from here.
    """
    cache = services.extras.setdefault(_SIGNERS, {})
    assert isinstance(cache, dict)
    found = cache.get(ca_id)
    if isinstance(found, SignerOfCa):
        return found
    ca = await uow.cas.get(ca_id)
    if ca is None:
        return None
    key = await open_ca_key(services, uow, ca)
    chain: list[x509.Certificate] = []
    current: CertificateAuthority | None = ca
    while current is not None and len(chain) < _MAX_CHAIN:
        chain.append(ca_certificate(current.certificate_pem))
        current = await uow.cas.get(current.parent_id) if current.parent_id else None
    signer = SignerOfCa(ca, chain[0], key, tuple(chain))
    if len(cache) >= _MAX_SIGNERS:
        cache.clear()
    cache[ca_id] = signer
    return signer


async def load_signer(services: Services, uow: UnitOfWork, call: Call, ca_id: int) -> SignerOfCa:
    """A CA of the caller's account, ready to sign. Raises CaNotFound, NoPrivateKey."""
    signer = await signer_of(services, uow, ca_id)
    if signer is None or signer.ca.account_id != call.principal.account_id:
        raise CaNotFound(f"CA {ca_id} does not exist", details={"ca_id": ca_id})
    return signer


def take_key(services: Services, algorithm: KeyAlgorithm) -> PrivateKey:
    """A new private key: from the process's key pool when there is one, else generated now."""
    pool = services.extras.get("key_pool")
    if isinstance(pool, KeyPool):
        return pool.take(algorithm)
    return generate_private_key(algorithm)


async def publish_crl(services: Services, uow: UnitOfWork, signer: SignerOfCa, *, now: datetime) -> CrlRecord:
    """Sign and store a new full CRL of the CA: the next CRL number (taken under the CA row's lock, so
    numbers strictly increase across nodes), every revoked serial not yet expired."""
    records = uow.cas
    number = await records.next_crl_number(signer.ca.id)
    entries = [
        RevokedEntry(
            int(r.serial_number, 16), r.revoked_at, r.revocation_reason or RevocationReason.UNSPECIFIED
        )
        for r in await records.revoked_entries(signer.ca.id, unexpired_at=now)
        if r.revoked_at is not None
    ]
    crl = build_crl(
        ca_cert=signer.certificate,
        ca_key=signer.key,
        entries=entries,
        crl_number=number,
        this_update=now,
        next_update=now + CRL_VALIDITY,
    )
    record = CrlRecord(signer.ca.id, number, crl_der(crl), now, now + CRL_VALIDITY)
    await records.save_crl(record)
    return record


def _now_seconds(services: Services) -> datetime:
    # X.509 times have one-second precision: round here so that stored and encoded times agree.
    return services.clock().replace(microsecond=0)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _sealed_der(services: Services, key: LoadedKey) -> SealedSecret:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return services.keystore.seal(der, purpose=CA_KEY_PURPOSE)


# --- create -------------------------------------------------------------------------------------------


def _check_spec(spec: CaSpec) -> int:
    """The validity in days; refuses combinations that do not fit the CA type."""
    if spec.type is CaType.ROOT and spec.parent_id is not None:
        raise InvalidInput(
            "a root CA is self-signed: parent_id applies to intermediates", details={"field": "parent_id"}
        )
    if spec.type is CaType.INTERMEDIATE and spec.parent_id is None:
        raise MissingParameter(
            "an intermediate CA needs parent_id: the CA that signs it", details={"field": "parent_id"}
        )
    days = spec.validity_days
    if days is None:
        days = DEFAULT_ROOT_DAYS if spec.type is CaType.ROOT else DEFAULT_INTERMEDIATE_DAYS
    if not 1 <= days <= MAX_CA_DAYS:
        raise InvalidInput(f"days must be 1 to {MAX_CA_DAYS}, got {days}", details={"field": "days"})
    if spec.path_len is not None and not 0 <= spec.path_len <= 16:
        raise InvalidInput(f"path_len must be 0 to 16, got {spec.path_len}", details={"field": "path_len"})
    return days


async def create_ca(services: Services, call: Call, spec: CaSpec) -> CertificateAuthority:
    """Create a root (self-signed) or an intermediate signed by a CA of the account, with a new key
    sealed in the keystore and an empty first CRL. Raises PermissionDenied, InvalidInput,
    MissingParameter, CaNotFound, NoPrivateKey, Unsupported."""
    call.principal.require(Permission.MANAGE)
    days = _check_spec(spec)
    subject = SubjectSpec(common_name=spec.common_name, organization=spec.organization, country=spec.country)
    now = _now_seconds(services)
    not_before, not_after = now - BACKDATE, now + timedelta(days=days)
    parent: SignerOfCa | None = None
    if spec.parent_id is not None:
        async with services.uow(read_only=True) as uow:
            parent = await load_signer(services, uow, call, spec.parent_id)
        parent.ca.ensure_can_sign(now)
        if not_after > parent.ca.not_after:
            raise InvalidInput(
                f"an intermediate valid for {days} days would end on {not_after:%Y-%m-%d}, past the notAfter "
                f"{parent.ca.not_after:%Y-%m-%d} of its parent CA {parent.ca.id}; choose fewer days",
                details={"field": "days"},
            )
    key = await asyncio.to_thread(take_key, services, spec.key_algorithm)

    def sign(serial: int) -> x509.Certificate:
        if parent is None:
            return build_root_ca(
                key=key,
                subject=subject,
                not_before=not_before,
                not_after=not_after,
                path_len=spec.path_len,
                serial=serial,
            )
        return build_intermediate_ca(
            key_public=key.public_key(),
            subject=subject,
            issuer_cert=parent.certificate,
            issuer_key=parent.key,
            not_before=not_before,
            not_after=not_after,
            path_len=0 if spec.path_len is None else spec.path_len,
            serial=serial,
            crl_url=crl_url_of(services.base_url, parent.ca.id),
            ocsp_url=ocsp_url_of(services.base_url, parent.ca.id),
        )

    # The parent's ca_issued primary key makes the serial unique; a collision (2^-127 odds, or a broken
    # random source) gets one more random serial, in a new transaction.
    for _attempt in range(2):
        cert = sign(new_serial(services.random_bytes))
        async with services.uow() as uow:
            if parent is not None:
                record = IssuedRecord(
                    parent.ca.id, format(cert.serial_number, "x"), None, cert.not_valid_after_utc
                )
                if not await uow.cas.reserve_serial(record):
                    continue
            key_id = await uow.key_material.add(_sealed_der(services, key), purpose=CA_KEY_PURPOSE, now=now)
            ca = await _add_ca(
                uow, call, cert, key_id=key_id, parent_id=spec.parent_id, imported=False, now=now
            )
            await publish_crl(services, uow, SignerOfCa(ca, cert, key), now=now)
            await uow.audit.append(
                [
                    event_for(
                        services,
                        call,
                        "ca.create",
                        details={
                            "ca_id": ca.id,
                            "type": ca.type.value,
                            "key_algorithm": ca.key_algorithm,
                            "parent_id": ca.parent_id,
                        },
                    )
                ]
            )
            await uow.commit()
        return ca
    raise StateConflict(f"CA {spec.parent_id} drew a serial number it had already used, twice; try again")


async def _add_ca(
    uow: UnitOfWork,
    call: Call,
    cert: x509.Certificate,
    *,
    key_id: int | None,
    parent_id: int | None,
    imported: bool,
    now: datetime,
) -> CertificateAuthority:
    facts = certificate_facts(cert)
    if facts.key_algorithm is None:
        raise Unsupported(
            f"CA key algorithm {facts.key_algorithm_name} is not supported",
            details={"field": "key_algorithm"},
        )
    return await uow.cas.add(
        account_id=call.principal.account_id,
        type=CaType.ROOT if facts.is_self_signed else CaType.INTERMEDIATE,
        parent_id=parent_id,
        common_name=facts.common_name,
        key_algorithm=facts.key_algorithm.value,
        certificate_pem=_pem(cert),
        serial_number=facts.serial_number,
        not_before=facts.not_before,
        not_after=facts.not_after,
        imported=imported,
        key_id=key_id,
        now=now,
    )


# --- import -------------------------------------------------------------------------------------------


def _parse_import(
    imported: CaImport,
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...], LoadedKey]:
    if not imported.private_key:
        raise MissingParameter(
            "importing a CA needs its private_key: certrepo signs with it", details={"field": "private_key"}
        )
    loaded = load_upload(
        imported.certificate,
        private_key=imported.private_key,
        chain=imported.chain,
        password=imported.password.encode() if imported.password else None,
    )
    key = loaded.private_key
    assert key is not None
    check_supported_key(key, "private_key")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    wanted = key.public_key().public_bytes(*spki)
    # certificate_public_key: cryptography cannot load an SM2 certificate's key.
    mine = [c for c in loaded.certificates if certificate_public_key(c).public_bytes(*spki) == wanted]
    if not mine:
        raise KeyMismatch(
            "the private key belongs to none of the given certificates", details={"field": "private_key"}
        )
    check_key_matches(mine[0], key)  # for SM2 also proves the key file's scalar belongs to its point
    chain = order_chain(loaded.certificates, leaf=mine[0])
    if not is_ca(chain.leaf):
        raise InvalidInput(
            f"{chain.leaf.subject.rfc4514_string()} is not a CA certificate (basicConstraints cA is not set)",
            details={"field": "certificate"},
        )
    return chain.leaf, chain.issuers, key


async def import_ca(services: Services, call: Call, imported: CaImport) -> CertificateAuthority:
    """Import a CA certificate with its key; its issuers (given in ``chain`` or already CAs of the
    account) must lead to a self-signed root, checked by pki.chain. Issuers not yet known are recorded
    as key-less CAs that anchor the chain. Raises PermissionDenied, MissingParameter, InvalidInput,
    KeyMismatch, ChainIncomplete, ChainInvalid, CertificateExpired, DuplicateCertificate, Unsupported."""
    call.principal.require(Permission.MANAGE)
    now = _now_seconds(services)
    cert, issuers, key = await asyncio.to_thread(_parse_import, imported)
    async with services.uow(read_only=True) as uow:
        existing = await uow.cas.list(call.principal.account_id)
    known = {certificate_facts(ca_certificate(ca.certificate_pem)).fingerprint_sha256: ca for ca in existing}
    ordered = await asyncio.to_thread(
        validate_ca_upload,
        [cert, *issuers],
        repository_certificates=[ca_certificate(ca.certificate_pem) for ca in existing],
        now=now,
    )
    fingerprint = certificate_facts(cert).fingerprint_sha256
    if fingerprint in known:
        raise DuplicateCertificate(
            f"this CA is already CA {known[fingerprint].id} of the account",
            details={"ca_id": known[fingerprint].id},
        )
    async with services.uow() as uow:
        ids_by_subject = {ca_certificate(ca.certificate_pem).subject: ca.id for ca in existing}
        added: CertificateAuthority | None = None
        for each in ordered:
            each_fingerprint = certificate_facts(each).fingerprint_sha256
            if each_fingerprint in known:
                continue
            parent_id = None if each.issuer == each.subject else ids_by_subject.get(each.issuer)
            key_id = None
            if each is cert:
                key_id = await uow.key_material.add(
                    _sealed_der(services, key), purpose=CA_KEY_PURPOSE, now=now
                )
            ca = await _add_ca(uow, call, each, key_id=key_id, parent_id=parent_id, imported=True, now=now)
            ids_by_subject[each.subject] = ca.id
            if each is cert:
                added = ca
        assert added is not None
        await publish_crl(services, uow, SignerOfCa(added, cert, key), now=now)  # type: ignore[arg-type]
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "ca.import",
                    details={
                        "ca_id": added.id,
                        "type": added.type.value,
                        "key_algorithm": added.key_algorithm,
                        "parent_id": added.parent_id,
                    },
                )
            ]
        )
        await uow.commit()
    return added


# --- read ---------------------------------------------------------------------------------------------


async def list_cas(services: Services, call: Call, *, page: Page) -> PageOf[CertificateAuthority]:
    """CAs of the caller's account, oldest first, paginated. Raises PermissionDenied."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        every = await uow.cas.list(call.principal.account_id)
    return PageOf(every[page.offset : page.offset + page.size], len(every), page)


async def get_ca(services: Services, call: Call, ca_id: int) -> CertificateAuthority:
    """One CA of the caller's account. Raises PermissionDenied, CaNotFound."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        return await load_ca(uow, call, ca_id)
