"""Certificate use cases: upload (strict), read, search, export, delete, CA bundle, verify-chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from certrepo.domain.access import Permission
from certrepo.domain.certificate import Certificate, CertificateQuery, San
from certrepo.domain.enums import CertificateSource, CertificateStatus, DataSource
from certrepo.domain.errors import (
    CertificateNotFound,
    ChainInvalid,
    DuplicateCertificate,
    InvalidInput,
    PermissionDenied,
    StateConflict,
    Unsupported,
)
from certrepo.domain.ids import new_certificate_identifier
from certrepo.domain.paging import Page, PageOf
from certrepo.domain.repository import Repository
from certrepo.pki.chain import (
    ChainVerdict,
    order_chain,
    validate_ca_upload,
    validate_upload_chain,
    verify_chain,
)
from certrepo.pki.facts import certificate_facts
from certrepo.pki.load import check_key_matches, load_certificates, load_private_key_fast, load_upload
from certrepo.pki.profiles import check_compliant_profile
from certrepo.pki.sm2 import certificate_public_key, is_sm2_key

from .audit import event_for
from .context import Call, Services
from .ports import UnitOfWork
from .repositories import load_repository

__all__ = [
    "PRIVATE_KEY_PURPOSE",
    "CertificateFilter",
    "KeyExport",
    "Upload",
    "ca_bundle",
    "delete_certificate",
    "export_private_key",
    "get_certificate",
    "list_certificates",
    "load_certificate",
    "store_certificate",
    "upload_certificate",
    "verify_chain_in_repository",
]

PRIVATE_KEY_PURPOSE = "private-key"
MAX_UPLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    certificate: str
    private_key: str | None = None
    chain: str | None = None
    password: str | None = field(default=None, repr=False)
    name: str | None = None
    custom_identifier: str | None = None
    exportable: bool = False
    allow_expired: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadResult:
    certificates: list[Certificate]
    warnings: tuple[str, ...] = ()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def to_certificate(
    cert: x509.Certificate,
    *,
    identifier: str,
    repository: Repository,
    chain: Sequence[x509.Certificate],
    has_private_key: bool,
    exportable: bool,
    source: CertificateSource,
    now: datetime,
    name: str | None = None,
    custom_identifier: str | None = None,
    issuing_ca_id: int | None = None,
    tags: dict[str, str] | None = None,
) -> Certificate:
    """The domain certificate of a parsed X.509 certificate and its chain (issuer first)."""
    facts = certificate_facts(cert)
    assert repository.id is not None
    return Certificate(
        identifier=identifier,
        account_id=repository.account_id,
        repository_id=repository.id,
        name=name,
        custom_identifier=custom_identifier,
        common_name=facts.common_name,
        sans=tuple(San(t, v) for t, v in facts.sans),
        subject=facts.subject,
        issuer=facts.issuer,
        serial_number=facts.serial_number,
        not_before=facts.not_before,
        not_after=facts.not_after,
        key_algorithm=facts.key_algorithm_name,
        key_size=facts.key_size,
        signature_algorithm=facts.signature_algorithm,
        fingerprint_sha1=facts.fingerprint_sha1,
        fingerprint_sha256=facts.fingerprint_sha256,
        is_ca=facts.is_ca,
        has_private_key=has_private_key,
        exportable=exportable,
        source=source,
        status=CertificateStatus.ISSUED,
        pem=_pem(cert),
        chain_pem="".join(_pem(c) for c in chain),
        issuing_ca_id=issuing_ca_id,
        tags=dict(tags or {}),
        created_at=now,
    )


async def store_certificate(
    services: Services,
    uow: UnitOfWork,
    certificate: Certificate,
    key: PrivateKeyTypes | None,
) -> Certificate:
    """Seal the key (if any) and insert the certificate in the caller's transaction: both or neither."""
    key_id = None
    if key is not None:
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        sealed = services.keystore.seal(der, purpose=PRIVATE_KEY_PURPOSE)
        key_id = await uow.key_material.add(
            sealed, purpose=PRIVATE_KEY_PURPOSE, now=certificate.created_at or services.clock()
        )
    return await uow.certificates.add(certificate, key_id=key_id)


def _check_identifiers(upload: Upload) -> None:
    if upload.custom_identifier is not None:
        value = upload.custom_identifier
        if not 1 <= len(value) <= 128 or any(not (c.isalnum() or c in "-_.:") for c in value):
            raise InvalidInput(
                "custom_identifier must be 1-128 letters, digits, '-', '_', '.' or ':'",
                details={"field": "custom_identifier"},
            )
    if upload.name is not None and not 1 <= len(upload.name.strip()) <= 128:
        raise InvalidInput("name must be 1-128 characters", details={"field": "name"})


