"""Server CPU per key-use request (issue 5): where a call's cost is, independent of the load generator.

`certrepo serve --workers 1` on SQLite, an EC P-256 (or RSA-2048) key uploaded, 32 keep-alive clients
calling `POST /v1/sign` for 4 s after 4 s of warm-up; the server's user+system CPU time (from /proc, all
its threads) divided by the calls answered. `BENCH_CPU_KEY=rsa` for RSA-2048.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .loadgen import build_request, run_load
from .operations import MESSAGE, _key_pem, _self_signed
from .server import running_server

__all__ = ["main"]

KEY = os.environ.get("BENCH_CPU_KEY", "ec")


def _process_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115 - a one-shot read
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    key = ec.generate_private_key(ec.SECP256R1()) if KEY == "ec" else rsa.generate_private_key(65537, 2048)
    algorithm = "SHA256withECDSA" if KEY == "ec" else "SHA256withRSA"
    with running_server(workers=1) as server:
        with server.client() as http:
            repo = http.post("/v1/repositories", json={"data_source": "uploaded", "qps": 1_000_000}).json()
            uploaded = http.post(
                f"/v1/repositories/{repo['id']}/certificates",
                json={"certificate": _self_signed(key, "cpu"), "private_key": _key_pem(key)},
            ).json()
        found = subprocess.run(["pgrep", "-f", "--", f"--port {server.port}"], capture_output=True, text=True, check=True)
        pid = int(found.stdout.split()[0])
        body = json.dumps({"identifier": uploaded["items"][0]["identifier"], "algorithm": algorithm,
                           "message": MESSAGE.decode()}).encode()  # fmt: skip
        request = build_request(server.host, server.port, "/v1/sign", body, {"Authorization": server.bearer})
        asyncio.run(run_load(server.host, server.port, request, connections=32, seconds=4, warmup=0))
        before = _process_cpu_seconds(pid)
        result = asyncio.run(run_load(server.host, server.port, request, connections=32, seconds=4, warmup=0))
        spent = _process_cpu_seconds(pid) - before
    print(f"\n## Server CPU per sign request ({KEY}, 1 worker, 32 clients)\n")
    print("| calls/s | server CPU µs / call | p50 ms | p99 ms | errors |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {result.rate:,.0f} | {1e6 * spent / max(1, result.requests):.0f} | {result.p50_ms:.1f} | "
          f"{result.p99_ms:.1f} | {result.errors} |")  # fmt: skip


if __name__ == "__main__":
    main()
