"""Sign through the Alibaba-compatible endpoint (full ACS3-HMAC-SHA256 check, nonce stored) next to the
same Sign over REST, against one server in one run (issue 6). Each RPC request is signed afresh by the
SDK's own signing function (a new nonce and date), so the client does more work per RPC call: the ratio
is conservative.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import uuid
from urllib.parse import urlencode

from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from .loadgen import build_request, run_load
from .operations import _key_pem, _self_signed
from .server import running_server

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _rpc_request(host: str, port: int, key_id: str, secret: str, query: dict[str, str]) -> bytes:
    headers = {
        "host": f"{host}:{port}",
        "x-acs-version": "2020-04-07",
        "x-acs-action": "Sign",
        "user-agent": "certrepo-bench",
        "x-acs-date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "accept": "application/json",
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = query
    request.headers = headers
    headers["authorization"] = Utils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256, key_id, secret)
    lines = [f"POST /?{urlencode(query)} HTTP/1.1", "Content-Length: 0"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    with running_server(workers=WORKERS) as server:
        with server.client() as http:
            repo = http.post("/v1/repositories", json={"data_source": "uploaded", "qps": 1_000_000}).json()
            uploaded = http.post(
                f"/v1/repositories/{repo['id']}/certificates",
                json={"certificate": _self_signed(key, "bench-rpc"), "private_key": _key_pem(key)},
            ).json()
        ident = uploaded["items"][0]["identifier"]
        rest = build_request(
            server.host,
            server.port,
            "/v1/sign",
            json.dumps({"identifier": ident, "algorithm": "SHA256withECDSA", "message": "hello"}).encode(),
            {"Authorization": server.bearer},
        )
        query = {"CertIdentifier": ident, "SigningAlgorithm": "SHA256withECDSA", "Message": "hello", "MessageType": "RAW"}
        results = {
            "REST POST /v1/sign": asyncio.run(
                run_load(server.host, server.port, rest, connections=CONNECTIONS, seconds=SECONDS)
            ),
            "RPC Sign (ACS3 checked, nonce stored)": asyncio.run(
                run_load(
                    server.host,
                    server.port,
                    lambda: _rpc_request(server.host, server.port, server.key_id, server.secret, query),
                    connections=CONNECTIONS,
                    seconds=SECONDS,
                )
            ),
        }
    base = results["REST POST /v1/sign"].rate
    print(f"\n## ECDSA P-256 Sign, REST vs Alibaba RPC ({WORKERS} workers, {CONNECTIONS} clients, {SECONDS:.0f} s, SQLite)\n")
    print("| endpoint | ops/s | vs REST | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result.rate:,.0f} | {result.rate / base:.2f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} |")


if __name__ == "__main__":
    main()
