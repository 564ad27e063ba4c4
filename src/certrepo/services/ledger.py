"""Group commit of key uses: quota consumption and audit events of many calls in one transaction.

A crypto call must not answer before its quota unit and audit event are durable, but one transaction per
call would dominate the cost of a signature. Calls queue their record; one flusher per process takes every
queued record and hands the batch to the store (``record_key_uses``: each pool's units with a guarded
UPDATE, so a pool is never over-consumed and each call learns its own outcome; all audit events; one
commit), then wakes the callers. While a flush runs, the next batch gathers: batching costs no added
delay when the service is idle. The queueing and waking is ``batching.GroupCommitter``.
"""

from __future__ import annotations

from certrepo.domain.audit import AuditEvent, KeyUseRecord
from certrepo.domain.enums import QuotaPool
from certrepo.domain.errors import QuotaExhausted

from .batching import GroupCommitter
from .context import Services

__all__ = ["KeyUseLedger", "ledger_of"]


class KeyUseLedger:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._committer: GroupCommitter[KeyUseRecord, None] = GroupCommitter(self._flush)

    async def record(self, account_id: int, pool: QuotaPool | None, event: AuditEvent) -> None:
        """Wait until the unit is consumed and the event durable. ``pool`` None: nothing to consume (a
        refused call, recorded for the audit trail). Raises QuotaExhausted."""
        await self._committer.submit(KeyUseRecord(account_id, pool, event))

    async def _flush(self, batch: list[KeyUseRecord]) -> list[QuotaExhausted | None]:
        return await self._services.uow.record_key_uses(batch)


def ledger_of(services: Services) -> KeyUseLedger:
    """The process's ledger for these services (made on first use, in the serving event loop)."""
    ledger = services.extras.get("ledger")
    if not isinstance(ledger, KeyUseLedger):
        ledger = KeyUseLedger(services)
        services.extras["ledger"] = ledger
    return ledger
