"""Crash safety (issue #8 item 4): `certrepo serve` killed with SIGKILL in the middle of a bulk import and
of an issuance burst, on SQLite and on PostgreSQL.

After a restart on the same data nothing is half stored (no certificate without its key, no key without its
certificate, no certificate without its audit event, no serial reserved without its certificate), the audit
chain verifies, every certificate a client got a 201 for exists, and the importer resumes: the killed run
lists exactly the files it could not confirm, and a re-run imports those once and counts the others as
already present.

One server per database serves both scenarios; each scenario kills it once (a module-scoped fixture), restarts
it, and keeps what it saw right after the restart: the tests look at that record, so their order does not
matter.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.conftest import skip_or_fail
from tests.factories import build, ec_key, key_pem, make_chain, pem
from tests.support.crash import (
    CrashServer,
    audit_report,
    consistency_problems,
    crash_server,
    query,
    wait_for,
)
from tests.support.postgres import PostgresCluster

FILES = 200  # leaf + key pairs in the import folder
IMPORT_WORKERS = 8  # the importer's parallel uploads: at most this many are in flight at the kill
KILL_AFTER_STORED = 50  # certificates the database holds when the server is killed, a quarter in
ISSUERS = 6  # concurrent issuing clients
KILL_AFTER_ISSUED = 40  # 201 answers the clients got when the server is killed
MAX_REQUESTS_PER_ISSUER = 500  # a bound in case the kill never comes
COMMAND_SECONDS = 120

_databases = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashServer]:
    """One server per database for both scenarios (each kills and restarts it): SQLite in its data dir,
    or a new database of the session's PostgreSQL cluster."""
    database_url = None
    if request.param == "postgres":
        cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
        if cluster is None:
            skip_or_fail("PostgreSQL (initdb) is not installed; crash safety ran on SQLite only")
        assert cluster is not None
        name = f"crash_{os.getpid()}_{next(_databases)}"
        cluster.psql(f"CREATE DATABASE {name} TEMPLATE certrepo_template")
        database_url = cluster.url(name)
    with crash_server(tmp_path_factory.mktemp(f"crash-{request.param}"), database_url) as started:
        yield started


