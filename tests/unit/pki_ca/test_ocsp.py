from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from certrepo.domain.enums import RevocationReason
from certrepo.domain.errors import InvalidInput, KeyMismatch
from certrepo.pki.ocsp import (
    OcspQuery,
    OcspStatus,
    build_ocsp_response,
    ocsp_error_response,
    ocsp_request_matches_ca,
    parse_ocsp_request,
)

from .conftest import NOW, Ca, Hierarchy, issue_leaf

NEXT = NOW + dt.timedelta(hours=12)
NONCE = bytes(range(16))


def _request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = NONCE,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def leaf(ec_pki: Hierarchy) -> x509.Certificate:
    return issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())


def _respond(
    ca: Ca, query: OcspQuery, status: OcspStatus, cert: x509.Certificate | None = None
) -> ocsp.OCSPResponse:
    der = build_ocsp_response(
        query=query,
        ca_cert=ca.cert,
        ca_key=ca.key,
        status=status,
        this_update=NOW,
        next_update=NEXT,
        certificate=cert,
    )
    return ocsp.load_der_ocsp_response(der)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256(), hashes.SHA384()], ids=lambda a: a.name)
def test_a_request_yields_its_certid_and_nonce(
    ec_pki: Hierarchy, leaf: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert, algorithm=algorithm))

    assert (query.serial, query.nonce, query.hash_algorithm.name) == (
        leaf.serial_number,
        NONCE,
        algorithm.name,
    )
    assert len(query.issuer_name_hash) == len(query.issuer_key_hash) == algorithm.digest_size


def test_a_request_without_nonce_has_none(ec_pki: Hierarchy, leaf: x509.Certificate) -> None:
    assert parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert, nonce=None)).nonce is None


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "not a DER OCSPRequest"),
        (b"\x30\x00", "not a DER OCSPRequest"),
        (b"garbage", "not a DER OCSPRequest"),
        (b"\x30" * 70_000, "at most 65536"),
    ],
    ids=["empty", "empty sequence", "text", "oversized"],
)
def test_a_malformed_request_is_refused(der: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_ocsp_request(der)


def test_a_nonce_longer_than_32_bytes_is_refused(ec_pki: Hierarchy, leaf: x509.Certificate) -> None:
    with pytest.raises(InvalidInput, match="the OCSP nonce has 33 bytes"):
        parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert, nonce=b"n" * 33))


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=lambda a: a.name)
def test_the_request_matches_its_issuer_and_no_other_ca(
    ec_pki: Hierarchy, rsa_pki: Hierarchy, leaf: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert, algorithm=algorithm))

    assert ocsp_request_matches_ca(query, ec_pki.intermediate.cert)
    assert not ocsp_request_matches_ca(query, ec_pki.root.cert)
    assert not ocsp_request_matches_ca(query, rsa_pki.intermediate.cert)


@pytest.mark.parametrize("family", ["RSA", "ED25519"])
def test_the_request_matches_cas_of_other_key_types(
    rsa_pki: Hierarchy, ed25519_pki: Hierarchy, family: str
) -> None:
    pki = rsa_pki if family == "RSA" else ed25519_pki
    cert = issue_leaf(pki.intermediate, pki.leaf_key.public_key())

    assert ocsp_request_matches_ca(
        parse_ocsp_request(_request(cert, pki.intermediate.cert)), pki.intermediate.cert
    )


def test_a_good_response_is_signed_by_the_ca_and_echoes_certid_and_nonce(
    ec_pki: Hierarchy, leaf: x509.Certificate
) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))

    response = _respond(ec_pki.intermediate, query, OcspStatus("good"), leaf)

    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert (response.serial_number, response.issuer_key_hash) == (leaf.serial_number, query.issuer_key_hash)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == NONCE
    assert (response.this_update_utc, response.next_update_utc) == (NOW, NEXT)
    ski = ec_pki.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert response.responder_key_hash == ski.digest
    ca_key = ec_pki.intermediate.cert.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    ca_key.verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )


