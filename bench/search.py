"""Certificate search at scale (issue 3): a million certificates in one repository, SQLite and PostgreSQL.

Rows go in with bulk SQL (executemany on SQLite, COPY on PostgreSQL) between migration 0001 and head, so
the search-index migration runs on a full table as an upgrade would. Queries then go through
``CertificateStore.list`` in a read-only unit of work, as a REST request does: every timing is one page
of items plus its exact total. There is no raw `cryptography` operation to compare a query with, so the
figures are absolute (median and p99 in milliseconds).

Environment: BENCH_SEARCH_ROWS (default 1,000,000), BENCH_SEARCH_RUNS (default 60 per case),
BENCH_SEARCH_BACKENDS (default "sqlite,postgresql").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import certrepo.store
from certrepo.domain.certificate import CertificateQuery
from certrepo.domain.enums import CertificateStatus
from certrepo.domain.paging import Page
from certrepo.store.database import create_engine_for, sync_url
from certrepo.store.uow import UnitOfWorkFactory

__all__ = ["main"]

ROWS = int(os.environ.get("BENCH_SEARCH_ROWS", "1000000"))
RUNS = int(os.environ.get("BENCH_SEARCH_RUNS", "60"))
BACKENDS = os.environ.get("BENCH_SEARCH_BACKENDS", "sqlite,postgresql").split(",")
PG_SHARED_BUFFERS = os.environ.get("BENCH_PG_SHARED_BUFFERS", "1GB")
OTHER_ROWS = 10_000  # a second repository, so that filtering by repository is part of every query
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DEPARTMENTS = ["payments", "checkout", "search", "billing", "identity", "mail", "cdn", "backoffice",
               "reports", "api", "mobile", "partners", "internal", "vpn", "ledger", "support", "static",
               "media", "auth", "gateway"]  # fmt: skip
COMPANIES = 1000
COLUMNS = [
    "id", "identifier", "account_id", "repository_id", "name", "custom_identifier", "common_name", "sans",
    "search_text", "subject", "issuer", "serial_number", "not_before", "not_after", "key_algorithm",
    "key_size", "signature_algorithm", "fingerprint_sha1", "fingerprint_sha256", "is_ca", "key_id",
    "exportable", "source", "status", "revoked_at", "revocation_reason", "issuing_ca_id", "pem", "chain_pem",
    "tags", "created_at",
]  # fmt: skip


# --- synthetic certificates ---------------------------------------------------------------------------


def _sample_pems(count: int = 32) -> list[str]:
    """Real EC leaf PEMs, so that rows have a realistic size (the query never parses them)."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuing CA")])
    pems = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sample{i}.example.com")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=397))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"sample{i}.example.com")]), False)
            .sign(issuer_key, hashes.SHA256())
        )
        pems.append(cert.public_bytes(serialization.Encoding.PEM).decode())
    return pems


def _row(i: int, repository_id: int, rng: random.Random, pems: list[str]) -> dict[str, Any]:
    """One certificate row; host names, companies and departments make keywords of every selectivity."""
    department = DEPARTMENTS[i % len(DEPARTMENTS)]
    company = f"corp{rng.randrange(COMPANIES):04d}"
    common_name = f"host-{i:07d}.{department}.{company}.com"
    sans = [common_name, f"www.{company}.com"]
    name = f"{department}-{i}" if i % 3 == 0 else None
    serial = f"{rng.getrandbits(120):030x}"
    sha256 = hashlib.sha256(b"bench%d" % i).hexdigest()
    sha1 = hashlib.sha1(b"bench%d" % i).hexdigest()
    not_after = NOW + timedelta(seconds=rng.randrange(-365 * 86400, 730 * 86400))
    revoked = rng.random() < 0.05
    parts = [common_name, *sans, name or "", serial, sha256, sha1]
    search_text = " ".join(dict.fromkeys(p for p in parts if p)).lower()  # as search_text_of builds it
    return {
        "id": i,
        "identifier": hashlib.md5(b"id%d" % i).hexdigest(),
        "account_id": 1,
        "repository_id": repository_id,
        "name": name,
        "custom_identifier": None,
        "common_name": common_name,
        "sans": json.dumps([{"type": "dns", "value": s} for s in sans]),
        "search_text": search_text,
        "subject": f"CN={common_name},O={company}",
        "issuer": "CN=Bench Issuing CA",
        "serial_number": serial,
        "not_before": not_after - timedelta(days=398),
        "not_after": not_after,
        "key_algorithm": "ECC_256",
        "key_size": 256,
        "signature_algorithm": "SHA256withECDSA",
        "fingerprint_sha1": sha1,
        "fingerprint_sha256": sha256,
        "is_ca": False,
        "key_id": None,
        "exportable": False,
        "source": "upload",
        "status": "revoked" if revoked else "issued",
        "revoked_at": NOW - timedelta(days=3) if revoked else None,
        "revocation_reason": "key_compromise" if revoked else None,
        "issuing_ca_id": None,
        "pem": pems[i % len(pems)],
        "chain_pem": "",
        "tags": "{}",
        "created_at": not_after - timedelta(days=398),
    }


