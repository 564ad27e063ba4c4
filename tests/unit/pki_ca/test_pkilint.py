"""The private CA's output linted by pkilint (DigiCert's RFC 5280 and CA/B Forum linters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from certrepo.domain.enums import IssueUsage, RevocationReason
from certrepo.pki.crl import RevokedEntry, build_crl, crl_der
from certrepo.pki.issue import San, SubjectSpec
from certrepo.pki.ocsp import OcspStatus, build_ocsp_response, parse_ocsp_request

from .conftest import NOW, Hierarchy, issue_leaf

pytest.importorskip("pkilint", reason="pkilint is not installed in this environment (pip install pkilint)")

from pkilint import finding_filter, loader, validation
from pkilint.cabf import serverauth
from pkilint.cabf.serverauth import serverauth_constants
from pkilint.pkix import certificate, create_attribute_decoder, create_extension_decoder, crl, extension, name
from pkilint.pkix import ocsp as pkix_ocsp

_WARNING = validation.ValidationFindingSeverity.WARNING
# pkilint's PKIX URI check only knows web schemes and rejects spiffe:, and its DNS check rejects
# wildcards; both are valid SANs, so the linted certificates use plain names and https URIs.
_LINTED_SANS = {
    IssueUsage.SERVER: (San("dns", "app.example.com"), San("ip", "10.20.30.40")),
    IssueUsage.CLIENT: (San("email", "ops@example.com"), San("uri", "https://example.com/users/ops")),
    IssueUsage.DOCUMENT_SIGNING: (San("email", "signer@example.com"),),
}


def _findings(results: list[validation.ValidationResult]) -> set[str]:
    """Codes of findings at WARNING or worse (INFO and NOTICE only describe)."""
    return {
        f"{description.finding.code} ({description.finding.severity.name})"
        for result in results
        for description in result.finding_descriptions
        if description.finding.severity <= _WARNING
    }


def _pkix_lint(cert: x509.Certificate) -> set[str]:
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(
        cert.public_bytes(Encoding.DER), "cert"
    )
    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    return _findings(validator.validate(document.root))


@pytest.mark.parametrize("profile", list(IssueUsage), ids=str)
@pytest.mark.parametrize("family", ["RSA", "EC", "ED25519"])
def test_issued_certificates_pass_the_rfc5280_linter(
    pki_by_family: Callable[[str], Hierarchy], family: str, profile: IssueUsage
) -> None:
    pki = pki_by_family(family)
    cert = issue_leaf(
        pki.intermediate, pki.leaf_key.public_key(), profile=profile, sans=_LINTED_SANS[profile]
    )

    assert _pkix_lint(cert) == set()


@pytest.mark.parametrize("family", ["RSA", "EC", "ED25519"])
def test_root_and_intermediate_cas_pass_the_rfc5280_linter(
    pki_by_family: Callable[[str], Hierarchy], family: str
) -> None:
    pki = pki_by_family(family)

    assert (_pkix_lint(pki.root.cert), _pkix_lint(pki.intermediate.cert)) == (set(), set())


# Findings that any private CA has under the public-web rules: its names are not public, it asserts no
# CA/B policy OIDs, and it keeps what RFC 5280 and the product require (SKI, a CN, RSA keyEncipherment,
# a root pathLen). Anything else the CA/B linter finds is a defect.
_PRIVATE_PKI_FINDINGS = {
    "cabf.internal_domain_name (ERROR)",
    "cabf.serverauth.subscriber.certificate_policies_extension_absent (ERROR)",
    "cabf.serverauth.ca.certificate_policies_extension_absent (ERROR)",
    "cabf.serverauth.ca.extended_key_usage_extension_absent (ERROR)",
    "cabf.serverauth.subscriber.subject_key_identifier_extension_present (WARNING)",
    "cabf.serverauth.subscriber.ca_issuers_aia_access_method_absent (WARNING)",
    "cabf.serverauth.subscriber_rsa_digitalsignature_and_keyencipherment_present (WARNING)",
    "cabf.serverauth.dv.common_name_attribute_present (WARNING)",
    "cabf.serverauth.root_basic_constraints_pathlenconstraint_present (WARNING)",
}


def _cabf_lint(cert: x509.Certificate, kind: str) -> set[str]:
    cert_type = serverauth_constants.CertificateType[kind]
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(
        cert.public_bytes(Encoding.DER), "cert"
    )
    validator = certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
    )
    results, _ = finding_filter.filter_results(
        serverauth.create_serverauth_finding_filters(cert_type), validator.validate(document.root)
    )
    return _findings(results)


@pytest.mark.parametrize("family", ["RSA", "EC"])
def test_server_chain_has_no_cabf_findings_beyond_those_of_any_private_ca(
    pki_by_family: Callable[[str], Hierarchy], family: str
) -> None:
    pki = pki_by_family(family)
    leaf = issue_leaf(
        pki.intermediate,
        pki.leaf_key.public_key(),
        sans=[San("dns", "app.example.com")],
        subject=SubjectSpec(common_name="app.example.com"),
    )

    found = (
        _cabf_lint(leaf, "DV_FINAL_CERTIFICATE")
        | _cabf_lint(pki.intermediate.cert, "INTERNAL_UNCONSTRAINED_TLS_CA")
        | _cabf_lint(pki.root.cert, "ROOT_CA")
    )

    assert found - _PRIVATE_PKI_FINDINGS == set()


def test_the_crl_passes_the_rfc5280_crl_linter(ec_pki: Hierarchy) -> None:
    built = build_crl(
        ca_cert=ec_pki.intermediate.cert,
        ca_key=ec_pki.intermediate.key,
        entries=[
            RevokedEntry(10, NOW, RevocationReason.KEY_COMPROMISE),
            RevokedEntry(11, NOW, RevocationReason.UNSPECIFIED),
        ],
        crl_number=3,
        this_update=NOW,
        next_update=NOW + dt.timedelta(days=7),
    )
    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(crl_der(built), "crl")
    validator = crl.create_pkix_crl_validator_container(
        [
            create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )

    assert _findings(validator.validate(document.root)) == set()


def test_the_ocsp_response_passes_the_ocsp_linter(ec_pki: Hierarchy) -> None:
    leaf = issue_leaf(ec_pki.intermediate, ec_pki.leaf_key.public_key())
    request = (
        x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, ec_pki.intermediate.cert, hashes.SHA1()).build()
    )
    response = build_ocsp_response(
        query=parse_ocsp_request(request.public_bytes(Encoding.DER)),
        ca_cert=ec_pki.intermediate.cert,
        ca_key=ec_pki.intermediate.key,
        status=OcspStatus("good"),
        this_update=NOW,
        next_update=NOW + dt.timedelta(hours=1),
        certificate=leaf,
    )
    document = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(response, "ocsp")
    validator = pkix_ocsp.create_pkix_ocsp_response_validator_container(
        [
            pkix_ocsp.create_response_decoder(),
            create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )

    assert _findings(validator.validate(document.root)) == set()
