from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from certrepo.domain.enums import IssueUsage, KeyAlgorithm
from certrepo.domain.errors import AlgorithmMismatch, CertificateExpired, InvalidInput, KeyMismatch
from certrepo.pki.issue import (
    DOCUMENT_SIGNING_EKU,
    Profile,
    San,
    SubjectSpec,
    build_intermediate_ca,
    build_root_ca,
    issue_certificate,
    new_serial,
)
from certrepo.pki.keygen import generate_private_key

from .conftest import (
    CA_NOT_BEFORE,
    CRL_URL,
    LEAF_NOT_AFTER,
    LEAF_NOT_BEFORE,
    NOW,
    OCSP_URL,
    Ca,
    Hierarchy,
    issue_leaf,
    make_intermediate,
    make_root,
    serial,
)

E = TypeVar("E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


# --- serials ------------------------------------------------------------------------------------------


def test_new_serial_is_positive_and_fits_16_octets_with_the_top_bit_clear() -> None:
    assert new_serial(lambda n: b"\xff" * n) == (1 << 127) - 1


def test_new_serial_uses_the_random_source() -> None:
    assert new_serial(lambda n: b"\x00" * (n - 1) + b"\x2a") == 42


def test_new_serials_from_os_urandom_differ() -> None:
    assert len({new_serial(os.urandom) for _ in range(1000)}) == 1000


def test_new_serial_refuses_a_source_of_only_zeros() -> None:
    with pytest.raises(ValueError, match="only zeros"):
        new_serial(lambda n: bytes(n))


# --- root CA ------------------------------------------------------------------------------------------


def test_root_ca_is_self_signed_with_critical_ca_constraints(rsa_pki: Hierarchy) -> None:
    cert = rsa_pki.root.cert

    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    constraints = _ext(cert, x509.BasicConstraints)
    assert (constraints.critical, constraints.value) == (True, x509.BasicConstraints(ca=True, path_length=1))


def test_root_ca_key_usage_is_critical_cert_and_crl_signing(ec_pki: Hierarchy) -> None:
    usage = _ext(ec_pki.root.cert, x509.KeyUsage)

    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert (usage.value.key_cert_sign, usage.value.crl_sign, usage.value.key_encipherment) == (
        True,
        True,
        False,
    )


def test_root_ca_aki_equals_its_own_ski(ec_pki: Hierarchy) -> None:
    ski = _ext(ec_pki.root.cert, x509.SubjectKeyIdentifier).value
    aki = _ext(ec_pki.root.cert, x509.AuthorityKeyIdentifier).value

    assert isinstance(ski, x509.SubjectKeyIdentifier)
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ski.digest


def test_root_ca_without_path_len_is_unconstrained() -> None:
    root = make_root(generate_private_key(KeyAlgorithm.ECC_256), "Free Root", path_len=None)

    assert _ext(root.cert, x509.BasicConstraints).value == x509.BasicConstraints(ca=True, path_length=None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"not_after": CA_NOT_BEFORE}, "must be later than notBefore"),
        ({"path_len": -1}, "path_len must be 0 or more"),
        ({"serial": 0}, "serial number must be positive"),
        ({"serial": 1 << 160}, "at most 20 octets"),
        ({"subject": SubjectSpec()}, "the subject is empty"),
    ],
    ids=["validity", "path len", "zero serial", "huge serial", "empty subject"],
)
def test_root_ca_refuses_bad_parameters(change: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "key": generate_private_key(KeyAlgorithm.ECC_256),
        "subject": SubjectSpec(common_name="Root"),
        "not_before": CA_NOT_BEFORE,
        "not_after": CA_NOT_BEFORE + dt.timedelta(days=1),
        "path_len": None,
        "serial": 7,
    } | change

    with pytest.raises(InvalidInput, match=message):
        build_root_ca(**arguments)  # type: ignore[arg-type]


# --- intermediate CA ----------------------------------------------------------------------------------


def test_intermediate_is_signed_by_the_root_and_names_the_revocation_urls(rsa_pki: Hierarchy) -> None:
    intermediate = rsa_pki.intermediate.cert

    intermediate.verify_directly_issued_by(rsa_pki.root.cert)
    assert _ext(intermediate, x509.BasicConstraints).value == x509.BasicConstraints(ca=True, path_length=0)
    assert _ext(intermediate, x509.AuthorityKeyIdentifier).value.key_identifier == (
        _ext(rsa_pki.root.cert, x509.SubjectKeyIdentifier).value.digest
    )
    assert x509.CRLDistributionPoints in {type(e.value) for e in intermediate.extensions}


