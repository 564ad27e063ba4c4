"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), and schema migrations.

SQLite runs in WAL mode with writers serialised by ``BEGIN IMMEDIATE``: a transaction that will write takes
the write lock up front instead of failing later with "database is locked" on upgrade from a read lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .sqlite_inline import connect_inline

__all__ = [
    "async_url",
    "configure_sqlite",
    "create_engine_for",
    "create_inline_write_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "sync_url",
]

_MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """The asyncio driver URL: aiosqlite for SQLite, psycopg (async mode) for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite+pysqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def configure_sqlite(sync_engine: Engine, *, foreign_keys: bool = True) -> None:
    """WAL, foreign keys, busy timeout, secure delete on every connection; BEGIN IMMEDIATE for writers."""
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that "begin" below decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",  # durable at checkpoints; WAL keeps the database consistent
            # Off while migrating: batch migrations rebuild tables that others reference.
            "PRAGMA foreign_keys=" + ("ON" if foreign_keys else "OFF"),
            "PRAGMA busy_timeout=30000",
            "PRAGMA secure_delete=ON",  # destroyed key material is overwritten in the file, not unlinked
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get("certrepo_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine_for(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, secure delete and BEGIN IMMEDIATE."""
    target = async_url(url)
    if make_url(target).get_backend_name() == "sqlite":
        engine = create_async_engine(target, connect_args={"timeout": 30})
        configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(target, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def create_inline_write_engine(engine: AsyncEngine) -> AsyncEngine | None:
    """For a SQLite engine, a second engine over the same file for write units of work, whose connections
    run each statement at once in the caller's thread (store/sqlite_inline.py); None for PostgreSQL."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    inline = create_async_engine(
        "sqlite+aiosqlite://", async_creator=connect_inline(engine.url.database, timeout=30)
    )
    configure_sqlite(inline.sync_engine)
    return inline


def _sync_engine(url: str) -> Engine:
    engine = create_engine(sync_url(url))
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, foreign_keys=False)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(url: str) -> None:
    """Upgrade the schema to the newest migration (idempotent)."""
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = _sync_engine(url)
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