def _rows(total: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(20261128)
    pems = _sample_pems()
    for i in range(1, total + 1):
        yield _row(i, 1, rng, pems)
    for i in range(total + 1, total + OTHER_ROWS + 1):
        yield _row(i, 2, rng, pems)


# --- loading ------------------------------------------------------------------------------------------


def _alembic(url: str, revision: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option(
                "script_location", str(Path(certrepo.store.__file__).parent / "migrations")
            )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's storage format for SQLite DATETIME (naive UTC), so that bound comparisons agree.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if value else None


_OWNERS = [
    "INSERT INTO accounts (id, name, created_at) VALUES (1, 'bench', {t})",
    *[
        "INSERT INTO repositories (id, account_id, instance_id, name, data_source, status, qps, created_at, "
        f"updated_at) VALUES ({r}, 1, 'cas-wh-bench{r:05d}', 'r{r}', 'uploaded', 'enabled', 100, {{t}}, {{t}})"
        for r in (1, 2)
    ],
]


def _load_sqlite(path: Path, total: int) -> None:
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")  # a throwaway file: no need to survive a crash
    connection.execute("PRAGMA cache_size=-1000000")  # 1 GB: random-keyed unique indexes stay in memory
    connection.execute("BEGIN")
    for statement in _OWNERS:
        connection.execute(statement.replace("{t}", "?"), (_sqlite_time(NOW),) * statement.count("{t}"))
    insert = f"INSERT INTO certificates ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    batch: list[tuple[Any, ...]] = []
    for row in _rows(total):
        for column in ("not_before", "not_after", "revoked_at", "created_at"):
            row[column] = _sqlite_time(row[column])
        batch.append(tuple(row[c] for c in COLUMNS))
        if len(batch) == 20_000:
            connection.executemany(insert, batch)
            batch.clear()
    connection.executemany(insert, batch)
    connection.execute("COMMIT")
    connection.close()


def _load_postgresql(url: str, total: int) -> None:
    import psycopg

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    ) as connection:
        for statement in _OWNERS:
            connection.execute(statement.replace("{t}", "%s"), (NOW,) * statement.count("{t}"))
        with connection.cursor().copy(f"COPY certificates ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _rows(total):
                copy.write_row(tuple(row[c] for c in COLUMNS))
        connection.execute("SELECT setval('certificates_id_seq', %s)", (total + OTHER_ROWS,))
        connection.commit()


def _psql(url: str, *statements: str) -> None:
    import psycopg

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database, autocommit=True
    ) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


@contextmanager
def _database(backend: str) -> Iterator[str]:
    """A throwaway SQLite file or PostgreSQL cluster; removed afterwards."""
    if backend == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="certrepo-bench-search-"))
        try:
            yield f"sqlite:///{directory / 'certrepo.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        # Memory as a server with this much RAM would have it (the defaults are for a laptop): a quarter of
        # the 1.8 GB table in shared buffers, and room to build the GIN index in one pass.
        cluster.psql(f"ALTER SYSTEM SET shared_buffers = '{PG_SHARED_BUFFERS}'")
        cluster.psql("ALTER SYSTEM SET maintenance_work_mem = '1GB'")
        log = cluster.data_dir.parent / "log"
        restart = [
            str(cluster.bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(log),
            "-w",
            "restart",
        ]
        if os.geteuid() == 0:
            restart = ["runuser", "-u", "postgres", "--", *restart]
        # No pipes: the restarted server would hold them open and the wait for their end would never end.
        subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cluster.psql("CREATE DATABASE bench")
        yield cluster.url("bench")
    finally:
        cluster.stop()


def _load(backend: str, url: str, total: int) -> dict[str, float]:
    """Schema 0001, bulk rows, then the search-index migration on the full table; seconds of each."""
    timings = {}
    start = time.perf_counter()
    _alembic(url, "0001")
    if backend == "sqlite":
        _load_sqlite(Path(url.removeprefix("sqlite:///")), total)
    else:
        _load_postgresql(url, total)
    timings["bulk insert"] = time.perf_counter() - start
    start = time.perf_counter()
    _alembic(url, "head")
    timings["migration 0002 on the full table"] = time.perf_counter() - start
    if backend == "postgresql":
        # What autovacuum does soon after a bulk load: statistics, and the visibility map for index-only scans.
        start = time.perf_counter()
        _psql(url, "VACUUM ANALYZE certificates")
        timings["vacuum analyze"] = time.perf_counter() - start
    return timings


# --- measuring ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A kind of request; ``query`` varies with the run number so that runs do not replay one cached answer."""

    label: str
    query: Callable[[int], CertificateQuery]
    page: Page = field(default_factory=Page)
    runs_divisor: int = 1  # the unindexed case takes seconds: fewer runs


def _host(run: int, total: int) -> str:
    return f"host-{(run * 7919) % total + 1:07d}"


def _fingerprint_part(run: int, total: int) -> str:
    return hashlib.sha256(b"bench%d" % ((run * 104729) % total + 1)).hexdigest()[20:32]


def _cases(total: int) -> list[Case]:
    revoked = CertificateStatus.REVOKED
    return [
        Case("list page 1, no filter", lambda r: CertificateQuery(now=NOW)),
        Case("list page 1000, no filter", lambda r: CertificateQuery(now=NOW), Page(1000, 50)),
        Case("keyword: host name (1 row)", lambda r: CertificateQuery(keyword=_host(r, total), now=NOW)),
        Case("keyword: 12 hex of a fingerprint (1 row)",
             lambda r: CertificateQuery(keyword=_fingerprint_part(r, total), now=NOW)),
        Case("keyword: company (0.1%)", lambda r: CertificateQuery(keyword=f".corp{r * 37 % COMPANIES:04d}.", now=NOW)),
        Case("keyword + status=revoked",
             lambda r: CertificateQuery(keyword=f".corp{r * 37 % COMPANIES:04d}.", status=revoked, now=NOW)),
        Case("keyword: department (5%)",
             lambda r: CertificateQuery(keyword=DEPARTMENTS[r % len(DEPARTMENTS)], now=NOW)),
        Case("status=revoked (5%): counter", lambda r: CertificateQuery(status=revoked, now=NOW)),
        Case("expiring_within_days=30 (2.7%)", lambda r: CertificateQuery(expiring_within_days=30, now=NOW)),
        Case("expired=true (33%)", lambda r: CertificateQuery(expired=True, now=NOW)),
        Case("keyword of 2 characters (no index)",
             lambda r: CertificateQuery(keyword=f"q{r % 10}", now=NOW), runs_divisor=10),
    ]  # fmt: skip


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _time(factory: UnitOfWorkFactory, action: Callable[[Any, int], Any], runs: int) -> list[float]:
    """Milliseconds of each run of ``action`` in a read-only unit of work (BEGIN to ROLLBACK, as a request)."""
    samples = []
    for run in range(runs + 3):  # three warm-ups, not kept
        start = time.perf_counter()
        async with factory(read_only=True) as uow:
            await action(uow, run)
        samples.append((time.perf_counter() - start) * 1000)
    return samples[3:]


@dataclass(frozen=True)
class Result:
    label: str
    runs: int
    median_ms: float
    p99_ms: float
    matches: int  # of the last run


async def _measure(url: str, total: int, runs: int) -> list[Result]:
    engine = create_engine_for(url)
    factory = UnitOfWorkFactory(engine)
    results = []
    try:
        for case in _cases(total):
            seen: list[int] = [0]

            async def action(uow: Any, run: int, case: Case = case, seen: list[int] = seen) -> None:
                _, seen[0] = await uow.certificates.list(1, case.query(run), case.page)

            count = max(5, runs // case.runs_divisor)
            samples = await _time(factory, action, count)
            results.append(
                Result(case.label, count, statistics.median(samples), _percentile(samples, 0.99), seen[0])
            )

        async def load_repository(uow: Any, run: int) -> None:
            await uow.repositories.get(1)

        samples = await _time(factory, load_repository, runs)
        results.append(Result("repository load (its certificate_count)", runs, statistics.median(samples),
                              _percentile(samples, 0.99), total))  # fmt: skip
    finally:
        await engine.dispose()
    return results


def main() -> None:
    load = os.getloadavg()[0]
    print(
        f"# Certificate search: {ROWS:,} certificates in one repository (+{OTHER_ROWS:,} in another)",
        flush=True,
    )
    print(f"Each run = one REST list request's store work (page of 50 + exact total) via CertificateStore.list; "
          f"keywords vary per run. {os.cpu_count()} CPUs, load average {load:.1f} at start.")  # fmt: skip
    for backend in BACKENDS:
        with _database(backend) as url:
            timings = _load(backend, url, ROWS)
            print(f"\n## {backend} " + ", ".join(f"{k}: {v:.0f} s" for k, v in timings.items()), flush=True)
            print("| case | runs | median ms | p99 ms | matches |\n|---|---:|---:|---:|---:|", flush=True)
            for r in asyncio.run(_measure(url, ROWS, RUNS)):
                print(
                    f"| {r.label} | {r.runs} | {r.median_ms:.1f} | {r.p99_ms:.1f} | {r.matches:,} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
