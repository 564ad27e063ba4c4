"""End-to-end helpers: the real `certrepo` console script in subprocesses, and a real `certrepo serve` on a
free port over a temp data dir (SQLite). Every server started here is terminated, whatever the test did."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import CERTREPO, free_port, init_json, serve

__all__ = ["CERTREPO", "Served", "clean_env", "free_port", "init_data_dir", "run_certrepo", "serving"]

COMMAND_SECONDS = 60


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any CERTREPO_* of the caller, plus ``extra``; wide enough for rich
    tables not to wrap, without colour codes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    env.update(extra)
    return env


def run_certrepo(
    *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One run of the console script; never raises on a non-zero exit (tests look at it)."""
    return subprocess.run(
        [CERTREPO, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def init_data_dir(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`certrepo init --data-dir D --json`; the one JSON object it prints."""
    return init_json(data_dir, env)


@dataclass
class Served:
    """A running `certrepo serve` and what a client needs to reach it."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    credentials: dict[str, str]
    log: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "certrepo.db"

    @property
    def bearer(self) -> str:
        return f"Bearer {self.credentials['access_key_id']}:{self.credentials['access_key_secret']}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`certrepo --data-dir D …`: credentials from the data dir's client.json."""
        return run_certrepo("--data-dir", str(self.data_dir), *args, env=self.env)

    def cli_json(self, *args: str) -> Any:
        """`certrepo --json --data-dir D …` that must succeed; the JSON it prints."""
        result = self.cli("--json", *args)
        assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
        return json.loads(result.stdout)


@contextmanager
def serving(root: Path) -> Iterator[Served]:
    """`certrepo init` then `certrepo serve` on a free port, as the README tells people to."""
    data_dir, port = root / "data", free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = clean_env(CERTREPO_BASE_URL=base_url)
    credentials = init_json(data_dir, env)
    log = root / "server.log"
    with serve(data_dir, port, env, log):
        yield Served(base_url, data_dir, env, credentials, log)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for a module's tests that do not break it."""
    with serving(tmp_path_factory.mktemp("served")) as server:
        yield server


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Served]:
    """A server of its own, for a test that damages its database."""
    with serving(tmp_path) as server:
        yield server
