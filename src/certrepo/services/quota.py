"""Quota pools of an account (SPEC §1.4): read, set (admin), consume (crypto operations)."""

from __future__ import annotations

from dataclasses import dataclass

from certrepo.domain.access import Permission
from certrepo.domain.enums import QuotaPool

from .audit import event_for
from .context import Call, Services

__all__ = ["PoolUsage", "get_quota", "set_quota"]


@dataclass(frozen=True)
class PoolUsage:
    total: int | None  # None = unlimited
    used: int


async def get_quota(services: Services, call: Call) -> dict[QuotaPool, PoolUsage]:
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        pools = await uow.quota.get(call.principal.account_id)
    return {pool: PoolUsage(total, used) for pool, (total, used) in pools.items()}


async def set_quota(
    services: Services, call: Call, totals: dict[QuotaPool, int | None]
) -> dict[QuotaPool, PoolUsage]:
    """Set pool totals (None = unlimited). Admin only. A total below what is used stops further use."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        for pool, total in totals.items():
            await uow.quota.set_total(call.principal.account_id, pool, total)
        await uow.audit.append(
            [event_for(services, call, "quota.set", details={p.value: t for p, t in totals.items()})]
        )
        pools = await uow.quota.get(call.principal.account_id)
        await uow.commit()
    return {pool: PoolUsage(total, used) for pool, (total, used) in pools.items()}
