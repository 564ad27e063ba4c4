"""CA rows and what CAs issued."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.enums import CaType

from .stores import _Store
from .tables import cas, repositories

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

    async def list(self, account_id: int) -> list[CertificateAuthority]:
        rows = await self._session.execute(
            select(cas, _bound).where(cas.c.account_id == account_id).order_by(cas.c.id)
        )
        return [_ca(r) for r in rows]
