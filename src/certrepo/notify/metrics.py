"""Prometheus metrics of expiry monitoring, on the default registry that /metrics serves.

- ``certrepo_certificates_expiring{within=…}``: monitored certificates and bound CAs by time to expiry;
  buckets ``expired``, ``1d``, ``7d``, ``14d``, ``30d``, ``90d``, ``later`` are disjoint (``7d`` counts
  those expiring in more than 1 and at most 7 days). Each node refreshes it at each scan tick.
- ``certrepo_notification_deliveries_failed_total{kind=webhook|email}``: notices and test messages that
  failed after every attempt.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from certrepo.domain.notifications import ChannelKind

__all__ = ["record_expiry_buckets", "record_failed_delivery"]


@dataclass(frozen=True)
class _Metrics:
    expiring: Gauge
    failed: Counter


@functools.cache
def _metrics() -> _Metrics:
    # Registered on first use, not at import: importing the package has no side effects.
    return _Metrics(
        expiring=Gauge(
            "certrepo_certificates_expiring",
            "Monitored certificates and bound CAs by days to expiry (disjoint buckets), as of the last scan",
            ["within"],
        ),
        failed=Counter(
            "certrepo_notification_deliveries_failed",
            "Notifications whose delivery failed after every attempt",
            ["kind"],
        ),
    )


def record_expiry_buckets(buckets: Mapping[str, int]) -> None:
    """Set the gauge from a scan's bucket counts."""
    for within, count in buckets.items():
        _metrics().expiring.labels(within=within).set(count)


def record_failed_delivery(kind: ChannelKind) -> None:
    """Count one delivery that failed for good."""
    _metrics().failed.labels(kind=kind.value).inc()
