"""Crash tests' machinery: a `certrepo serve` that is killed with SIGKILL at an observed point and started
again on the same data (a SQLite data dir, or a PostgreSQL database with the data dir's master key), and
the consistency checks, in SQL, that must hold after the restart.

A kill is never timed by a sleep: the test waits, with a deadline, for something it observes (rows in the
database, answers a client got), then kills. The server runs in a session of its own and the whole
process group is killed, as a node that loses its power would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import NullPool

from certrepo.store.tables import metadata
from tests.support.server import certrepo_command, free_port, init_json

__all__ = [
    "CREATION_ACTIONS",
    "CrashServer",
    "audit_report",
    "consistency_problems",
    "crash_server",
    "query",
    "wait_for",
]

STARTUP_SECONDS = 30
_POLL_SECONDS = 0.02
_LOG_TAIL = 4000
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")

# The audit action that records the creation of a certificate row, per certificates.source.
CREATION_ACTIONS = {"upload": "certificate.upload", "issued": "certificate.issue"}


def _environment(database_url: str | None, base_url: str) -> dict[str, str]:
    """The caller's environment without CERTREPO_* and proxies, plus the server's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_") and k not in _PROXY_VARIABLES}
    env.update(
        {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "CERTREPO_BASE_URL": base_url},
        CERTREPO_LOG_LEVEL="warning",
    )
    if database_url is not None:
        env["CERTREPO_DATABASE_URL"] = database_url
    return env


