"""The expiry scan inside ``certrepo serve``: a task per process, every ``interval_seconds``.

Every worker of every node runs the loop; the lease in the database lets one of them scan at a time, the
others return at once (and refresh their gauge). A failing scan is logged and tried again next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from certrepo.services.context import Services
from certrepo.services.expiry import scan_expiry
from certrepo.services.notifications import Sleep

__all__ = ["expiry_schedule", "run_schedule"]

log = structlog.get_logger("certrepo.expiry")

# A restart should not postpone the scan by a whole interval, nor scan while the app is still starting.
FIRST_SCAN_DELAY_SECONDS = 30.0


async def run_schedule(
    services: Services, *, node_id: str, interval_seconds: float, first_delay_seconds: float, sleep: Sleep
) -> None:
    """Scan forever: after ``first_delay_seconds``, then every ``interval_seconds`` (until cancelled)."""
    await sleep(first_delay_seconds)
    while True:
        try:
            report = await scan_expiry(services, node_id=node_id)
            if report.ran:
                log.info(
                    "expiry scan",
                    targets=report.targets,
                    sent=report.notices_sent,
                    failed=report.notices_failed,
                    renewed=report.renewed,
                )
        except Exception:  # the schedule must outlive a bad tick (database restart, …)
            log.exception("expiry scan failed; retrying at the next tick")
        await sleep(interval_seconds)


@asynccontextmanager
async def expiry_schedule(
    services: Services,
    *,
    interval_seconds: float,
    first_delay_seconds: float = FIRST_SCAN_DELAY_SECONDS,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[asyncio.Task[None] | None]:
    """Run the schedule while the context is open (the app's lifespan); 0 seconds disables it."""
    if interval_seconds <= 0:
        yield None
        return
    node_id = "node-" + services.random_bytes(8).hex()
    task = asyncio.create_task(
        run_schedule(
            services,
            node_id=node_id,
            interval_seconds=interval_seconds,
            first_delay_seconds=min(first_delay_seconds, interval_seconds),
            sleep=sleep,
        ),
        name="certrepo-expiry-scan",
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
