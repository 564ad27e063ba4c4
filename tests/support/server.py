"""A real `certrepo serve` subprocess for tests: a free port, `certrepo init --json`, the server, a bounded
wait for /healthz, and termination whatever the test did."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["CERTREPO", "STARTUP_SECONDS", "certrepo_command", "free_port", "init_json", "serve"]

CERTREPO = str(Path(sys.executable).with_name("certrepo"))
STARTUP_SECONDS = 30
_LOG_TAIL = 4000


def certrepo_command() -> list[str]:
    """The console script of the venv, or the module when the script is not installed."""
    return [CERTREPO] if Path(CERTREPO).exists() else [sys.executable, "-m", "certrepo.cli.main"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_json(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`certrepo init --data-dir D --json`; the one JSON object it prints. Fails the test on a non-zero exit."""
    result = subprocess.run(
        [*certrepo_command(), "init", "--data-dir", str(data_dir), "--json"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    created: dict[str, str] = json.loads(result.stdout)
    return created


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-_LOG_TAIL:]


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path, seconds: int) -> None:
    """Poll /healthz; the wait between polls is the check that the server still runs."""
    for _ in range(seconds * 10):
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"certrepo serve exited with {process.returncode}:\n{_tail(log)}")
    pytest.fail(f"certrepo serve did not answer /healthz within {seconds} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def serve(
    data_dir: Path, port: int, env: Mapping[str, str], log: Path, *, startup_seconds: int = STARTUP_SECONDS
) -> Iterator[subprocess.Popen[bytes]]:
    """`certrepo serve` of an initialised data dir on 127.0.0.1:port, healthy when this yields; output to
    ``log``. Fails the test if the server dies or does not answer within ``startup_seconds``."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*certrepo_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(process, f"http://127.0.0.1:{port}", log, startup_seconds)
        yield process
    finally:
        _stop(process)
