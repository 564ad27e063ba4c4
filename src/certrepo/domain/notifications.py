"""Expiry monitoring and notification rules (issue 9): channels, thresholds, when a notice is due.

Vocabulary:

- a *target* is what can expire: a certificate of a repository (end-entity or CA, e.g. of an ``uploaded_ca``
  trust store) or the intermediate CA bound to a repository (table ``cas``);
- a *stage* is the threshold (days before ``not_after``) a target has reached; stage ``0`` is the final
  notice of an expired target (``EXPIRED_STAGE``);
- a *notice* is one (channel, target, stage): it is sent at most once, the database decides (unique key).

A certificate is *renewed* when its repository holds another certificate, not revoked, with the same
subject DN and the same set of SANs and a later ``not_after``. Renewed, revoked and deleted certificates get
no further notices. Nothing here reads the clock: ``now`` comes in as an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from .certificate import San
from .errors import InvalidInput

__all__ = [
    "DEFAULT_THRESHOLDS_DAYS",
    "EXPIRED_STAGE",
    "EXPIRY_BUCKETS_DAYS",
    "FINAL_NOTICE_WINDOW_DAYS",
    "Channel",
    "ChannelKind",
    "Delivery",
    "EmailConfig",
    "ExpiryRules",
    "Monitored",
    "NoticeRecord",
    "NoticeStatus",
    "TargetKind",
    "WebhookConfig",
    "due_stage",
    "expiry_bucket",
    "is_renewed",
    "next_action",
    "normalize_thresholds",
    "sign_webhook_body",
    "validate_channel_name",
]

DEFAULT_THRESHOLDS_DAYS: tuple[int, ...] = (30, 14, 7, 1)
EXPIRED_STAGE = 0
# Certificates that expired longer ago than this are old news: no final notice (e.g. on first start).
FINAL_NOTICE_WINDOW_DAYS = 30
MAX_THRESHOLD_DAYS = 3650
MAX_THRESHOLDS = 10
# Upper bounds (days) of the buckets of the /metrics gauge; beyond the last one is "later".
EXPIRY_BUCKETS_DAYS: tuple[int, ...] = (1, 7, 14, 30, 90)


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class TargetKind(StrEnum):
    CERTIFICATE = "certificate"
    CA = "ca"


class NoticeStatus(StrEnum):
    PENDING = "pending"  # claimed by a scan, delivery under way (or the scanning node died)
    SENT = "sent"
    FAILED = "failed"  # every attempt failed; the next stage will be tried when it is due


# --- channels ---------------------------------------------------------------------------------------


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in value)


def validate_channel_name(name: str) -> str:
    """1–64 characters after trimming, no control characters."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= 64 or _has_control(trimmed):
        raise InvalidInput(
            "channel name must be 1-64 characters without control characters", details={"field": "name"}
        )
    return trimmed


@dataclass(frozen=True)
class WebhookConfig:
    """Where a webhook channel POSTs: the operator's own endpoint (never a URL found in a certificate)."""

    url: str

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            _ = parts.port  # parses the port: "https://h:x/" is refused here, not when sending
        except ValueError as exc:
            raise InvalidInput(f"webhook url is not a valid URL: {exc}", details={"field": "url"}) from exc
        if len(self.url) > 2048 or _has_control(self.url) or " " in self.url:
            raise InvalidInput(
                "webhook url must be at most 2048 characters, without spaces or control characters",
                details={"field": "url"},
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                "webhook url must be an http:// or https:// URL with a host", details={"field": "url"}
            )
        if parts.username is not None or parts.password is not None:
            # Credentials in a URL end up in logs and listings; the signature header authenticates us.
            raise InvalidInput("webhook url must not contain user:password@", details={"field": "url"})


def _address(value: str, where: str) -> str:
    address = value.strip()
    # CR/LF would let a value inject mail headers; '@' and a short length keep it an address.
    if not 3 <= len(address) <= 254 or "@" not in address or _has_control(address) or " " in address:
        raise InvalidInput(f"{where}: {value!r} is not an email address", details={"field": where})
    return address


@dataclass(frozen=True)
class EmailConfig:
    """An SMTP relay and the recipients of its notices. The password is sealed apart, never here."""

    host: str
    port: int
    from_address: str
    to_addresses: tuple[str, ...]
    starttls: bool = True
    username: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.host) <= 253 or _has_control(self.host) or " " in self.host:
            raise InvalidInput("smtp host must be a host name or address", details={"field": "host"})
        if not 1 <= self.port <= 65535:
            raise InvalidInput(f"smtp port {self.port} is not between 1 and 65535", details={"field": "port"})
        object.__setattr__(self, "from_address", _address(self.from_address, "from_address"))
        if not 1 <= len(self.to_addresses) <= 20:
            raise InvalidInput("to must list 1-20 recipients", details={"field": "to"})
        object.__setattr__(self, "to_addresses", tuple(_address(a, "to") for a in self.to_addresses))
        if self.username is not None and (not 1 <= len(self.username) <= 256 or _has_control(self.username)):
            raise InvalidInput("smtp username must be 1-256 characters", details={"field": "username"})


@dataclass(frozen=True)
class Channel:
    """A notification channel of an account. ``secret_id`` names its sealed secret (webhook signing
    secret, or SMTP password); the secret itself never appears in this object."""

    id: int
    account_id: int
    name: str
    kind: ChannelKind
    config: WebhookConfig | EmailConfig
    enabled: bool
    created_at: datetime
    secret_id: int | None = None


