"""Per-process cache of what every key-use call looks up: the caller behind an access key and the
certificate + repository it names.

Correctness comes from the mutation epoch (migration 0004): every audited mutation — a revoked access key,
a changed grant or role, a reset repository, a revoked or deleted certificate — advances one counter in
the database. This process drops its cache at once when it commits a mutation itself, and polls the counter
at most every ``staleness_seconds`` otherwise, so a change made on another node or worker applies within
that bound (default 0.1 s). Expiry is never cached: it is computed from the clock on every call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .context import Services

__all__ = ["HotCache", "hot_cache_of"]

K = TypeVar("K")
V = TypeVar("V")

_MAX_ENTRIES = 100_000


class _Table(Generic[K, V]):
    def __init__(self) -> None:
        self._data: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._data) >= _MAX_ENTRIES:
            self._data.clear()  # crude but bounded; a full cache refills from the database
        self._data[key] = value

    def clear(self) -> None:
        self._data.clear()


@dataclass
class HotCache:
    staleness_seconds: float = 0.1
    principals: _Table[str, object] = field(default_factory=_Table)
    targets: _Table[tuple[int, str], object] = field(default_factory=_Table)
    _epoch: int | None = None
    _checked_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refresh: asyncio.Lock | None = None

    def invalidate(self) -> None:
        """Drop everything (called after this process commits a mutation)."""
        with self._lock:
            self.principals.clear()
            self.targets.clear()
            self._checked_at = 0.0

    async def ensure_fresh(self, services: Services) -> None:
        """Poll the epoch when the staleness bound has passed; clear the tables if it moved."""
        if time.monotonic() - self._checked_at < self.staleness_seconds:
            return
        if self._refresh is None:
            self._refresh = asyncio.Lock()
        async with self._refresh:
            if time.monotonic() - self._checked_at < self.staleness_seconds:
                return  # another task refreshed while we waited
            async with services.uow(read_only=True) as uow:
                epoch = await uow.audit.mutation_epoch()
            with self._lock:
                if epoch != self._epoch:
                    self.principals.clear()
                    self.targets.clear()
                    self._epoch = epoch
                self._checked_at = time.monotonic()


def hot_cache_of(services: Services) -> HotCache | None:
    """The cache wired by the composition root, or None (then every call reads the database)."""
    cache = services.extras.get("hot_cache")
    return cache if isinstance(cache, HotCache) else None