def test_an_intermediate_may_have_another_key_family_than_its_issuer(rsa_pki: Hierarchy) -> None:
    intermediate = make_intermediate(rsa_pki.root, generate_private_key(KeyAlgorithm.ECC_384), "EC under RSA")

    intermediate.cert.verify_directly_issued_by(rsa_pki.root.cert)


def _intermediate(issuer: Ca, **change: object) -> x509.Certificate:
    arguments: dict[str, object] = {
        "key_public": generate_private_key(KeyAlgorithm.ECC_256).public_key(),
        "subject": SubjectSpec(common_name="Sub CA"),
        "issuer_cert": issuer.cert,
        "issuer_key": issuer.key,
        "not_before": CA_NOT_BEFORE,
        "not_after": issuer.cert.not_valid_after_utc,
        "path_len": 0,
        "serial": serial(),
        "crl_url": None,
        "ocsp_url": None,
    } | change
    return build_intermediate_ca(**arguments)  # type: ignore[arg-type]


def test_intermediate_validity_past_the_issuer_is_refused(ec_pki: Hierarchy) -> None:
    too_late = ec_pki.root.cert.not_valid_after_utc + dt.timedelta(seconds=1)

    with pytest.raises(InvalidInput, match="is past the CA's notAfter"):
        _intermediate(ec_pki.root, not_after=too_late)


def test_intermediate_ending_exactly_with_the_issuer_is_allowed(ec_pki: Hierarchy) -> None:
    cert = _intermediate(ec_pki.root, not_after=ec_pki.root.cert.not_valid_after_utc)

    assert cert.not_valid_after_utc == ec_pki.root.cert.not_valid_after_utc


@pytest.mark.parametrize(("path_len"), [1, None], ids=["deeper", "unconstrained"])
def test_intermediate_path_len_beyond_the_issuers_is_refused(ec_pki: Hierarchy, path_len: int | None) -> None:
    with pytest.raises(InvalidInput, match=r"is not allowed under the CA .* \(pathLen 1\): at most 0"):
        _intermediate(ec_pki.root, path_len=path_len)


def test_a_ca_with_path_len_zero_cannot_issue_intermediates(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match="has pathLen 0 and cannot issue intermediate CAs"):
        _intermediate(ec_pki.intermediate)


def test_an_end_entity_cannot_issue_intermediates(ec_pki: Hierarchy) -> None:
    leaf = Ca(issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()), ec_pki.leaf_key)

    with pytest.raises(InvalidInput, match="is not a CA"):
        _intermediate(leaf)


def test_an_intermediate_signed_with_the_wrong_key_is_refused(ec_pki: Hierarchy) -> None:
    with pytest.raises(KeyMismatch, match="does not belong to the CA CN=Test EC Root"):
        _intermediate(Ca(ec_pki.root.cert, ec_pki.intermediate.key))


# --- end entities -------------------------------------------------------------------------------------

_PROFILE_USAGE = {
    # profile, family -> (digitalSignature, nonRepudiation, keyEncipherment), EKU
    (IssueUsage.SERVER, "RSA"): ((True, False, True), ExtendedKeyUsageOID.SERVER_AUTH),
    (IssueUsage.SERVER, "EC"): ((True, False, False), ExtendedKeyUsageOID.SERVER_AUTH),
    (IssueUsage.SERVER, "ED25519"): ((True, False, False), ExtendedKeyUsageOID.SERVER_AUTH),
    (IssueUsage.CLIENT, "RSA"): ((True, False, True), ExtendedKeyUsageOID.CLIENT_AUTH),
    (IssueUsage.CLIENT, "EC"): ((True, False, False), ExtendedKeyUsageOID.CLIENT_AUTH),
    (IssueUsage.CLIENT, "ED25519"): ((True, False, False), ExtendedKeyUsageOID.CLIENT_AUTH),
    (IssueUsage.DOCUMENT_SIGNING, "RSA"): ((True, True, False), DOCUMENT_SIGNING_EKU),
    (IssueUsage.DOCUMENT_SIGNING, "EC"): ((True, True, False), DOCUMENT_SIGNING_EKU),
    (IssueUsage.DOCUMENT_SIGNING, "ED25519"): ((True, True, False), DOCUMENT_SIGNING_EKU),
}