def _parse(upload: Upload) -> tuple[list[x509.Certificate], PrivateKeyTypes | None]:
    loaded = load_upload(
        upload.certificate,
        private_key=upload.private_key,
        chain=upload.chain,
        password=upload.password.encode() if upload.password is not None else None,
        max_bytes=MAX_UPLOAD_BYTES,
    )
    return list(loaded.certificates), loaded.private_key


def _leaf_for(certs: list[x509.Certificate], key: PrivateKeyTypes | None) -> x509.Certificate | None:
    """With a key, the leaf is the certificate the key belongs to (so order in the upload does not matter)."""
    if key is None:
        return None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    wanted = key.public_key().public_bytes(*spki)
    for cert in certs:
        # pki.sm2's reader: cryptography's cert.public_key() cannot load SM2 keys.
        if certificate_public_key(cert).public_bytes(*spki) == wanted:
            return cert
    return None


async def upload_certificate(
    services: Services, call: Call, repository_id: int, upload: Upload
) -> UploadResult:
    """Upload into an uploaded, uploaded_ca or compliant repository, after every check of its data
    source. Raises RepositoryDisabled, InvalidInput (and its kinds: KeyMismatch, ChainInvalid,
    ChainIncomplete, CertificateExpired), MessageTooLarge, DuplicateCertificate."""
    call.principal.require(Permission.MANAGE)
    now = services.clock()
    async with services.uow() as uow:
        repository = await load_repository(uow, call, repository_id)
        repository.ensure_usable()  # state before payload
        _check_identifiers(upload)
        certs, key = await asyncio.to_thread(_parse, upload)
        source = repository.data_source
        if source is DataSource.PRIVATE:
            raise InvalidInput(
                "a private repository holds certificates issued by its CA: issue one instead of uploading",
                details={"field": "certificate"},
            )
        if source is DataSource.UPLOADED_CA:
            result = await _upload_ca(services, uow, call, repository, certs, key, upload, now)
        else:
            result = await _upload_leaf(services, uow, call, repository, certs, key, upload, now)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "certificate.upload",
                    repository_id=repository_id,
                    certificate_id=c.identifier,
                    details={"has_private_key": c.has_private_key, "exportable": c.exportable},
                )
                for c in result.certificates
            ]
        )
        await uow.commit()
    return result


async def _upload_leaf(
    services: Services,
    uow: UnitOfWork,
    call: Call,
    repository: Repository,
    certs: list[x509.Certificate],
    key: PrivateKeyTypes | None,
    upload: Upload,
    now: datetime,
) -> UploadResult:
    compliant = repository.data_source is DataSource.COMPLIANT
    if compliant and upload.exportable:
        raise InvalidInput(
            "keys of compliant certificates are never exportable", details={"field": "exportable"}
        )
    if upload.exportable and key is None:
        raise InvalidInput(
            "exportable applies to an upload with a private key", details={"field": "exportable"}
        )
    chain = await asyncio.to_thread(order_chain, certs, leaf=_leaf_for(certs, key))
    if key is not None:
        check_key_matches(chain.leaf, key)
    trusted: list[x509.Certificate] = []
    if compliant:
        check_compliant_profile(chain.leaf, has_private_key=key is not None, now=now)
        if repository.trust_repository_id is not None:
            trusted = [
                load_certificates(c.pem)[0]
                for c in await uow.certificates.all_in_repository(repository.trust_repository_id)
            ]
            if not trusted:
                raise ChainInvalid(
                    f"trust repository {repository.trust_repository_id} holds no CA certificate to validate against"
                )
    warnings = await asyncio.to_thread(
        validate_upload_chain,
        chain,
        now=now,
        allow_expired_leaf=upload.allow_expired and not compliant,
        trusted=trusted,
    )
    certificate = to_certificate(
        chain.leaf,
        identifier=new_certificate_identifier(services.random_bytes),
        repository=repository,
        chain=chain.issuers,
        has_private_key=key is not None,
        exportable=upload.exportable,
        source=CertificateSource.UPLOAD,
        now=now,
        name=upload.name.strip() if upload.name else None,
        custom_identifier=upload.custom_identifier,
        tags=upload.tags,
    )
    stored = await store_certificate(services, uow, certificate, key)
    return UploadResult([stored], warnings)


