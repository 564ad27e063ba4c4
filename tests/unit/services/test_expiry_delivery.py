"""Delivering a notice (issue 9): signed webhook bodies, mail content, retries with backoff, and the real
transport's reading of HTTP answers (through httpx.MockTransport). No database, no network."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import ClassVar

import httpx
import pytest

from certrepo.domain.certificate import San
from certrepo.domain.errors import Unsupported
from certrepo.domain.notifications import (
    Channel,
    ChannelKind,
    EmailConfig,
    Monitored,
    TargetKind,
    WebhookConfig,
)
from certrepo.domain.secrets import Secret
from certrepo.notify.transports import HttpSmtpTransport
from certrepo.services.notifications import (
    SIGNATURE_HEADER,
    ChannelTarget,
    DeliveryOutcome,
    EmailRequest,
    Notice,
    Notifier,
    RetryPolicy,
    TransportResult,
    WebhookRequest,
    deliver,
    email_content,
    notifier_of,
)

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
SECRET = b"webhook-signing-secret"
TARGET = Monitored(
    kind=TargetKind.CERTIFICATE,
    target_id="0f" * 16,
    account_id=1,
    repository_id=4,
    repository_name="payments",
    common_name="pay.example.com",
    subject="CN=pay.example.com",
    not_after=NOW + dt.timedelta(days=6, hours=3),
    is_ca=False,
    sans=(San("dns", "pay.example.com"),),
    serial_number="1a2b",
)
WEBHOOK = Channel(1, 1, "ops", ChannelKind.WEBHOOK, WebhookConfig("https://hooks.example/x"), True, NOW, 9)
EMAIL = Channel(
    2,
    1,
    "mail",
    ChannelKind.EMAIL,
    EmailConfig("smtp.example.com", 587, "certrepo@example.com", ("ops@example.com",), username="u"),
    True,
    NOW,
    10,
)


class ScriptedTransport:
    """Answers each attempt from a script and keeps what it was asked to send."""

    def __init__(self, *results: TransportResult) -> None:
        self.results = list(results)
        self.webhooks: list[WebhookRequest] = []
        self.emails: list[EmailRequest] = []

    def _next(self) -> TransportResult:
        return self.results.pop(0) if self.results else TransportResult(True, 200)

    async def post_webhook(self, request: WebhookRequest, *, timeout_seconds: float) -> TransportResult:
        self.webhooks.append(request)
        return self._next()

    async def send_email(self, request: EmailRequest, *, timeout_seconds: float) -> TransportResult:
        self.emails.append(request)
        return self._next()


class Harness:
    def __init__(self, *results: TransportResult) -> None:
        self.transport = ScriptedTransport(*results)
        self.sleeps: list[float] = []
        self.failed: list[ChannelKind] = []
        self.notifier = Notifier(
            transport=self.transport, sleep=self._sleep, on_delivery_failed=self.failed.append
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _notice(stage: int = 7) -> Notice:
    return Notice.for_stage(TARGET, stage, delivery_id="d1", sent_at=NOW)


async def _deliver(harness: Harness, channel: Channel = WEBHOOK, **kw: bool) -> DeliveryOutcome:
    target = ChannelTarget(channel, Secret(SECRET) if channel is WEBHOOK else Secret(b"smtp-pw"))
    return await deliver(harness.notifier, target, _notice(), clock=lambda: NOW, **kw)


async def test_the_webhook_signature_is_an_hmac_sha256_of_the_exact_body() -> None:
    harness = Harness()
    await _deliver(harness)
    [request] = harness.transport.webhooks
    expected = "sha256=" + hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == expected
    assert request.headers["X-Certrepo-Event"] == "certificate.expiring"


async def test_the_webhook_body_names_the_certificate_repository_stage_and_date() -> None:
    harness = Harness()
    await _deliver(harness)
    body = json.loads(harness.transport.webhooks[0].body)
    assert body["certificate"]["identifier"] == TARGET.target_id and body["repository"] == {
        "id": 4,
        "name": "payments",
    }
    assert (body["threshold_days"], body["days_left"], body["expired"]) == (7, 6, False)
    assert body["certificate"]["not_after"] == TARGET.not_after.isoformat()


async def test_retryable_failures_are_retried_with_exponential_backoff_until_delivered() -> None:
    harness = Harness(TransportResult(False, 500), TransportResult(False, None, "ConnectError"))
    outcome = await _deliver(harness)
    assert outcome.ok and [a.status_code for a in outcome.attempts] == [500, None, 200]
    assert harness.sleeps == [2.0, 4.0] and harness.failed == []


async def test_every_attempt_failing_is_a_failed_delivery_counted_once() -> None:
    harness = Harness(*[TransportResult(False, 503)] * 10)
    outcome = await _deliver(harness)
    assert not outcome.ok and len(outcome.attempts) == 4
    assert harness.sleeps == [2.0, 4.0, 8.0] and harness.failed == [ChannelKind.WEBHOOK]


async def test_a_permanent_refusal_is_not_retried() -> None:
    harness = Harness(TransportResult(False, 404, "HTTP 404", retryable=False))
    outcome = await _deliver(harness)
    assert [a.status_code for a in outcome.attempts] == [404] and harness.sleeps == []


async def test_without_retries_a_failure_is_tried_once() -> None:
    harness = Harness(TransportResult(False, 500))
    outcome = await _deliver(harness, retries=False)
    assert len(outcome.attempts) == 1 and harness.sleeps == []


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(base_delay_seconds=10, max_delay_seconds=25)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]


async def test_email_goes_to_the_channels_relay_with_its_password() -> None:
    harness = Harness()
    await _deliver(harness, EMAIL)
    [request] = harness.transport.emails
    assert request.config is EMAIL.config and request.password == Secret(b"smtp-pw")
    assert "pay.example.com" in request.subject


def test_the_mail_names_the_certificate_repository_and_date() -> None:
    subject, text = email_content(_notice())
    assert subject == (
        "[certrepo] certificate pay.example.com in repository payments expires on 2030-06-07 (in 6 days)"
    )
    assert TARGET.target_id in text and "payments (id 4)" in text and "2030-06-07 15:00 UTC" in text


def test_the_final_notice_says_expired() -> None:
    subject, _ = email_content(Notice.for_stage(TARGET, 0, delivery_id="d", sent_at=TARGET.not_after))
    assert subject.endswith("expired on 2030-06-07")


def test_control_characters_of_a_certificate_never_reach_mail_headers() -> None:
    hostile = Monitored(**{**TARGET.__dict__, "common_name": "evil\r\nBcc: all@example.com"})
    subject, _ = email_content(Notice.for_stage(hostile, 7, delivery_id="d", sent_at=NOW))
    assert "\r" not in subject and "\n" not in subject and "evil??Bcc" in subject


def test_services_without_a_notifier_cannot_send() -> None:
    class Bare:
        extras: ClassVar[dict[str, object]] = {}

    with pytest.raises(Unsupported):
        notifier_of(Bare())  # type: ignore[arg-type]


# --- the real transport's reading of answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, True),
        (204, True, True),
        (301, False, False),
        (404, False, False),
        (429, False, True),
        (500, False, True),
        (503, False, True),
    ],
    ids=["200", "204", "redirect-not-followed", "404", "429", "500", "503"],
)
async def test_the_http_transport_reads_the_status(status: int, ok: bool, retryable: bool) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status, headers={"Location": "http://169.254.169.254/"} if status == 301 else {}
        )

    transport = HttpSmtpTransport(http_transport=httpx.MockTransport(answer))
    result = await transport.post_webhook(
        WebhookRequest("https://hooks.example/x", b"{}", {"X-Test": "1"}), timeout_seconds=1
    )
    assert (result.ok, result.status_code) == (ok, status) and (ok or result.retryable == retryable)
    assert len(seen) == 1 and seen[0].content == b"{}" and seen[0].headers["X-Test"] == "1"


async def test_an_unreachable_receiver_is_a_retryable_failure_without_a_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport = HttpSmtpTransport(http_transport=httpx.MockTransport(refuse))
    result = await transport.post_webhook(
        WebhookRequest("https://hooks.example/x", b"{}", {}), timeout_seconds=1
    )
    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert result.error is not None and "ConnectError" in result.error
