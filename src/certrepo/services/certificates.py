"""Certificate use cases: read, search, export, delete, CA bundle, verify-chain (uploads: uploads.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certrepo.domain.access import Permission
from certrepo.domain.certificate import Certificate, CertificateQuery
from certrepo.domain.enums import CertificateStatus, DataSource
from certrepo.domain.errors import (
    CertificateNotFound,
    InvalidInput,
    PermissionDenied,
    StateConflict,
    Unsupported,
)
from certrepo.domain.paging import Page, PageOf
from certrepo.domain.repository import Repository
from certrepo.pki.load import load_certificates, load_private_key_fast
from certrepo.pki.sm2 import is_sm2_key
from certrepo.pki.verify import ChainVerdict, verify_chain

from .audit import event_for
from .context import Call, Services
from .ports import UnitOfWork
from .repositories import load_repository

# Uploads live in uploads.py; their names stay importable from here, where the other use cases import them.
from .uploads import (
    PRIVATE_KEY_PURPOSE,
    Upload,
    UploadOutcome,
    UploadResult,
    check_batch_size,
    store_certificate,
    to_certificate,
    upload_certificate,
    upload_certificates,
)

__all__ = [
    "PRIVATE_KEY_PURPOSE",
    "CertificateFilter",
    "KeyExport",
    "Upload",
    "UploadOutcome",
    "UploadResult",
    "ca_bundle",
    "check_batch_size",
    "delete_certificate",
    "export_private_key",
    "get_certificate",
    "list_certificates",
    "load_certificate",
    "store_certificate",
    "to_certificate",
    "upload_certificate",
    "upload_certificates",
    "verify_chain_in_repository",
]

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
