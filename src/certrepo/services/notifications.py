"""Notification channels (webhook, email) of an account, and the delivery of notices through them.

Services do no I/O: webhooks and mail go out through a ``NotificationTransport`` (the real one is in
``certrepo.notify.transports``, wired by ``app.py``; tests inject their own or point it at loopback
servers). Retries wait through the injected ``sleep`` so that tests never sleep.

A webhook POSTs a JSON body with ``X-Certrepo-Signature: sha256=<hex HMAC-SHA256 of the body>`` under the
channel's secret, which is generated here, sealed in the keystore (purpose ``webhook-secret``) and shown
once, at creation. SMTP passwords are sealed the same way (purpose ``smtp-password``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from certrepo.domain.access import Permission
from certrepo.domain.errors import InvalidInput, NotFound, StateConflict, Unsupported
from certrepo.domain.notifications import (
    EXPIRED_STAGE,
    Channel,
    ChannelKind,
    Delivery,
    EmailConfig,
    Monitored,
    WebhookConfig,
    sign_webhook_body,
    validate_channel_name,
)
from certrepo.domain.paging import Page, PageOf
from certrepo.domain.secrets import Secret

from .audit import event_for
from .context import Call, Services
from .ports import Clock, NotificationStore, NotifyingUnitOfWork, UnitOfWork

__all__ = [
    "NOTIFIER_KEY",
    "SIGNATURE_HEADER",
    "SMTP_PASSWORD_PURPOSE",
    "WEBHOOK_SECRET_PURPOSE",
    "ChannelTarget",
    "DeliveryOutcome",
    "EmailRequest",
    "NewChannel",
    "Notice",
    "NotificationTransport",
    "Notifier",
    "RetryPolicy",
    "Sleep",
    "TransportResult",
    "WebhookRequest",
    "create_channel",
    "delete_channel",
    "deliver",
    "email_content",
    "get_channel",
    "list_channels",
    "list_deliveries",
    "notifier_of",
    "open_channel_targets",
    "send_test_message",
    "store_of",
    "webhook_body",
]

WEBHOOK_SECRET_PURPOSE = "webhook-secret"
SMTP_PASSWORD_PURPOSE = "smtp-password"
SIGNATURE_HEADER = "X-Certrepo-Signature"
NOTIFIER_KEY = "notifier"

# --- the transport seam -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class EmailRequest:
    config: EmailConfig
    password: Secret | None
    subject: str
    text: str


@dataclass(frozen=True)
class TransportResult:
    """What one attempt gave: the HTTP status or SMTP reply code, and whether another try may help."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = True


class NotificationTransport(Protocol):
    async def post_webhook(self, request: WebhookRequest, *, timeout_seconds: float) -> TransportResult: ...
    async def send_email(self, request: EmailRequest, *, timeout_seconds: float) -> TransportResult: ...


Sleep = Callable[[float], Awaitable[None]]


def _ignore(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: waits base, 2·base, 4·base … (capped) between at most ``max_attempts``."""

    max_attempts: int = 4
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def delay_after(self, attempt: int) -> float:
        return float(min(self.base_delay_seconds * 2 ** (attempt - 1), self.max_delay_seconds))


@dataclass
class Notifier:
    """What delivering needs besides the database, wired once per process (``services.extras``)."""

    transport: NotificationTransport
    sleep: Sleep = asyncio.sleep
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_delivery_failed: Callable[[ChannelKind], None] = _ignore
    on_expiry_buckets: Callable[[Mapping[str, int]], None] = _ignore


def notifier_of(services: Services) -> Notifier:
    """The wired notifier. Raises Unsupported when this process has none (e.g. a bare CLI process)."""
    notifier = services.extras.get(NOTIFIER_KEY)
    if not isinstance(notifier, Notifier):
        raise Unsupported("notifications are not wired in this process: no transport to send through")
    return notifier


def store_of(uow: UnitOfWork) -> NotificationStore:
    """The notification store of a unit of work."""
    return cast(NotifyingUnitOfWork, uow).notifications


# --- what is sent -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One message: an expiry notice of ``target`` at stage ``threshold_days``, or a test message."""

    event: str  # certificate.expiring | certificate.expired | test
    account_id: int
    delivery_id: str
    sent_at: datetime
    target: Monitored | None = None
    threshold_days: int | None = None

    @classmethod
    def for_stage(cls, target: Monitored, stage: int, *, delivery_id: str, sent_at: datetime) -> Notice:
        event = "certificate.expired" if stage == EXPIRED_STAGE else "certificate.expiring"
        return cls(event, target.account_id, delivery_id, sent_at, target, stage)


def _printable(value: str) -> str:
    # Certificate fields are the uploader's text: no control characters reach mail headers or bodies.
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in value)


