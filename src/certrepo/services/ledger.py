"""Group commit of key uses: quota consumption and audit events of many calls in one transaction.

A crypto call must not answer before its quota unit and audit event are durable, but one transaction per
call would dominate the cost of a signature. Calls queue their entry; one flusher per process takes every
queued entry, applies each quota unit with its own guarded UPDATE (so a pool is never over-consumed, and
each call learns its own outcome), appends all audit events, commits once, then wakes the callers.
While a flush runs, the next batch gathers: batching costs no added delay when the service is idle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from certrepo.domain.audit import AuditEvent
from certrepo.domain.enums import QuotaPool
from certrepo.domain.errors import QuotaExhausted

from .context import Services

__all__ = ["KeyUseLedger", "LedgerEntry", "ledger_of"]

_MAX_BATCH = 512


@dataclass
class LedgerEntry:
    account_id: int
    pool: QuotaPool | None  # None: nothing to consume (a refused call, recorded for the audit trail)
    event: AuditEvent
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class KeyUseLedger:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._pending: list[LedgerEntry] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, account_id: int, pool: QuotaPool | None, event: AuditEvent) -> None:
        """Wait until the unit is consumed and the event durable. Raises QuotaExhausted."""
        entry = LedgerEntry(account_id, pool, event)
        self._pending.append(entry)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_all())
        await entry.done

    async def _flush_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
            try:
                await self._flush(batch)
            except BaseException as exc:  # a database fault fails this batch's callers, not the process
                for entry in batch:
                    if not entry.done.done():
                        entry.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _flush(self, batch: list[LedgerEntry]) -> None:
        outcomes: list[BaseException | None] = []
        events: list[AuditEvent] = []
        async with self._services.uow() as uow:
            for entry in batch:
                outcome: BaseException | None = None
                event = entry.event
                if entry.pool is not None:
                    try:
                        await uow.quota.consume(entry.account_id, entry.pool)
                    except QuotaExhausted as exc:
                        outcome = exc
                        event = _refused(event, exc.code)
                outcomes.append(outcome)
                events.append(event)
            await uow.audit.append(events)
            await uow.commit()
        for entry, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                entry.done.set_result(None)
            else:
                entry.done.set_exception(outcome)


def _refused(event: AuditEvent, code: str) -> AuditEvent:
    from dataclasses import replace

    return replace(event, outcome="refused", details={**event.details, "error": code})


def ledger_of(services: Services) -> KeyUseLedger:
    """The process's ledger for these services (made on first use, in the serving event loop)."""
    ledger = services.extras.get("ledger")
    if not isinstance(ledger, KeyUseLedger):
        ledger = KeyUseLedger(services)
        services.extras["ledger"] = ledger
    return ledger
