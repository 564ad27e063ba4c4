"""The private CA with SM2 keys: root, intermediate and end entities signed with SM3withSM2 (default
distinguishing ID), SM2 CSRs, and the CRL and OCSP responses of an SM2 CA.

Signatures are checked here with the gmssl-pyx primitive over the parts asn1crypto reads (not with the
certificate code under test); profiles are compared with what the same builders make for EC keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import csr as asn1_csr
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from tests.conftest import skip_or_fail

from certrepo.crypto.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    is_sm2_available,
    sm2_keys_match,
    sm2_sign,
    sm2_verify,
)
from certrepo.domain.enums import IssueUsage, KeyAlgorithm, RevocationReason
from certrepo.domain.errors import AlgorithmMismatch, InvalidInput, KeyMismatch, Unsupported
from certrepo.pki.chain import order_chain, validate_upload_chain
from certrepo.pki.crl import RevokedEntry, build_crl
from certrepo.pki.csr import csr_facts, load_csr
from certrepo.pki.issue import San
from certrepo.pki.keygen import KeyPool, generate_private_key, key_family
from certrepo.pki.ocsp import OcspStatus, build_ocsp_response, parse_ocsp_request
from certrepo.pki.verify import verify_chain

from .conftest import (
    NOW,
    OPENSSL,
    Ca,
    Hierarchy,
    issue_leaf,
    make_intermediate,
    make_root,
    openssl,
)

DEFAULT_ID = b"1234567812345678"
SM3_WITH_SM2 = "1.2.156.10197.1.501"
OTHER_ID = b"ALICE123@YAHOO.COM"


@pytest.fixture(autouse=True, scope="module")
def _needs_gmssl() -> None:
    if not is_sm2_available():
        skip_or_fail("SM2 issuance needs the optional gmssl-pyx package, which is not installed")


@pytest.fixture(scope="module")
def sm2_pki() -> Hierarchy:
    root = make_root(generate_private_key(KeyAlgorithm.SM2_256), "Test SM2 Root")
    intermediate = make_intermediate(
        root, generate_private_key(KeyAlgorithm.SM2_256), "Test SM2 Intermediate"
    )
    return Hierarchy(root, intermediate, generate_private_key(KeyAlgorithm.SM2_256))


def _sm2_private(key: object) -> SM2PrivateKey:
    assert isinstance(key, SM2PrivateKey)
    return key


def _sm2_key(key: object) -> SM2PublicKey:
    public = key.public_key() if isinstance(key, SM2PrivateKey) else key
    assert isinstance(public, SM2PublicKey)
    return public


def signature_verifies(cert: x509.Certificate, signer: object, distinguishing_id: bytes = DEFAULT_ID) -> bool:
    """The certificate's SM3withSM2 signature checked with the gmssl-pyx primitive."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    assert parsed["signature_algorithm"]["algorithm"].dotted == SM3_WITH_SM2
    assert isinstance(
        parsed["signature_algorithm"]["parameters"], asn1_core.Void
    )  # no parameters, as OpenSSL
    return sm2_verify(
        _sm2_key(signer),
        parsed["tbs_certificate"].dump(),
        parsed["signature_value"].native,
        distinguishing_id,
    )


# --- keys -----------------------------------------------------------------------------------------------


def test_an_sm2_key_is_generated_as_a_matching_pair() -> None:
    key = generate_private_key(KeyAlgorithm.SM2_256)

    assert isinstance(key, SM2PrivateKey)
    assert key_family(key) == "SM2"
    assert sm2_keys_match(key, key.public_key())


def test_sm2_keys_can_be_pooled() -> None:
    pool = KeyPool({KeyAlgorithm.SM2_256: 1})

    assert pool.fill_once() is KeyAlgorithm.SM2_256
    assert pool.available(KeyAlgorithm.SM2_256) == 1
    assert isinstance(pool.take(KeyAlgorithm.SM2_256), SM2PrivateKey)


# --- CA and end-entity certificates ------------------------------------------------------------------------


@pytest.mark.parametrize("distinguishing_id", [DEFAULT_ID, OTHER_ID], ids=["default-id", "other-id"])
def test_an_sm2_root_is_signed_with_sm3withsm2_and_the_default_distinguishing_id(
    sm2_pki: Hierarchy, distinguishing_id: bytes
) -> None:
    root = sm2_pki.root

    assert signature_verifies(root.cert, root.key, distinguishing_id) is (distinguishing_id == DEFAULT_ID)


