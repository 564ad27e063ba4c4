"""Certificate rows: add, find, search, delete. Private keys are referenced by key id, never loaded here
except through ``sealed_key`` for the keystore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from certrepo.domain.certificate import Certificate, CertificateQuery, San
from certrepo.domain.enums import CertificateSource, CertificateStatus, RevocationReason
from certrepo.domain.errors import DuplicateCertificate, InvalidInput
from certrepo.domain.paging import Page
from certrepo.keystore.base import SealedSecret

from .stores import _sealed, _Store
from .tables import certificates, key_material

__all__ = ["CertificateStore", "search_text_of"]


def search_text_of(certificate: Certificate) -> str:
    """What keyword search looks in: common name, SANs, name, serial and fingerprints, lower-cased."""
    parts = [
        certificate.common_name or "",
        *(s.value for s in certificate.sans),
        certificate.name or "",
        certificate.custom_identifier or "",
        certificate.serial_number,
        certificate.fingerprint_sha256,
        certificate.fingerprint_sha1,
    ]
    return " ".join(p for p in parts if p).lower()


def _certificate(row: Any) -> Certificate:
    return Certificate(
        identifier=row.identifier,
        account_id=row.account_id,
        repository_id=row.repository_id,
        name=row.name,
        custom_identifier=row.custom_identifier,
        common_name=row.common_name,
        sans=tuple(San(s["type"], s["value"]) for s in row.sans or []),
        subject=row.subject,
        issuer=row.issuer,
        serial_number=row.serial_number,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=row.key_algorithm,
        key_size=row.key_size,
        signature_algorithm=row.signature_algorithm,
        fingerprint_sha1=row.fingerprint_sha1,
        fingerprint_sha256=row.fingerprint_sha256,
        is_ca=row.is_ca,
        has_private_key=row.key_id is not None,
        exportable=row.exportable,
        source=CertificateSource(row.source),
        status=CertificateStatus(row.status),
        pem=row.pem,
        chain_pem=row.chain_pem or "",
        revoked_at=row.revoked_at,
        revocation_reason=RevocationReason(row.revocation_reason) if row.revocation_reason else None,
        issuing_ca_id=row.issuing_ca_id,
        tags=dict(row.tags or {}),
        created_at=row.created_at,
    )


class CertificateStore(_Store):
    async def add(self, certificate: Certificate, *, key_id: int | None) -> Certificate:
        """Insert; the same certificate twice in a repository (or a taken custom identifier) is refused."""
        values = {
            "identifier": certificate.identifier,
            "account_id": certificate.account_id,
            "repository_id": certificate.repository_id,
            "name": certificate.name,
            "custom_identifier": certificate.custom_identifier,
            "common_name": certificate.common_name,
            "sans": [{"type": s.type, "value": s.value} for s in certificate.sans],
            "search_text": search_text_of(certificate),
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "serial_number": certificate.serial_number,
            "not_before": certificate.not_before,
            "not_after": certificate.not_after,
            "key_algorithm": certificate.key_algorithm,
            "key_size": certificate.key_size,
            "signature_algorithm": certificate.signature_algorithm,
            "fingerprint_sha1": certificate.fingerprint_sha1,
            "fingerprint_sha256": certificate.fingerprint_sha256,
            "is_ca": certificate.is_ca,
            "key_id": key_id,
            "exportable": certificate.exportable,
            "source": certificate.source.value,
            "status": certificate.status.value,
            "revoked_at": certificate.revoked_at,
            "revocation_reason": certificate.revocation_reason.value if certificate.revocation_reason else None,
            "issuing_ca_id": certificate.issuing_ca_id,
            "pem": certificate.pem,
            "chain_pem": certificate.chain_pem,
            "tags": dict(certificate.tags),
            "created_at": certificate.created_at,
        }
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(certificates).values(**values))
        except IntegrityError as exc:
            await self._raise_duplicate(certificate, exc)
            raise
        return certificate

    async def _raise_duplicate(self, certificate: Certificate, exc: IntegrityError) -> None:
        existing = await self.find_by_fingerprint(certificate.repository_id, certificate.fingerprint_sha256)
        if existing is not None:
            raise DuplicateCertificate(
                f"this certificate is already in repository {certificate.repository_id} "
                f"as {existing.identifier}",
                details={"identifier": existing.identifier},
            ) from exc
        if certificate.custom_identifier and "custom" in str(exc.orig).lower():
            raise InvalidInput(
                f"custom identifier {certificate.custom_identifier!r} is already used in this account",
                details={"field": "custom_identifier"},
            ) from exc

    async def find_by_fingerprint(self, repository_id: int, fingerprint_sha256: str) -> Certificate | None:
        row = await self._one(
            select(certificates).where(
                and_(
                    certificates.c.repository_id == repository_id,
                    certificates.c.fingerprint_sha256 == fingerprint_sha256,
                )
            )
        )
        return _certificate(row) if row else None

    async def get(self, identifier: str) -> Certificate | None:
        row = await self._one(select(certificates).where(certificates.c.identifier == identifier))
        return _certificate(row) if row else None

    async def get_by_custom_identifier(self, account_id: int, custom_identifier: str) -> Certificate | None:
        row = await self._one(
            select(certificates).where(
                and_(
                    certificates.c.account_id == account_id,
                    certificates.c.custom_identifier == custom_identifier,
                )
            )
        )
        return _certificate(row) if row else None

    async def sealed_key(self, identifier: str) -> tuple[int, SealedSecret] | None:
        """The key id and sealed private key of a certificate, for the keystore to open."""
        row = await self._one(
            select(key_material)
            .join(certificates, certificates.c.key_id == key_material.c.id)
            .where(certificates.c.identifier == identifier)
        )
        return (int(row.id), _sealed(row)) if row else None

    def _conditions(self, repository_id: int, query: CertificateQuery) -> Any:
        condition = certificates.c.repository_id == repository_id
        if query.keyword:
            # Substring match over the precomputed search text; the trigram index (PostgreSQL pg_trgm)
            # serves it without a full scan.
            condition = and_(condition, certificates.c.search_text.contains(query.keyword, autoescape=True))
        if query.status is not None:
            condition = and_(condition, certificates.c.status == query.status.value)
        if query.is_ca is not None:
            condition = and_(condition, certificates.c.is_ca == query.is_ca)
        if query.source is not None:
            condition = and_(condition, certificates.c.source == query.source.value)
        if query.now is not None and query.expiring_within_days is not None:
            horizon = query.now + timedelta(days=query.expiring_within_days)
            condition = and_(condition, certificates.c.not_after >= query.now, certificates.c.not_after <= horizon)
        if query.now is not None and query.expired is not None:
            condition = and_(
                condition,
                certificates.c.not_after < query.now if query.expired else certificates.c.not_after >= query.now,
            )
        return condition

    async def list(
        self, repository_id: int, query: CertificateQuery, page: Page
    ) -> tuple[list[Certificate], int]:
        condition = self._conditions(repository_id, query)
        total = (
            await self._session.execute(select(func.count()).select_from(certificates).where(condition))
        ).scalar_one()
        rows = await self._session.execute(
            select(certificates)
            .where(condition)
            .order_by(certificates.c.id.desc())
            .offset(page.offset)
            .limit(page.size)
        )
        return [_certificate(r) for r in rows], int(total)

    async def all_in_repository(self, repository_id: int, *, is_ca: bool | None = None) -> list[Certificate]:
        condition = certificates.c.repository_id == repository_id
        if is_ca is not None:
            condition = and_(condition, certificates.c.is_ca == is_ca)
        rows = await self._session.execute(select(certificates).where(condition).order_by(certificates.c.id))
        return [_certificate(r) for r in rows]

    async def delete(self, identifier: str) -> int | None:
        """Remove a certificate; returns its key id so the caller destroys the key in the same transaction."""
        row = await self._one(select(certificates.c.key_id).where(certificates.c.identifier == identifier))
        await self._session.execute(delete(certificates).where(certificates.c.identifier == identifier))
        return row.key_id if row else None

    async def mark_revoked(self, identifier: str, *, at: datetime, reason: RevocationReason) -> None:
        await self._session.execute(
            update(certificates)
            .where(certificates.c.identifier == identifier)
            .values(status=CertificateStatus.REVOKED.value, revoked_at=at, revocation_reason=reason.value)
        )

    async def expiring(self, account_id: int, *, now: datetime, within_days: int, limit: int) -> list[Certificate]:
        """Certificates of an account expiring within the horizon, soonest first (across repositories)."""
        rows = await self._session.execute(
            select(certificates)
            .where(
                and_(
                    certificates.c.account_id == account_id,
                    certificates.c.not_after <= now + timedelta(days=within_days),
                    or_(certificates.c.status == CertificateStatus.ISSUED.value),
                )
            )
            .order_by(certificates.c.not_after)
            .limit(limit)
        )
        return [_certificate(r) for r in rows]

    async def count_by_identifiers(self, identifiers: Sequence[str]) -> int:
        return int(
            (
                await self._session.execute(
                    select(func.count()).where(certificates.c.identifier.in_(list(identifiers)))
                )
            ).scalar_one()
        )
