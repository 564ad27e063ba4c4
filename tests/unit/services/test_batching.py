"""Group commit mechanism: batch formation, per-item outcomes, failure isolation, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from certrepo.services.batching import GroupCommitter

__all__: list[str] = []


class FakeStore:
    """A flush that records its batches; it can be held open, fail, or refuse items."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_batches: set[int] = set()
        self.refused: set[int] = set()

    async def flush(self, batch: list[int]) -> Sequence[int | BaseException]:
        number = len(self.batches)
        self.batches.append(list(batch))
        await self.gate.wait()
        if number in self.fail_batches:
            raise ConnectionError(f"batch {number} lost the database")
        return [ValueError(f"item {item} refused") if item in self.refused else item * 10 for item in batch]


async def test_an_idle_committer_flushes_a_lone_item_on_its_own() -> None:
    store = FakeStore()
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush)
    assert await committer.submit(7) == 70
    assert store.batches == [[7]]


async def test_items_queued_during_a_flush_form_the_next_batch_together() -> None:
    store = FakeStore()
    store.gate.clear()
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush)
    first = asyncio.ensure_future(committer.submit(0))
    await asyncio.sleep(0)  # the flusher starts and holds batch 0 open
    rest = [asyncio.ensure_future(committer.submit(item)) for item in range(1, 6)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(first, *rest)
    assert results == [0, 10, 20, 30, 40, 50]
    assert store.batches == [[0], [1, 2, 3, 4, 5]]


async def test_batches_are_capped_at_max_batch_in_submission_order() -> None:
    store = FakeStore()
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush, max_batch=3)
    results = await asyncio.gather(*(committer.submit(item) for item in range(8)))
    assert results == [item * 10 for item in range(8)]
    assert store.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_an_item_refused_by_the_flush_fails_only_its_own_caller() -> None:
    store = FakeStore()
    store.refused = {2}
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush)
    results = await asyncio.gather(*(committer.submit(item) for item in range(4)), return_exceptions=True)
    assert [type(result) for result in results] == [int, int, ValueError, int]
    assert str(results[2]) == "item 2 refused"
    assert len(store.batches) == 1


async def test_a_failing_flush_fails_its_batch_and_not_the_next() -> None:
    store = FakeStore()
    store.fail_batches = {0}
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush, max_batch=2)
    results = await asyncio.gather(*(committer.submit(item) for item in range(4)), return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionError, ConnectionError, int, int]
    assert results[2:] == [20, 30]


async def test_the_committer_serves_again_after_a_failed_flush() -> None:
    store = FakeStore()
    store.fail_batches = {0}
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush)
    with pytest.raises(ConnectionError):
        await committer.submit(1)
    assert await committer.submit(2) == 20


async def test_a_flush_with_the_wrong_number_of_outcomes_fails_its_batch() -> None:
    async def short(batch: list[int]) -> Sequence[int | BaseException]:
        return [1]

    committer: GroupCommitter[int, int] = GroupCommitter(short)
    results = await asyncio.gather(committer.submit(1), committer.submit(2), return_exceptions=True)
    assert [type(result) for result in results] == [RuntimeError, RuntimeError]


async def test_a_cancelled_caller_does_not_disturb_the_others_of_its_batch() -> None:
    store = FakeStore()
    store.gate.clear()
    committer: GroupCommitter[int, int] = GroupCommitter(store.flush)
    callers = [asyncio.ensure_future(committer.submit(item)) for item in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the flusher holds the batch of all three
    callers[1].cancel()
    store.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], asyncio.CancelledError)
    assert store.batches == [[0, 1, 2]]  # the cancelled caller's item was still written


@pytest.mark.parametrize("max_batch", [0, -1], ids=["zero", "negative"])
def test_a_batch_cap_below_one_is_refused(max_batch: int) -> None:
    store = FakeStore()
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        GroupCommitter(store.flush, max_batch=max_batch)
