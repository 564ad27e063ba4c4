"""When a notice is due (issue 9): stages, thresholds, renewals, claims, buckets, channel settings. No I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from certrepo.domain.certificate import San
from certrepo.domain.errors import InvalidInput
from certrepo.domain.notifications import (
    DEFAULT_THRESHOLDS_DAYS,
    EmailConfig,
    ExpiryRules,
    Monitored,
    NoticeRecord,
    NoticeStatus,
    TargetKind,
    WebhookConfig,
    due_stage,
    expiry_bucket,
    is_renewed,
    next_action,
    normalize_thresholds,
    validate_channel_name,
)

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


def _in(days: float) -> dt.datetime:
    return NOW + dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [
        (31, None),
        (30.01, None),
        (30, 30),
        (20, 30),
        (14, 14),
        (8, 14),
        (7, 7),
        (1.5, 7),
        (1, 1),
        (0.01, 1),
        (0, 0),
        (-3, 0),
    ],
    ids=[
        "31d",
        "just-over-30d",
        "30d",
        "20d",
        "14d",
        "8d",
        "7d",
        "36h",
        "1d",
        "minutes",
        "at-expiry",
        "expired",
    ],
)
def test_the_due_stage_is_the_smallest_threshold_crossed(days_left: float, expected: int | None) -> None:
    assert due_stage(_in(days_left), NOW, DEFAULT_THRESHOLDS_DAYS) == expected


def test_stages_never_go_back_up_as_time_passes() -> None:
    not_after = _in(45)
    stages = [
        due_stage(not_after, NOW + dt.timedelta(hours=h), DEFAULT_THRESHOLDS_DAYS) for h in range(50 * 24)
    ]
    reached = [s for s in stages if s is not None]
    assert reached == sorted(reached, reverse=True) and sorted(set(reached), reverse=True) == [
        30,
        14,
        7,
        1,
        0,
    ]


def test_thresholds_are_deduplicated_and_sorted_most_distant_first() -> None:
    assert normalize_thresholds([7, 30, 14, 7]) == (30, 14, 7)


@pytest.mark.parametrize(
    "days",
    [[], [0], [3651], [-1], list(range(1, 12))],
    ids=["none", "zero", "ten-years", "negative", "eleven"],
)
def test_unusable_thresholds_are_refused(days: list[int]) -> None:
    with pytest.raises(InvalidInput):
        normalize_thresholds(days)


def test_a_repository_override_wins_over_the_account_and_the_horizon_covers_both() -> None:
    rules = ExpiryRules(account_days=(10,), repository_days={2: (45, 3)})
    assert (rules.thresholds_for(1), rules.thresholds_for(2), rules.horizon_days) == ((10,), (45, 3), 45)
    assert ExpiryRules().thresholds_for(1) == DEFAULT_THRESHOLDS_DAYS


def _cert(
    target_id: str,
    *,
    days: float,
    subject: str = "CN=a",
    sans: tuple[str, ...] = ("a.example",),
    repository_id: int = 1,
) -> Monitored:
    return Monitored(
        kind=TargetKind.CERTIFICATE,
        target_id=target_id,
        account_id=1,
        repository_id=repository_id,
        repository_name="r",
        common_name=subject.removeprefix("CN="),
        subject=subject,
        not_after=_in(days),
        is_ca=False,
        sans=tuple(San("dns", s) for s in sans),
    )


@pytest.mark.parametrize(
    ("peer", "renewed"),
    [
        (_cert("new", days=400), True),
        (_cert("new", days=400, sans=("A.EXAMPLE",)), True),
        (_cert("new", days=400, sans=("a.example", "b.example")), False),
        (_cert("new", days=400, subject="CN=b"), False),
        (_cert("new", days=400, repository_id=2), False),
        (_cert("new", days=5), False),
        (_cert("old", days=400), False),
    ],
    ids=[
        "later-same-name",
        "dns-case-differs",
        "more-sans",
        "other-subject",
        "other-repository",
        "expires-earlier",
        "itself",
    ],
)
def test_a_certificate_is_renewed_by_a_later_one_with_the_same_subject_and_sans(
    peer: Monitored, renewed: bool
) -> None:
    assert is_renewed(_cert("old", days=10), [peer]) is renewed


def test_a_bound_ca_is_never_renewed_by_a_certificate() -> None:
    ca = Monitored(TargetKind.CA, "7", 1, 1, "r", "a", "CN=a", _in(10), True)
    assert is_renewed(ca, [_cert("new", days=400, sans=())]) is False


def _record(
    threshold: int, status: NoticeStatus = NoticeStatus.SENT, claimed_hours_ago: float = 0
) -> NoticeRecord:
    return NoticeRecord(
        1, 1, TargetKind.CERTIFICATE, "x", threshold, status, NOW - dt.timedelta(hours=claimed_hours_ago)
    )


STALE = NOW - dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    ("existing", "action"),
    [
        ([], "claim"),
        ([_record(30)], "claim"),
        ([_record(14)], None),
        ([_record(14, NoticeStatus.FAILED)], None),
        ([_record(7)], None),
        ([_record(14, NoticeStatus.PENDING, claimed_hours_ago=1)], "reclaim"),
        ([_record(14, NoticeStatus.PENDING, claimed_hours_ago=0.1)], None),
    ],
    ids=[
        "nothing-yet",
        "earlier-stage-sent",
        "already-sent",
        "already-failed",
        "more-urgent-sent",
        "stale-claim",
        "claim-in-flight",
    ],
)
def test_the_next_action_for_stage_14(existing: list[NoticeRecord], action: str | None) -> None:
    decided = next_action(14, existing, stale_before=STALE)
    assert (decided[0] if decided else None) == action


@pytest.mark.parametrize(
    ("days_left", "bucket"),
    [
        (-1, "expired"),
        (0, "expired"),
        (0.5, "1d"),
        (3, "7d"),
        (14, "14d"),
        (29, "30d"),
        (60, "90d"),
        (91, "later"),
    ],
    ids=["expired", "at-expiry", "hours", "3d", "14d", "29d", "60d", "91d"],
)
def test_each_target_falls_in_one_metrics_bucket(days_left: float, bucket: str) -> None:
    assert expiry_bucket(_in(days_left), NOW) == bucket


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "https:///path-only",
        "https://user:pw@hooks.example/x",
        "https://hooks.example/a b",
        "https://hooks.example/\x00",
        "https://hooks.example:x/",
        "http://[::1/",
    ],
    ids=["scheme", "no-host", "credentials", "space", "nul", "bad-port", "bad-ipv6"],
)
def test_an_unusable_webhook_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="url"):
        WebhookConfig(url)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_addresses", ("ops@example.com\r\nBcc: x@evil",)),
        ("from_address", "no-at-sign"),
        ("port", 0),
        ("host", "smtp example"),
        ("to_addresses", ()),
    ],
    ids=["header-injection", "not-an-address", "port-zero", "space-in-host", "no-recipient"],
)
def test_unusable_smtp_settings_are_refused(field: str, value: object) -> None:
    settings: dict[str, object] = {
        "host": "smtp.example.com",
        "port": 587,
        "from_address": "certrepo@example.com",
        "to_addresses": ("a@b.c",),
    }
    with pytest.raises(InvalidInput):
        EmailConfig(**{**settings, field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "x" * 65], ids=["empty", "blank", "nul", "too-long"])
def test_an_unusable_channel_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_channel_name(name)
