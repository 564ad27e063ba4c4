"""The private CA end to end: a real `certrepo serve` (SQLite, temp data dir) driven by the CLI and HTTP,
checked by the real `openssl` command line: chains verify, the CRL fetched over HTTP lists the revoked
serial with its reason, the OCSP responder says good then revoked, and both keep answering after the
repository is reset."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import CERTREPO, free_port, init_json, serve

OPENSSL = "/usr/bin/openssl"

pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason=f"the openssl CLI is not at {OPENSSL}")


@dataclass
class Server:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    http: httpx.Client

    def cli(self, *args: str) -> Any:
        """Run `certrepo --json …` against the server; the JSON it prints."""
        result = subprocess.run(
            [CERTREPO, "--json", "--data-dir", str(self.data_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def api(self, method: str, path: str, **body: Any) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("e2e")
    data_dir, port = root / "data", free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_")}
    env["CERTREPO_BASE_URL"] = base_url
    credentials = init_json(data_dir, env)
    with serve(data_dir, port, env, root / "server.log"):
        bearer = f"Bearer {credentials['access_key_id']}:{credentials['access_key_secret']}"
        with httpx.Client(base_url=base_url, headers={"Authorization": bearer}, timeout=30) as http:
            yield Server(base_url, data_dir, env, http)


@dataclass
class Pki:
    intermediate_id: int
    repository_id: int
    folder: Path


def _pki(server: Server, folder: Path, name: str, *, with_cli: bool = False) -> Pki:
    folder.mkdir(exist_ok=True)
    if with_cli:  # each CLI run costs a Python start-up: the CLI does a few steps, HTTP the rest
        root = server.cli(
            "ca", "create", "--type", "root", "--cn", f"{name} Root", "--out", str(folder / "root.pem")
        )
    else:
        root = server.api("POST", "/v1/cas", type="root", common_name=f"{name} Root", key_algorithm="ECC_256")
        (folder / "root.pem").write_text(root["certificate"])
    intermediate = server.api(
        "POST", "/v1/cas", type="intermediate", common_name=f"{name} Issuing", key_algorithm="ECC_256",
        parent_id=root["id"], days=400,
    )  # fmt: skip
    (folder / "int.pem").write_text(intermediate["certificate"])
    repository = server.api("POST", "/v1/repositories", data_source="private", ca_id=intermediate["id"])
    return Pki(intermediate["id"], repository["id"], folder)


@pytest.fixture(scope="module")
def pki(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _pki(server, tmp_path_factory.mktemp("pki"), "E2E", with_cli=True)


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # fixed binary, arguments built by the tests
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _issue_from_openssl_csr(server: Server, pki: Pki, name: str, *, with_cli: bool = False) -> dict[str, Any]:
    """openssl makes the key and CSR; the certificate is issued for it and written to name.pem."""
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-subj", f"/CN={name}.e2e.test", "-out", f"{name}.csr",
        cwd=pki.folder,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    if with_cli:
        issued = server.cli(
            "cert", "issue", "-r", str(pki.repository_id), "--usage", "server", "--csr",
            f"@{pki.folder / name}.csr", "--san", f"dns:{name}.e2e.test", "--days", "30",
            "--out", str(pki.folder / f"{name}.pem"),
        )  # fmt: skip
        return dict(issued)
    csr = (pki.folder / f"{name}.csr").read_text()
    issued = server.api(
        "POST", f"/v1/repositories/{pki.repository_id}/issue", usage="server", csr=csr,
        sans=[{"type": "dns", "value": f"{name}.e2e.test"}], days=30,
    )  # fmt: skip
    (pki.folder / f"{name}.pem").write_text(issued["pem"])
    return dict(issued)


def _ocsp(server: Server, pki: Pki, name: str) -> subprocess.CompletedProcess[str]:
    return openssl(
        "ocsp", "-issuer", "int.pem", "-cert", f"{name}.pem", "-url", f"{server.base_url}/ocsp/{pki.intermediate_id}",
        "-CAfile", "root.pem", "-verify_other", "int.pem",
        cwd=pki.folder,
    )  # fmt: skip


def _openssl_serial(pki: Pki, name: str) -> str:
    shown = openssl("x509", "-in", f"{name}.pem", "-noout", "-serial", cwd=pki.folder)
    return shown.stdout.strip().removeprefix("serial=")


def test_openssl_verifies_server_and_client_certificates_through_the_intermediate(
    server: Server, pki: Pki
) -> None:
    _issue_from_openssl_csr(server, pki, "web", with_cli=True)
    client = server.api(
        "POST",
        f"/v1/repositories/{pki.repository_id}/issue",
        usage="client",
        common_name="worker-1",
        exportable=True,
    )
    (pki.folder / "worker.pem").write_text(client["pem"])

    checks = {
        name: openssl(
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            f"{name}.pem",
            cwd=pki.folder,
        )
        for name, purpose in (("web", "sslserver"), ("worker", "sslclient"))
    }

    assert {n: (r.returncode, r.stdout.strip()) for n, r in checks.items()} == {
        "web": (0, "web.pem: OK"),
        "worker": (0, "worker.pem: OK"),
    }, {n: r.stderr for n, r in checks.items()}


def test_the_crl_fetched_over_http_lists_the_revoked_serial_with_its_reason(server: Server, pki: Pki) -> None:
    issued = _issue_from_openssl_csr(server, pki, "doomed")
    server.cli("cert", "revoke", issued["identifier"], "--reason", "key_compromise")

    fetched = httpx.get(f"{server.base_url}/crl/{pki.intermediate_id}.crl", timeout=10)
    (pki.folder / "crl.der").write_bytes(fetched.content)
    shown = openssl(
        "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "int.pem", "-noout", "-text", cwd=pki.folder
    )

    assert fetched.status_code == 200 and shown.returncode == 0, shown.stderr
    assert "verify OK" in shown.stderr
    serial = _openssl_serial(pki, "doomed")
    entry = shown.stdout.split(f"Serial Number: {serial}", 1)
    assert len(entry) == 2, shown.stdout
    assert "Key Compromise" in entry[1].split("Serial Number:", 1)[0]


def test_openssl_ocsp_says_good_then_revoked_after_revocation(server: Server, pki: Pki) -> None:
    issued = _issue_from_openssl_csr(server, pki, "ocspee")

    before = _ocsp(server, pki, "ocspee")
    server.api("POST", f"/v1/certificates/{issued['identifier']}/revoke", reason="superseded")
    after = _ocsp(server, pki, "ocspee")

    assert before.returncode == 0 and "Response verify OK" in before.stderr, before.stderr
    assert before.stdout.startswith("ocspee.pem: good"), before.stdout
    assert after.returncode == 0 and after.stdout.startswith("ocspee.pem: revoked"), after.stdout
    assert "Reason: superseded" in after.stdout


def test_ocsp_and_crl_keep_answering_after_the_repository_is_reset(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pki = _pki(server, tmp_path_factory.mktemp("reset"), "Reset")
    revoked = _issue_from_openssl_csr(server, pki, "gone")
    _issue_from_openssl_csr(server, pki, "kept")
    server.api("POST", f"/v1/certificates/{revoked['identifier']}/revoke", reason="cessation_of_operation")

    server.api("POST", f"/v1/repositories/{pki.repository_id}/reset", acknowledge_risk=True)
    gone, kept = _ocsp(server, pki, "gone"), _ocsp(server, pki, "kept")
    crl = httpx.get(f"{server.base_url}/crl/{pki.intermediate_id}.pem", timeout=10)
    (pki.folder / "crl.pem").write_text(crl.text)
    listed = openssl("crl", "-in", "crl.pem", "-noout", "-text", cwd=pki.folder)

    assert gone.stdout.startswith("gone.pem: revoked") and kept.stdout.startswith("kept.pem: good"), (
        gone.stdout + kept.stdout + gone.stderr
    )
    assert f"Serial Number: {_openssl_serial(pki, 'gone')}" in listed.stdout
    assert f"Serial Number: {_openssl_serial(pki, 'kept')}" not in listed.stdout
