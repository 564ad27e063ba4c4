"""Rows written straight into the database, for tests that need state no route creates yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from certrepo.store.tables import cas

__all__ = ["insert_ca"]


async def insert_ca(engine: AsyncEngine, *, account_id: int, type_: str = "intermediate") -> int:
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(cas)
            .values(
                account_id=account_id,
                type=type_,
                parent_id=None,
                common_name=f"Test {type_}",
                key_algorithm="ECC_256",
                certificate_pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                serial_number="01",
                not_before=now,
                not_after=now + timedelta(days=365),
                imported=False,
                crl_number=0,
                created_at=now,
            )
            .returning(cas.c.id)
        )
        return int(result.scalar_one())