def webhook_body(notice: Notice) -> bytes:
    """The JSON body of a webhook (compact, keys sorted: the signature covers these exact bytes)."""
    data: dict[str, Any] = {
        "event": notice.event,
        "delivery_id": notice.delivery_id,
        "sent_at": notice.sent_at.isoformat(),
        "account_id": notice.account_id,
    }
    target = notice.target
    if target is not None:
        data["threshold_days"] = notice.threshold_days
        data["days_left"] = target.days_left(notice.sent_at)
        data["expired"] = target.not_after <= notice.sent_at
        data["certificate"] = {
            "kind": target.kind.value,
            "identifier": target.target_id,
            "common_name": target.common_name,
            "subject": target.subject,
            "sans": [{"type": s.type, "value": s.value} for s in target.sans],
            "serial_number": target.serial_number,
            "fingerprint_sha256": target.fingerprint_sha256,
            "is_ca": target.is_ca,
            "not_after": target.not_after.isoformat(),
        }
        data["repository"] = {"id": target.repository_id, "name": target.repository_name}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def email_content(notice: Notice) -> tuple[str, str]:
    """Subject and plain-text body of a notice mail: they name the certificate, repository and date."""
    target = notice.target
    if target is None:
        return "[certrepo] test message", (
            f"This is a test message from certrepo (delivery {notice.delivery_id}).\n"
            "Expiry notices of this account will arrive on this channel.\n"
        )
    label = _printable(target.label)
    repository = _printable(target.repository_name)
    date = f"{target.not_after:%Y-%m-%d %H:%M} UTC"
    days = target.days_left(notice.sent_at)
    what = "CA certificate" if target.is_ca else "certificate"
    if notice.event == "certificate.expired":
        subject = (
            f"[certrepo] {what} {label} in repository {repository} expired on {target.not_after:%Y-%m-%d}"
        )
        status = f"expired on {date}"
    else:
        subject = (
            f"[certrepo] {what} {label} in repository {repository} expires on {target.not_after:%Y-%m-%d}"
            f" (in {days} days)"
        )
        status = f"expires on {date}, in {days} days (threshold {notice.threshold_days} days)"
    lines = [
        f"The {what} {label} {status}.",
        "",
        f"Repository:  {repository} (id {target.repository_id})",
        f"Identifier:  {target.target_id}"
        + (" (CA bound to the repository)" if target.kind.value == "ca" else ""),
        f"Subject:     {_printable(target.subject or '-')}",
        f"SANs:        {_printable(', '.join(s.value for s in target.sans) or '-')}",
        f"Serial:      {target.serial_number or '-'}",
        f"Not after:   {date}",
        "",
        "Renew it and upload the new certificate to the same repository: notices stop once a certificate",
        "with the same subject and SANs and a later expiry is there.",
        f"(delivery {notice.delivery_id})",
    ]
    return subject[:250], "\n".join(lines) + "\n"


# --- delivering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelTarget:
    """A channel with its secret opened, ready to send (lives for one scan or one test-send)."""

    channel: Channel
    secret: Secret | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DeliveryOutcome:
    ok: bool
    attempts: tuple[Delivery, ...]

    @property
    def status_code(self) -> int | None:
        return self.attempts[-1].status_code if self.attempts else None


