"""Expiry monitoring: thresholds, the scan that sends notices, and the report of what expires.

The scan (hourly inside ``certrepo serve``, or on demand) is safe to start on every node at once:

1. the node takes the lease row (``scan_leases``) with a guarded UPDATE; the others return at once;
2. it plans, per enabled channel and monitored target, the stage due now (``domain.notifications``);
3. per notice it *claims* the unique key (channel, target, stage) in its own committed transaction
   before sending; a claim that already exists is skipped, so a notice never goes out twice even if two
   nodes scan (an expired lease, a clock step), and a restart finds its work done;
4. it delivers (retries with backoff), then records the outcome and the attempts in the delivery log,
   extending the lease as it goes; a node that lost its lease stops.

A node that dies between claim and outcome leaves a ``pending`` notice: once older than the lease, the
next scan takes it over and sends it (at-least-once only in that crash window).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from certrepo.domain.access import Permission
from certrepo.domain.errors import InvalidInput
from certrepo.domain.notifications import (
    DEFAULT_THRESHOLDS_DAYS,
    FINAL_NOTICE_WINDOW_DAYS,
    ExpiryRules,
    Monitored,
    NoticeRecord,
    NoticeStatus,
    due_stage,
    is_renewed,
    next_action,
    normalize_thresholds,
)

from .audit import event_for
from .context import Call, Services
from .notifications import (
    ChannelTarget,
    Notice,
    Notifier,
    deliver,
    notifier_of,
    open_channel_targets,
    store_of,
)
from .repositories import load_repository

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "SCAN_LEASE",
    "ExpiringItem",
    "ScanReport",
    "Thresholds",
    "expiry_report",
    "get_thresholds",
    "request_scan",
    "scan_expiry",
    "set_account_thresholds",
    "set_repository_thresholds",
]

SCAN_LEASE = "expiry-scan"
DEFAULT_LEASE_SECONDS = 900


# --- thresholds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force and where they come from: ``default``, ``account`` or ``repository``."""

    days: tuple[int, ...]
    source: str
    repository_id: int | None = None


def _thresholds(rules: ExpiryRules, repository_id: int | None) -> Thresholds:
    if repository_id is not None and repository_id in rules.repository_days:
        return Thresholds(rules.repository_days[repository_id], "repository", repository_id)
    source = "account" if rules.account_days else "default"
    return Thresholds(rules.account_days or DEFAULT_THRESHOLDS_DAYS, source, repository_id)


