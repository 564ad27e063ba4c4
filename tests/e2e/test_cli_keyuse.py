"""`certrepo sign|verify|encrypt|decrypt` against a real server, with the openssl CLI as the oracle."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.factories import build, key_pem, pem, rsa_key


@pytest.fixture(scope="module")
def rsa_certificate(served: Served, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    key = rsa_key()
    folder = tmp_path_factory.mktemp("keyuse")
    cert_pem = pem(build("cli.example.com", key, sans=["cli.example.com"]))
    (folder / "cert.pem").write_text(cert_pem)
    (folder / "key.pem").write_text(key_pem(key))
    headers = {"Authorization": served.bearer}
    with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as http:
        repo = http.post("/v1/repositories", json={"data_source": "uploaded"}).json()
        uploaded = http.post(
            f"/v1/repositories/{repo['id']}/certificates",
            json={"certificate": cert_pem, "private_key": key_pem(key), "custom_identifier": "cli-signer"},
        ).json()
    return uploaded["items"][0]["identifier"], folder


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, timeout=60, check=False)


def test_a_cli_signature_verifies_with_openssl_and_with_the_cli(
    served: Served, rsa_certificate: tuple[str, Path]
) -> None:
    identifier, folder = rsa_certificate
    message = folder / "message.txt"
    message.write_bytes(b"pay 100 EUR to ACME\n")
    public = _openssl("x509", "-in", str(folder / "cert.pem"), "-pubkey", "-noout").stdout
    (folder / "pub.pem").write_bytes(public)
    base64_signature = served.cli(
        "sign", f"@{message}", "-a", "SHA256withRSA", "-c", "cli-signer"
    ).stdout.strip()
    (folder / "sig.der").write_bytes(base64.b64decode(base64_signature))
    checked = _openssl(
        "dgst",
        "-sha256",
        "-verify",
        str(folder / "pub.pem"),
        "-signature",
        str(folder / "sig.der"),
        str(message),
    )
    assert checked.returncode == 0 and b"Verified OK" in checked.stdout, checked.stderr
    assert (
        served.cli(
            "verify", f"@{message}", "-s", base64_signature, "-a", "SHA256withRSA", "-i", identifier
        ).returncode
        == 0
    )
    tampered = served.cli(
        "verify", "another message", "-s", base64_signature, "-a", "SHA256withRSA", "-i", identifier
    )
    assert tampered.returncode == 1 and "NOT valid" in tampered.stdout


def test_cli_encryption_round_trips_through_openssl_both_ways(
    served: Served, rsa_certificate: tuple[str, Path]
) -> None:
    identifier, folder = rsa_certificate
    encrypted = served.cli("encrypt", "secret approval", "-a", "RSAES_OAEP_SHA_256", "-i", identifier)
    assert encrypted.returncode == 0, encrypted.stderr
    (folder / "ct.bin").write_bytes(base64.b64decode(encrypted.stdout.strip()))
    options = [
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]
    opened = _openssl(
        "pkeyutl", "-decrypt", "-inkey", str(folder / "key.pem"), "-in", str(folder / "ct.bin"), *options
    )
    assert opened.returncode == 0 and opened.stdout == b"secret approval", opened.stderr
    (folder / "plain.txt").write_bytes(b"from openssl")
    sealed = _openssl(
        "pkeyutl",
        "-encrypt",
        "-certin",
        "-inkey",
        str(folder / "cert.pem"),
        "-in",
        str(folder / "plain.txt"),
        "-out",
        str(folder / "ct2.bin"),
        *options,
    )
    assert sealed.returncode == 0, sealed.stderr
    decrypted = served.cli("decrypt", f"@{folder / 'ct2.bin'}", "-a", "RSAES_OAEP_SHA_256", "-i", identifier)
    assert decrypted.returncode == 0 and base64.b64decode(decrypted.stdout.strip()) == b"from openssl"