def _post(server: CrashServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.client() as http:
        response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _count(server: CrashServer, sql: str, **params: Any) -> int:
    return int(query(server.database_url, sql, **params)[0][0])


# --- bulk import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaves:
    """The import folder: certificate path -> SHA-256 fingerprint (hex) of each leaf, each with a key file."""

    folder: Path
    fingerprints: dict[str, str]


@pytest.fixture(scope="module")
def leaves(tmp_path_factory: pytest.TempPathFactory) -> Leaves:
    """FILES EC P-256 leaves under one intermediate, each as name.pem + name.key (keys made once)."""
    chain = make_chain("Crash")
    folder = tmp_path_factory.mktemp("leaves")
    fingerprints = {}
    for i in range(FILES):
        host, key = f"leaf{i:03}.crash.example", ec_key()
        cert = build(host, key, issuer=(chain.intermediate, chain.intermediate_key), sans=[host])
        (folder / f"leaf{i:03}.pem").write_text(pem(cert))
        (folder / f"leaf{i:03}.key").write_text(key_pem(key))
        fingerprints[str(folder / f"leaf{i:03}.pem")] = cert.fingerprint(hashes.SHA256()).hex()
    return Leaves(folder, fingerprints)


@dataclass
class Stored:
    """A certificate row as the database held it right after the restart."""

    identifier: str
    fingerprint: str
    serial_number: str
    has_key: bool


@dataclass
class ImportCrash:
    """A bulk import whose server was killed, and what was seen right after the restart."""

    server: CrashServer
    repository_id: int
    leaves: Leaves
    exit_code: int
    summary: dict[str, Any]
    stored: dict[str, Stored]  # by fingerprint
    problems: list[str]
    audit: dict[str, Any]
    audit_rows: int

    def stored_files(self) -> set[str]:
        return {path for path, fp in self.leaves.fingerprints.items() if fp in self.stored}


def _stored(server: CrashServer, repository_id: int) -> dict[str, Stored]:
    rows = query(
        server.database_url,
        "SELECT identifier, fingerprint_sha256, serial_number, key_id IS NOT NULL FROM certificates "
        "WHERE repository_id = :r",
        r=repository_id,
    )
    return {fp: Stored(identifier, fp, serial, bool(has_key)) for identifier, fp, serial, has_key in rows}


def _import_options(repository_id: int) -> list[str]:
    return ["--repository", str(repository_id), "--workers", str(IMPORT_WORKERS)]


def _run_import(server: CrashServer, leaves: Leaves, repository_id: int) -> tuple[int, dict[str, Any]]:
    """`certrepo --json cert import FOLDER -r ID` to its end: exit code and JSON summary."""
    done = subprocess.run(
        server.cli("--json", "cert", "import", str(leaves.folder), *_import_options(repository_id)),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert done.stdout.strip(), f"exit {done.returncode}: {done.stderr}"
    return done.returncode, json.loads(done.stdout)


def _import_until_killed(server: CrashServer, leaves: Leaves, repository_id: int, out: Path) -> int:
    """Start the import, kill the server once KILL_AFTER_STORED of its certificates are in the database,
    and wait for the importer to end; its exit code (its JSON summary is in ``out``)."""
    stored = "SELECT count(*) FROM certificates WHERE repository_id = :r"  # observed, never timed
    with out.open("wb") as sink, out.with_suffix(".err").open("wb") as errors:
        importer = subprocess.Popen(
            server.cli("--json", "cert", "import", str(leaves.folder), *_import_options(repository_id)),
            env=server.env,
            stdout=sink,
            stderr=errors,
        )
    try:
        wait_for(
            lambda: _count(server, stored, r=repository_id) >= KILL_AFTER_STORED,
            while_running=importer,
            seconds=COMMAND_SECONDS,
            what=f"{KILL_AFTER_STORED} imported certificates before the kill",
        )
        server.kill()
        return importer.wait(timeout=COMMAND_SECONDS)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait(timeout=30)


@pytest.fixture(scope="module")
def import_crash(server: CrashServer, leaves: Leaves) -> ImportCrash:
    """Kill the server a quarter into a bulk import, restart it, and record what the database holds."""
    out = server.root / "killed-import.json"
    repository_id = int(_post(server, "/v1/repositories", {"data_source": "uploaded"})["id"])
    exit_code = _import_until_killed(server, leaves, repository_id, out)
    server.start()
    summary_text = out.read_text()
    assert summary_text.strip(), out.with_suffix(".err").read_text()
    return ImportCrash(
        server=server,
        repository_id=repository_id,
        leaves=leaves,
        exit_code=exit_code,
        summary=json.loads(summary_text),
        stored=_stored(server, repository_id),
        problems=consistency_problems(server.database_url),
        audit=audit_report(server),
        audit_rows=_count(server, "SELECT count(*) FROM audit_events"),
    )


def test_the_killed_import_exits_2_and_accounts_for_every_file(import_crash: ImportCrash) -> None:
    summary = import_crash.summary
    accounted = summary["imported"] + len(summary["already_present"]) + len(summary["unreachable"])
    assert (import_crash.exit_code, summary["refused"], summary["unpaired_keys"]) == (2, {}, [])
    assert accounted == FILES and summary["unreachable"], summary


def test_the_killed_import_lists_every_file_the_database_does_not_hold(import_crash: ImportCrash) -> None:
    missing = set(import_crash.leaves.fingerprints) - import_crash.stored_files()
    assert missing, "the kill came after the whole import was stored"
    assert missing <= set(import_crash.summary["unreachable"])


def test_every_file_the_killed_import_confirmed_is_stored(import_crash: ImportCrash) -> None:
    confirmed = set(import_crash.leaves.fingerprints) - set(import_crash.summary["unreachable"])
    assert len(confirmed) == import_crash.summary["imported"]
    assert confirmed <= import_crash.stored_files()


def test_only_uploads_in_flight_at_the_kill_are_listed_and_yet_stored(import_crash: ImportCrash) -> None:
    """Stored but unconfirmed: their answer was lost with the server. Those are at most the uploads in
    flight, and the importer says they were sent; the files it did not send are not stored."""
    unreachable = import_crash.summary["unreachable"]
    stored_yet_listed = import_crash.stored_files() & set(unreachable)
    assert len(stored_yet_listed) <= IMPORT_WORKERS
    assert all(unreachable[path].startswith("sent") for path in stored_yet_listed), unreachable


def test_no_certificate_or_key_is_half_stored_after_the_restart(import_crash: ImportCrash) -> None:
    assert import_crash.problems == []
    assert [s.identifier for s in import_crash.stored.values() if not s.has_key] == []


def test_the_audit_chain_verifies_after_the_restart_of_an_import(import_crash: ImportCrash) -> None:
    report = import_crash.audit
    assert (report["intact"], report["events"]) == (True, import_crash.audit_rows), report


def test_a_rerun_imports_the_missing_files_once_and_counts_the_rest_as_already_present(
    import_crash: ImportCrash,
) -> None:
    server, leaves = import_crash.server, import_crash.leaves
    before = import_crash.stored_files()
    code, summary = _run_import(server, leaves, import_crash.repository_id)
    assert (code, summary["imported"], summary["refused"], summary["unreachable"]) == (
        0,
        FILES - len(before),
        {},
        {},
    )
    assert set(summary["already_present"]) == before
    after = _stored(server, import_crash.repository_id)
    assert sorted(after) == sorted(leaves.fingerprints.values())  # each file once, nothing else
    assert all(s.has_key for s in after.values())
    assert consistency_problems(server.database_url) == []
    assert audit_report(server)["intact"] is True


# --- issuance burst -----------------------------------------------------------------------------------


@dataclass
class Burst:
    """What the issuing clients were told: 201 answers (with whether they asked for a generated key) and
    every other answer (none expected)."""

    confirmed: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reached: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class IssuanceCrash:
    """An issuance burst whose server was killed, and what was seen right after the restart."""

    server: CrashServer
    ca_id: int
    repository_id: int
    burst: Burst
    stored: dict[str, Stored]  # by identifier
    generated: dict[str, bool]  # identifier -> key_generated, as its certificate.issue audit event says
    problems: list[str]
    audit: dict[str, Any]
    audit_rows: int


def _csrs(count: int) -> list[str]:
    """PEM CSRs of fresh EC P-256 keys, each for its own host name (reused round-robin by the burst)."""
    csrs = []
    for i in range(count):
        host = f"csr{i}.crash.example"
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ec_key(), hashes.SHA256())
        )
        csrs.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return csrs