async def get_thresholds(services: Services, call: Call, repository_id: int | None = None) -> Thresholds:
    """The thresholds of the account, or those in force for one repository. Raises RepositoryNotFound."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        if repository_id is not None:
            await load_repository(uow, call, repository_id)
        rules = await store_of(uow).get_rules(call.principal.account_id)
    return _thresholds(rules, repository_id)


async def set_account_thresholds(services: Services, call: Call, days: list[int] | None) -> Thresholds:
    """Set the account's thresholds (admin); None restores the defaults (30, 14, 7, 1).
    Raises PermissionDenied, InvalidInput."""
    call.principal.require(Permission.ADMINISTER)
    normalized = normalize_thresholds(days) if days is not None else None
    async with services.uow() as uow:
        store = store_of(uow)
        await store.set_rule(call.principal.account_id, None, normalized, now=services.clock())
        await uow.audit.append(
            [event_for(services, call, "expiry.thresholds", details={"days": list(normalized or [])})]
        )
        rules = await store.get_rules(call.principal.account_id)
        await uow.commit()
    return _thresholds(rules, None)


async def set_repository_thresholds(
    services: Services, call: Call, repository_id: int, days: list[int] | None
) -> Thresholds:
    """Override the thresholds of one repository (manage); None returns it to the account's.
    Raises PermissionDenied, RepositoryNotFound, InvalidInput."""
    call.principal.require(Permission.MANAGE)
    normalized = normalize_thresholds(days) if days is not None else None
    async with services.uow() as uow:
        await load_repository(uow, call, repository_id)
        store = store_of(uow)
        await store.set_rule(call.principal.account_id, repository_id, normalized, now=services.clock())
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "expiry.thresholds",
                    repository_id=repository_id,
                    details={"days": list(normalized or [])},
                )
            ]
        )
        rules = await store.get_rules(call.principal.account_id)
        await uow.commit()
    return _thresholds(rules, repository_id)


# --- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringItem:
    target: Monitored
    days_left: int
    expired: bool


def _renewed(targets: list[Monitored], peers: list[Monitored]) -> set[str]:
    by_repository: dict[int, list[Monitored]] = defaultdict(list)
    for peer in peers:
        by_repository[peer.repository_id].append(peer)
    return {t.target_id for t in targets if is_renewed(t, by_repository[t.repository_id])}


async def expiry_report(services: Services, call: Call, *, within_days: int) -> list[ExpiringItem]:
    """What expires within ``within_days`` (and what has expired) across the repositories the caller
    sees, soonest first; renewed certificates are left out. Raises PermissionDenied, InvalidInput."""
    call.principal.require(Permission.READ)
    if not 0 <= within_days <= 3650:
        raise InvalidInput(
            f"within_days {within_days} is not between 0 and 3650", details={"field": "within_days"}
        )
    now = services.clock()
    async with services.uow(read_only=True) as uow:
        store = store_of(uow)
        targets = await store.monitored(
            not_after_to=now + timedelta(days=within_days), account_id=call.principal.account_id
        )
        targets = [t for t in targets if call.principal.can_see_repository(t.repository_id)]
        renewed = _renewed(targets, await store.renewal_peers(targets))
    return [
        ExpiringItem(t, t.days_left(now), t.not_after <= now) for t in targets if t.target_id not in renewed
    ]


# --- the scan ---------------------------------------------------------------------------------------


@dataclass
class ScanReport:
    """What one scan did. ``ran`` is False when another node held the lease."""

    ran: bool
    targets: int = 0
    renewed: int = 0
    notices_sent: int = 0
    notices_failed: int = 0
    buckets: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Planned:
    target: Monitored
    channel: ChannelTarget
    stage: int
    reclaim: NoticeRecord | None


async def scan_expiry(
    services: Services, *, node_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> ScanReport:
    """Run one expiry scan if this node gets the lease (see the module docstring). Raises Unsupported
    when no notifier is wired; a failed delivery is recorded, never raised."""
    notifier = notifier_of(services)
    now = services.clock()
    lease = timedelta(seconds=lease_seconds)
    async with services.uow() as uow:
        buckets = await store_of(uow).count_by_expiry_bucket(now)  # every node: its /metrics stay current
        acquired = await store_of(uow).acquire_lease(SCAN_LEASE, holder=node_id, now=now, until=now + lease)
        await uow.commit()
    notifier.on_expiry_buckets(buckets)
    if not acquired:
        return ScanReport(ran=False, buckets=buckets)
    report = ScanReport(ran=True, buckets=buckets)
    try:
        plan = await _plan(services, report, now=now, stale_before=now - lease)
        await _execute(services, notifier, plan, report, node_id=node_id, lease=lease)
    finally:
        async with services.uow() as uow:
            await store_of(uow).release_lease(SCAN_LEASE, holder=node_id, now=services.clock())
            await uow.commit()
    return report


def _group(targets: list[ChannelTarget]) -> dict[int, list[ChannelTarget]]:
    by_account: dict[int, list[ChannelTarget]] = defaultdict(list)
    for target in targets:
        by_account[target.channel.account_id].append(target)
    return by_account


async def _plan(
    services: Services, report: ScanReport, *, now: datetime, stale_before: datetime
) -> list[_Planned]:
    async with services.uow(read_only=True) as uow:
        store = store_of(uow)
        channels = await store.list_channels(enabled_only=True)
        if not channels:
            return []
        by_account = _group(await open_channel_targets(services, uow, channels))
        rules = {account_id: await store.get_rules(account_id) for account_id in by_account}
        horizon = max(r.horizon_days for r in rules.values())
        targets = [
            t
            for t in await store.monitored(
                not_after_to=now + timedelta(days=horizon),
                not_after_from=now - timedelta(days=FINAL_NOTICE_WINDOW_DAYS),
            )
            if t.account_id in by_account
        ]
        renewed = _renewed(targets, await store.renewal_peers(targets))
        existing: dict[tuple[int, str, str], list[NoticeRecord]] = defaultdict(list)
        for record in await store.notices_for([c.id for c in channels], [t.target_id for t in targets]):
            existing[(record.channel_id, record.target_kind.value, record.target_id)].append(record)
    report.targets, report.renewed = len(targets), len(renewed)
    plan: list[_Planned] = []
    for target in targets:
        if target.target_id in renewed:
            continue
        stage = due_stage(
            target.not_after, now, rules[target.account_id].thresholds_for(target.repository_id)
        )
        if stage is None:
            continue
        for channel in by_account[target.account_id]:
            key = (channel.channel.id, target.kind.value, target.target_id)
            action = next_action(stage, existing[key], stale_before=stale_before)
            if action is not None:
                plan.append(_Planned(target, channel, stage, action[1]))
    return plan


async def _claim(services: Services, item: _Planned, *, node_id: str, stale_before: datetime) -> int | None:
    """The notice id when this node now owns the notice; None when someone else has it."""
    async with services.uow() as uow:
        store = store_of(uow)
        now = services.clock()
        if item.reclaim is not None:
            won = await store.reclaim_notice(
                item.reclaim.id, holder=node_id, now=now, stale_before=stale_before
            )
            notice_id = item.reclaim.id if won else None
        else:
            notice_id = await store.claim_notice(
                channel_id=item.channel.channel.id,
                target=item.target,
                threshold_days=item.stage,
                holder=node_id,
                now=now,
            )
        await uow.commit()
    return notice_id


async def _execute(
    services: Services,
    notifier: Notifier,
    plan: list[_Planned],
    report: ScanReport,
    *,
    node_id: str,
    lease: timedelta,
) -> None:
    for item in plan:
        notice_id = await _claim(services, item, node_id=node_id, stale_before=services.clock() - lease)
        if notice_id is None:
            continue
        notice = Notice.for_stage(
            item.target, item.stage, delivery_id=services.random_bytes(8).hex(), sent_at=services.clock()
        )
        outcome = await deliver(notifier, item.channel, notice, clock=services.clock, notice_id=notice_id)
        if outcome.ok:
            report.notices_sent += 1
        else:
            report.notices_failed += 1
        async with services.uow() as uow:
            store = store_of(uow)
            now = services.clock()
            await store.finish_notice(
                notice_id,
                status=NoticeStatus.SENT if outcome.ok else NoticeStatus.FAILED,
                attempts=len(outcome.attempts),
                status_code=outcome.status_code,
                now=now,
            )
            await store.add_deliveries(outcome.attempts)
            still_ours = await store.acquire_lease(SCAN_LEASE, holder=node_id, now=now, until=now + lease)
            await uow.commit()
        if not still_ours:
            return  # another node took over after our lease ran out: it finishes the work


async def request_scan(services: Services, call: Call) -> ScanReport:
    """Run a scan now (admin), as a node of its own; audited. Raises PermissionDenied, Unsupported."""
    call.principal.require(Permission.ADMINISTER)
    report = await scan_expiry(services, node_id="api-" + services.random_bytes(8).hex())
    async with services.uow() as uow:
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "expiry.scan",
                    details={"ran": report.ran, "sent": report.notices_sent, "failed": report.notices_failed},
                )
            ]
        )
        await uow.commit()
    return report