def test_a_revoked_response_gives_time_and_reason(ec_pki: Hierarchy, leaf: x509.Certificate) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))
    revoked_at = NOW - dt.timedelta(days=1)

    response = _respond(
        ec_pki.intermediate, query, OcspStatus("revoked", revoked_at, RevocationReason.CESSATION_OF_OPERATION)
    )

    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at
    assert response.revocation_reason is x509.ReasonFlags.cessation_of_operation


def test_a_revoked_response_omits_an_unspecified_reason(ec_pki: Hierarchy, leaf: x509.Certificate) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))

    response = _respond(ec_pki.intermediate, query, OcspStatus("revoked", NOW, RevocationReason.UNSPECIFIED))

    assert response.revocation_reason is None


def test_an_unknown_serial_gets_a_signed_unknown_without_a_certificate(
    ec_pki: Hierarchy, leaf: x509.Certificate
) -> None:
    # The CertID hashes of any certificate this CA issued, with a serial it never issued.
    issued = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))
    by_hash = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        issued.issuer_name_hash, issued.issuer_key_hash, serial_number=424242, algorithm=hashes.SHA1()
    )
    query = parse_ocsp_request(by_hash.build().public_bytes(Encoding.DER))

    response = _respond(ec_pki.intermediate, query, OcspStatus("unknown"))

    assert (response.certificate_status, response.serial_number) == (ocsp.OCSPCertStatus.UNKNOWN, 424242)
    with pytest.raises(x509.ExtensionNotFound):
        response.extensions.get_extension_for_class(x509.OCSPNonce)


def test_a_response_for_another_cas_certificate_is_refused(
    ec_pki: Hierarchy, rsa_pki: Hierarchy, leaf: x509.Certificate
) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))

    with pytest.raises(
        InvalidInput, match="asks about a certificate of another CA than CN=Test RSA Intermediate"
    ):
        _respond(rsa_pki.intermediate, query, OcspStatus("good"))


def test_a_certificate_that_is_not_the_one_asked_about_is_refused(
    ec_pki: Hierarchy, leaf: x509.Certificate
) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))
    other = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())

    with pytest.raises(InvalidInput, match="the OCSP request asks about"):
        _respond(ec_pki.intermediate, query, OcspStatus("good"), other)


def test_a_response_signed_with_another_key_is_refused(ec_pki: Hierarchy, leaf: x509.Certificate) -> None:
    query = parse_ocsp_request(_request(leaf, ec_pki.intermediate.cert))

    with pytest.raises(KeyMismatch):
        _respond(Ca(ec_pki.intermediate.cert, ec_pki.root.key), query, OcspStatus("good"))


@pytest.mark.parametrize(
    ("kind", "revoked_at", "reason"),
    [
        ("fine", None, None),
        ("revoked", None, None),
        ("good", NOW, None),
        ("unknown", None, RevocationReason.KEY_COMPROMISE),
    ],
    ids=["bad kind", "revoked without time", "good with time", "unknown with reason"],
)
def test_an_inconsistent_status_is_a_programming_error(
    kind: str, revoked_at: dt.datetime | None, reason: RevocationReason | None
) -> None:
    with pytest.raises(ValueError, match="status|revoked"):
        OcspStatus(kind, revoked_at, reason)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("malformedRequest", ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
        ("unauthorized", ocsp.OCSPResponseStatus.UNAUTHORIZED),
        ("internalError", ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        ("tryLater", ocsp.OCSPResponseStatus.TRY_LATER),
    ],
    ids=lambda v: str(v),
)
def test_error_responses_carry_their_status(kind: str, status: ocsp.OCSPResponseStatus) -> None:
    assert ocsp.load_der_ocsp_response(ocsp_error_response(kind)).response_status is status


def test_an_unknown_error_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown OCSP error kind 'oops'"):
        ocsp_error_response("oops")