async def _upload_ca(
    services: Services,
    uow: UnitOfWork,
    call: Call,
    repository: Repository,
    certs: list[x509.Certificate],
    key: PrivateKeyTypes | None,
    upload: Upload,
    now: datetime,
) -> UploadResult:
    assert repository.id is not None
    if key is not None:
        raise InvalidInput(
            "an uploaded_ca repository is a trust store: upload CA certificates without private keys",
            details={"field": "private_key"},
        )
    held = await uow.certificates.all_in_repository(repository.id)
    held_x509 = [load_certificates(c.pem)[0] for c in held]
    ordered = await asyncio.to_thread(validate_ca_upload, certs, repository_certificates=held_x509, now=now)
    held_fingerprints = {c.fingerprint_sha256: c for c in held}
    stored: list[Certificate] = []
    by_subject = {c.subject: c for c in [*held_x509, *ordered]}
    for cert in ordered:
        facts = certificate_facts(cert)
        if facts.fingerprint_sha256 in held_fingerprints:
            continue  # already in the trust store: it served as a link
        issuer = by_subject.get(cert.issuer) if not facts.is_self_signed else None
        certificate = to_certificate(
            cert,
            identifier=new_certificate_identifier(services.random_bytes),
            repository=repository,
            chain=[issuer] if issuer is not None else [],
            has_private_key=False,
            exportable=False,
            source=CertificateSource.UPLOAD,
            now=now,
            name=(upload.name.strip() if upload.name else None) if len(ordered) == 1 else None,
            custom_identifier=upload.custom_identifier if len(ordered) == 1 else None,
            tags=upload.tags,
        )
        stored.append(await store_certificate(services, uow, certificate, None))
    if not stored:
        existing = held_fingerprints[certificate_facts(ordered[0]).fingerprint_sha256]
        raise DuplicateCertificate(
            f"every uploaded certificate is already in repository {repository.id} (e.g. {existing.identifier})",
            details={"identifier": existing.identifier},
        )
    return UploadResult(stored)


async def load_certificate(uow: UnitOfWork, call: Call, identifier: str) -> Certificate:
    """A certificate the caller may see (by identifier, or ``{CertId}-cn-…`` style ids are the RPC's job)."""
    certificate = await uow.certificates.get(identifier)
    if (
        certificate is None
        or certificate.account_id != call.principal.account_id
        or not call.principal.can_see_repository(certificate.repository_id)
    ):
        raise CertificateNotFound(
            f"certificate {identifier} does not exist", details={"identifier": identifier}
        )
    return certificate


async def get_certificate(services: Services, call: Call, identifier: str) -> Certificate:
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        return await load_certificate(uow, call, identifier)


@dataclass(frozen=True)
class CertificateFilter:
    keyword: str | None = None
    status: CertificateStatus | None = None
    expiring_within_days: int | None = None
    expired: bool | None = None


async def list_certificates(
    services: Services, call: Call, repository_id: int, *, page: Page, where: CertificateFilter
) -> PageOf[Certificate]:
    """Certificates of a repository: keyword over CN, SANs, name, serial, fingerprints; filters; pages."""
    call.principal.require(Permission.READ)
    if where.keyword is not None and len(where.keyword) > 256:
        raise InvalidInput("keyword is longer than 256 characters", details={"field": "keyword"})
    query = CertificateQuery(
        keyword=where.keyword,
        status=where.status,
        expiring_within_days=where.expiring_within_days,
        expired=where.expired,
        now=services.clock(),
    )
    async with services.uow(read_only=True) as uow:
        await load_repository(uow, call, repository_id)
        items, total = await uow.certificates.list(repository_id, query, page)
    return PageOf(items, total, page)


async def delete_certificate(services: Services, call: Call, identifier: str) -> None:
    """Remove a certificate and destroy its key material in the same transaction."""
    call.principal.require(Permission.MANAGE)
    async with services.uow() as uow:
        certificate = await load_certificate(uow, call, identifier)
        repository = await load_repository(uow, call, certificate.repository_id)
        repository.ensure_usable()
        key_id = await uow.certificates.delete(identifier)
        await uow.key_material.destroy([key_id] if key_id else [])
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "certificate.delete",
                    repository_id=certificate.repository_id,
                    certificate_id=identifier,
                    details={"key_destroyed": key_id is not None},
                )
            ]
        )
        await uow.commit()


@dataclass(frozen=True)
class KeyExport:
    format: str  # pkcs8 | pkcs12
    data: bytes = field(repr=False)