def sign_webhook_body(secret: bytes, body: bytes) -> str:
    """The ``X-Certrepo-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# --- thresholds -------------------------------------------------------------------------------------


def normalize_thresholds(days: Iterable[int]) -> tuple[int, ...]:
    """Distinct thresholds in days, 1–3650 each, at most 10, most distant first. Raises InvalidInput."""
    values = sorted(set(days), reverse=True)
    if not 1 <= len(values) <= MAX_THRESHOLDS:
        raise InvalidInput(f"give 1-{MAX_THRESHOLDS} thresholds", details={"field": "days"})
    for value in values:
        if isinstance(value, bool) or not 1 <= value <= MAX_THRESHOLD_DAYS:
            raise InvalidInput(
                f"threshold {value} is not between 1 and {MAX_THRESHOLD_DAYS} days", details={"field": "days"}
            )
    return tuple(values)


@dataclass(frozen=True)
class ExpiryRules:
    """Thresholds of one account: its own (or the defaults), overridden per repository."""

    account_days: tuple[int, ...] | None = None
    repository_days: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def account_thresholds(self) -> tuple[int, ...]:
        return self.account_days or DEFAULT_THRESHOLDS_DAYS

    def thresholds_for(self, repository_id: int) -> tuple[int, ...]:
        return self.repository_days.get(repository_id) or self.account_thresholds

    @property
    def horizon_days(self) -> int:
        """The largest threshold anywhere in the account: how far ahead a scan must look."""
        return max([*self.account_thresholds, *(d for v in self.repository_days.values() for d in v)])


def due_stage(not_after: datetime, now: datetime, thresholds: Sequence[int]) -> int | None:
    """The stage a target has reached: the smallest threshold already crossed, ``EXPIRED_STAGE`` once
    expired, None before the first threshold. Stages only go down as time passes, so notices come in
    order; a scan that comes late sends only the most urgent stage, never a burst of stale ones."""
    remaining = not_after - now
    if remaining <= timedelta(0):
        return EXPIRED_STAGE
    crossed = [t for t in thresholds if remaining <= timedelta(days=t)]
    return min(crossed) if crossed else None


def expiry_bucket(not_after: datetime, now: datetime) -> str:
    """The /metrics bucket of a target: ``expired``, ``1d``, ``7d``, … (within that many days), ``later``."""
    remaining = not_after - now
    if remaining <= timedelta(0):
        return "expired"
    for days in EXPIRY_BUCKETS_DAYS:
        if remaining <= timedelta(days=days):
            return f"{days}d"
    return "later"


# --- targets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Monitored:
    """Something that expires, with what a notice says about it."""

    kind: TargetKind
    target_id: str  # certificate identifier, or the CA id as text
    account_id: int
    repository_id: int
    repository_name: str
    common_name: str | None
    subject: str | None
    not_after: datetime
    is_ca: bool
    sans: tuple[San, ...] = ()
    serial_number: str | None = None
    fingerprint_sha256: str | None = None

    def days_left(self, now: datetime) -> int:
        """Whole days until expiry (negative once expired), rounded down."""
        return (self.not_after - now) // timedelta(days=1)

    @property
    def label(self) -> str:
        """How people recognise it: the common name, else the subject, else the identifier."""
        return self.common_name or self.subject or f"{self.kind.value} {self.target_id}"


def _san_set(sans: Iterable[San]) -> frozenset[tuple[str, str]]:
    # DNS names and mail domains are case-insensitive; comparing lower-cased avoids a false "not renewed".
    return frozenset((s.type, s.value.lower() if s.type in ("dns", "email") else s.value) for s in sans)


def is_renewed(target: Monitored, peers: Iterable[Monitored]) -> bool:
    """A certificate is renewed when a peer in the same repository has the same subject and SANs and
    expires later (CA rows bound to repositories are renewed by binding another CA, not here)."""
    if target.kind is not TargetKind.CERTIFICATE:
        return False
    wanted = _san_set(target.sans)
    return any(
        p.kind is TargetKind.CERTIFICATE
        and p.target_id != target.target_id
        and p.repository_id == target.repository_id
        and p.subject == target.subject
        and p.not_after > target.not_after
        and _san_set(p.sans) == wanted
        for p in peers
    )


# --- notices and deliveries -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRecord:
    """A claimed notice (row of the unique key (channel, target, stage))."""

    id: int
    channel_id: int
    target_kind: TargetKind
    target_id: str
    threshold_days: int
    status: NoticeStatus
    claimed_at: datetime


def next_action(
    stage: int, existing: Sequence[NoticeRecord], *, stale_before: datetime
) -> tuple[str, NoticeRecord | None] | None:
    """What a scan does for one (channel, target) at ``stage``: ``("claim", None)`` for a new notice,
    ``("reclaim", record)`` for a claim whose node died before finishing, or None (already done, or a more
    urgent stage was already notified, so an older one would arrive out of order)."""
    if any(r.threshold_days < stage for r in existing):
        return None
    same = [r for r in existing if r.threshold_days == stage]
    if not same:
        return ("claim", None)
    record = same[0]
    if record.status is NoticeStatus.PENDING and record.claimed_at < stale_before:
        return ("reclaim", record)
    return None


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver a notice (or a test message) on a channel: the delivery log."""

    channel_id: int
    event: str
    attempt: int
    ok: bool
    at: datetime
    status_code: int | None = None
    error: str | None = None
    target_id: str | None = None
    threshold_days: int | None = None
    notice_id: int | None = None
    id: int | None = None
