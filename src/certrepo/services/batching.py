"""Group commit: many callers' items written by one transaction, each caller told its own outcome.

A caller must not go on before its item is durable, but one transaction per item would dominate the cost
of the work around it. Callers queue their item and await it; one flusher task per process takes the
queued items (at most ``max_batch`` at a time), hands them to ``flush`` (one transaction), and resolves
each caller with the outcome ``flush`` returned for its item. While a flush runs the next batch gathers,
so batching adds no delay when the service is idle. A flush that raises fails that batch's callers only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["DEFAULT_MAX_BATCH", "Flush", "GroupCommitter"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 512

# Writes a batch in one transaction; returns, per item and in order, its result or the exception its
# caller gets. Raising fails every caller of the batch with that exception.
Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


@dataclass
class _Waiter(Generic[T, R]):
    item: T
    done: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommitter(Generic[T, R]):
    """Queues items of concurrent callers and commits them in batches through one flusher task."""

    def __init__(self, flush: Flush[T, R], *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[_Waiter[T, R]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Wait until the batch holding the item is flushed; return its result.

        Raises the exception ``flush`` gave for this item, or the one ``flush`` raised for the batch."""
        waiter: _Waiter[T, R] = _Waiter(item)
        self._pending.append(waiter)
        loop = asyncio.get_running_loop()
        flusher = self._flusher
        # A flusher of another (closed) event loop, as between tests, will never run again.
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_all())
        return await waiter.done

    async def _flush_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            try:
                outcomes = await self._flush([waiter.item for waiter in batch])
                _resolve(batch, outcomes)
            except BaseException as exc:  # a fault fails this batch's callers, not the process
                for waiter in batch:
                    if not waiter.done.done():
                        waiter.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise


def _resolve(batch: list[_Waiter[T, R]], outcomes: Sequence[R | BaseException]) -> None:
    if len(outcomes) != len(batch):
        raise RuntimeError(f"flush returned {len(outcomes)} outcomes for a batch of {len(batch)} items")
    for waiter, outcome in zip(batch, outcomes, strict=True):
        # A caller cancelled while waiting has a done future; its item was still written.
        if waiter.done.done():
            continue
        if isinstance(outcome, BaseException):
            waiter.done.set_exception(outcome)
        else:
            waiter.done.set_result(outcome)
