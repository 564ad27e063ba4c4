"""The key-use ledger's transaction: a batch of calls' quota units and audit events, committed once.

On PostgreSQL it is an ordinary transaction of the async engine (psycopg is asyncio-native). On SQLite it
runs on a synchronous pysqlite connection in the event loop's own thread, under this process's SQLite
write lock: the batch's few statements cost ~100 µs of C, where aiosqlite's thread handoff per statement,
fetch and cursor close costs ~18 handoffs per batch. Blocking the loop that briefly is the cheaper wait;
another process's writer can hold it up at most for that writer's (short) transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

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
        if engine.dialect.name == "sqlite":
            url = engine.url.render_as_string(hide_password=False)
            self._sync = create_engine(
                sync_url(url), pool_size=1, max_overflow=0, connect_args={"check_same_thread": False, "timeout": 30}
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
            with self._sync.begin() as connection:
                return write_key_uses(connection, records)

    def dispose(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
