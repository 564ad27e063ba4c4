"""Notification channels, expiry thresholds, the notified key, the delivery log and the scan lease.

Two invariants are the database's, not the code's: a notice (channel, target, threshold) is inserted at
most once (``uq_expiry_notices_once``, ``INSERT … ON CONFLICT DO NOTHING``), and one node holds the scan
lease at a time (a guarded ``UPDATE`` on the lease row: a row lock on PostgreSQL, the write lock that
``BEGIN IMMEDIATE`` takes on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from certrepo.domain.certificate import San
from certrepo.domain.enums import CertificateStatus, RepositoryStatus
from certrepo.domain.errors import StateConflict
from certrepo.domain.notifications import (
    EXPIRY_BUCKETS_DAYS,
    Channel,
    ChannelKind,
    Delivery,
    EmailConfig,
    ExpiryRules,
    Monitored,
    NoticeRecord,
    NoticeStatus,
    TargetKind,
    WebhookConfig,
)
from certrepo.domain.paging import Page

from .stores import _Store
from .tables import (
    cas,
    certificates,
    expiry_notices,
    expiry_rules,
    notification_channels,
    notification_deliveries,
    repositories,
    scan_leases,
)

__all__ = ["NotificationStore"]

_CHUNK = 500  # bound parameters per IN list (SQLite allows 32766, PostgreSQL 65535)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _config_of(kind: ChannelKind, config: dict[str, Any]) -> WebhookConfig | EmailConfig:
    if kind is ChannelKind.WEBHOOK:
        return WebhookConfig(url=config["url"])
    return EmailConfig(
        host=config["host"],
        port=int(config["port"]),
        from_address=config["from_address"],
        to_addresses=tuple(config["to_addresses"]),
        starttls=bool(config["starttls"]),
        username=config.get("username"),
    )


def _config_json(config: WebhookConfig | EmailConfig) -> dict[str, Any]:
    if isinstance(config, WebhookConfig):
        return {"url": config.url}
    return {
        "host": config.host,
        "port": config.port,
        "from_address": config.from_address,
        "to_addresses": list(config.to_addresses),
        "starttls": config.starttls,
        "username": config.username,
    }


def _channel(row: Any) -> Channel:
    kind = ChannelKind(row.kind)
    return Channel(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        kind=kind,
        config=_config_of(kind, dict(row.config)),
        enabled=row.enabled,
        created_at=row.created_at,
        secret_id=row.secret_id,
    )


def _sans(value: Any) -> tuple[San, ...]:
    return tuple(San(s["type"], s["value"]) for s in value or [])


def _certificate_target(row: Any) -> Monitored:
    return Monitored(
        kind=TargetKind.CERTIFICATE,
        target_id=row.identifier,
        account_id=row.account_id,
        repository_id=row.repository_id,
        repository_name=row.repository_name,
        common_name=row.common_name,
        subject=row.subject,
        not_after=row.not_after,
        is_ca=row.is_ca,
        sans=_sans(row.sans),
        serial_number=row.serial_number,
        fingerprint_sha256=row.fingerprint_sha256,
    )


def _ca_target(row: Any) -> Monitored:
    return Monitored(
        kind=TargetKind.CA,
        target_id=str(row.id),
        account_id=row.account_id,
        repository_id=row.repository_id,
        repository_name=row.repository_name,
        common_name=row.common_name,
        subject=f"CN={row.common_name}" if row.common_name else None,
        not_after=row.not_after,
        is_ca=True,
        serial_number=row.serial_number,
    )


def _notice(row: Any) -> NoticeRecord:
    return NoticeRecord(
        id=row.id,
        channel_id=row.channel_id,
        target_kind=TargetKind(row.target_kind),
        target_id=row.target_id,
        threshold_days=row.threshold_days,
        status=NoticeStatus(row.status),
        claimed_at=row.claimed_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        channel_id=row.channel_id,
        notice_id=row.notice_id,
        event=row.event,
        attempt=row.attempt,
        ok=row.ok,
        status_code=row.status_code,
        error=row.error,
        target_id=row.target_id,
        threshold_days=row.threshold_days,
        at=row.created_at,
    )


_CERTIFICATE_COLUMNS = (
    certificates.c.identifier,
    certificates.c.account_id,
    certificates.c.repository_id,
    repositories.c.name.label("repository_name"),
    certificates.c.common_name,
    certificates.c.subject,
    certificates.c.not_after,
    certificates.c.is_ca,
    certificates.c.sans,
    certificates.c.serial_number,
    certificates.c.fingerprint_sha256,
)


class NotificationStore(_Store):
    # --- channels -----------------------------------------------------------------------------------

    async def add_channel(
        self,
        *,
        account_id: int,
        name: str,
        config: WebhookConfig | EmailConfig,
        secret_id: int | None,
        now: datetime,
    ) -> Channel:
        """Insert an enabled channel; a name taken in the account (even by a concurrent insert) is refused."""
        kind = ChannelKind.WEBHOOK if isinstance(config, WebhookConfig) else ChannelKind.EMAIL
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    insert(notification_channels)
                    .values(
                        account_id=account_id,
                        name=name,
                        kind=kind.value,
                        config=_config_json(config),
                        secret_id=secret_id,
                        enabled=True,
                        created_at=now,
                    )
                    .returning(notification_channels)
                )
                row = result.one()
        except IntegrityError as exc:
            raise StateConflict(
                f"a notification channel named {name!r} already exists in this account",
                details={"field": "name"},
            ) from exc
        return _channel(row)

    async def channel_name_taken(self, account_id: int, name: str) -> bool:
        row = await self._one(
            select(notification_channels.c.id).where(
                and_(notification_channels.c.account_id == account_id, notification_channels.c.name == name)
            )
        )
        return row is not None

    async def get_channel(self, channel_id: int) -> Channel | None:
        row = await self._one(select(notification_channels).where(notification_channels.c.id == channel_id))
        return _channel(row) if row else None

    async def list_channels(
        self, account_id: int | None = None, *, enabled_only: bool = False
    ) -> list[Channel]:
        """Channels of one account, or of every account (the scan) when ``account_id`` is None."""
        statement = select(notification_channels).order_by(notification_channels.c.id)
        if account_id is not None:
            statement = statement.where(notification_channels.c.account_id == account_id)
        if enabled_only:
            statement = statement.where(notification_channels.c.enabled.is_(True))
        return [_channel(r) for r in await self._session.execute(statement)]

    async def delete_channel(self, channel_id: int) -> None:
        """Remove a channel with its notices and delivery log (the caller destroys its secret)."""
        await self._session.execute(
            delete(notification_deliveries).where(notification_deliveries.c.channel_id == channel_id)
        )
        await self._session.execute(delete(expiry_notices).where(expiry_notices.c.channel_id == channel_id))
        await self._session.execute(
            delete(notification_channels).where(notification_channels.c.id == channel_id)
        )

    # --- thresholds ---------------------------------------------------------------------------------

    async def get_rules(self, account_id: int) -> ExpiryRules:
        rows = await self._session.execute(
            select(expiry_rules).where(expiry_rules.c.account_id == account_id)
        )
        account_days: tuple[int, ...] | None = None
        per_repository: dict[int, tuple[int, ...]] = {}
        for row in rows:
            days = tuple(int(d) for d in row.thresholds_days)
            if row.repository_id is None:
                account_days = days
            else:
                per_repository[int(row.repository_id)] = days
        return ExpiryRules(account_days, per_repository)

    async def set_rule(
        self, account_id: int, repository_id: int | None, days: tuple[int, ...] | None, *, now: datetime
    ) -> None:
        """Replace the thresholds of an account (``repository_id`` None) or a repository; None removes
        them (back to the defaults, or to the account's)."""
        where = and_(
            expiry_rules.c.account_id == account_id,
            expiry_rules.c.repository_id.is_(None)
            if repository_id is None
            else expiry_rules.c.repository_id == repository_id,
        )
        await self._session.execute(delete(expiry_rules).where(where))
        if days is not None:
            await self._session.execute(
                insert(expiry_rules).values(
                    account_id=account_id,
                    repository_id=repository_id,
                    thresholds_days=list(days),
                    updated_at=now,
                )
            )

    # --- the scan lease -----------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        dialect = self._session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def acquire_lease(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or extend) the lease ``name`` unless another holder's lease is still running."""
        await self._session.execute(
            self._insert(scan_leases)
            .values(name=name, holder=None, expires_at=_EPOCH)
            .on_conflict_do_nothing()
        )
        result = await self._session.execute(
            update(scan_leases)
            .where(
                and_(
                    scan_leases.c.name == name,
                    or_(scan_leases.c.expires_at <= now, scan_leases.c.holder == holder),
                )
            )
            .values(holder=holder, expires_at=until)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def release_lease(self, name: str, *, holder: str, now: datetime) -> None:
        await self._session.execute(
            update(scan_leases)
            .where(and_(scan_leases.c.name == name, scan_leases.c.holder == holder))
            .values(holder=None, expires_at=now)
        )

    # --- what expires -------------------------------------------------------------------------------

    async def monitored(
        self, *, not_after_to: datetime, not_after_from: datetime | None = None, account_id: int | None = None
    ) -> list[Monitored]:
        """Unrevoked certificates of enabled repositories and the intermediate CAs bound to enabled
        repositories whose ``not_after`` falls in the window, soonest first."""
        certificate_where = [
            certificates.c.status == CertificateStatus.ISSUED.value,
            certificates.c.not_after <= not_after_to,
            repositories.c.status == RepositoryStatus.ENABLED.value,
        ]
        ca_where = [cas.c.not_after <= not_after_to, repositories.c.status == RepositoryStatus.ENABLED.value]
        if not_after_from is not None:
            certificate_where.append(certificates.c.not_after >= not_after_from)
            ca_where.append(cas.c.not_after >= not_after_from)
        if account_id is not None:
            certificate_where.append(certificates.c.account_id == account_id)
            ca_where.append(cas.c.account_id == account_id)
        certificate_rows = await self._session.execute(
            select(*_CERTIFICATE_COLUMNS)
            .join(repositories, repositories.c.id == certificates.c.repository_id)
            .where(and_(*certificate_where))
        )
        ca_rows = await self._session.execute(
            select(
                cas.c.id,
                cas.c.account_id,
                repositories.c.id.label("repository_id"),
                repositories.c.name.label("repository_name"),
                cas.c.common_name,
                cas.c.not_after,
                cas.c.serial_number,
            )
            .join(repositories, repositories.c.ca_id == cas.c.id)
            .where(and_(*ca_where))
        )
        found = [_certificate_target(r) for r in certificate_rows] + [_ca_target(r) for r in ca_rows]
        return sorted(found, key=lambda t: (t.not_after, t.kind.value, t.target_id))

    async def renewal_peers(self, targets: Sequence[Monitored]) -> list[Monitored]:
        """Unrevoked certificates sharing a repository and subject with one of ``targets`` and expiring
        later than the earliest of them: the candidates for "renewed by"."""
        wanted = [t for t in targets if t.kind is TargetKind.CERTIFICATE and t.subject is not None]
        if not wanted:
            return []
        earliest = min(t.not_after for t in wanted)
        repository_ids = sorted({t.repository_id for t in wanted})
        subjects = {t.subject for t in wanted}
        peers: list[Monitored] = []
        for chunk in _chunks(repository_ids):
            rows = await self._session.execute(
                select(*_CERTIFICATE_COLUMNS)
                .join(repositories, repositories.c.id == certificates.c.repository_id)
                .where(
                    and_(
                        certificates.c.repository_id.in_(list(chunk)),
                        certificates.c.status == CertificateStatus.ISSUED.value,
                        certificates.c.not_after > earliest,
                    )
                )
            )
            peers.extend(p for p in (_certificate_target(r) for r in rows) if p.subject in subjects)
        return peers

    async def count_by_expiry_bucket(self, now: datetime) -> dict[str, int]:
        """How many monitored targets expire within each bucket of ``EXPIRY_BUCKETS_DAYS`` (not cumulative)."""
        counts: dict[str, int] = {"expired": 0, **{f"{d}d": 0 for d in EXPIRY_BUCKETS_DAYS}, "later": 0}
        for not_after, source, where in (
            (
                certificates.c.not_after,
                certificates.join(repositories, repositories.c.id == certificates.c.repository_id),
                certificates.c.status == CertificateStatus.ISSUED.value,
            ),
            (cas.c.not_after, cas.join(repositories, repositories.c.ca_id == cas.c.id), true()),
        ):
            bucket = case(
                (not_after <= now, literal("expired")),
                *[(not_after <= now + timedelta(days=d), literal(f"{d}d")) for d in EXPIRY_BUCKETS_DAYS],
                else_=literal("later"),
            ).label("bucket")
            # Grouping over a subquery: PostgreSQL would not match a CASE with bound parameters in GROUP BY.
            buckets = (
                select(bucket)
                .select_from(source)
                .where(and_(where, repositories.c.status == RepositoryStatus.ENABLED.value))
                .subquery()
            )
            rows = await self._session.execute(
                select(buckets.c.bucket, func.count()).group_by(buckets.c.bucket)
            )
            for name, count in rows:
                counts[str(name)] += int(count)
        return counts

    # --- notices ------------------------------------------------------------------------------------

    async def notices_for(self, channel_ids: Sequence[int], target_ids: Sequence[str]) -> list[NoticeRecord]:
        if not channel_ids or not target_ids:
            return []
        found: list[NoticeRecord] = []
        for chunk in _chunks(sorted(set(target_ids))):
            rows = await self._session.execute(
                select(expiry_notices).where(
                    and_(
                        expiry_notices.c.channel_id.in_(list(channel_ids)),
                        expiry_notices.c.target_id.in_(list(chunk)),
                    )
                )
            )
            found.extend(_notice(r) for r in rows)
        return found

    async def claim_notice(
        self, *, channel_id: int, target: Monitored, threshold_days: int, holder: str, now: datetime
    ) -> int | None:
        """Insert the notice as pending; None when it exists already (another scan, another node)."""
        result = await self._session.execute(
            self._insert(expiry_notices)
            .values(
                channel_id=channel_id,
                target_kind=target.kind.value,
                target_id=target.target_id,
                threshold_days=threshold_days,
                account_id=target.account_id,
                repository_id=target.repository_id,
                not_after=target.not_after,
                status=NoticeStatus.PENDING.value,
                attempts=0,
                claimed_by=holder,
                claimed_at=now,
            )
            .on_conflict_do_nothing()
            .returning(expiry_notices.c.id)
        )
        notice_id = result.scalar_one_or_none()
        return int(notice_id) if notice_id is not None else None

    async def reclaim_notice(
        self, notice_id: int, *, holder: str, now: datetime, stale_before: datetime
    ) -> bool:
        """Take over a pending notice whose claim is older than ``stale_before`` (its node died)."""
        result = await self._session.execute(
            update(expiry_notices)
            .where(
                and_(
                    expiry_notices.c.id == notice_id,
                    expiry_notices.c.status == NoticeStatus.PENDING.value,
                    expiry_notices.c.claimed_at < stale_before,
                )
            )
            .values(claimed_by=holder, claimed_at=now)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def finish_notice(
        self, notice_id: int, *, status: NoticeStatus, attempts: int, status_code: int | None, now: datetime
    ) -> None:
        await self._session.execute(
            update(expiry_notices)
            .where(expiry_notices.c.id == notice_id)
            .values(status=status.value, attempts=attempts, status_code=status_code, finished_at=now)
        )

    # --- delivery log -------------------------------------------------------------------------------

    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await self._session.execute(
            insert(notification_deliveries),
            [
                {
                    "channel_id": d.channel_id,
                    "notice_id": d.notice_id,
                    "event": d.event,
                    "attempt": d.attempt,
                    "ok": d.ok,
                    "status_code": d.status_code,
                    "error": (d.error or "")[:256] or None,
                    "target_id": d.target_id,
                    "threshold_days": d.threshold_days,
                    "created_at": d.at,
                }
                for d in deliveries
            ],
        )

    async def list_deliveries(self, channel_id: int, page: Page) -> tuple[list[Delivery], int]:
        """The delivery log of a channel, newest first."""
        where = notification_deliveries.c.channel_id == channel_id
        total = (
            await self._session.execute(
                select(func.count()).select_from(notification_deliveries).where(where)
            )
        ).scalar_one()
        rows = await self._session.execute(
            select(notification_deliveries)
            .where(where)
            .order_by(notification_deliveries.c.id.desc())
            .offset(page.offset)
            .limit(page.size)
        )
        return [_delivery(r) for r in rows], int(total)
