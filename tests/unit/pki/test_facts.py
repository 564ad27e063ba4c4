"""Indexed facts of a certificate: names, SANs, serial, dates, key and signature algorithms, flags."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certrepo.domain.enums import KeyAlgorithm
from certrepo.pki.facts import certificate_facts, describe_certificate, is_self_signed

if TYPE_CHECKING:
    from pki.conftest import Issued, Pki


def with_serial_and_sans(pki: Pki, serial: int, sans: list[x509.GeneralName]) -> x509.Certificate:
    key = pki.ec_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, "host"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(pki.now)
        .not_valid_after(pki.now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_names_are_rfc4514_and_common_names_are_extracted(ec_chain: tuple[Issued, ...]) -> None:
    facts = certificate_facts(ec_chain[2].cert)
    assert (facts.common_name, facts.subject) == ("leaf", "CN=leaf")
    assert (facts.issuer_common_name, facts.issuer) == ("Intermediate", "CN=Intermediate")


def test_every_san_type_is_listed_with_its_kind(pki: Pki) -> None:
    sans: list[x509.GeneralName] = [
        x509.DNSName("a.example"),
        x509.RFC822Name("ops@example.com"),
        x509.UniformResourceIdentifier("https://example.com/x"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")])),
    ]
    facts = certificate_facts(with_serial_and_sans(pki, 1, sans))
    assert facts.sans == (
        ("dns", "a.example"),
        ("email", "ops@example.com"),
        ("uri", "https://example.com/x"),
        ("ip", "192.0.2.7"),
        ("other", "CN=dir"),
    )


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        pytest.param(1, "1", id="one"),
        pytest.param(0x0ABC, "abc", id="no-leading-zero"),
        pytest.param(2**64 + 255, "100000000000000ff", id="large"),
    ],
)
def test_serial_is_lowercase_hex_without_leading_zeros(pki: Pki, serial: int, expected: str) -> None:
    assert certificate_facts(with_serial_and_sans(pki, serial, [x509.DNSName("x")])).serial_number == expected


def test_certificate_is_described_by_its_common_name(pki: Pki) -> None:
    cert = with_serial_and_sans(pki, 5, [x509.DNSName("x")])
    assert describe_certificate(cert) == "CN=host"
    assert certificate_facts(cert).subject == "CN=host,O=Org"


def test_certificate_without_common_name_is_described_by_its_subject(pki: Pki) -> None:
    key = pki.ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Only Org")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(pki.now)
        .not_valid_after(pki.now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert describe_certificate(cert) == "O=Only Org"
    assert certificate_facts(cert).common_name is None


def test_dates_are_aware_utc(ec_chain: tuple[Issued, ...]) -> None:
    facts = certificate_facts(ec_chain[2].cert)
    assert facts.not_before.tzinfo is not None and facts.not_before.utcoffset() == dt.timedelta(0)
    assert facts.not_after == ec_chain[2].cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("make_key", "algorithm", "name", "size"),
    [
        pytest.param(lambda p: p.rsa_keys[0], KeyAlgorithm.RSA_2048, "RSA_2048", 2048, id="rsa-2048"),
        pytest.param(lambda p: p.rsa_1024, None, "RSA_1024", 1024, id="rsa-1024"),
        pytest.param(lambda p: p.ec_key(ec.SECP256R1()), KeyAlgorithm.ECC_256, "ECC_256", 256, id="p256"),
        pytest.param(lambda p: p.ec_key(ec.SECP384R1()), KeyAlgorithm.ECC_384, "ECC_384", 384, id="p384"),
        pytest.param(lambda p: p.ec_key(ec.SECP521R1()), KeyAlgorithm.ECC_521, "ECC_521", 521, id="p521"),
        pytest.param(lambda p: p.ed_key(), KeyAlgorithm.ED25519, "ED25519", 256, id="ed25519"),
    ],
)
def test_key_algorithm_and_size_are_named(
    pki: Pki, make_key: object, algorithm: KeyAlgorithm | None, name: str, size: int
) -> None:
    cert = pki.issue("k", key=make_key(pki)).cert  # type: ignore[operator]
    facts = certificate_facts(cert)
    assert (facts.key_algorithm, facts.key_algorithm_name, facts.key_size) == (algorithm, name, size)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"key": "rsa"}, "SHA256withRSA", id="rsa"),
        pytest.param({"key": "rsa", "pss": True}, "SHA256withRSA/PSS", id="rsa-pss"),
        pytest.param({"key": "ec"}, "SHA256withECDSA", id="ecdsa"),
        pytest.param({"key": "ec", "digest": hashes.SHA384()}, "SHA384withECDSA", id="ecdsa-sha384"),
        pytest.param({"key": "ed"}, "Ed25519", id="ed25519"),
    ],
)
def test_signature_algorithm_has_a_readable_name(pki: Pki, options: dict[str, object], expected: str) -> None:
    kind = options.pop("key")
    key = {"rsa": pki.rsa_keys[0], "ec": pki.ec_key(), "ed": pki.ed_key()}[kind]  # type: ignore[index]
    cert = pki.issue("sig", key=key, **options).cert
    assert certificate_facts(cert).signature_algorithm == expected


def test_sha1_signature_is_named(pki: Pki) -> None:
    issued = pki.issue("old", key=pki.rsa_keys[0])
    weak = pki.resign_weak(issued, pki.rsa_keys[0])
    assert certificate_facts(weak.cert).signature_algorithm == "SHA1withRSA"


def test_fingerprints_are_lowercase_hex_digests(ec_chain: tuple[Issued, ...]) -> None:
    cert = ec_chain[2].cert
    facts = certificate_facts(cert)
    assert facts.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert facts.fingerprint_sha1 == cert.fingerprint(hashes.SHA1()).hex()
    assert (
        facts.fingerprint_sha256 == facts.fingerprint_sha256.lower() and len(facts.fingerprint_sha256) == 64
    )


@pytest.mark.parametrize(
    ("position", "is_ca", "self_signed"),
    [
        pytest.param(0, True, True, id="root"),
        pytest.param(1, True, False, id="intermediate"),
        pytest.param(2, False, False, id="leaf"),
    ],
)
def test_ca_and_self_signed_flags(
    ec_chain: tuple[Issued, ...], position: int, is_ca: bool, self_signed: bool
) -> None:
    facts = certificate_facts(ec_chain[position].cert)
    assert (facts.is_ca, facts.is_self_signed) == (is_ca, self_signed)


def test_same_name_as_issuer_without_a_valid_self_signature_is_not_self_signed(pki: Pki) -> None:
    signer = pki.issue("Twin", ca=True)
    impostor = pki.issue("Twin", signer)  # names itself as issuer, signed by another key
    assert impostor.cert.issuer == impostor.cert.subject
    assert not is_self_signed(impostor.cert)


def test_subject_key_identifier_is_hex(ec_chain: tuple[Issued, ...]) -> None:
    cert = ec_chain[2].cert
    expected = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    assert certificate_facts(cert).subject_key_identifier == expected


def test_missing_subject_key_identifier_is_none(pki: Pki) -> None:
    assert certificate_facts(with_serial_and_sans(pki, 9, [x509.DNSName("x")])).subject_key_identifier is None