async def _attempt(notifier: Notifier, target: ChannelTarget, notice: Notice) -> TransportResult:
    channel, timeout = target.channel, notifier.retry.timeout_seconds
    if isinstance(channel.config, WebhookConfig):
        if target.secret is None:
            return TransportResult(False, error="webhook channel has no secret", retryable=False)
        body = webhook_body(notice)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "certrepo-notifier",
            SIGNATURE_HEADER: sign_webhook_body(target.secret.reveal(), body),
            "X-Certrepo-Event": notice.event,
            "X-Certrepo-Delivery": notice.delivery_id,
        }
        return await notifier.transport.post_webhook(
            WebhookRequest(channel.config.url, body, headers), timeout_seconds=timeout
        )
    subject, text = email_content(notice)
    return await notifier.transport.send_email(
        EmailRequest(channel.config, target.secret, subject, text), timeout_seconds=timeout
    )


async def deliver(
    notifier: Notifier,
    target: ChannelTarget,
    notice: Notice,
    *,
    clock: Clock,
    retries: bool = True,
    notice_id: int | None = None,
) -> DeliveryOutcome:
    """Send ``notice`` on a channel, retrying failures that may pass (5xx, 429, timeouts, refused
    connections, SMTP 4xx) with exponential backoff. Never raises for a failed delivery: the outcome
    lists every attempt for the delivery log."""
    attempts: list[Delivery] = []
    limit = notifier.retry.max_attempts if retries else 1
    for number in range(1, limit + 1):
        result = await _attempt(notifier, target, notice)
        attempts.append(
            Delivery(
                channel_id=target.channel.id,
                event=notice.event,
                attempt=number,
                ok=result.ok,
                at=clock(),
                status_code=result.status_code,
                error=result.error,
                target_id=notice.target.target_id if notice.target else None,
                threshold_days=notice.threshold_days,
                notice_id=notice_id,
            )
        )
        if result.ok or not result.retryable or number == limit:
            break
        await notifier.sleep(notifier.retry.delay_after(number))
    ok = bool(attempts) and attempts[-1].ok
    if not ok:
        notifier.on_delivery_failed(target.channel.kind)
    return DeliveryOutcome(ok, tuple(attempts))


async def open_channel_targets(
    services: Services, uow: UnitOfWork, channels: Sequence[Channel]
) -> list[ChannelTarget]:
    """Open the sealed secret of each channel (webhook secret, SMTP password) for sending."""
    opened: list[ChannelTarget] = []
    for channel in channels:
        secret = None
        if channel.secret_id is not None:
            sealed = await uow.key_material.get(channel.secret_id)
            if sealed is not None:
                purpose = (
                    WEBHOOK_SECRET_PURPOSE if channel.kind is ChannelKind.WEBHOOK else SMTP_PASSWORD_PURPOSE
                )
                secret = Secret(services.keystore.open(sealed, purpose=purpose))
        opened.append(ChannelTarget(channel, secret))
    return opened


# --- channel use cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewChannel:
    """A created channel; ``secret`` (webhooks) is shown once and never again."""

    channel: Channel
    secret: Secret | None = field(default=None, repr=False)


async def _load_channel(uow: UnitOfWork, call: Call, channel_id: int) -> Channel:
    channel = await store_of(uow).get_channel(channel_id)
    if channel is None or channel.account_id != call.principal.account_id:
        raise NotFound(
            f"notification channel {channel_id} does not exist", details={"channel_id": channel_id}
        )
    return channel


