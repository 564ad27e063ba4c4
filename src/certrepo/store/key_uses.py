"""The key-use ledger's transaction: a batch of calls' quota units and audit events, committed once.

On PostgreSQL it is an ordinary transaction of the async engine (psycopg is asyncio-native). On SQLite the
whole transaction runs as one call on a synchronous pysqlite connection owned by one writer thread, under
this process's SQLite write lock: one thread handoff per batch, where aiosqlite hands every statement,
fetch and cursor close to its thread and back (~18 handoffs per batch, which cost more than the SQL).
The commit's fsync (``synchronous=FULL``) then waits in that thread, not in the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from certrepo.domain.audit import KeyUseRecord
from certrepo.domain.errors import QuotaExhausted

from .database import configure_sqlite, sync_url
from .ledger_sql import write_key_uses

__all__ = ["KeyUseWriter"]


class KeyUseWriter:
    def __init__(self, engine: AsyncEngine, write_lock: Callable[[], asyncio.Lock | None]) -> None:
        self._engine = engine
        self._write_lock = write_lock
        self._sync: Engine | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="certrepo-ledger")
        if engine.dialect.name == "sqlite":
            url = engine.url.render_as_string(hide_password=False)
            self._sync = create_engine(
                sync_url(url), pool_size=1, max_overflow=0, connect_args={"timeout": 30}
            )
            configure_sqlite(self._sync)

    async def write(self, records: Sequence[KeyUseRecord]) -> list[QuotaExhausted | None]:
        """One transaction for the batch; per record None or its QuotaExhausted (ledger_sql.write_key_uses)."""
        if self._sync is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(write_key_uses, records)
        lock = self._write_lock()
        assert lock is not None  # SQLite always serialises this process's writers
        async with lock:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._write_sync, records)

    def _write_sync(self, records: Sequence[KeyUseRecord]) -> list[QuotaExhausted | None]:
        assert self._sync is not None
        with self._sync.begin() as connection:
            return write_key_uses(connection, records)

    def dispose(self) -> None:
        self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
