"""Group commit of key uses: quota consumption and audit events of many calls in one transaction.

A crypto call must not answer before its quota unit and audit event are durable, but one transaction per
call would dominate the cost of a signature. Calls queue their entry; one flusher per process takes every
queued entry, applies each quota unit with its own guarded UPDATE (so a pool is never over-consumed, and
each call learns its own outcome), appends all audit events, commits once, then wakes the callers.
While a flush runs, the next batch gathers: batching costs no added delay when the service is idle.
The queueing and waking is ``batching.GroupCommitter``; this module is the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from certrepo.domain.audit import AuditEvent
from certrepo.domain.enums import QuotaPool
from certrepo.domain.errors import QuotaExhausted

from .batching import GroupCommitter
from .context import Services

__all__ = ["KeyUseLedger", "LedgerEntry", "ledger_of"]


@dataclass
class LedgerEntry:
    account_id: int
    pool: QuotaPool | None  # None: nothing to consume (a refused call, recorded for the audit trail)
    event: AuditEvent


class KeyUseLedger:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._committer: GroupCommitter[LedgerEntry, None] = GroupCommitter(self._flush)

    async def record(self, account_id: int, pool: QuotaPool | None, event: AuditEvent) -> None:
        """Wait until the unit is consumed and the event durable. Raises QuotaExhausted."""
        await self._committer.submit(LedgerEntry(account_id, pool, event))

    async def _flush(self, batch: list[LedgerEntry]) -> list[BaseException | None]:
        outcomes: dict[int, QuotaExhausted] = {}
        events: list[AuditEvent] = []
        async with self._services.uow() as uow:
            for (account_id, pool), members in _by_pool(batch).items():
                # One guarded UPDATE for the whole group in the common case; only when the pool cannot
                # cover the group does each entry try its own unit, so the pool is never over-consumed
                # and the earliest callers get the units that are left.
                try:
                    await uow.quota.consume(account_id, pool, len(members))
                    continue
                except QuotaExhausted:
                    pass
                for index in members:
                    try:
                        await uow.quota.consume(account_id, pool)
                    except QuotaExhausted as exc:
                        outcomes[index] = exc
            for index, entry in enumerate(batch):
                refusal = outcomes.get(index)
                events.append(entry.event if refusal is None else _refused(entry.event, refusal.code))
            await uow.audit.append(events)
            await uow.commit()
        return [outcomes.get(index) for index in range(len(batch))]


def _by_pool(batch: list[LedgerEntry]) -> dict[tuple[int, QuotaPool], list[int]]:
    groups: dict[tuple[int, QuotaPool], list[int]] = {}
    for index, entry in enumerate(batch):
        if entry.pool is not None:
            groups.setdefault((entry.account_id, entry.pool), []).append(index)
    return groups


def _refused(event: AuditEvent, code: str) -> AuditEvent:
    return replace(event, outcome="refused", details={**event.details, "error": code})


def ledger_of(services: Services) -> KeyUseLedger:
    """The process's ledger for these services (made on first use, in the serving event loop)."""
    ledger = services.extras.get("ledger")
    if not isinstance(ledger, KeyUseLedger):
        ledger = KeyUseLedger(services)
        services.extras["ledger"] = ledger
    return ledger