@pytest.mark.parametrize(("profile", "family"), list(_PROFILE_USAGE), ids=lambda v: str(v))
def test_key_usage_and_eku_follow_the_profile_and_key_family(
    pki_by_family: Callable[[str], Hierarchy], profile: IssueUsage, family: str
) -> None:
    pki = pki_by_family(family)
    cert = issue_leaf(pki.intermediate, pki.leaf_key.public_key(), profile=profile)
    (signature, non_repudiation, encipherment), eku = _PROFILE_USAGE[(profile, family)]

    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert (usage.value.digital_signature, usage.value.content_commitment, usage.value.key_encipherment) == (
        signature,
        non_repudiation,
        encipherment,
    )
    assert not usage.value.key_cert_sign
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [eku]


def test_profile_is_the_issue_usage_enum() -> None:
    assert Profile is IssueUsage
    assert [p.value for p in Profile] == ["client", "server", "document_signing"]


def test_leaf_is_not_a_ca_and_carries_ski_aki_crl_and_ocsp(rsa_pki: Hierarchy) -> None:
    cert = issue_leaf(rsa_pki.intermediate, rsa_pki.leaf_key.public_key())

    cert.verify_directly_issued_by(rsa_pki.intermediate.cert)
    assert _ext(cert, x509.BasicConstraints).value == x509.BasicConstraints(ca=False, path_length=None)
    assert _ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        rsa_pki.leaf_key.public_key()
    )
    ca_ski = _ext(rsa_pki.intermediate.cert, x509.SubjectKeyIdentifier).value
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski.digest
    points = _ext(cert, x509.CRLDistributionPoints).value
    assert [p.full_name for p in points] == [[x509.UniformResourceIdentifier(CRL_URL)]]
    access = _ext(cert, x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location.value) for a in access] == [
        (AuthorityInformationAccessOID.OCSP, OCSP_URL)
    ]


def test_leaf_keeps_the_requested_subject_sans_serial_and_validity(ec_pki: Hierarchy) -> None:
    sans = [San("dns", "a.example"), San("ip", "10.0.0.1")]
    subject = SubjectSpec(common_name="a.example", organization="Example", country="CN")

    cert = issue_leaf(
        ec_pki.intermediate, ec_pki.leaf_key.public_key(), sans=sans, subject=subject, serial_number=123456789
    )

    assert cert.subject == subject.to_name()
    assert cert.issuer == ec_pki.intermediate.cert.subject
    assert [str(n.value) for n in _ext(cert, x509.SubjectAlternativeName).value] == ["a.example", "10.0.0.1"]
    assert cert.serial_number == 123456789
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (LEAF_NOT_BEFORE, LEAF_NOT_AFTER)


def test_a_client_certificate_may_have_no_san(ec_pki: Hierarchy) -> None:
    cert = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), profile=IssueUsage.CLIENT, sans=())

    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_a_server_certificate_without_san_is_refused(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match="a server certificate needs at least one SAN"):
        issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), sans=())


def test_a_bad_san_is_refused_at_issuance(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match=r"SAN 1 \(type email\): 'nobody' is not an email address"):
        issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), sans=[San("email", "nobody")])


@pytest.mark.parametrize(
    ("ca_family", "key_family", "message"),
    [
        (
            "RSA",
            "EC",
            "an EC key cannot be issued under the RSA CA CN=Test RSA Intermediate,O=Example Test,C=CN",
        ),
        ("EC", "RSA", "an RSA key cannot be issued under the EC CA CN=Test EC Intermediate"),
        ("EC", "ED25519", "an Ed25519 key cannot be issued under the EC CA"),
        ("ED25519", "RSA", "an RSA key cannot be issued under the Ed25519 CA"),
    ],
    ids=["ec under rsa", "rsa under ec", "ed25519 under ec", "rsa under ed25519"],
)
def test_a_key_of_another_family_than_the_ca_is_refused(
    pki_by_family: Callable[[str], Hierarchy], ca_family: str, key_family: str, message: str
) -> None:
    key = pki_by_family(key_family).leaf_key

    with pytest.raises(AlgorithmMismatch, match=message):
        issue_leaf(pki_by_family(ca_family).intermediate, key.public_key())


def test_a_key_of_another_size_in_the_same_family_is_accepted(rsa_pki: Hierarchy, ec_pki: Hierarchy) -> None:
    p384 = generate_private_key(KeyAlgorithm.ECC_384).public_key()
    rsa3072 = rsa_pki.root.key.public_key()  # any 3072-bit RSA public key will do

    assert issue_leaf(ec_pki.intermediate, p384).public_key() == p384
    assert issue_leaf(rsa_pki.intermediate, rsa3072).public_key() == rsa3072


