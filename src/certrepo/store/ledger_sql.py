"""Quota units and audit-chain appends as plain SQLAlchemy Core on a synchronous connection.

One implementation serves two callers: the stores of a unit of work run it through
``AsyncSession.run_sync``, and the key-use ledger runs a whole batch of calls in one go
(``write_key_uses``). On SQLite the latter runs on a synchronous pysqlite connection in the event loop's
thread: the aiosqlite driver hands every statement, fetch and close to its own thread and back, and
those ~18 thread handoffs per batch cost more than the batch's SQL itself (see store/key_uses.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from certrepo.domain.audit import AuditEvent, KeyUseRecord, chain_hash, invalidates_caches
from certrepo.domain.enums import QuotaPool
from certrepo.domain.errors import QuotaExhausted

from .tables import audit_events, audit_head, quota_pools

__all__ = ["append_audit_events", "consume_quota", "ensure_quota_row", "write_key_uses"]


# Statements built once with bind parameters: building SQLAlchemy expressions per call costs more than
# executing them on SQLite, and the compiled form is cached by statement identity.
_THIS_POOL = and_(quota_pools.c.account_id == bindparam("for_account"), quota_pools.c.pool == bindparam("for_pool"))
_FIND_POOL = select(quota_pools.c.pool).where(_THIS_POOL)
_CONSUME = (
    update(quota_pools)
    .where(
        and_(
            _THIS_POOL,
            or_(quota_pools.c.total.is_(None), quota_pools.c.used + bindparam("units") <= quota_pools.c.total),
        )
    )
    .values(used=quota_pools.c.used + bindparam("units"))
)
_HEAD = select(audit_head.c.sequence, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_ADVANCE_HEAD = (
    update(audit_head).where(audit_head.c.id == 1).values(sequence=bindparam("to_sequence"), hash=bindparam("to_hash"))
)
_ADVANCE_HEAD_AND_EPOCH = _ADVANCE_HEAD.values(mutations=audit_head.c.mutations + 1)
_INSERT_EVENTS = insert(audit_events)


def _pool_row(connection: Connection, account_id: int, pool: QuotaPool) -> bool:
    return connection.execute(_FIND_POOL, {"for_account": account_id, "for_pool": pool.value}).first() is not None


def ensure_quota_row(connection: Connection, account_id: int, pool: QuotaPool) -> None:
    """The pool's row, made unlimited and unused when missing (another node may make it first)."""
    if _pool_row(connection, account_id, pool):
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(quota_pools).values(account_id=account_id, pool=pool.value, total=None, used=0))
    except IntegrityError:
        pass  # another node created it first


def consume_quota(connection: Connection, account_id: int, pool: QuotaPool, units: int = 1) -> None:
    """Guarded UPDATE: succeeds only while used + units <= total, whatever other nodes do. The common
    case is that one statement; a pool without its row yet (unlimited) gets the row first.
    Raises QuotaExhausted."""
    for _attempt in range(2):
        result = connection.execute(_CONSUME, {"for_account": account_id, "for_pool": pool.value, "units": units})
        if result.rowcount == 1:
            return
        if _pool_row(connection, account_id, pool):
            break
        ensure_quota_row(connection, account_id, pool)
    raise QuotaExhausted(
        f"the {pool.value} quota pool of this account is used up; an admin can raise it",
        details={"pool": pool.value},
    )


def append_audit_events(connection: Connection, events: Sequence[AuditEvent]) -> bool:
    """Append to the chain; whether one of the events is a mutation (it advances the mutation epoch). The head row is locked (FOR UPDATE; SQLite: BEGIN IMMEDIATE) so that concurrent writers on
    any node form one linear chain."""
    if not events:
        return False
    head = connection.execute(_HEAD).one()
    sequence, prev = int(head.sequence), head.hash
    rows: list[dict[str, Any]] = []
    for event in events:
        sequence += 1
        digest = chain_hash(prev, event, sequence)
        rows.append(
            {
                "sequence": sequence,
                "account_id": event.account_id,
                "at": event.at,
                "actor": event.actor,
                "action": event.action,
                "outcome": event.outcome,
                "request_id": event.request_id,
                "repository_id": event.repository_id,
                "certificate_id": event.certificate_id,
                "algorithm": event.algorithm,
                "details": dict(event.details),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    connection.execute(_INSERT_EVENTS, rows)
    mutated = any(invalidates_caches(event.action) for event in events)
    advance = _ADVANCE_HEAD_AND_EPOCH if mutated else _ADVANCE_HEAD
    connection.execute(advance, {"to_sequence": sequence, "to_hash": prev})
    return mutated


def write_key_uses(connection: Connection, records: Sequence[KeyUseRecord]) -> list[QuotaExhausted | None]:
    """Consume each record's quota unit and append every record's audit event, in the caller's
    transaction. Per record, in order: None, or the QuotaExhausted its call gets (its event is then
    stored as refused)."""
    refusals: dict[int, QuotaExhausted] = {}
    for (account_id, pool), members in _by_pool(records).items():
        # One guarded UPDATE for the whole group in the common case; only when the pool cannot cover the
        # group does each record try its own unit, so the pool is never over-consumed and the earliest
        # callers get the units that are left.
        try:
            consume_quota(connection, account_id, pool, len(members))  # a refused UPDATE changes nothing
            continue
        except QuotaExhausted:
            pass
        for index in members:
            try:
                consume_quota(connection, account_id, pool)
            except QuotaExhausted as exc:
                refusals[index] = exc
    events = [
        record.event if (refusal := refusals.get(index)) is None else record.event.refused(refusal.code)
        for index, record in enumerate(records)
    ]
    append_audit_events(connection, events)
    return [refusals.get(index) for index in range(len(records))]


def _by_pool(records: Sequence[KeyUseRecord]) -> dict[tuple[int, QuotaPool], list[int]]:
    groups: dict[tuple[int, QuotaPool], list[int]] = {}
    for index, record in enumerate(records):
        if record.pool is not None:
            groups.setdefault((record.account_id, record.pool), []).append(index)
    return groups
