"""Audit trail use cases: record, list, verify the hash chain, export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certrepo.domain.access import Permission
from certrepo.domain.audit import AuditEvent, ChainVerifier
from certrepo.domain.paging import Page, PageOf

from .context import Call, Services

__all__ = ["ChainReport", "event_for", "export_events", "list_events", "verify_chain"]


def event_for(
    services: Services,
    call: Call,
    action: str,
    *,
    repository_id: int | None = None,
    certificate_id: str | None = None,
    algorithm: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An audit event of ``call`` at the current time (never pass message contents or keys here)."""
    return AuditEvent(
        account_id=call.principal.account_id,
        at=services.clock(),
        actor=call.principal.actor,
        action=action,
        outcome=outcome,
        request_id=call.request_id,
        repository_id=repository_id,
        certificate_id=certificate_id,
        algorithm=algorithm,
        details=details or {},
    )


async def list_events(
    services: Services,
    call: Call,
    *,
    page: Page,
    since: datetime | None = None,
    repository_id: int | None = None,
    action: str | None = None,
) -> PageOf[AuditEvent]:
    """Audit events of the caller's account, newest first. Raises PermissionDenied without read_audit."""
    call.principal.require(Permission.READ_AUDIT)
    async with services.uow(read_only=True) as uow:
        items, total = await uow.audit.list(
            account_id=call.principal.account_id,
            page=page,
            since=since,
            repository_id=repository_id,
            action=action,
        )
    return PageOf(items, total, page)


@dataclass(frozen=True)
class ChainReport:
    events: int
    intact: bool
    first_broken_sequence: int | None = None
    reason: str | None = None


async def verify_chain(services: Services) -> ChainReport:
    """Walk the chain in sequence order and compare its end with the head row.

    The head is read first and the walk stops at its sequence: events and head are committed together,
    so everything up to the head is visible, and writers appending meanwhile (on any node, under READ
    COMMITTED) cannot make an intact chain look broken."""
    verifier = ChainVerifier()
    async with services.uow(read_only=True) as uow:
        head_sequence, head_hash = await uow.audit.head()
        async for sequence, event in uow.audit.iterate(through=head_sequence):
            broken = verifier.feed(sequence, event)
            if broken is not None:
                return ChainReport(verifier.count, False, broken.sequence, broken.reason)
        # Rows past a head that has not moved were not written by an append (an append moves the head in
        # the same transaction): somebody added them behind the chain's back. The rows are counted before
        # the head is read again, so a legitimate append that commits in between is seen as a moved head.
        beyond = await uow.audit.last_sequence() > head_sequence
        if beyond and (await uow.audit.head())[0] == head_sequence:
            return ChainReport(
                verifier.count,
                False,
                head_sequence + 1,
                f"events after the head (event {head_sequence}) were not appended",
            )
    broken = verifier.check_head(head_sequence, head_hash)
    if broken is not None:
        return ChainReport(verifier.count, False, broken.sequence, broken.reason)
    return ChainReport(verifier.count, True)


async def export_events(services: Services) -> AsyncIterator[AuditEvent]:
    """Every event in sequence order (for `certrepo audit export`)."""
    async with services.uow(read_only=True) as uow:
        async for _sequence, event in uow.audit.iterate():
            yield event