def _issue_body(n: int, csrs: list[str]) -> tuple[dict[str, Any], bool]:
    """Every other request asks for a generated key (stored with the certificate), the rest send a CSR."""
    if n % 2:
        return {"usage": "server", "csr": csrs[n % len(csrs)]}, False
    host = f"gen{n}.crash.example"
    return {"usage": "server", "common_name": host, "sans": [{"type": "dns", "value": host}]}, True


def _issuer(server: CrashServer, repository_id: int, csrs: list[str], burst: Burst, worker: int) -> None:
    """Issue one request after the other until the server goes away (or the burst is stopped)."""
    with server.client() as http:
        for i in range(MAX_REQUESTS_PER_ISSUER):
            if burst.stop.is_set():
                return
            body, generated = _issue_body(worker * MAX_REQUESTS_PER_ISSUER + i, csrs)
            try:
                response = http.post(f"/v1/repositories/{repository_id}/issue", json=body)
            except httpx.TransportError:
                return  # the kill: this request's fate is unknown to the client
            with burst.lock:
                if response.status_code == 201:
                    burst.confirmed.append((response.json(), generated))
                    if len(burst.confirmed) >= KILL_AFTER_ISSUED:
                        burst.reached.set()
                else:
                    burst.unexpected.append(f"{response.status_code} {response.text[:300]}")


def _issue_until_killed(server: CrashServer, repository_id: int, csrs: list[str]) -> Burst:
    """ISSUERS clients issue concurrently; the server is killed once they hold KILL_AFTER_ISSUED answers."""
    burst = Burst()
    with ThreadPoolExecutor(max_workers=ISSUERS) as pool:
        futures = [pool.submit(_issuer, server, repository_id, csrs, burst, w) for w in range(ISSUERS)]
        try:
            reached = burst.reached.wait(timeout=COMMAND_SECONDS)
            assert reached, f"{KILL_AFTER_ISSUED} certificates not issued in time: {burst.unexpected[:3]}"
            server.kill()
        finally:
            burst.stop.set()
        for future in futures:
            future.result(timeout=COMMAND_SECONDS)
    return burst