@dataclass
class CrashServer:
    """A `certrepo serve` on 127.0.0.1:port over one data dir and database; killed and restarted at will."""

    root: Path
    port: int
    database_url: str
    env: dict[str, str]
    credentials: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bearer(self) -> str:
        return f"Bearer {self.credentials['access_key_id']}:{self.credentials['access_key_secret']}"

    @property
    def log(self) -> Path:
        """The output of the current (or last) run of the server."""
        return self.root / f"server-{self.starts}.log"

    def client(self, *, timeout: float = 30) -> httpx.Client:
        """A REST client as the admin `certrepo init` created (no proxies from the environment)."""
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": self.bearer}, timeout=timeout, trust_env=False
        )

    def cli(self, *args: str) -> list[str]:
        """The command line of `certrepo --data-dir D …` (credentials from the data dir's client.json)."""
        return [*certrepo_command(), "--data-dir", str(self.data_dir), *args]

    def start(self) -> None:
        """Start `certrepo serve` on the same data; return once /healthz answers. Fails the test if the
        server exits or stays silent for STARTUP_SECONDS."""
        assert self.process is None, "the server is already running"
        self.starts += 1
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [*certrepo_command(), "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                env=self.env,
                cwd=self.root,  # nothing lands in the caller's ./data, whatever the options
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes every process of it
            )
        self._wait_until_healthy()

    def kill(self) -> None:
        """SIGKILL the server's process group, as a crash would, and reap it."""
        assert self.process is not None, "the server is not running"
        process, self.process = self.process, None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """Terminate the server gracefully (teardown); SIGKILL if it does not stop within 15 s."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def logs(self) -> str:
        """The tail of every run's output, for a failure message."""
        runs = sorted(self.root.glob("server-*.log"))
        return "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')[-_LOG_TAIL:]}" for p in runs)

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        url = f"{self.base_url}/healthz"
        try:
            wait_for(lambda: _answers(url), while_running=self.process, seconds=STARTUP_SECONDS, what=url)
        except (_ProcessExited, pytest.fail.Exception) as exc:
            pytest.fail(f"certrepo serve did not start: {exc}\n{self.logs()}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def crash_server(root: Path, database_url: str | None = None) -> Iterator[CrashServer]:
    """`certrepo init` into ``root``/data (on ``database_url`` when given, else SQLite in the data dir),
    then `certrepo serve`, healthy when this yields; stopped whatever the test did."""
    port = free_port()
    env = _environment(database_url, f"http://127.0.0.1:{port}")
    resolved = database_url or f"sqlite:///{(root / 'data' / 'certrepo.db').resolve()}"
    server = CrashServer(root, port, resolved, env)
    server.credentials = init_json(server.data_dir, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class _ProcessExited(AssertionError):
    """The watched process ended before the condition held."""


def wait_for(
    condition: Callable[[], bool], *, while_running: subprocess.Popen[Any], seconds: float, what: str
) -> None:
    """Return as soon as ``condition()`` holds. Between polls, wait for ``while_running`` to exit (the
    pause is that bounded wait, never a sleep): its exit first, or the deadline, fails the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        try:
            code = while_running.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        if condition():
            return
        raise _ProcessExited(f"{what}: the process {while_running.args!r} exited with {code} first")
    pytest.fail(f"{what}: not within {seconds} s")


# --- SQL ---------------------------------------------------------------------------------------------


def query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement, on a connection of its own (no pool: nothing stays open)."""
    engine = create_engine(_sync(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def _sync(database_url: str) -> str:
    return database_url.replace("sqlite+aiosqlite:", "sqlite:", 1)


def consistency_problems(database_url: str) -> list[str]:
    """Everything that a crash must not leave behind, each problem named (empty: consistent)."""
    engine = create_engine(_sync(database_url), poolclass=NullPool)
    problems: list[str] = []
    try:
        with engine.begin() as connection:
            checks = [*_CHECKS, *(_SQLITE_CHECKS if connection.dialect.name == "sqlite" else ())]
            for check in checks:
                problems.extend(check(connection))
    finally:
        engine.dispose()
    return problems


def _key_references() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to key_material, from the schema itself."""
    return sorted(
        (table.name, fk.parent.name)
        for table in metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "key_material"
    )


def _rows(connection: Connection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text(sql), params)]


def _owners_without_key(connection: Connection) -> list[str]:
    """A certificate (CA, access key, channel) whose key_material row is missing."""
    return [
        f"{table} {row_id} refers to key_material {key_id}, which does not exist"
        for table, column in _key_references()
        for row_id, key_id in _rows(
            connection,
            f"SELECT o.id, o.{column} FROM {table} o WHERE o.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM key_material k WHERE k.id = o.{column})",
        )
    ]


def _keys_without_owner(connection: Connection) -> list[str]:
    """A key_material row no certificate, CA, access key or channel refers to: a key without its owner."""
    return [
        f"key_material {key_id} ({purpose}) belongs to nothing"
        for key_id, purpose in _rows(
            connection,
            f"SELECT k.id, k.purpose FROM key_material k WHERE k.id NOT IN "
            f"(SELECT key_id FROM ({_owned_keys()}) o WHERE key_id IS NOT NULL) ORDER BY k.id",
        )
    ]


def _keys_with_two_owners(connection: Connection) -> list[str]:
    return [
        f"key_material {key_id} belongs to {count} rows"
        for key_id, count in _rows(
            connection,
            f"SELECT key_id, count(*) FROM ({_owned_keys()}) o WHERE key_id IS NOT NULL "
            "GROUP BY key_id HAVING count(*) > 1",
        )
    ]


def _owned_keys() -> str:
    """SQL: one key_id row per reference to key_material, from every table that refers to it."""
    return " UNION ALL ".join(f"SELECT {c} AS key_id FROM {t}" for t, c in _key_references())


def _certificates_without_creation_event(connection: Connection) -> list[str]:
    """Each certificate row has exactly one successful creation event in the audit log (same transaction)."""
    problems = []
    for source, action in CREATION_ACTIONS.items():
        for identifier, events in _rows(
            connection,
            "SELECT c.identifier, (SELECT count(*) FROM audit_events e WHERE e.certificate_id = c.identifier "
            "AND e.action = :action AND e.outcome = 'success') AS n FROM certificates c WHERE c.source = :source",
            action=action,
            source=source,
        ):
            if events != 1:
                problems.append(f"certificate {identifier} has {events} {action} audit events, not 1")
    return problems


# SQL: the certificate named by {event} was deleted, or its repository reset or deleted, as the log says.
_REMOVED_LATER = (
    "EXISTS (SELECT 1 FROM audit_events d WHERE d.action = 'certificate.delete' AND d.certificate_id = {event}) "
    "OR EXISTS (SELECT 1 FROM audit_events d JOIN audit_events e ON e.repository_id = d.repository_id "
    "WHERE e.certificate_id = {event} AND e.action IN ('certificate.upload', 'certificate.issue') "
    "AND d.action IN ('repository.reset', 'repository.delete') AND d.sequence > e.sequence)"
)


def _creation_events_without_certificate(connection: Connection) -> list[str]:
    """A successful creation event names a certificate that exists, unless the log says it was removed."""
    return [
        f"audit event {sequence} ({action}) names certificate {identifier}, which does not exist"
        for sequence, action, identifier in _rows(
            connection,
            "SELECT x.sequence, x.action, x.certificate_id FROM audit_events x "
            "WHERE x.action IN ('certificate.upload', 'certificate.issue') AND x.outcome = 'success' "
            "AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.identifier = x.certificate_id) "
            f"AND NOT ({_REMOVED_LATER.format(event='x.certificate_id')}) ORDER BY x.sequence",
        )
    ]


def _issued_serials(connection: Connection) -> list[str]:
    """ca_issued (the serial reservation) and certificates agree: each issued certificate has its row,
    each reserved serial with a certificate identifier has that certificate (nothing is reset here)."""
    problems = [
        f"certificate {identifier} of CA {ca_id} (serial {serial}) has no ca_issued row"
        for identifier, ca_id, serial in _rows(
            connection,
            "SELECT c.identifier, c.issuing_ca_id, c.serial_number FROM certificates c "
            "WHERE c.issuing_ca_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ca_issued i "
            "WHERE i.ca_id = c.issuing_ca_id AND i.serial_number = c.serial_number "
            "AND i.certificate_identifier = c.identifier)",
        )
    ]
    problems += [
        f"ca_issued serial {serial} of CA {ca_id} names certificate {identifier}, which does not exist"
        for ca_id, serial, identifier in _rows(
            connection,
            "SELECT i.ca_id, i.serial_number, i.certificate_identifier FROM ca_issued i "
            "WHERE i.certificate_identifier IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.identifier = i.certificate_identifier) "
            f"AND NOT ({_REMOVED_LATER.format(event='i.certificate_identifier')})",
        )
    ]
    problems += [
        f"CA {ca_id} has {count} certificates with serial {serial}"
        for ca_id, serial, count in _rows(
            connection,
            "SELECT issuing_ca_id, serial_number, count(*) FROM certificates WHERE issuing_ca_id IS NOT NULL "
            "GROUP BY issuing_ca_id, serial_number HAVING count(*) > 1",
        )
    ]
    return problems


def _certificate_counts(connection: Connection) -> list[str]:
    """The trigger-kept counters equal the rows they count."""
    counted = {
        (r, s): n
        for r, s, n in _rows(
            connection,
            "SELECT repository_id, status, count(*) FROM certificates GROUP BY repository_id, status",
        )
    }
    kept = {
        (r, s): n
        for r, s, n in _rows(connection, "SELECT repository_id, status, total FROM certificate_counts")
    }
    return [
        f"certificate_counts of repository {r} ({s}) says {kept.get((r, s), 0)}, "
        f"the table holds {counted.get((r, s), 0)}"
        for r, s in sorted(counted.keys() | kept.keys())
        if kept.get((r, s), 0) != counted.get((r, s), 0)
    ]


def _audit_head(connection: Connection) -> list[str]:
    """Sequences run 1..n without a gap and the head row points at the last one."""
    [(count, first, last)] = _rows(
        connection, "SELECT count(*), min(sequence), max(sequence) FROM audit_events"
    )
    head = _rows(connection, "SELECT sequence, hash FROM audit_head")
    problems = []
    if count and (first != 1 or last != count):
        problems.append(f"audit sequences {first}..{last} hold {count} events: a gap")
    last_hash = _rows(connection, "SELECT hash FROM audit_events WHERE sequence = :s", s=last)
    if len(head) != 1 or head[0][0] != (last or 0) or (last_hash and head[0][1] != last_hash[0][0]):
        problems.append(f"audit head {head} is not the last event ({last})")
    return problems


def _sqlite_integrity(connection: Connection) -> list[str]:
    result = [r[0] for r in _rows(connection, "PRAGMA integrity_check")]
    problems = [] if result == ["ok"] else [f"PRAGMA integrity_check: {'; '.join(map(str, result))}"]
    problems += [f"PRAGMA foreign_key_check: {row}" for row in _rows(connection, "PRAGMA foreign_key_check")]
    return problems


def _sqlite_search_index(connection: Connection) -> list[str]:
    """The FTS5 index agrees with its external content (rank 1: compare with the certificates table)."""
    try:
        connection.execute(
            text("INSERT INTO certificates_search(certificates_search, rank) VALUES ('integrity-check', 1)")
        )
    except DatabaseError as exc:  # the check reports a mismatch as "database disk image is malformed"
        return [f"search index certificates_search does not match certificates: {exc.orig}"]
    return []


_CHECKS: tuple[Callable[[Connection], list[str]], ...] = (
    _owners_without_key,
    _keys_without_owner,
    _keys_with_two_owners,
    _certificates_without_creation_event,
    _creation_events_without_certificate,
    _issued_serials,
    _certificate_counts,
    _audit_head,
)
_SQLITE_CHECKS: tuple[Callable[[Connection], list[str]], ...] = (_sqlite_integrity, _sqlite_search_index)


def audit_report(server: CrashServer) -> dict[str, Any]:
    """`GET /v1/audit-events/verify` of the running server, as the system admin (who sees the count)."""
    with server.client() as http:
        response = http.get("/v1/audit-events/verify")
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report
