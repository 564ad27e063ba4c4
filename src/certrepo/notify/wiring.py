"""Wires the real transports and metrics into a process's services (called by ``app.build_app``)."""

from __future__ import annotations

from certrepo.services.context import Services
from certrepo.services.notifications import NOTIFIER_KEY, Notifier

from .metrics import record_expiry_buckets, record_failed_delivery
from .transports import HttpSmtpTransport

__all__ = ["install_notifier"]


def install_notifier(services: Services) -> Notifier:
    """The process's notifier: the one already there (a test's), else the real transports with metrics."""
    existing = services.extras.get(NOTIFIER_KEY)
    if isinstance(existing, Notifier):
        return existing
    notifier = Notifier(
        transport=HttpSmtpTransport(),
        on_delivery_failed=record_failed_delivery,
        on_expiry_buckets=record_expiry_buckets,
    )
    services.extras[NOTIFIER_KEY] = notifier
    return notifier