def _audit_key_generated(server: CrashServer, repository_id: int) -> dict[str, bool]:
    rows = query(
        server.database_url,
        "SELECT certificate_id, details FROM audit_events WHERE action = 'certificate.issue' "
        "AND repository_id = :r",
        r=repository_id,
    )
    return {
        identifier: bool((json.loads(d) if isinstance(d, str) else d)["key_generated"])
        for identifier, d in rows
    }


@pytest.fixture(scope="module")
def issuance_crash(server: CrashServer) -> IssuanceCrash:
    """A private CA issuing to concurrent clients; the server is killed mid-burst and restarted."""
    csrs = _csrs(8)
    root_ca = _post(
        server, "/v1/cas", {"type": "root", "common_name": "Crash Root", "key_algorithm": "ECC_256"}
    )
    ca = _post(
        server,
        "/v1/cas",
        {
            "type": "intermediate",
            "common_name": "Crash CA",
            "key_algorithm": "ECC_256",
            "parent_id": root_ca["id"],
        },
    )
    repository_id = int(
        _post(server, "/v1/repositories", {"data_source": "private", "ca_id": ca["id"]})["id"]
    )
    burst = _issue_until_killed(server, repository_id, csrs)
    server.start()
    stored = {s.identifier: s for s in _stored(server, repository_id).values()}
    return IssuanceCrash(
        server=server,
        ca_id=int(ca["id"]),
        repository_id=repository_id,
        burst=burst,
        stored=stored,
        generated=_audit_key_generated(server, repository_id),
        problems=consistency_problems(server.database_url),
        audit=audit_report(server),
        audit_rows=_count(server, "SELECT count(*) FROM audit_events"),
    )


def test_no_issue_request_got_an_error_answer_before_the_kill(issuance_crash: IssuanceCrash) -> None:
    assert issuance_crash.burst.unexpected == []


def test_every_certificate_a_client_got_a_201_for_exists_after_the_restart(
    issuance_crash: IssuanceCrash,
) -> None:
    answered = {
        item["identifier"]: (item["serial_number"], item["has_private_key"])
        for item, _ in issuance_crash.burst.confirmed
    }
    stored = {i: (s.serial_number, s.has_key) for i, s in issuance_crash.stored.items() if i in answered}
    assert len(answered) >= KILL_AFTER_ISSUED
    assert stored == answered


def test_a_generated_key_is_stored_with_its_certificate_and_a_csr_certificate_has_none(
    issuance_crash: IssuanceCrash,
) -> None:
    asked = {item["identifier"]: generated for item, generated in issuance_crash.burst.confirmed}
    has_key = {i: s.has_key for i, s in issuance_crash.stored.items()}
    assert {i: has_key[i] for i in asked} == asked  # what the clients asked for, as answered
    assert has_key == issuance_crash.generated  # every stored row, answered or not, as its audit event says


def test_serials_are_unique_and_every_reserved_serial_has_its_certificate(
    issuance_crash: IssuanceCrash,
) -> None:
    serials = [s.serial_number for s in issuance_crash.stored.values()]
    assert len(set(serials)) == len(serials)
    assert issuance_crash.problems == []


def test_the_audit_chain_verifies_after_the_restart_of_an_issuance_burst(
    issuance_crash: IssuanceCrash,
) -> None:
    report = issuance_crash.audit
    assert (report["intact"], report["events"]) == (True, issuance_crash.audit_rows), report


def test_the_restarted_server_issues_again_with_a_new_serial(issuance_crash: IssuanceCrash) -> None:
    body, _ = _issue_body(0, [])
    issued = _post(issuance_crash.server, f"/v1/repositories/{issuance_crash.repository_id}/issue", body)
    assert issued["serial_number"] not in {s.serial_number for s in issuance_crash.stored.values()}
    assert consistency_problems(issuance_crash.server.database_url) == []
    assert audit_report(issuance_crash.server)["intact"] is True


def test_certrepo_audit_verify_exits_0_after_the_restart(issuance_crash: IssuanceCrash) -> None:
    server = issuance_crash.server
    done = subprocess.run(
        server.cli("--json", "audit", "verify"),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert (done.returncode, json.loads(done.stdout)["intact"]) == (0, True), done.stderr
