"""SM2 end to end, checked by the OpenSSL 3 command line: a real `certrepo serve` with an SM2 root and
intermediate (created over REST), certificates issued from an openssl-made SM2 CSR and with generated keys,
the CRL and the OCSP responder over HTTP, and SM2 chains made by openssl uploaded.

What OpenSSL 3.0 can and cannot check here: `openssl verify` (and `crl -CAfile`, `ocsp` without
-noverify) fails on every SM2 signature inside an X.509 structure, its own chains included
("certificate signature failure", `ASN1_item_verify_ctx:EVP lib`; openssl/openssl#24167 reports the same).
So each SM3withSM2 signature we make (certificates, CRL, OCSP response, Sign) is verified on its own with
`openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`, and `openssl verify` is
only required to treat our chain as it treats its own (if it ever accepts its own, it must accept ours).
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from certrepo.crypto.sm2 import is_sm2_available
from tests.conftest import skip_or_fail

from .conftest import Served

OPENSSL = "/usr/bin/openssl"
DEFAULT_ID = "distid:1234567812345678"
SM3_WITH_DEFAULT_ID = ("-sm3", "-sigopt", DEFAULT_ID)

pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason=f"the openssl CLI is not at {OPENSSL}")


@pytest.fixture(autouse=True, scope="module")
def _needs_gmssl() -> None:
    if not is_sm2_available():
        skip_or_fail("SM2 needs the optional gmssl-pyx package, which is not installed")


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # fixed binary, arguments built by the tests
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def openssl_ok(*args: str, cwd: Path) -> str:
    result = openssl(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclasses.dataclass
class Sm2Service:
    http: httpx.Client
    base_url: str
    intermediate_id: int
    repository_id: int
    folder: Path

    def api(self, method: str, path: str, **body: Any) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def sm2(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sm2Service]:
    """An SM2 root and intermediate of the server (root.pem, int.pem in the folder), a private repository."""
    folder = tmp_path_factory.mktemp("sm2")
    with httpx.Client(base_url=served.base_url, headers={"Authorization": served.bearer}, timeout=30) as http:

        def post(path: str, **body: Any) -> Any:
            response = http.post(path, json=body)
            assert response.status_code == 201, response.text
            return response.json()

        root = post("/v1/cas", type="root", common_name="E2E SM2 Root", key_algorithm="SM2_256")
        intermediate = post(
            "/v1/cas", type="intermediate", common_name="E2E SM2 Issuing", key_algorithm="SM2_256",
            parent_id=root["id"], days=400,
        )  # fmt: skip
        repository = post("/v1/repositories", data_source="private", ca_id=intermediate["id"])
        (folder / "root.pem").write_text(root["certificate"])
        (folder / "int.pem").write_text(intermediate["certificate"])
        yield Sm2Service(http, served.base_url, intermediate["id"], repository["id"], folder)


def issue_from_openssl_csr(sm2: Sm2Service, name: str) -> dict[str, Any]:
    """openssl makes the SM2 key and the CSR (SM3withSM2, default ID); the service issues name.pem."""
    openssl_ok(
        "req", "-new", "-newkey", "sm2", "-nodes", "-keyout", f"{name}.key", *SM3_WITH_DEFAULT_ID,
        "-subj", f"/CN={name}.e2e.test", "-out", f"{name}.csr", cwd=sm2.folder,
    )  # fmt: skip
    issued = sm2.api(
        "POST", f"/v1/repositories/{sm2.repository_id}/issue", usage="server", csr=(sm2.folder / f"{name}.csr").read_text(),
        sans=[{"type": "dns", "value": f"{name}.e2e.test"}], days=30,
    )  # fmt: skip
    (sm2.folder / f"{name}.pem").write_text(issued["pem"])
    return dict(issued)


def pkeyutl_verifies(
    folder: Path, signer_pem: str, data: bytes, signature: bytes, distid: str = DEFAULT_ID
) -> bool:
    """`openssl pkeyutl -verify` of an SM3withSM2 signature under the key of the certificate signer_pem."""
    (folder / "signer.pub").write_text(openssl_ok("x509", "-in", signer_pem, "-pubkey", "-noout", cwd=folder))
    (folder / "data.bin").write_bytes(data)
    (folder / "sig.der").write_bytes(signature)
    result = openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", "signer.pub", "-rawin", "-digest", "sm3", "-pkeyopt", distid,
        "-in", "data.bin", "-sigfile", "sig.der", cwd=folder,
    )  # fmt: skip
    return result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def certificate_parts(path: Path) -> tuple[bytes, bytes]:
    """TBSCertificate and signature of a PEM certificate."""
    _, _, der = asn1_pem.unarmor(path.read_bytes())
    parsed = asn1_x509.Certificate.load(der)
    return parsed["tbs_certificate"].dump(), parsed["signature_value"].native


# --- certificates we issue ------------------------------------------------------------------------------


def test_openssl_reads_an_issued_certificate_as_sm2_signed_with_sm3(sm2: Sm2Service) -> None:
    issue_from_openssl_csr(sm2, "reader")

    text = openssl_ok("x509", "-in", "reader.pem", "-noout", "-text", cwd=sm2.folder)

    assert text.count("Signature Algorithm: SM2-with-SM3") == 2 and "ASN1 OID: SM2" in text
    for expected in (
        "CA:FALSE",
        "TLS Web Server Authentication",
        "DNS:reader.e2e.test",
        f"/crl/{sm2.intermediate_id}.crl",
    ):
        assert expected in text


@pytest.fixture(scope="module")
def leaf(sm2: Sm2Service) -> dict[str, Any]:
    return issue_from_openssl_csr(sm2, "leaf")


@pytest.mark.parametrize(
    ("signed", "signer"), [("root.pem", "root.pem"), ("int.pem", "root.pem"), ("leaf.pem", "int.pem")]
)
def test_openssl_verifies_each_certificate_signature_with_the_default_distinguishing_id(
    sm2: Sm2Service, leaf: dict[str, Any], signed: str, signer: str
) -> None:
    tbs, signature = certificate_parts(sm2.folder / signed)

    assert pkeyutl_verifies(sm2.folder, signer, tbs, signature)
    assert not pkeyutl_verifies(sm2.folder, signer, tbs, signature, distid="distid:ALICE123@YAHOO.COM")


def test_openssl_verify_treats_our_sm2_chain_as_it_treats_its_own(sm2: Sm2Service) -> None:
    folder = sm2.folder
    issue_from_openssl_csr(sm2, "parity")
    openssl_ok("genpkey", "-algorithm", "SM2", "-out", "own-root.key", cwd=folder)
    openssl_ok(
        "req", "-x509", "-new", "-key", "own-root.key", *SM3_WITH_DEFAULT_ID, "-subj", "/CN=Own SM2 Root", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", "own-root.pem", cwd=folder,
    )  # fmt: skip
    openssl_ok(
        "x509", "-req", "-in", "parity.csr", "-CA", "own-root.pem", "-CAkey", "own-root.key", *SM3_WITH_DEFAULT_ID,
        "-vfyopt", DEFAULT_ID, "-set_serial", "7", "-days", "10", "-out", "own-leaf.pem", cwd=folder,
    )  # fmt: skip

    ours = openssl("verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "parity.pem", cwd=folder)
    theirs = openssl("verify", "-CAfile", "own-root.pem", "own-leaf.pem", cwd=folder)

    assert (ours.returncode == 0) == (theirs.returncode == 0), (ours.stderr, theirs.stderr)
    if theirs.returncode != 0:  # OpenSSL 3.0: no SM2 chain verifies; the failure must be the same one
        assert "certificate signature failure" in theirs.stdout + theirs.stderr
        assert "certificate signature failure" in ours.stdout + ours.stderr


# --- CRL and OCSP over HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def revoked(sm2: Sm2Service) -> dict[str, Any]:
    issued = issue_from_openssl_csr(sm2, "revoked")
    sm2.api("POST", f"/v1/certificates/{issued['identifier']}/revoke", reason="key_compromise")
    return issued


def test_openssl_reads_the_sm2_crl_and_verifies_its_signature(
    sm2: Sm2Service, revoked: dict[str, Any]
) -> None:
    crl = httpx.get(f"{sm2.base_url}/crl/{sm2.intermediate_id}.crl", timeout=30)
    (sm2.folder / "int.crl").write_bytes(crl.content)

    text = openssl_ok("crl", "-inform", "DER", "-in", "int.crl", "-noout", "-text", cwd=sm2.folder)

    listed = [int(line.split(":")[1], 16) for line in text.splitlines() if "Serial Number:" in line]
    assert listed == [int(revoked["serial_number"], 16)] and "Key Compromise" in text
    assert "Signature Algorithm: SM2-with-SM3" in text
    parsed = asn1_crl.CertificateList.load(crl.content)
    assert pkeyutl_verifies(sm2.folder, "int.pem", parsed["tbs_cert_list"].dump(), parsed["signature"].native)


def test_openssl_ocsp_client_hears_revoked_in_an_sm2_signed_response(
    sm2: Sm2Service, revoked: dict[str, Any]
) -> None:
    # -noverify: OpenSSL 3.0 cannot check an SM2 signature on its own (module docstring); pkeyutl does below.
    result = openssl(
        "ocsp", "-issuer", "int.pem", "-cert", "revoked.pem", "-url", f"{sm2.base_url}/ocsp/{sm2.intermediate_id}",
        "-noverify", "-respout", "ocsp.der", cwd=sm2.folder,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "revoked.pem: revoked" in result.stdout and "keyCompromise" in result.stdout
    basic = asn1_ocsp.OCSPResponse.load((sm2.folder / "ocsp.der").read_bytes())["response_bytes"][
        "response"
    ].parsed
    assert basic["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert pkeyutl_verifies(
        sm2.folder, "int.pem", basic["tbs_response_data"].dump(), basic["signature"].native
    )


# --- key use and uploads --------------------------------------------------------------------------------


def test_openssl_verifies_what_a_generated_sm2_key_signs_through_the_api(sm2: Sm2Service) -> None:
    issued = sm2.api(
        "POST", f"/v1/repositories/{sm2.repository_id}/issue", usage="client", common_name="signer.e2e.test",
    )  # fmt: skip
    (sm2.folder / "signer.pem").write_text(issued["pem"])

    signed = sm2.api(
        "POST",
        "/v1/sign",
        identifier=issued["identifier"],
        algorithm="SM3withSM2",
        message="pay 100",
        message_type="RAW",
    )

    assert pkeyutl_verifies(sm2.folder, "signer.pem", b"pay 100", base64.b64decode(signed["signature"]))


@pytest.fixture(scope="module")
def openssl_chain(sm2: Sm2Service) -> Path:
    """An SM2 root -> intermediate -> leaf made by the openssl CLI alone, as its manual shows."""
    folder = sm2.folder / "openssl-chain"
    folder.mkdir()
    (folder / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
    )
    (folder / "leaf.ext").write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:made.e2e.test\n")
    for name in ("root", "int", "leaf"):
        openssl_ok("genpkey", "-algorithm", "SM2", "-out", f"{name}.key", cwd=folder)
    openssl_ok(
        "req", "-x509", "-new", "-key", "root.key", *SM3_WITH_DEFAULT_ID, "-subj", "/CN=Made SM2 Root", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", "root.pem", cwd=folder,
    )  # fmt: skip
    for name, issuer, extensions, serial in (
        ("int", "root", "ca.ext", "11"),
        ("leaf", "int", "leaf.ext", "12"),
    ):
        openssl_ok("req", "-new", "-key", f"{name}.key", *SM3_WITH_DEFAULT_ID, "-subj", f"/CN=Made {name}",
                   "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        openssl_ok("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                   *SM3_WITH_DEFAULT_ID, "-vfyopt", DEFAULT_ID, "-set_serial", serial, "-days", "20",
                   "-extfile", extensions, "-out", f"{name}.pem", cwd=folder)  # fmt: skip
    return folder


def test_an_openssl_made_sm2_ca_chain_uploads_to_a_trust_store_that_verifies_its_leaf(
    sm2: Sm2Service, openssl_chain: Path
) -> None:
    repository = sm2.api("POST", "/v1/repositories", data_source="uploaded_ca")["id"]
    pems = {name: (openssl_chain / f"{name}.pem").read_text() for name in ("root", "int", "leaf")}

    uploaded = sm2.api(
        "POST", f"/v1/repositories/{repository}/certificates", certificate=pems["int"] + pems["root"]
    )
    verdict = sm2.api("POST", f"/v1/repositories/{repository}/verify-chain", certificate=pems["leaf"])

    assert [(i["key_algorithm"], i["signature_algorithm"]) for i in uploaded["items"]] == [
        ("SM2_256", "SM3withSM2")
    ] * 2
    assert verdict["valid"] is True, verdict


def test_an_openssl_made_sm2_leaf_uploads_with_its_key_and_signs_what_openssl_verifies(
    sm2: Sm2Service, openssl_chain: Path
) -> None:
    repository = sm2.api("POST", "/v1/repositories", data_source="uploaded")["id"]
    pems = {name: (openssl_chain / f"{name}.pem").read_text() for name in ("root", "int", "leaf")}
    uploaded = sm2.api(
        "POST", f"/v1/repositories/{repository}/certificates", certificate=pems["leaf"],
        private_key=(openssl_chain / "leaf.key").read_text(), chain=pems["int"] + pems["root"],
    )  # fmt: skip

    signed = sm2.api(
        "POST", "/v1/sign", identifier=uploaded["items"][0]["identifier"], algorithm="SM3withSM2",
        message="made by openssl", message_type="RAW",
    )  # fmt: skip

    signature = base64.b64decode(signed["signature"])
    assert pkeyutl_verifies(openssl_chain, "leaf.pem", b"made by openssl", signature)
