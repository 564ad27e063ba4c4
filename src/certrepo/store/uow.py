"""The unit of work: one database transaction, the stores that act in it, one commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from certrepo.domain.audit import KeyUseRecord
from certrepo.domain.errors import QuotaExhausted

from .cas import CaStore
from .certificates import CertificateStore
from .database import create_inline_write_engine
from .key_uses import KeyUseWriter
from .notifications import NotificationStore
from .stores import (
    AccessKeyStore,
    AccountStore,
    AuditStore,
    KeyMaterialStore,
    NonceStore,
    QuotaStore,
    RepositoryStore,
    UserStore,
)

__all__ = ["SqlUnitOfWork", "UnitOfWorkFactory"]


class SqlUnitOfWork:
    """``async with uow:`` begins; ``await uow.commit()`` commits; leaving without commit rolls back."""

    accounts: AccountStore
    users: UserStore
    access_keys: AccessKeyStore
    key_material: KeyMaterialStore
    repositories: RepositoryStore
    audit: AuditStore
    quota: QuotaStore
    nonces: NonceStore
    cas: CaStore
    certificates: CertificateStore
    notifications: NotificationStore

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        read_only: bool = False,
        on_mutation: Callable[[], None] | None = None,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._read_only = read_only
        self._on_mutation = on_mutation
        self._write_lock = None if read_only else write_lock
        self._holds_lock = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    async def __aenter__(self) -> Self:
        if self._write_lock is not None:
            # SQLite has one writer at a time: queue this process's writers fairly here instead of
            # letting them poll the database lock (busy_timeout backs off, which inflates tail latency).
            await self._write_lock.acquire()
            self._holds_lock = True
        try:
            return await self._begin()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._holds_lock and self._write_lock is not None:
            self._write_lock.release()
            self._holds_lock = False

    async def _begin(self) -> Self:
        session = self._sessions()
        await session.begin()
        # Binding the connection now lets the SQLite "begin" hook see whether to take the write lock.
        await session.connection(execution_options={"certrepo_read_only": self._read_only})
        self._session = session
        self.accounts = AccountStore(session)
        self.users = UserStore(session)
        self.access_keys = AccessKeyStore(session)
        self.key_material = KeyMaterialStore(session)
        self.repositories = RepositoryStore(session)
        self.audit = AuditStore(session)
        self.quota = QuotaStore(session)
        self.nonces = NonceStore(session)
        self.cas = CaStore(session)
        self.certificates = CertificateStore(session)
        self.notifications = NotificationStore(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if session.in_transaction():
                await session.rollback()
        finally:
            await session.close()
            self._session = None
            self._release()

    async def commit(self) -> None:
        await self.session.commit()
        if self.audit.mutated and self._on_mutation is not None:
            self._on_mutation()  # this process learns at once; other processes poll the epoch

    async def flush(self) -> None:
        await self.session.flush()


class UnitOfWorkFactory:
    """Makes a fresh unit of work per use case."""

    def __init__(self, engine: AsyncEngine, *, on_mutation: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_mutation = on_mutation
        self._serialise_writers = engine.dialect.name == "sqlite"
        self._write_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autobegin=False)
        # SQLite: writers on connections that run statements in this thread (no handoff per statement);
        # readers keep aiosqlite's threads, so that a long query never blocks the event loop.
        self._write_engine = create_inline_write_engine(engine)
        self._write_sessions = (
            async_sessionmaker(self._write_engine, expire_on_commit=False, autobegin=False)
            if self._write_engine is not None
            else self._sessions
        )
        self._key_uses = KeyUseWriter(engine, self._write_lock)

    def _write_lock(self) -> asyncio.Lock | None:
        """This event loop's SQLite write lock (None on PostgreSQL, where the database queues writers)."""
        if not self._serialise_writers:
            return None
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        return lock

    async def record_key_uses(self, records: Sequence[KeyUseRecord]) -> list[QuotaExhausted | None]:
        """The key-use ledger's batch in one transaction of its own (store/key_uses.py)."""
        return await self._key_uses.write(records)

    async def dispose(self) -> None:
        """Close what the factory opened beside the engine it was given."""
        self._key_uses.dispose()
        if self._write_engine is not None:
            await self._write_engine.dispose()

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """A unit of work; ``read_only`` ones do not take SQLite's write lock (WAL readers run alongside)."""
        if read_only:
            return SqlUnitOfWork(self._sessions, read_only=True, on_mutation=self.on_mutation)
        return SqlUnitOfWork(
            self._write_sessions, read_only=False, on_mutation=self.on_mutation, write_lock=self._write_lock()
        )