async def create_channel(
    services: Services,
    call: Call,
    *,
    name: str,
    config: WebhookConfig | EmailConfig,
    smtp_password: Secret | None = None,
) -> NewChannel:
    """Add a webhook or email channel to the caller's account (admin). A webhook gets a new signing
    secret, returned here only. Raises PermissionDenied, InvalidInput, StateConflict (name taken)."""
    call.principal.require(Permission.ADMINISTER)
    name = validate_channel_name(name)
    secret: Secret | None = None
    purpose = WEBHOOK_SECRET_PURPOSE
    if isinstance(config, WebhookConfig):
        if smtp_password is not None:
            raise InvalidInput("a webhook channel takes no password", details={"field": "password"})
        secret = Secret(base64.urlsafe_b64encode(services.random_bytes(32)).rstrip(b"="))
    elif smtp_password is not None:
        if config.username is None:
            raise InvalidInput("an SMTP password needs a username", details={"field": "username"})
        purpose = SMTP_PASSWORD_PURPOSE
    to_seal = secret or smtp_password
    now = services.clock()
    async with services.uow() as uow:
        store = store_of(uow)
        if await store.channel_name_taken(call.principal.account_id, name):
            raise StateConflict(
                f"a notification channel named {name!r} already exists in this account",
                details={"field": "name"},
            )
        secret_id = None
        if to_seal is not None:
            sealed = services.keystore.seal(to_seal.reveal(), purpose=purpose)
            secret_id = await uow.key_material.add(sealed, purpose=purpose, now=now)
        channel = await store.add_channel(
            account_id=call.principal.account_id, name=name, config=config, secret_id=secret_id, now=now
        )
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "notification_channel.create",
                    details={"channel_id": channel.id, "kind": channel.kind.value, "name": name},
                )
            ]
        )
        await uow.commit()
    return NewChannel(channel, secret)


async def list_channels(services: Services, call: Call) -> list[Channel]:
    """Channels of the caller's account (admin). Secrets are never listed."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow(read_only=True) as uow:
        return await store_of(uow).list_channels(call.principal.account_id)


async def get_channel(services: Services, call: Call, channel_id: int) -> Channel:
    """One channel of the caller's account (admin). Raises NotFound."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow(read_only=True) as uow:
        return await _load_channel(uow, call, channel_id)


async def delete_channel(services: Services, call: Call, channel_id: int) -> None:
    """Remove a channel, its notices and delivery log; its secret is destroyed (admin). Raises NotFound."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        channel = await _load_channel(uow, call, channel_id)
        await store_of(uow).delete_channel(channel_id)
        await uow.key_material.destroy([channel.secret_id] if channel.secret_id is not None else [])
        await uow.audit.append(
            [event_for(services, call, "notification_channel.delete", details={"channel_id": channel_id})]
        )
        await uow.commit()


async def send_test_message(services: Services, call: Call, channel_id: int) -> DeliveryOutcome:
    """Send a test message now, one attempt (no retries: the caller is waiting), and log it (admin).
    Raises NotFound, Unsupported (no transport wired)."""
    call.principal.require(Permission.ADMINISTER)
    notifier = notifier_of(services)
    async with services.uow(read_only=True) as uow:
        channel = await _load_channel(uow, call, channel_id)
        [target] = await open_channel_targets(services, uow, [channel])
    notice = Notice("test", channel.account_id, services.random_bytes(8).hex(), services.clock())
    outcome = await deliver(notifier, target, notice, clock=services.clock, retries=False)
    async with services.uow() as uow:
        await store_of(uow).add_deliveries(outcome.attempts)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "notification_channel.test",
                    outcome="success" if outcome.ok else "failure",
                    details={"channel_id": channel_id, "status_code": outcome.status_code},
                )
            ]
        )
        await uow.commit()
    return outcome


async def list_deliveries(services: Services, call: Call, channel_id: int, *, page: Page) -> PageOf[Delivery]:
    """The delivery log of a channel, newest first (admin). Raises NotFound."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow(read_only=True) as uow:
        await _load_channel(uow, call, channel_id)
        items, total = await store_of(uow).list_deliveries(channel_id, page)
    return PageOf(items, total, page)
