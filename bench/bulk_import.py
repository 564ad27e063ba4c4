"""Bulk import rate (issue 3): `certrepo cert import DIR` of PEM leaf + key pairs against a real server.

A folder of N EC P-256 leaves (each issued by one intermediate, as a CA would) and their PKCS#8 keys is
imported by the CLI, as a user would, into a fresh `uploaded` repository of `certrepo serve --workers 2` on
SQLite. The figure is certificates per second over the whole command (scan, pairing, uploads, summary).

Reference in the same run: the raw `cryptography` work each pair needs at least (parse the certificate,
parse the key, compare their public keys) on one core. The ratio says how far the whole path (HTTP, strict
checks, sealing, storage) is from that floor.

Environment: BENCH_IMPORT_COUNT (default 2000), BENCH_IMPORT_CLIENT_WORKERS (the CLI's ``--workers``: how many
certificates may be in flight; default 400, which the importer sends as 4 concurrent batches of 100),
BENCH_WORKERS (server worker processes, default 2).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .server import running_server

__all__ = ["main"]

COUNT = int(os.environ.get("BENCH_IMPORT_COUNT", "2000"))
CLIENT_WORKERS = int(os.environ.get("BENCH_IMPORT_CLIENT_WORKERS", "400"))
SERVER_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CERTREPO = str(Path(sys.executable).with_name("certrepo"))
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pairs(folder: Path, count: int) -> None:
    """``leaf-NNNNN.pem`` and ``leaf-NNNNN.key`` (PKCS#8) for ``count`` server certificates."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _name("Bench Issuing CA")
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        host = f"host-{i:05d}.bench.example"
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(ca)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        (folder / f"leaf-{i:05d}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"leaf-{i:05d}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def _raw_pairs_per_second(folder: Path, seconds: float = 2.0) -> float:
    """Parse certificate and key and compare public keys, on one core: the least an import must do."""
    pairs = [(p.read_bytes(), p.with_suffix(".key").read_bytes()) for p in sorted(folder.glob("*.pem"))[:200]]
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        cert_pem, key_pem = pairs[count % len(pairs)]
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
        assert cert.public_key().public_bytes(*_SPKI) == key.public_key().public_bytes(*_SPKI)
        count += 1
    return count / elapsed


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="certrepo-bench-import-"))
    try:
        _write_pairs(folder, COUNT)
        raw = _raw_pairs_per_second(folder)
        with running_server(workers=SERVER_WORKERS) as server:
            with server.client() as http:
                created = http.post("/v1/repositories", json={"data_source": "uploaded", "qps": 1_000_000})
                created.raise_for_status()
                repository_id = created.json()["id"]
            environment = {
                **os.environ,
                "CERTREPO_URL": server.url,
                "CERTREPO_ACCESS_KEY_ID": server.key_id,
                "CERTREPO_ACCESS_KEY_SECRET": server.secret,
            }
            command = [CERTREPO, "--json", "cert", "import", str(folder), "--repository", str(repository_id),
                       "--workers", str(CLIENT_WORKERS)]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - start
            with server.client() as http:
                stored = http.get(f"/v1/repositories/{repository_id}").json()["certificate_count"]
        summary = json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr[-500:]}
        imported = int(summary.get("imported", 0))
        rate = imported / seconds
        print(f"# Bulk import: {COUNT:,} PEM leaf + key pairs (EC P-256), `certrepo cert import` with "
              f"--workers {CLIENT_WORKERS} (certificates in flight, in batches), "
              f"`certrepo serve --workers {SERVER_WORKERS}` on SQLite, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        print("| measure | value |\n|---|---:|")
        print(f"| imported (stored in the repository) | {imported:,} ({stored:,}) |")
        print(f"| refused | {len(summary.get('refused', {})):,} |")
        print(f"| wall time | {seconds:.1f} s |")
        print(f"| import rate | {rate:,.0f} certificates/s |")
        print(f"| raw cryptography: parse certificate + key, compare keys, 1 core | {raw:,.0f} pairs/s |")
        print(f"| import rate / raw rate | {rate / raw:.3f} |", flush=True)
        if done.returncode not in (0, 1):
            print(f"import failed with exit code {done.returncode}: {done.stderr[-500:]}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