async def export_private_key(
    services: Services, call: Call, identifier: str, *, format: str, password: str | None
) -> KeyExport:
    """The private key of an exportable certificate (PKCS#8 PEM, encrypted when a password is given, or
    PKCS#12 with the chain). Signers and auditors never can; compliant keys never are exportable."""
    call.principal.require(Permission.EXPORT_KEYS)
    if format not in ("pkcs8", "pkcs12"):
        raise InvalidInput("format must be pkcs8 or pkcs12", details={"field": "format"})
    if format == "pkcs12" and not password:
        raise InvalidInput("a PKCS#12 export needs a password", details={"field": "password"})
    async with services.uow() as uow:
        certificate = await load_certificate(uow, call, identifier)
        certificate.ensure_has_private_key()
        if not certificate.exportable:
            raise PermissionDenied(
                f"the key of certificate {identifier} was not marked exportable; it can be used, not exported",
                details={"identifier": identifier},
            )
        sealed = await uow.certificates.sealed_key(identifier)
        assert sealed is not None
        der = services.keystore.open(sealed[1], purpose=PRIVATE_KEY_PURPOSE)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "certificate.export_key",
                    repository_id=certificate.repository_id,
                    certificate_id=identifier,
                    details={"format": format, "encrypted": bool(password)},
                )
            ]
        )
        await uow.commit()
    key = load_private_key_fast(der)  # stored keys were validated at upload; this also reads SM2
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    if format == "pkcs8":
        return KeyExport(
            "pkcs8",
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption),
        )
    if is_sm2_key(key):
        raise Unsupported("PKCS#12 cannot carry an SM2 key here; export it as PKCS#8", details={"field": "format"})
    cert = load_certificates(certificate.pem)[0]
    chain = load_certificates(certificate.chain_pem) if certificate.chain_pem else []
    data = pkcs12.serialize_key_and_certificates(
        (certificate.name or certificate.common_name or identifier).encode(),
        key,  # type: ignore[arg-type]
        cert,
        chain or None,
        encryption,
    )
    return KeyExport("pkcs12", data)


async def ca_bundle(services: Services, call: Call, repository_id: int) -> str:
    """PEM of the repository's CA certificates (uploaded_ca: the trust store; private: its CA chain)."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        repository = await load_repository(uow, call, repository_id)
        repository.ensure_usable()
        return "".join(c.pem for c in await _trust_anchors(uow, repository))


async def _trust_anchors(uow: UnitOfWork, repository: Repository) -> list[Certificate | _CaPem]:
    assert repository.id is not None
    if repository.data_source is DataSource.UPLOADED_CA:
        return list(await uow.certificates.all_in_repository(repository.id, is_ca=True))
    if repository.data_source is DataSource.PRIVATE and repository.ca_id is not None:
        chain: list[Certificate | _CaPem] = []
        ca = await uow.cas.get(repository.ca_id)
        while ca is not None:
            chain.append(_CaPem(ca.certificate_pem))
            ca = await uow.cas.get(ca.parent_id) if ca.parent_id else None
        return chain
    raise StateConflict(
        f"repository {repository.id} ({repository.data_source}) has no CA certificates: "
        "only uploaded_ca and private repositories do",
        details={"repository_id": repository.id},
    )


@dataclass(frozen=True)
class _CaPem:
    pem: str


async def verify_chain_in_repository(
    services: Services,
    call: Call,
    repository_id: int,
    *,
    certificate: str,
    intermediates: str | None,
    at: datetime | None,
    hostname: str | None,
    usage: str,
) -> ChainVerdict:
    """Validate a certificate (+ intermediates) against the repository's roots, at a time, for a usage."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        repository = await load_repository(uow, call, repository_id)
        repository.ensure_usable()
        anchors = [load_certificates(a.pem)[0] for a in await _trust_anchors(uow, repository)]
    leaf_certs = load_certificates(certificate)
    if len(leaf_certs) != 1:
        raise InvalidInput("certificate must hold exactly one certificate; put the rest in intermediates")
    given = load_certificates(intermediates) if intermediates else []
    roots = [a for a in anchors if a.issuer == a.subject]
    # The repository's non-root CAs help build the path, like intermediates the caller sent.
    helpers = [a for a in anchors if a.issuer != a.subject]
    return await asyncio.to_thread(
        verify_chain,
        leaf_certs[0],
        intermediates=[*given, *helpers],
        roots=roots,
        at=at or services.clock(),
        hostname=hostname,
        usage=usage,
    )
