from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import InvalidInput, Unsupported
from certrepo.pki.csr import MAX_CSR_BYTES, csr_facts, load_csr
from certrepo.pki.issue import San
from certrepo.pki.keygen import PrivateKey, generate_private_key

from .conftest import Hierarchy

_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr-subject.example")])


def _csr(
    key: PrivateKey | ed448.Ed448PrivateKey, sans: list[x509.GeneralName] | None = None
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(_SUBJECT)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = (
        None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    )
    return builder.sign(key, algorithm)


@pytest.mark.parametrize("encoding", ["pem-bytes", "pem-str", "der"])
def test_a_valid_csr_loads_from_pem_or_der(ec_pki: Hierarchy, encoding: str) -> None:
    csr = _csr(ec_pki.leaf_key)
    forms: dict[str, str | bytes] = {
        "pem-bytes": csr.public_bytes(Encoding.PEM),
        "pem-str": csr.public_bytes(Encoding.PEM).decode(),
        "der": csr.public_bytes(Encoding.DER),
    }
    data = forms[encoding]

    assert load_csr(data) == csr


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a csr",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x01",
        "-----BEGIN CERTIFICATE REQUEST-----\n\u4e2d\n-----END CERTIFICATE REQUEST-----",
    ],
    ids=["empty", "text", "bad pem body", "other der", "non-ascii"],
)
def test_garbage_is_not_a_csr(data: bytes | str) -> None:
    with pytest.raises(InvalidInput, match="the CSR is not a PEM or DER PKCS#10 certificate request"):
        load_csr(data)


def test_an_oversized_csr_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInput, match=f"at most {MAX_CSR_BYTES}"):
        load_csr(b"0" * (MAX_CSR_BYTES + 1))


@pytest.mark.parametrize("family", ["RSA", "EC", "ED25519"])
def test_a_csr_whose_signed_content_was_altered_is_refused(
    rsa_pki: Hierarchy, ec_pki: Hierarchy, ed25519_pki: Hierarchy, family: str
) -> None:
    key = {"RSA": rsa_pki, "EC": ec_pki, "ED25519": ed25519_pki}[family].leaf_key
    der = _csr(key).public_bytes(Encoding.DER)
    tampered = der.replace(b"csr-subject.example", b"csr-subject.exampl3")
    assert tampered != der

    with pytest.raises(InvalidInput, match="^the CSR's signature does not verify$"):
        load_csr(tampered)


def test_a_csr_signed_by_another_key_is_refused(ec_pki: Hierarchy) -> None:
    honest = _csr(ec_pki.leaf_key).public_bytes(Encoding.DER)
    forged = _csr(generate_private_key(KeyAlgorithm.ECC_256)).public_bytes(Encoding.DER)
    # The honest request's body and signature, with another public key put in: the signature no longer
    # proves possession of the key the request names.
    honest_key = ec_pki.leaf_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    forged_key = (
        x509.load_der_x509_csr(forged)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    swapped = honest.replace(honest_key, forged_key)
    assert swapped != honest

    with pytest.raises(InvalidInput, match="the CSR's signature does not verify"):
        load_csr(swapped)


def test_csr_facts_reports_key_subject_sans_and_family(rsa_pki: Hierarchy) -> None:
    sans: list[x509.GeneralName] = [
        x509.DNSName("a.example"),
        x509.RFC822Name("a@example.com"),
        x509.UniformResourceIdentifier("https://a.example/id"),
        x509.IPAddress(ipaddress.ip_address("2001:db8::5")),
    ]
    csr = load_csr(_csr(rsa_pki.leaf_key, sans).public_bytes(Encoding.PEM))

    facts = csr_facts(csr)

    assert facts.public_key == rsa_pki.leaf_key.public_key()
    assert facts.subject == _SUBJECT
    assert facts.key_family == "RSA"
    assert facts.sans == (
        San("dns", "a.example"),
        San("email", "a@example.com"),
        San("uri", "https://a.example/id"),
        San("ip", "2001:db8::5"),
    )


def test_csr_facts_of_a_csr_without_sans_has_none(ed25519_pki: Hierarchy) -> None:
    facts = csr_facts(load_csr(_csr(ed25519_pki.leaf_key).public_bytes(Encoding.DER)))

    assert (facts.sans, facts.key_family) == ((), "ED25519")


def test_a_csr_san_of_a_type_not_issued_is_refused(ec_pki: Hierarchy) -> None:
    directory = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")]))
    csr = load_csr(_csr(ec_pki.leaf_key, [x509.DNSName("a.example"), directory]).public_bytes(Encoding.DER))

    with pytest.raises(InvalidInput, match="SAN 2 of the CSR is a DirectoryName"):
        csr_facts(csr)


def test_a_csr_with_an_unsupported_key_type_is_refused() -> None:
    csr = load_csr(_csr(ed448.Ed448PrivateKey.generate()).public_bytes(Encoding.DER))

    with pytest.raises(Unsupported, match="Ed448 keys are not supported"):
        csr_facts(csr)