def test_a_weak_rsa_key_is_refused(rsa_pki: Hierarchy) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()

    with pytest.raises(InvalidInput, match="RSA keys must have 2048 to 16384 bits, this one has 1024"):
        issue_leaf(rsa_pki.intermediate, weak)


def test_validity_past_the_ca_is_refused_not_cut(ec_pki: Hierarchy) -> None:
    ca_end = ec_pki.intermediate.cert.not_valid_after_utc
    wanted = ca_end + dt.timedelta(days=1)

    with pytest.raises(InvalidInput) as caught:
        issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), not_after=wanted)

    assert caught.value.message.startswith(
        f"notAfter {wanted.date().isoformat()} is past the CA's notAfter {ca_end.date().isoformat()}"
    )


@pytest.mark.parametrize("offset", [dt.timedelta(0), dt.timedelta(seconds=-1)], ids=["equal", "before"])
def test_not_after_at_or_before_not_before_is_refused(ec_pki: Hierarchy, offset: dt.timedelta) -> None:
    with pytest.raises(InvalidInput, match="must be later than notBefore"):
        issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), not_after=LEAF_NOT_BEFORE + offset)


def test_a_certificate_already_expired_at_now_is_refused(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match="is in the past"):
        issue_leaf(
            ec_pki.intermediate,
            ec_pki.leaf_key.public_key(),
            not_before=NOW - dt.timedelta(days=2),
            not_after=NOW - dt.timedelta(days=1),
        )


def test_an_expired_ca_cannot_issue(ec_pki: Hierarchy) -> None:
    with pytest.raises(CertificateExpired, match="the CA CN=Test EC Intermediate.* expired on"):
        issue_certificate(
            ca_cert=ec_pki.intermediate.cert,
            ca_key=ec_pki.intermediate.key,
            public_key=ec_pki.leaf_key.public_key(),
            subject=SubjectSpec(common_name="late"),
            sans=[San("dns", "late.example")],
            not_before=LEAF_NOT_BEFORE,
            not_after=LEAF_NOT_AFTER,
            profile=IssueUsage.SERVER,
            serial=serial(),
            crl_url=CRL_URL,
            ocsp_url=OCSP_URL,
            now=ec_pki.intermediate.cert.not_valid_after_utc,
        )


def test_an_empty_subject_is_refused_at_issuance(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match="the subject is empty"):
        issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), subject=SubjectSpec())


def test_issuing_with_a_key_that_is_not_the_cas_is_refused(ec_pki: Hierarchy) -> None:
    with pytest.raises(KeyMismatch, match="does not belong to the CA"):
        issue_leaf(Ca(ec_pki.intermediate.cert, ec_pki.root.key), ec_pki.leaf_key.public_key())


def test_an_end_entity_cannot_issue(ec_pki: Hierarchy) -> None:
    leaf = Ca(issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key()), ec_pki.leaf_key)

    with pytest.raises(InvalidInput, match="is not a CA"):
        issue_leaf(leaf, generate_private_key(KeyAlgorithm.ECC_256).public_key())


@pytest.mark.parametrize(
    ("ca_algorithm", "expected"),
    [
        (KeyAlgorithm.RSA_2048, hashes.SHA256),
        (KeyAlgorithm.ECC_256, hashes.SHA256),
        (KeyAlgorithm.ECC_384, hashes.SHA384),
        (KeyAlgorithm.ECC_521, hashes.SHA512),
        (KeyAlgorithm.ED25519, type(None)),
    ],
    ids=lambda v: getattr(v, "value", getattr(v, "__name__", "")),
)
def test_the_signature_hash_follows_the_ca_key(
    rsa_pki: Hierarchy, ca_algorithm: KeyAlgorithm, expected: type
) -> None:
    ca = make_root(generate_private_key(ca_algorithm), f"Root {ca_algorithm.value}")
    key = rsa_pki.leaf_key if ca_algorithm.family == "RSA" else generate_private_key(ca_algorithm)

    cert = issue_leaf(ca, key.public_key())

    assert isinstance(cert.signature_hash_algorithm, expected)


def test_serials_of_issued_certificates_are_the_ones_passed(ec_pki: Hierarchy) -> None:
    serials = [new_serial(os.urandom) for _ in range(3)]
    certs = [issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), serial_number=s) for s in serials]

    assert [c.serial_number for c in certs] == serials
    assert all(a != b for a, b in itertools.combinations(serials, 2))
