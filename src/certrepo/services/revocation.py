"""Revocation (RFC 5280 reasons) and the public revocation services: per-CA CRL and OCSP (RFC 6960).

Both public answers are built from ``ca_issued``, the CA's own record of what it issued, not from the
repositories: a certificate whose repository was reset keeps its revocation status. A revocation marks
the serial, re-signs the CA's CRL with the next CRL number (taken under the CA row's lock, so numbers
strictly increase across nodes) and stores it, all in the transaction that revokes.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta

from certrepo.domain.access import Permission
from certrepo.domain.ca import CrlRecord, IssuedRecord
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CertificateSource, CertificateStatus, RevocationReason
from certrepo.domain.errors import (
    CaNotFound,
    CertificateNotFound,
    CertificateRevoked,
    InvalidInput,
    NoPrivateKey,
)
from certrepo.pki.ocsp import (
    OcspStatus,
    build_ocsp_response,
    ocsp_error_response,
    ocsp_request_matches_ca,
    parse_ocsp_request,
)

from .audit import event_for
from .cas import CRL_REFRESH_AFTER, SignerOfCa, load_signer, publish_crl, signer_of
from .certificates import load_certificate
from .context import Call, Services
from .ports import UnitOfWork
from .repositories import load_repository

__all__ = [
    "OCSP_VALIDITY",
    "current_crl",
    "ocsp_response",
    "parse_reason",
    "revoke_certificate",
    "revoke_serial",
]

# TODO(issue 4): a setting, with CRL_VALIDITY. Answers are signed live, so a short window costs nothing.
OCSP_VALIDITY = timedelta(hours=1)  # nextUpdate - thisUpdate of an OCSP response
_SERIAL = re.compile(r"[0-9a-f]{1,40}")


def parse_reason(reason: str | RevocationReason | None) -> RevocationReason:
    """An RFC 5280 reason (default unspecified). Raises InvalidInput for an unknown one and for
    remove_from_crl, which only delta CRLs carry."""
    if reason is None:
        return RevocationReason.UNSPECIFIED
    try:
        parsed = RevocationReason(reason)
    except ValueError:
        names = ", ".join(r.value for r in RevocationReason if r is not RevocationReason.REMOVE_FROM_CRL)
        raise InvalidInput(f"reason {reason!r} is not one of {names}", details={"field": "reason"}) from None
    if parsed is RevocationReason.REMOVE_FROM_CRL:
        raise InvalidInput(
            "reason remove_from_crl only appears in delta CRLs; a revocation here is final",
            details={"field": "reason"},
        )
    return parsed


def _now(services: Services) -> datetime:
    return services.clock().replace(microsecond=0)


async def _revoke_issued(
    services: Services,
    uow: UnitOfWork,
    signer: SignerOfCa,
    serial_number: str,
    *,
    at: datetime,
    reason: RevocationReason,
) -> None:
    """Mark the serial revoked in the CA's records and publish the CRL that lists it."""
    ca = signer.ca
    if not await uow.cas.mark_revoked(ca.id, serial_number, at=at, reason=reason):
        raise CertificateRevoked(
            f"serial {serial_number} of CA {ca.id} is already revoked",
            details={"ca_id": ca.id, "serial_number": serial_number},
        )
    await publish_crl(services, uow, signer, now=at)


async def revoke_certificate(
    services: Services, call: Call, identifier: str, *, reason: str | RevocationReason | None = None
) -> Certificate:
    """Revoke a certificate. Issued by a CA here: its CRL and OCSP say so from now on; uploaded: the
    status is recorded here only. Raises PermissionDenied, CertificateNotFound, RepositoryDisabled,
    CertificateRevoked, InvalidInput (reason)."""
    call.principal.require(Permission.MANAGE)
    now = _now(services)
    async with services.uow() as uow:
        certificate = await load_certificate(uow, call, identifier)
        repository = await load_repository(uow, call, certificate.repository_id)
        repository.ensure_usable()
        parsed = parse_reason(reason)
        if certificate.status is CertificateStatus.REVOKED:
            raise CertificateRevoked(
                f"certificate {identifier} was already revoked"
                + (f" on {certificate.revoked_at:%Y-%m-%d}" if certificate.revoked_at else ""),
                details={"identifier": identifier},
            )
        ca_id = certificate.issuing_ca_id if certificate.source is CertificateSource.ISSUED else None
        if ca_id is not None:
            signer = await signer_of(services, uow, ca_id)
            assert signer is not None  # foreign key
            await _revoke_issued(services, uow, signer, certificate.serial_number, at=now, reason=parsed)
        await uow.certificates.mark_revoked(identifier, at=now, reason=parsed)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "certificate.revoke",
                    repository_id=certificate.repository_id,
                    certificate_id=identifier,
                    details={
                        "reason": parsed.value,
                        "ca_id": ca_id,
                        "serial_number": certificate.serial_number,
                    },
                )
            ]
        )
        await uow.commit()
    return dataclasses.replace(
        certificate, status=CertificateStatus.REVOKED, revoked_at=now, revocation_reason=parsed
    )


