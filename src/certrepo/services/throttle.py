"""Per-repository QPS limit (SPEC §1.4): a fixed one-second window from `limits`, counted per process."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond, storage, strategies

from certrepo.domain.errors import Throttling

__all__ = ["Throttle"]


class _LazyExpiryMemoryStorage(storage.MemoryStorage):
    """`limits`' memory storage without its expiry timer thread.

    The stock storage starts a ``threading.Timer`` every 10 ms while counters exist: a new thread 100
    times a second, paid by every key-use call. A fixed window needs no sweeping: ``get`` already
    drops an expired counter when it is read, and every ``incr`` reads first. One counter per
    repository is what stays in memory."""

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.get(key)  # drops the counter of a window that has ended
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
        return self.storage.get(key, 0)


class Throttle:
    """Counts calls per repository; refuses the call past ``qps`` in the current second."""

    def __init__(self) -> None:
        self._limiter = strategies.FixedWindowRateLimiter(_LazyExpiryMemoryStorage())
        self._items: dict[int, RateLimitItem] = {}

    def hit(self, repository_id: int, qps: int) -> None:
        """Count one call. Raises Throttling with the seconds until the window ends."""
        item = self._items.get(qps)
        if item is None:
            item = self._items[qps] = RateLimitItemPerSecond(qps)
        key = str(repository_id)
        if not self._limiter.hit(item, "repository", key):
            reset = self._limiter.get_window_stats(item, "repository", key).reset_time
            retry = max(1, math.ceil(reset - time.time()))
            raise Throttling(
                f"repository {repository_id} allows {qps} calls per second; retry in {retry} s",
                retry_after_seconds=retry,
            )
