"""Issuance from a CSR over HTTP, and CRL generation with 100,000 revoked entries (issue 4).

Issuance: a real `certrepo serve` (2 workers, SQLite), keep-alive clients sending the same CSR again and
again (each answer is a new certificate: new serial, stored with its audit event), against an EC P-256
intermediate and an RSA-2048 one. Raw: the same work in process on one core (verify the CSR, build and
sign the certificate with cryptography). efficiency = API/s ÷ (raw/s × workers); the load generator
shares the machine, so the figure is conservative.

CRL: 100,000 revoked serials written into the CA's records, then one more revocation over the API, which
re-signs and stores the whole CRL in its transaction; raw: pki.crl.build_crl of the same entries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, insert

from certrepo.domain.enums import IssueUsage, KeyAlgorithm, RevocationReason
from certrepo.pki.crl import RevokedEntry, build_crl
from certrepo.pki.csr import csr_facts, load_csr
from certrepo.pki.issue import (
    San,
    SubjectSpec,
    build_intermediate_ca,
    build_root_ca,
    issue_certificate,
    new_serial,
)
from certrepo.pki.keygen import generate_private_key
from certrepo.store.tables import ca_issued

from .loadgen import build_request, run_load
from .server import BenchServer, running_server

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
CRL_ENTRIES = int(os.environ.get("BENCH_CRL_ENTRIES", "100000"))
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _csr(key: Any) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.test")])
    )
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName("bench.example.test")]), critical=False
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _raw_rate(operation: Callable[[], object], seconds: float = 1.0) -> float:
    operation()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        operation()
        count += 1
    return count / elapsed


def _raw_issuance(algorithm: KeyAlgorithm, csr: str) -> float:
    """Issuances per second on one core: CSR check, build, sign (what the API does, minus HTTP and DB)."""
    root_key, ca_key = generate_private_key(algorithm), generate_private_key(algorithm)
    root = build_root_ca(
        key=root_key, subject=SubjectSpec(common_name="Raw Root"), not_before=NOW,
        not_after=NOW + dt.timedelta(days=3650), path_len=None, serial=new_serial(os.urandom),
    )  # fmt: skip
    ca = build_intermediate_ca(
        key_public=ca_key.public_key(), subject=SubjectSpec(common_name="Raw CA"), issuer_cert=root,
        issuer_key=root_key, not_before=NOW, not_after=NOW + dt.timedelta(days=1000), path_len=0,
        serial=new_serial(os.urandom), crl_url=None, ocsp_url=None,
    )  # fmt: skip

    def one() -> x509.Certificate:
        facts = csr_facts(load_csr(csr))
        return issue_certificate(
            ca_cert=ca, ca_key=ca_key, public_key=facts.public_key, subject=SubjectSpec(common_name="bench"),
            sans=(San("dns", "bench.example.test"),), not_before=NOW, not_after=NOW + dt.timedelta(days=30),
            profile=IssueUsage.SERVER, serial=new_serial(os.urandom), crl_url="http://127.0.0.1/crl/1.crl",
            ocsp_url="http://127.0.0.1/ocsp/1", now=NOW,
        )  # fmt: skip

    return _raw_rate(one)


def _server_cpu_seconds(port: int) -> float:
    """CPU time used so far by the `certrepo serve --port PORT` process and its workers (Linux /proc)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tree: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().split(b"\0")
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if b"serve" in command and str(port).encode() in command:
            tree.add(pid)
    while more := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= more
    return sum(cpu[pid] for pid in tree)


def _hierarchy(server: BenchServer, algorithm: str) -> tuple[int, int]:
    """(intermediate id, repository id) of a new root + intermediate of ``algorithm``."""
    with server.client() as http:
        root = http.post(
            "/v1/cas", json={"type": "root", "common_name": f"Bench {algorithm}", "key_algorithm": algorithm}
        )
        ca = http.post(
            "/v1/cas",
            json={"type": "intermediate", "common_name": f"Bench {algorithm} CA", "key_algorithm": algorithm,
                  "parent_id": root.json()["id"], "days": 1000},
        )  # fmt: skip
        repo = http.post(
            "/v1/repositories", json={"data_source": "private", "ca_id": ca.json()["id"], "qps": 1_000_000}
        )
        assert repo.status_code == 201, repo.text
    return int(ca.json()["id"]), int(repo.json()["id"])


