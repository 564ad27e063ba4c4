"""CA rows, what CAs issued (``ca_issued``) and their current CRLs (``crls``).

Two invariants live in the database here: a serial is unique per CA (the ``ca_issued`` primary key), and
CRL numbers only grow (``next_crl_number`` increments the CA row in place and returns the new value, so
the row stays locked until the transaction ends: PostgreSQL row lock, SQLite's single writer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from certrepo.domain.ca import CertificateAuthority, CrlRecord, IssuedRecord
from certrepo.domain.enums import CaType, RevocationReason
from certrepo.keystore.base import SealedSecret

from .stores import _Store, sealed_secret_of
from .tables import ca_issued, cas, crls, key_material, repositories

__all__ = ["CaStore"]


def _ca(row: Any) -> CertificateAuthority:
    return CertificateAuthority(
        id=row.id,
        account_id=row.account_id,
        type=CaType(row.type),
        parent_id=row.parent_id,
        common_name=row.common_name,
        key_algorithm=row.key_algorithm,
        certificate_pem=row.certificate_pem,
        serial_number=row.serial_number,
        not_before=row.not_before,
        not_after=row.not_after,
        imported=row.imported,
        created_at=row.created_at,
        bound_repository_id=row.bound_repository_id,
        has_private_key=row.key_id is not None,
    )


def _issued(row: Any) -> IssuedRecord:
    return IssuedRecord(
        ca_id=row.ca_id,
        serial_number=row.serial_number,
        certificate_identifier=row.certificate_identifier,
        not_after=row.not_after,
        revoked_at=row.revoked_at,
        revocation_reason=RevocationReason(row.revocation_reason) if row.revocation_reason else None,
    )


def _crl(row: Any) -> CrlRecord:
    return CrlRecord(
        ca_id=row.ca_id,
        crl_number=int(row.crl_number),
        der=bytes(row.der),
        this_update=row.this_update,
        next_update=row.next_update,
    )


_bound = (
    select(repositories.c.id)
    .where(repositories.c.ca_id == cas.c.id)
    .correlate(cas)
    .scalar_subquery()
    .label("bound_repository_id")
)


class CaStore(_Store):
    async def get(self, ca_id: int) -> CertificateAuthority | None:
        row = await self._one(select(cas, _bound).where(cas.c.id == ca_id))
        return _ca(row) if row else None

    async def add(
        self,
        *,
        account_id: int,
        type: CaType,
        parent_id: int | None,
        common_name: str | None,
        key_algorithm: str,
        certificate_pem: str,
        serial_number: str,
        not_before: datetime,
        not_after: datetime,
        imported: bool,
        key_id: int | None,
        now: datetime,
    ) -> CertificateAuthority:
        """Insert a CA row; ``key_id`` is its sealed key (None: a chain anchor without key)."""
        result = await self._session.execute(
            insert(cas)
            .values(
                account_id=account_id,
                type=type.value,
                parent_id=parent_id,
                common_name=common_name,
                key_algorithm=key_algorithm,
                certificate_pem=certificate_pem,
                key_id=key_id,
                serial_number=serial_number,
                not_before=not_before,
                not_after=not_after,
                imported=imported,
                crl_number=0,
                created_at=now,
            )
            .returning(cas.c.id)
        )
        found = await self.get(int(result.scalar_one()))
        assert found is not None
        return found

    async def sealed_key(self, ca_id: int) -> SealedSecret | None:
        """The sealed private key of a CA, for the keystore to open; None when it has none here."""
        row = await self._one(
            select(key_material).join(cas, cas.c.key_id == key_material.c.id).where(cas.c.id == ca_id)
        )
        return sealed_secret_of(row) if row else None

    # --- what a CA issued ---------------------------------------------------------------------------

    async def reserve_serial(self, record: IssuedRecord) -> bool:
        """Record an issued serial; False when the CA already used it (the primary key decides, on
        every node). After False the transaction is unusable on PostgreSQL: the caller starts a new one
        (no savepoint here: it would cost two statements on every issuance for a 2^-127 event)."""
        try:
            await self._session.execute(
                insert(ca_issued).values(
                    ca_id=record.ca_id,
                    serial_number=record.serial_number,
                    certificate_identifier=record.certificate_identifier,
                    not_after=record.not_after,
                    revoked_at=record.revoked_at,
                    revocation_reason=record.revocation_reason.value if record.revocation_reason else None,
                )
            )
        except IntegrityError:
            return False
        return True

    async def issued(self, ca_id: int, serial_number: str) -> IssuedRecord | None:
        row = await self._one(
            select(ca_issued).where(
                and_(ca_issued.c.ca_id == ca_id, ca_issued.c.serial_number == serial_number)
            )
        )
        return _issued(row) if row else None

    async def mark_revoked(
        self, ca_id: int, serial_number: str, *, at: datetime, reason: RevocationReason
    ) -> bool:
        """Revoke an issued serial; False when it is unknown or already revoked (guarded UPDATE, so two
        concurrent revocations of one serial cannot both succeed)."""
        result = await self._session.execute(
            update(ca_issued)
            .where(
                and_(
                    ca_issued.c.ca_id == ca_id,
                    ca_issued.c.serial_number == serial_number,
                    ca_issued.c.revoked_at.is_(None),
                )
            )
            .values(revoked_at=at, revocation_reason=reason.value)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoked_entries(self, ca_id: int, *, unexpired_at: datetime) -> list[IssuedRecord]:
        """Revoked serials of a CA whose certificates have not expired at ``unexpired_at`` (RFC 5280
        §3.3: an expired certificate may leave the CRL)."""
        rows = await self._session.execute(
            select(ca_issued)
            .where(
                and_(
                    ca_issued.c.ca_id == ca_id,
                    ca_issued.c.revoked_at.is_not(None),
                    ca_issued.c.not_after >= unexpired_at,
                )
            )
            .order_by(ca_issued.c.revoked_at, ca_issued.c.serial_number)
        )
        return [_issued(r) for r in rows]

    # --- CRLs ---------------------------------------------------------------------------------------

    async def next_crl_number(self, ca_id: int) -> int:
        """Increment and return the CA's CRL number. The UPDATE locks the CA row until commit, so CRL
        numbers of one CA are handed out (and their CRLs stored) one transaction at a time."""
        result = await self._session.execute(
            update(cas)
            .where(cas.c.id == ca_id)
            .values(crl_number=cas.c.crl_number + 1)
            .returning(cas.c.crl_number)
        )
        return int(result.scalar_one())

    async def save_crl(self, record: CrlRecord) -> None:
        """Store a CA's current CRL, replacing an older one (never a newer one)."""
        result = await self._session.execute(
            update(crls)
            .where(and_(crls.c.ca_id == record.ca_id, crls.c.crl_number < record.crl_number))
            .values(
                crl_number=record.crl_number,
                der=record.der,
                this_update=record.this_update,
                next_update=record.next_update,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return
        if await self._one(select(crls.c.ca_id).where(crls.c.ca_id == record.ca_id)) is None:
            await self._session.execute(
                insert(crls).values(
                    ca_id=record.ca_id,
                    crl_number=record.crl_number,
                    der=record.der,
                    this_update=record.this_update,
                    next_update=record.next_update,
                )
            )

    async def crl(self, ca_id: int) -> CrlRecord | None:
        row = await self._one(select(crls).where(crls.c.ca_id == ca_id))
        return _crl(row) if row else None

    # Last: a method named "list" would shadow the builtin in the annotations below it.
    async def list(self, account_id: int) -> list[CertificateAuthority]:
        rows = await self._session.execute(
            select(cas, _bound).where(cas.c.account_id == account_id).order_by(cas.c.id)
        )
        return [_ca(r) for r in rows]
