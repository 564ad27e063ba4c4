"""What the private CA builds, checked by an independent implementation: the OpenSSL 3 command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from certrepo.domain.enums import IssueUsage, RevocationReason
from certrepo.domain.errors import InvalidInput
from certrepo.pki.crl import RevokedEntry, build_crl, crl_der, crl_pem
from certrepo.pki.ocsp import OcspStatus, build_ocsp_response, parse_ocsp_request

from .conftest import (
    ALL_SAN_TYPES,
    CRL_URL,
    NOW,
    OCSP_URL,
    OPENSSL,
    Hierarchy,
    issue_leaf,
    openssl,
    write_pem,
)

pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason=f"the openssl CLI is not at {OPENSSL}")

_PURPOSE = {IssueUsage.SERVER: "sslserver", IssueUsage.CLIENT: "sslclient"}


def _files(tmp_path: Path, pki: Hierarchy, leaf: x509.Certificate) -> None:
    write_pem(tmp_path / "root.pem", pki.root.cert)
    write_pem(tmp_path / "int.pem", pki.intermediate.cert)
    write_pem(tmp_path / "leaf.pem", leaf)


@pytest.mark.parametrize("profile", list(IssueUsage), ids=str)
@pytest.mark.parametrize("family", ["RSA", "EC"])
def test_openssl_verifies_every_profile_with_sans_of_all_types(
    rsa_pki: Hierarchy, ec_pki: Hierarchy, tmp_path: Path, family: str, profile: IssueUsage
) -> None:
    pki = rsa_pki if family == "RSA" else ec_pki
    _files(
        tmp_path,
        pki,
        issue_leaf(pki.intermediate, pki.leaf_key.public_key(), profile=profile, sans=ALL_SAN_TYPES),
    )
    purpose = ["-purpose", _PURPOSE[profile]] if profile in _PURPOSE else []

    result = openssl(
        "verify", *purpose, "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem", cwd=tmp_path
    )

    assert (result.returncode, result.stdout.strip()) == (0, "leaf.pem: OK"), result.stderr


def test_openssl_refuses_a_server_certificate_for_client_use(ec_pki: Hierarchy, tmp_path: Path) -> None:
    # The EKU really restricts: without this the purpose checks above could pass for any certificate.
    _files(tmp_path, ec_pki, issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()))

    result = openssl(
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "int.pem",
        "leaf.pem",
        cwd=tmp_path,
    )

    assert result.returncode != 0
    assert "unsuitable certificate purpose" in result.stderr


def test_openssl_verifies_an_ed25519_chain(ed25519_pki: Hierarchy, tmp_path: Path) -> None:
    _files(tmp_path, ed25519_pki, issue_leaf(ed25519_pki.intermediate, ed25519_pki.leaf_key.public_key()))

    result = openssl("verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem", cwd=tmp_path)

    assert result.returncode == 0, result.stderr


def test_openssl_shows_sans_crl_distribution_point_and_ocsp_url(rsa_pki: Hierarchy, tmp_path: Path) -> None:
    _files(
        tmp_path, rsa_pki, issue_leaf(rsa_pki.intermediate, rsa_pki.leaf_key.public_key(), sans=ALL_SAN_TYPES)
    )

    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path).stdout

    assert f"URI:{CRL_URL}" in text.split("X509v3 CRL Distribution Points:")[1]
    assert f"OCSP - URI:{OCSP_URL}" in text
    for fragment in (
        "DNS:app.example.test",
        "DNS:*.app.example.test",
        "email:ops@example.test",
        "URI:spiffe://example.test/ns/app",
        "IP Address:192.0.2.10",
        "IP Address:2001:DB8:0:0:0:0:0:10",
    ):
        assert fragment in text


# --- CRL ----------------------------------------------------------------------------------------------


def _revoking_crl(pki: Hierarchy, leaf: x509.Certificate) -> x509.CertificateRevocationList:
    return build_crl(
        ca_cert=pki.intermediate.cert,
        ca_key=pki.intermediate.key,
        entries=[
            RevokedEntry(leaf.serial_number, NOW - dt.timedelta(minutes=1), RevocationReason.KEY_COMPROMISE),
            RevokedEntry(0x1234ABCD, NOW - dt.timedelta(days=1), RevocationReason.SUPERSEDED),
        ],
        crl_number=12,
        this_update=NOW - dt.timedelta(minutes=1),
        next_update=NOW + dt.timedelta(days=1),
    )


def _openssl_hex(serial: int) -> str:
    # openssl prints the serial's octets, so an odd number of hex digits gets a leading zero.
    digits = f"{serial:X}"
    return digits.zfill(len(digits) + len(digits) % 2)


def test_openssl_reads_the_der_crl_with_serials_and_reasons(ec_pki: Hierarchy, tmp_path: Path) -> None:
    leaf = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())
    (tmp_path / "crl.der").write_bytes(crl_der(_revoking_crl(ec_pki, leaf)))

    result = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"Serial Number: {_openssl_hex(leaf.serial_number)}" in result.stdout
    assert "Serial Number: 1234ABCD" in result.stdout
    assert "Key Compromise" in result.stdout
    assert "Superseded" in result.stdout
    assert "X509v3 CRL Number: \n                12" in result.stdout


def test_openssl_verifies_the_crl_signature_against_the_ca(ec_pki: Hierarchy, tmp_path: Path) -> None:
    leaf = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())
    _files(tmp_path, ec_pki, leaf)
    (tmp_path / "crl.pem").write_bytes(crl_pem(_revoking_crl(ec_pki, leaf)))

    result = openssl("crl", "-in", "crl.pem", "-CAfile", "int.pem", "-noout", cwd=tmp_path)

    assert "verify OK" in result.stderr


@pytest.mark.parametrize("family", ["RSA", "EC"])
def test_openssl_crl_check_fails_for_the_revoked_leaf(
    rsa_pki: Hierarchy, ec_pki: Hierarchy, tmp_path: Path, family: str
) -> None:
    pki = rsa_pki if family == "RSA" else ec_pki
    revoked = issue_leaf(pki.intermediate, pki.leaf_key.public_key())
    _files(tmp_path, pki, revoked)
    write_pem(tmp_path / "other.pem", issue_leaf(pki.intermediate, pki.leaf_key.public_key()))
    (tmp_path / "crl.pem").write_bytes(crl_pem(_revoking_crl(pki, revoked)))
    check = ("verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", "int.pem")

    refused = openssl(*check, "leaf.pem", cwd=tmp_path)
    accepted = openssl(*check, "other.pem", cwd=tmp_path)

    assert refused.returncode != 0
    assert "certificate revoked" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


# --- OCSP ---------------------------------------------------------------------------------------------


def _openssl_request(tmp_path: Path, name: str, *target: str) -> bytes:
    result = openssl("ocsp", "-issuer", "int.pem", *target, "-reqout", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return (tmp_path / name).read_bytes()


def _answer(pki: Hierarchy, request: bytes, status: OcspStatus, path: Path) -> None:
    query = parse_ocsp_request(request)
    path.write_bytes(
        build_ocsp_response(
            query=query,
            ca_cert=pki.intermediate.cert,
            ca_key=pki.intermediate.key,
            status=status,
            this_update=NOW - dt.timedelta(minutes=1),
            next_update=NOW + dt.timedelta(hours=1),
            certificate=None,
        )
    )


_STATUSES = [
    (OcspStatus("good"), "good", None),
    (
        OcspStatus("revoked", NOW - dt.timedelta(hours=1), RevocationReason.KEY_COMPROMISE),
        "revoked",
        "keyCompromise",
    ),
    (OcspStatus("unknown"), "unknown", None),
]


@pytest.mark.parametrize(("status", "word", "reason"), _STATUSES, ids=[w for _, w, _ in _STATUSES])
@pytest.mark.parametrize("family", ["RSA", "EC"])
def test_openssl_verifies_the_response_and_nonce_and_reads_the_status(
    rsa_pki: Hierarchy,
    ec_pki: Hierarchy,
    tmp_path: Path,
    family: str,
    status: OcspStatus,
    word: str,
    reason: str | None,
) -> None:
    pki = rsa_pki if family == "RSA" else ec_pki
    _files(tmp_path, pki, issue_leaf(pki.intermediate, pki.leaf_key.public_key()))
    request = _openssl_request(tmp_path, "req.der", "-cert", "leaf.pem")  # openssl adds a nonce
    _answer(pki, request, status, tmp_path / "resp.der")

    # -reqin: openssl compares the response's nonce with the request's ("Nonce Verify error" otherwise).
    result = openssl(
        "ocsp",
        "-reqin",
        "req.der",
        "-respin",
        "resp.der",
        "-issuer",
        "int.pem",
        "-VAfile",
        "int.pem",
        "-resp_text",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert f"Cert Status: {word}" in result.stdout
    assert "OCSP Nonce" in result.stdout
    if reason:
        assert f"Revocation Reason: {reason}" in result.stdout


@pytest.mark.parametrize(("status", "word", "reason"), _STATUSES, ids=[w for _, w, _ in _STATUSES])
def test_openssl_reports_the_status_of_the_named_certificate_through_the_chain(
    ec_pki: Hierarchy, tmp_path: Path, status: OcspStatus, word: str, reason: str | None
) -> None:
    leaf = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())
    _files(tmp_path, ec_pki, leaf)
    request = _openssl_request(tmp_path, "req.der", "-cert", "leaf.pem")
    _answer(ec_pki, request, status, tmp_path / "resp.der")

    # -no_nonce: openssl builds its own request from -cert for the summary; the nonce is checked above.
    result = openssl(
        "ocsp",
        "-respin",
        "resp.der",
        "-issuer",
        "int.pem",
        "-cert",
        "leaf.pem",
        "-no_nonce",
        "-CAfile",
        "root.pem",
        "-verify_other",
        "int.pem",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert result.stdout.startswith(f"leaf.pem: {word}")


def test_openssl_rejects_a_response_to_another_request_by_its_nonce(
    ec_pki: Hierarchy, tmp_path: Path
) -> None:
    # Proves the nonce check above can fail: the answer to one request does not fit a second one.
    _files(tmp_path, ec_pki, issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()))
    first = _openssl_request(tmp_path, "first.der", "-cert", "leaf.pem")
    _openssl_request(tmp_path, "second.der", "-cert", "leaf.pem")
    _answer(ec_pki, first, OcspStatus("good"), tmp_path / "resp.der")

    result = openssl(
        "ocsp",
        "-reqin",
        "second.der",
        "-respin",
        "resp.der",
        "-issuer",
        "int.pem",
        "-VAfile",
        "int.pem",
        cwd=tmp_path,
    )

    assert "Nonce Verify error" in result.stderr


def test_openssl_request_for_an_unknown_serial_gets_unknown(ec_pki: Hierarchy, tmp_path: Path) -> None:
    _files(tmp_path, ec_pki, issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()))
    request = _openssl_request(tmp_path, "req.der", "-serial", "0x7777")
    assert parse_ocsp_request(request).serial == 0x7777
    _answer(ec_pki, request, OcspStatus("unknown"), tmp_path / "resp.der")

    result = openssl(
        "ocsp",
        "-reqin",
        "req.der",
        "-respin",
        "resp.der",
        "-issuer",
        "int.pem",
        "-VAfile",
        "int.pem",
        "-resp_text",
        cwd=tmp_path,
    )

    assert "Response verify OK" in result.stderr
    assert "Cert Status: unknown" in result.stdout


def test_a_request_for_two_certificates_is_refused(ec_pki: Hierarchy, tmp_path: Path) -> None:
    _files(tmp_path, ec_pki, issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()))
    request = _openssl_request(tmp_path, "req.der", "-serial", "0x1", "-serial", "0x2")

    with pytest.raises(InvalidInput, match="more than one certificate"):
        parse_ocsp_request(request)