def _normalise_serial(serial_number: str) -> str:
    cleaned = serial_number.strip().lower().replace(":", "").removeprefix("0x").lstrip("0") or "0"
    if not _SERIAL.fullmatch(cleaned):
        raise InvalidInput(
            f"serial_number {serial_number[:64]!r} is not a hexadecimal serial of at most 20 octets",
            details={"field": "serial_number"},
        )
    return cleaned


async def revoke_serial(
    services: Services,
    call: Call,
    ca_id: int,
    serial_number: str,
    *,
    reason: str | RevocationReason | None = None,
) -> IssuedRecord:
    """Revoke by CA and serial: also what a CA issued into a repository that was reset since. Raises
    PermissionDenied, CaNotFound, CertificateNotFound (a serial the CA never issued), CertificateRevoked,
    InvalidInput."""
    call.principal.require(Permission.MANAGE)
    now = _now(services)
    serial = _normalise_serial(serial_number)
    parsed = parse_reason(reason)
    async with services.uow() as uow:
        signer = await load_signer(services, uow, call, ca_id)
        record = await uow.cas.issued(ca_id, serial)
        if record is None:
            raise CertificateNotFound(
                f"CA {ca_id} issued no certificate with serial {serial}",
                details={"ca_id": ca_id, "serial_number": serial},
            )
        record.ensure_not_revoked()
        await _revoke_issued(services, uow, signer, serial, at=now, reason=parsed)
        held = (
            await uow.certificates.get(record.certificate_identifier)
            if record.certificate_identifier
            else None
        )
        if held is not None and held.status is CertificateStatus.ISSUED:
            await uow.certificates.mark_revoked(held.identifier, at=now, reason=parsed)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "certificate.revoke",
                    repository_id=held.repository_id if held else None,
                    certificate_id=record.certificate_identifier,
                    details={"reason": parsed.value, "ca_id": ca_id, "serial_number": serial},
                )
            ]
        )
        await uow.commit()
    return dataclasses.replace(record, revoked_at=now, revocation_reason=parsed)


# --- public: CRL and OCSP (no caller, no account: anyone holding a certificate may ask) -----------------


async def current_crl(services: Services, ca_id: int) -> CrlRecord:
    """The CA's current CRL, re-signed first when older than CRL_REFRESH_AFTER (which also drops
    entries that expired since). Raises CaNotFound, NoPrivateKey (a key-less chain anchor)."""
    now = _now(services)
    async with services.uow(read_only=True) as uow:
        record = await uow.cas.crl(ca_id)
        if record is None and await uow.cas.get(ca_id) is None:
            raise CaNotFound(f"CA {ca_id} does not exist", details={"ca_id": ca_id})
    if record is not None and now < record.this_update + CRL_REFRESH_AFTER:
        return record
    async with services.uow() as uow:
        # Another node may have refreshed it meanwhile: the write lock makes this check current.
        record = await uow.cas.crl(ca_id)
        if record is not None and now < record.this_update + CRL_REFRESH_AFTER:
            return record
        signer = await signer_of(services, uow, ca_id)
        if signer is None:
            raise CaNotFound(f"CA {ca_id} does not exist", details={"ca_id": ca_id})
        record = await publish_crl(services, uow, signer, now=now)
        await uow.commit()
    return record


async def ocsp_response(services: Services, ca_id: int, request_der: bytes) -> bytes:
    """A DER OCSP response for one request: good, revoked (time and reason) or unknown, signed by the
    CA, nonce echoed; malformedRequest or unauthorized (unknown CA, another issuer) unsigned. Never
    raises for what the client sent."""
    try:
        query = parse_ocsp_request(request_der)
    except InvalidInput:
        return ocsp_error_response("malformedRequest")
    async with services.uow(read_only=True) as uow:
        try:
            signer = await signer_of(services, uow, ca_id)
        except NoPrivateKey:
            signer = None
        if signer is None or not ocsp_request_matches_ca(query, signer.certificate):
            return ocsp_error_response("unauthorized")
        record = await uow.cas.issued(ca_id, format(query.serial, "x"))
    if record is None:
        status = OcspStatus("unknown")
    elif record.revoked_at is not None:
        status = OcspStatus("revoked", record.revoked_at, record.revocation_reason)
    else:
        status = OcspStatus("good")
    now = _now(services)
    return build_ocsp_response(
        query=query,
        ca_cert=signer.certificate,
        ca_key=signer.key,
        status=status,
        this_update=now,
        next_update=now + OCSP_VALIDITY,
        certificate=None,
    )