def test_the_intermediate_and_the_leaf_are_signed_by_their_issuers_sm2_keys(sm2_pki: Hierarchy) -> None:
    leaf = issue_leaf(sm2_pki.intermediate, _sm2_key(sm2_pki.leaf_key))

    assert signature_verifies(sm2_pki.intermediate.cert, sm2_pki.root.key)
    assert signature_verifies(leaf, sm2_pki.intermediate.key)
    assert not signature_verifies(leaf, sm2_pki.root.key)


def _profile(cert: x509.Certificate) -> list[tuple[str, bool, object]]:
    # Key identifiers depend on the key; everything else must be the same for every key family.
    key_dependent = (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)
    return [
        (e.oid.dotted_string, e.critical, type(e.value) if isinstance(e.value, key_dependent) else e.value)
        for e in cert.extensions
    ]


def test_sm2_cas_carry_the_profile_of_the_other_families(sm2_pki: Hierarchy, ec_pki: Hierarchy) -> None:
    assert _profile(sm2_pki.root.cert) == _profile(ec_pki.root.cert)
    assert _profile(sm2_pki.intermediate.cert) == _profile(ec_pki.intermediate.cert)


@pytest.mark.parametrize("profile", list(IssueUsage), ids=str)
def test_an_sm2_leaf_has_the_extensions_of_its_profile(
    sm2_pki: Hierarchy, ec_pki: Hierarchy, profile: IssueUsage
) -> None:
    sm2_leaf = issue_leaf(sm2_pki.intermediate, _sm2_key(sm2_pki.leaf_key), profile=profile)
    ec_leaf = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key(), profile=profile)
    usage = sm2_leaf.extensions.get_extension_for_class(x509.KeyUsage).value

    # As an RSA key, an SM2 key may transport keys (TLCP, SM2PKE); a document-signing key only signs.
    assert usage.key_encipherment is (profile is not IssueUsage.DOCUMENT_SIGNING)
    assert usage.content_commitment is (profile is IssueUsage.DOCUMENT_SIGNING)
    assert [e for e in _profile(sm2_leaf) if e[0] != "2.5.29.15"] == [
        e for e in _profile(ec_leaf) if e[0] != "2.5.29.15"
    ]


def test_an_sm2_leaf_names_its_issuer_by_key_identifier(sm2_pki: Hierarchy) -> None:
    leaf = issue_leaf(sm2_pki.intermediate, _sm2_key(sm2_pki.leaf_key))
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = sm2_pki.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    assert (
        aki.key_identifier
        == ski.digest
        == hashlib.sha1(b"\x04" + _sm2_key(sm2_pki.intermediate.key).point).digest()
    )


def test_an_issued_sm2_chain_validates_for_its_host_name(sm2_pki: Hierarchy) -> None:
    leaf = issue_leaf(sm2_pki.intermediate, _sm2_key(sm2_pki.leaf_key))

    verdict = verify_chain(
        leaf,
        intermediates=[sm2_pki.intermediate.cert],
        roots=[sm2_pki.root.cert],
        at=NOW,
        hostname="app.example.test",
        usage="server",
    )

    assert verdict.valid, verdict.errors


@pytest.mark.parametrize(("ca_family", "key_family_name"), [("SM2", "EC"), ("EC", "SM2")])
def test_a_key_of_another_family_than_the_cas_is_algorithm_mismatch(
    sm2_pki: Hierarchy, ec_pki: Hierarchy, ca_family: str, key_family_name: str
) -> None:
    ca = sm2_pki.intermediate if ca_family == "SM2" else ec_pki.intermediate
    key = sm2_pki.leaf_key if key_family_name == "SM2" else ec_pki.leaf_key

    with pytest.raises(
        AlgorithmMismatch, match=f"an {key_family_name} key cannot be issued under the {ca_family} CA"
    ):
        issue_leaf(ca, key.public_key())


def test_an_sm2_key_that_is_not_the_cas_is_key_mismatch(sm2_pki: Hierarchy) -> None:
    impostor = Ca(sm2_pki.intermediate.cert, sm2_pki.leaf_key)

    with pytest.raises(KeyMismatch, match="does not belong to the CA"):
        issue_leaf(impostor, _sm2_key(sm2_pki.leaf_key))


_ALGORITHM_OF_FAMILY = {"SM2": KeyAlgorithm.SM2_256, "EC": KeyAlgorithm.ECC_256}


