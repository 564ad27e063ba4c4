"""Key-use throughput over HTTP against the raw `cryptography` operation, in one run (issue 5).

efficiency = API ops/s ÷ (raw single-core ops/s × worker processes). The load generator runs on the same
machine (it takes CPU from the server: the figure is conservative). Medians of the latency, not means.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from .loadgen import build_request, run_load
from .server import running_server

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
MESSAGE = b"approve purchase order 2026-11-27 #0042, amount 1,250.00 EUR"


def _raw_rate(operation: Callable[[], object], seconds: float = 1.5) -> float:
    operation()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        operation()
        count += 1
    return count / elapsed


def _self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def main() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_sig = rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    ec_sig = ec_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    rsa_ct = rsa_key.public_key().encrypt(MESSAGE, oaep)
    raw = {
        "RSA-2048 SHA256withRSA sign": _raw_rate(lambda: rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())),
        "RSA-2048 SHA256withRSA verify": _raw_rate(
            lambda: rsa_key.public_key().verify(rsa_sig, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        ),
        "ECDSA P-256 sign": _raw_rate(lambda: ec_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))),
        "ECDSA P-256 verify": _raw_rate(lambda: ec_key.public_key().verify(ec_sig, MESSAGE, ec.ECDSA(hashes.SHA256()))),
        "RSA-2048 OAEP-SHA256 encrypt": _raw_rate(lambda: rsa_key.public_key().encrypt(MESSAGE, oaep)),
        "RSA-2048 OAEP-SHA256 decrypt": _raw_rate(lambda: rsa_key.decrypt(rsa_ct, oaep)),
    }
    rows = []
    with running_server(workers=WORKERS) as server:
        with server.client() as http:
            repo = http.post("/v1/repositories", json={"data_source": "uploaded", "qps": 1_000_000}).json()
            idents = {}
            for label, key in (("rsa", rsa_key), ("ec", ec_key)):
                uploaded = http.post(
                    f"/v1/repositories/{repo['id']}/certificates",
                    json={"certificate": _self_signed(key, f"bench-{label}"), "private_key": _key_pem(key)},
                ).json()
                idents[label] = uploaded["items"][0]["identifier"]
        msg = MESSAGE.decode()
        b64 = base64.b64encode
        calls = {
            "RSA-2048 SHA256withRSA sign": ("/v1/sign", {"identifier": idents["rsa"], "algorithm": "SHA256withRSA", "message": msg}),
            "RSA-2048 SHA256withRSA verify": ("/v1/verify", {"identifier": idents["rsa"], "algorithm": "SHA256withRSA", "message": msg, "signature": b64(rsa_sig).decode()}),
            "ECDSA P-256 sign": ("/v1/sign", {"identifier": idents["ec"], "algorithm": "SHA256withECDSA", "message": msg}),
            "ECDSA P-256 verify": ("/v1/verify", {"identifier": idents["ec"], "algorithm": "SHA256withECDSA", "message": msg, "signature": b64(ec_sig).decode()}),
            "RSA-2048 OAEP-SHA256 encrypt": ("/v1/encrypt", {"identifier": idents["rsa"], "algorithm": "RSAES_OAEP_SHA_256", "plaintext": msg}),
            "RSA-2048 OAEP-SHA256 decrypt": ("/v1/decrypt", {"identifier": idents["rsa"], "algorithm": "RSAES_OAEP_SHA_256", "ciphertext": b64(rsa_ct).decode()}),
        }
        for name, (path, body) in calls.items():
            request = build_request(server.host, server.port, path, json.dumps(body).encode(), {"Authorization": server.bearer})
            result = asyncio.run(run_load(server.host, server.port, request, connections=CONNECTIONS, seconds=SECONDS))
            efficiency = result.rate / (raw[name] * WORKERS)
            rows.append((name, raw[name], result.rate, efficiency, result.p50_ms, result.p99_ms, result.errors))
    print(f"\n## Key use over HTTP ({WORKERS} workers, {CONNECTIONS} keep-alive clients, {SECONDS:.0f} s each, SQLite)\n")
    print("| operation | raw ops/s (1 core) | API ops/s | efficiency | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, raw_rate, rate, eff, p50, p99, errors in rows:
        print(f"| {name} | {raw_rate:,.0f} | {rate:,.0f} | {eff:.2f} | {p50:.1f} | {p99:.1f} | {errors} |")


if __name__ == "__main__":
    main()