def _issuance_rows(server: BenchServer, csrs: dict[str, str], raw: dict[str, float]) -> list[tuple[Any, ...]]:
    # Both CAs first: the RSA one takes keys from the workers' key pools, which refill in the background
    # (as they do after start-up); RSA is measured first, so that the pools are full when EC is.
    repositories = {algorithm: _hierarchy(server, algorithm)[1] for algorithm in ("RSA_2048", "ECC_256")}
    rows = []
    for algorithm, repository_id in repositories.items():
        csr = csrs[algorithm]
        body = json.dumps({"usage": "server", "csr": csr, "days": 30}).encode()
        request = build_request(
            server.host,
            server.port,
            f"/v1/repositories/{repository_id}/issue",
            body,
            {"Authorization": server.bearer},
        )
        asyncio.run(
            run_load(server.host, server.port, request, connections=CONNECTIONS, seconds=WARMUP, warmup=0)
        )
        cpu_before = _server_cpu_seconds(server.port)
        result = asyncio.run(
            run_load(server.host, server.port, request, connections=CONNECTIONS, seconds=SECONDS, warmup=0)
        )
        cpu_ms = (_server_cpu_seconds(server.port) - cpu_before) / max(result.requests, 1) * 1000
        efficiency = result.rate / (raw[algorithm] * WORKERS)
        rows.append(
            (
                algorithm,
                raw[algorithm],
                result.rate,
                efficiency,
                cpu_ms,
                result.p50_ms,
                result.p99_ms,
                result.errors,
            )
        )
    return rows


def _raw_crl_seconds(entries: list[RevokedEntry]) -> float:
    key = generate_private_key(KeyAlgorithm.ECC_256)
    ca = build_root_ca(
        key=key, subject=SubjectSpec(common_name="CRL"), not_before=NOW, not_after=NOW + dt.timedelta(days=30),
        path_len=None, serial=1,
    )  # fmt: skip
    times = []
    for number in range(3):
        start = time.perf_counter()
        build_crl(ca_cert=ca, ca_key=key, entries=entries, crl_number=number + 1, this_update=NOW,
                  next_update=NOW + dt.timedelta(days=7))  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _crl_row(server: BenchServer, csr: str) -> tuple[float, float, int]:
    """(API seconds for a revocation that re-signs the CRL, its raw build time, CRL bytes)."""
    ca_id, repository_id = _hierarchy(server, "ECC_256")
    revoked_at = NOW - dt.timedelta(hours=1)
    entries = [
        RevokedEntry(0x10_0000_0000 + i, revoked_at, RevocationReason.SUPERSEDED) for i in range(CRL_ENTRIES)
    ]
    engine = create_engine(f"sqlite:///{server.data_dir / 'certrepo.db'}", connect_args={"timeout": 30})
    with engine.begin() as connection:  # a benchmark's shortcut: 100,000 revocations without 100,000 requests
        connection.execute(
            insert(ca_issued),
            [
                {"ca_id": ca_id, "serial_number": format(e.serial, "x"), "certificate_identifier": None,
                 "not_after": NOW + dt.timedelta(days=30), "revoked_at": revoked_at, "revocation_reason": "superseded"}
                for e in entries
            ],
        )  # fmt: skip
    engine.dispose()
    times = []
    with server.client() as http:
        for _ in range(3):
            issued = http.post(
                f"/v1/repositories/{repository_id}/issue", json={"usage": "server", "csr": csr}
            )
            start = time.perf_counter()
            revoked = http.post(
                f"/v1/certificates/{issued.json()['identifier']}/revoke", json={"reason": "superseded"}
            )
            times.append(time.perf_counter() - start)
            assert revoked.status_code == 200, revoked.text
        size = len(http.get(f"/crl/{ca_id}.crl").content)
    return statistics.median(times), _raw_crl_seconds(entries), size


def main() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csrs = {"ECC_256": _csr(ec_key), "RSA_2048": _csr(rsa_key)}
    raw = {algorithm: _raw_issuance(KeyAlgorithm(algorithm), csr) for algorithm, csr in csrs.items()}
    with running_server(workers=WORKERS) as server:
        rows = _issuance_rows(server, csrs, raw)
        crl_api, crl_raw, crl_bytes = _crl_row(server, csrs["ECC_256"])
    print(f"\n## Issuance from a CSR over HTTP ({WORKERS} workers, {CONNECTIONS} keep-alive clients, "
          f"{SECONDS:.0f} s each, SQLite)\n")  # fmt: skip
    load = os.getloadavg()[0]
    print(
        "| CA key | raw issues/s (1 core) | API issues/s | efficiency | server CPU ms/issue | p50 ms | p99 ms | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, raw_rate, rate, eff, cpu_ms, p50, p99, errors in rows:
        print(
            f"| {name} | {raw_rate:,.0f} | {rate:,.0f} | {eff:.2f} | {cpu_ms:.1f} | {p50:.1f} | {p99:.1f} | {errors} |"
        )
    print(f"\n(1-minute load average at the end: {load:.1f} on {os.cpu_count()} CPUs)")
    print(f"\n## CRL with {CRL_ENTRIES:,} revoked entries (EC P-256 CA, median of 3)\n")
    print("| step | seconds | |")
    print("|---|---:|---|")
    print(f"| raw build_crl (sign + encode) | {crl_raw:.2f} | |")
    print(f"| API revocation, CRL re-signed and stored | {crl_api:.2f} | ratio {crl_api / crl_raw:.1f}× raw; "
          f"CRL {crl_bytes / 1e6:.1f} MB |")  # fmt: skip


if __name__ == "__main__":
    main()