@pytest.mark.parametrize(("root_family", "intermediate_family"), [("EC", "SM2"), ("SM2", "EC")])
def test_an_intermediate_of_another_family_than_its_root_validates(
    sm2_pki: Hierarchy, ec_pki: Hierarchy, root_family: str, intermediate_family: str
) -> None:
    root = sm2_pki.root if root_family == "SM2" else ec_pki.root
    algorithm = _ALGORITHM_OF_FAMILY[intermediate_family]
    intermediate = make_intermediate(root, generate_private_key(algorithm), f"{intermediate_family} CA")
    leaf = issue_leaf(intermediate, generate_private_key(algorithm).public_key())

    assert validate_upload_chain(order_chain([leaf, intermediate.cert, root.cert]), now=NOW) == ()


# --- CSRs -----------------------------------------------------------------------------------------------


def sm2_csr(
    key: SM2PrivateKey, *, distinguishing_id: bytes = DEFAULT_ID, sans: tuple[str, ...] = ()
) -> bytes:
    """A PKCS#10 request for ``key`` built with asn1crypto and signed with the gmssl-pyx primitive."""
    attributes = []
    if sans:
        names = [asn1_x509.GeneralName(name="dns_name", value=san) for san in sans]
        extension = {"extn_id": "subject_alt_name", "critical": False, "extn_value": names}
        attributes.append({"type": "extension_request", "values": [[extension]]})
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.build(
                {"common_name": "csr.example.test", "organization_name": "CSR Org"}
            ),
            "subject_pk_info": asn1_x509.PublicKeyInfo.load(key.public_key().public_bytes_der()),
            "attributes": attributes,
        }
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": SM3_WITH_SM2},
            "signature": sm2_sign(key, info.dump(), distinguishing_id),
        }
    )
    return bytes(request.dump())


def test_an_sm2_csr_verifies_and_gives_its_key_subject_and_sans(sm2_pki: Hierarchy) -> None:
    key = _sm2_private(sm2_pki.leaf_key)

    facts = csr_facts(load_csr(sm2_csr(key, sans=("csr.example.test", "alt.example.test"))))

    assert (facts.key_family, facts.public_key) == ("SM2", key.public_key())
    assert facts.subject.rfc4514_string() == "CN=csr.example.test,O=CSR Org"
    assert facts.sans == (San("dns", "csr.example.test"), San("dns", "alt.example.test"))


def test_an_sm2_csr_with_a_tampered_signature_is_refused(sm2_pki: Hierarchy) -> None:
    der = bytearray(sm2_csr(_sm2_private(sm2_pki.leaf_key)))
    der[der.index(b"CSR Org")] ^= 0x01

    with pytest.raises(InvalidInput, match="signature does not verify"):
        load_csr(bytes(der))


def test_an_sm2_csr_signed_with_another_distinguishing_id_needs_that_id(sm2_pki: Hierarchy) -> None:
    der = sm2_csr(_sm2_private(sm2_pki.leaf_key), distinguishing_id=OTHER_ID)

    with pytest.raises(InvalidInput, match="signature does not verify"):
        load_csr(der)
    assert csr_facts(load_csr(der, sm2_distinguishing_id=OTHER_ID)).key_family == "SM2"


