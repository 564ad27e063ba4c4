"""Start a real `certrepo serve` for a benchmark: temp data dir, init, N workers, stop afterwards."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["BenchServer", "running_server"]

CERTREPO = str(Path(sys.executable).with_name("certrepo"))


@dataclass
class BenchServer:
    url: str
    host: str
    port: int
    key_id: str
    secret: str
    data_dir: Path

    @property
    def bearer(self) -> str:
        return f"Bearer {self.key_id}:{self.secret}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": self.bearer}, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(workers: int = 2, env: dict[str, str] | None = None) -> Iterator[BenchServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="certrepo-bench-"))
    port = _free_port()
    environment = {**os.environ, "CERTREPO_LOG_LEVEL": "warning", **(env or {})}
    init = subprocess.run(
        [CERTREPO, "init", "--json", "--data-dir", str(data_dir)], capture_output=True, text=True, check=True,
        env=environment,
    )
    creds = json.loads(init.stdout)
    process = subprocess.Popen(
        [CERTREPO, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("certrepo serve did not become ready")
            time.sleep(0.1)
        yield BenchServer(url, "127.0.0.1", port, creds["access_key_id"], creds["access_key_secret"], data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
