"""Per-request support of the signed RPC front end: the replay guard on nonces, repository handles.

Nonces live in the database (not in process memory) so that a request replayed to another node of a
PostgreSQL cluster is refused too: the primary key of ``request_nonces`` decides who saw a nonce first.
A request must not be served before its nonce is committed, but one transaction per request would cost
more than the signature check itself; so, as the key-use ledger does for quota and audit, requests queue
their nonce and one flusher per process commits every queued nonce in one transaction (each insert in
its own savepoint, so each request learns its own outcome), then wakes the requests. While a flush runs
the next batch gathers: batching adds no delay when the service is idle (``batching.GroupCommitter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from certrepo.domain.access import Permission
from certrepo.domain.errors import RepositoryNotFound, SignatureNonceUsed
from certrepo.domain.repository import Repository

from .batching import GroupCommitter
from .context import Call, Services
from .repositories import load_repository

__all__ = [
    "NONCE_RETENTION",
    "PURGE_INTERVAL",
    "SIGNATURE_WINDOW",
    "NonceGuard",
    "get_repository_by_instance_id",
    "remember_nonce",
]

# A signed request is accepted while its signing time is within this window of the server clock.
SIGNATURE_WINDOW = timedelta(minutes=15)
# A request signed up to one window in the future stays acceptable until one window after its signing
# time, i.e. up to two windows after the server first saw it: its nonce must be kept that long.
NONCE_RETENTION = 2 * SIGNATURE_WINDOW
# Purging is an indexed DELETE; once a minute per process keeps the table small without a timer task.
PURGE_INTERVAL = timedelta(minutes=1)
_GUARD = "requests.nonce_guard"


@dataclass
class _Pending:
    nonce: str
    access_key_id: str


class NonceGuard:
    """The process's group-committing recorder of request nonces (one per ``Services``)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._committer: GroupCommitter[_Pending, None] = GroupCommitter(self._flush)
        self._purged_at: datetime | None = None

    async def remember(self, nonce: str, access_key_id: str) -> None:
        """Wait until the nonce is committed. Raises SignatureNonceUsed when it was seen before."""
        await self._committer.submit(_Pending(nonce, access_key_id))

    def _purge_due(self, now: datetime) -> bool:
        return self._purged_at is None or now - self._purged_at >= PURGE_INTERVAL

    async def _flush(self, batch: list[_Pending]) -> list[BaseException | None]:
        now = self._services.clock()
        purge = self._purge_due(now)
        async with self._services.uow() as uow:
            fresh = [
                await uow.nonces.remember(entry.nonce, access_key_id=entry.access_key_id, now=now)
                for entry in batch
            ]
            if purge:
                await uow.nonces.purge_before(now - NONCE_RETENTION)
            await uow.commit()
        if purge:
            self._purged_at = now
        return [
            None if is_fresh else _used(entry.nonce) for entry, is_fresh in zip(batch, fresh, strict=True)
        ]


def _used(nonce: str) -> SignatureNonceUsed:
    return SignatureNonceUsed(
        f"the signature nonce {nonce} was already used; every request needs a fresh nonce",
        details={"nonce": nonce},
    )


def _guard_of(services: Services) -> NonceGuard:
    guard = services.extras.get(_GUARD)
    if not isinstance(guard, NonceGuard):
        guard = NonceGuard(services)
        services.extras[_GUARD] = guard
    return guard


async def remember_nonce(services: Services, nonce: str, access_key_id: str) -> None:
    """Record the nonce of an authenticated request (committed before this returns); now and then drop
    nonces too old to be replayed.

    Raises SignatureNonceUsed when the nonce was seen before (a replay, on this node or another)."""
    await _guard_of(services).remember(nonce, access_key_id)


async def get_repository_by_instance_id(services: Services, call: Call, instance_id: str) -> Repository:
    """A repository of the caller's account named by its instance id (``cas-wh-…``).

    Raises RepositoryNotFound (also for another account's repository), PermissionDenied."""
    # TODO(issue 6): belongs in services/repositories.py beside get_repository; kept here by ownership.
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        found = await uow.repositories.get_by_instance_id(instance_id)
        if found is None or found.id is None:
            raise RepositoryNotFound(
                f"repository {instance_id} does not exist", details={"instance_id": instance_id}
            )
        # The account and signer-grant rule of load_repository decides visibility, as everywhere else.
        try:
            return await load_repository(uow, call, found.id)
        except RepositoryNotFound:
            raise RepositoryNotFound(
                f"repository {instance_id} does not exist", details={"instance_id": instance_id}
            ) from None