def test_an_sm2_csr_made_by_openssl_loads(tmp_path: Path) -> None:
    if not Path(OPENSSL).exists():
        skip_or_fail(f"the openssl CLI is not at {OPENSSL}")
    made = openssl(
        "req", "-new", "-newkey", "sm2", "-nodes", "-keyout", "k.pem", "-sm3", "-sigopt", "distid:1234567812345678",
        "-subj", "/CN=openssl.example.test", "-addext", "subjectAltName=DNS:openssl.example.test", "-out", "r.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    facts = csr_facts(load_csr((tmp_path / "r.pem").read_bytes()))

    assert (facts.key_family, facts.sans) == ("SM2", (San("dns", "openssl.example.test"),))


def test_without_gmssl_an_sm2_csr_is_unsupported_and_says_why(
    sm2_pki: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    der = sm2_csr(_sm2_private(sm2_pki.leaf_key))
    monkeypatch.setitem(sys.modules, "gmssl_pyx", None)  # `import gmssl_pyx` now fails as if not installed

    with pytest.raises(Unsupported, match="gmssl-pyx"):
        load_csr(der)


# --- CRL ------------------------------------------------------------------------------------------------


def _crl(ca: Ca, entries: list[RevokedEntry], number: int = 3) -> x509.CertificateRevocationList:
    return build_crl(
        ca_cert=ca.cert,
        ca_key=ca.key,
        entries=entries,
        crl_number=number,
        this_update=NOW,
        next_update=NOW + dt.timedelta(days=7),
    )


_ENTRIES = [
    RevokedEntry(0x1234, NOW - dt.timedelta(hours=2), RevocationReason.KEY_COMPROMISE),
    RevokedEntry(0x5678, NOW - dt.timedelta(hours=1), RevocationReason.UNSPECIFIED),
]


def test_an_sm2_ca_signs_its_crl_with_sm3withsm2(sm2_pki: Hierarchy) -> None:
    crl = _crl(sm2_pki.intermediate, _ENTRIES)
    parsed = asn1_crl.CertificateList.load(crl.public_bytes(Encoding.DER))

    assert parsed["signature_algorithm"]["algorithm"].dotted == SM3_WITH_SM2
    assert parsed["tbs_cert_list"]["signature"].dump() == parsed["signature_algorithm"].dump()
    signature = parsed["signature"].native
    assert sm2_verify(_sm2_key(sm2_pki.intermediate.key), parsed["tbs_cert_list"].dump(), signature)


def test_an_sm2_crl_has_the_fields_of_any_other_cas_crl(sm2_pki: Hierarchy, ec_pki: Hierarchy) -> None:
    sm2_crl, ec_crl = _crl(sm2_pki.intermediate, _ENTRIES), _crl(ec_pki.intermediate, _ENTRIES)

    def entries(crl: x509.CertificateRevocationList) -> list[tuple[int, dt.datetime, list[object]]]:
        return [(r.serial_number, r.revocation_date_utc, [e.value for e in r.extensions]) for r in crl]

    assert entries(sm2_crl) == entries(ec_crl)
    assert sm2_crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    aki = sm2_crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = sm2_pki.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert (aki.key_identifier, sm2_crl.issuer) == (ski.digest, sm2_pki.intermediate.cert.subject)


def test_an_empty_sm2_crl_lists_nothing_and_is_signed(sm2_pki: Hierarchy) -> None:
    crl = _crl(sm2_pki.intermediate, [])
    parsed = asn1_crl.CertificateList.load(crl.public_bytes(Encoding.DER))

    assert len(crl) == 0
    assert sm2_verify(
        _sm2_key(sm2_pki.intermediate.key), parsed["tbs_cert_list"].dump(), parsed["signature"].native
    )


def test_an_sm2_crl_signed_with_a_key_not_the_cas_is_key_mismatch(sm2_pki: Hierarchy) -> None:
    with pytest.raises(KeyMismatch):
        _crl(Ca(sm2_pki.intermediate.cert, sm2_pki.root.key), _ENTRIES)


# --- OCSP -----------------------------------------------------------------------------------------------

_STATUSES = {
    "good": OcspStatus("good"),
    "revoked": OcspStatus("revoked", NOW - dt.timedelta(hours=1), RevocationReason.KEY_COMPROMISE),
    "unknown": OcspStatus("unknown"),
}


@pytest.mark.parametrize("kind", list(_STATUSES))
def test_an_sm2_ca_answers_ocsp_with_an_sm3withsm2_signed_response(sm2_pki: Hierarchy, kind: str) -> None:
    ca, leaf = sm2_pki.intermediate, issue_leaf(sm2_pki.intermediate, _sm2_key(sm2_pki.leaf_key))
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca.cert, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
        .build()
    )
    der = build_ocsp_response(
        query=parse_ocsp_request(request.public_bytes(Encoding.DER)),
        ca_cert=ca.cert,
        ca_key=ca.key,
        status=_STATUSES[kind],
        this_update=NOW,
        next_update=NOW + dt.timedelta(hours=1),
        certificate=leaf,
    )

    response = ocsp.load_der_ocsp_response(der)
    assert (response.certificate_status.name.lower(), response.serial_number) == (kind, leaf.serial_number)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    key_bits = asn1_x509.Certificate.load(ca.cert.public_bytes(Encoding.DER)).public_key["public_key"]
    assert response.responder_key_hash == hashlib.sha1(bytes(key_bits)).digest()
    if kind == "revoked":
        assert response.revocation_reason == x509.ReasonFlags.key_compromise
    basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    assert basic["signature_algorithm"]["algorithm"].dotted == SM3_WITH_SM2
    assert sm2_verify(_sm2_key(ca.key), basic["tbs_response_data"].dump(), basic["signature"].native)
