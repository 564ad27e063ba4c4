"""A throwaway PostgreSQL cluster for the test session (initdb/pg_ctl as user postgres, temp dir, free port).

Each test gets its own database, copied from a migrated template (CREATE DATABASE … TEMPLATE is fast)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresCluster", "find_pg_bin", "start_cluster"]


def find_pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # the real bin dir, which also holds pg_dump
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return candidate.parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root: drop to the postgres user when we are root.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=database, autocommit=True
        ) as conn:
            cur = conn.execute(sql)
            return str(cur.fetchall()) if cur.description else ""

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("initdb not found")
    root = Path(tempfile.mkdtemp(prefix="certrepo-pg-"))
    data_dir = root / "data"
    os.chmod(root, 0o777)
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", user, "-A", "trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(root / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    return PostgresCluster(bin_dir, data_dir, port, user)
