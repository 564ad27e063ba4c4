"""CreateWHClientCertificate and RevokeWHClientCertificate with the official SDK, and the CA rows of a
private repository in ListCert and DescribeWarehouseCert (reference §4.10-4.11, SPEC §1.2, §2.2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.factories import ec_key, make_chain, rsa_key

from .conftest import Server, rpc_error
from .support import (
    PrivateCa,
    body_of,
    create_ca_pair,
    create_private_ca,
    create_warehouse,
    csr_pem,
    list_cert,
    load_pem,
    tenant_of,
    upload,
)


@pytest.fixture(scope="module")
def pca(acs_server: Server) -> PrivateCa:
    return create_private_ca(tenant_of(acs_server), name="Issuing")


def issue(client: CasClient, pca: PrivateCa, **query: Any) -> dict[str, Any]:
    query.setdefault("Days", 3)
    return body_of(
        client, "CreateWHClientCertificate", {"ParentIdentifier": f"ca-{pca.intermediate_id}", **query}
    )


# --- the CA rows ------------------------------------------------------------------------------------


def test_list_cert_with_cert_type_ca_lists_the_intermediate_and_its_root(
    admin_client: CasClient, pca: PrivateCa
) -> None:
    rows = list_cert(admin_client, pca.warehouse, CertType="CA")["CertList"]
    assert [
        (r["Identifier"], r["CommonName"], r["CertType"], r["SourceType"], r["Status"]) for r in rows
    ] == [
        (f"ca-{pca.intermediate_id}", "Issuing Intermediate", "CA", "aliyun", "ISSUE"),
        (f"ca-{pca.root_id}", "Issuing Root", "CA", "aliyun", "ISSUE"),
    ]
    assert rows[0]["Issuer"] == "Issuing Root" and rows[0]["WhId"] == pca.warehouse.wh_id


def test_list_cert_lists_the_ca_rows_ahead_of_the_issued_certificates(acs_server: Server) -> None:
    tenant = tenant_of(acs_server)
    ca = create_private_ca(tenant, name="Paging")
    identifiers = [issue(tenant.client, ca, CommonName=f"client {i}")["Identifier"] for i in range(3)]
    pages = [list_cert(tenant.client, ca.warehouse, ShowSize=2, CurrentPage=n) for n in (1, 2, 3)]
    assert [p["TotalCount"] for p in pages] == [5, 5, 5]
    listed = [r["Identifier"] for p in pages for r in p["CertList"]]
    assert listed == [f"ca-{ca.intermediate_id}", f"ca-{ca.root_id}", *identifiers[::-1]]
    issued_only = list_cert(tenant.client, ca.warehouse, CertType="CERT")
    assert [r["Identifier"] for r in issued_only["CertList"]] == identifiers[::-1]


def test_describe_warehouse_cert_of_a_ca_gives_its_chain(admin_client: CasClient, pca: PrivateCa) -> None:
    body = body_of(admin_client, "DescribeWarehouseCert", {"CertIdentifier": f"ca-{pca.intermediate_id}"})
    assert body["Content"] == pca.intermediate_pem + pca.root_pem
    assert (body["IssuerIdentifier"], body["WarehouseInstanceId"], body["CertType"]) == (
        f"ca-{pca.root_id}",
        pca.warehouse.instance_id,
        "CA",
    )


# --- CreateWHClientCertificate ----------------------------------------------------------------------


def test_a_csr_is_issued_with_the_csr_subject_and_key(admin_client: CasClient, pca: PrivateCa) -> None:
    key = ec_key()
    answer = issue(admin_client, pca, Csr=csr_pem(key, "device-7"), Immediately=1)
    cert = load_pem(answer["X509Certificate"])
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "device-7"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert "CertificateChain" not in answer


def test_a_generated_key_stays_in_the_repository(admin_client: CasClient, pca: PrivateCa) -> None:
    answer = issue(admin_client, pca, CommonName="kept", Organization="Example", Country="CN", Immediately=1)
    row = list_cert(admin_client, pca.warehouse, KeyWord="kept")["CertList"][0]
    assert (row["Identifier"], row["ExistPrivateKey"], row["SourceType"]) == (
        answer["Identifier"],
        True,
        "aliyun",
    )
    assert "PRIVATE KEY" not in str(answer)
    subject = load_pem(answer["X509Certificate"]).subject.rfc4514_string()
    assert subject == "CN=kept,O=Example,C=CN"


def test_immediately_0_answers_the_identifier_only(admin_client: CasClient, pca: PrivateCa) -> None:
    answer = issue(admin_client, pca, CommonName="quiet")
    assert set(answer) == {"Identifier", "CertId", "RequestId"}


@pytest.mark.parametrize(
    ("algorithm", "curve"),
    [("ECC_384", ec.SECP384R1), ("ECC_512", ec.SECP521R1)],
    ids=["p384", "ecc512-is-p521"],
)
def test_algorithm_chooses_the_generated_key(
    admin_client: CasClient, pca: PrivateCa, algorithm: str, curve: type[ec.EllipticCurve]
) -> None:
    key = load_pem(
        issue(admin_client, pca, CommonName="curve", Algorithm=algorithm, Immediately=1)["X509Certificate"]
    ).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, curve)


SANS = {
    "email": (1, "a@example.com, b@example.com", x509.RFC822Name, ["a@example.com", "b@example.com"]),
    "dns": (2, "api.example.com,www.example.com", x509.DNSName, ["api.example.com", "www.example.com"]),
    "uri": (6, "spiffe://example.com/app", x509.UniformResourceIdentifier, ["spiffe://example.com/app"]),
}


@pytest.mark.parametrize(("san_type", "value", "kind", "expected"), SANS.values(), ids=SANS.keys())
def test_san_type_and_san_value_become_subject_alternative_names(
    admin_client: CasClient,
    pca: PrivateCa,
    san_type: int,
    value: str,
    kind: type[x509.GeneralName],
    expected: list[str],
) -> None:
    cert = load_pem(
        issue(admin_client, pca, CommonName="sans", SanType=san_type, SanValue=value, Immediately=1)[
            "X509Certificate"
        ]
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(kind) == expected  # type: ignore[arg-type]


def test_an_ip_san(admin_client: CasClient, pca: PrivateCa) -> None:
    cert = load_pem(
        issue(admin_client, pca, CommonName="ip", SanType=7, SanValue="10.0.0.7", Immediately=1)[
            "X509Certificate"
        ]
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]


def test_days_wins_over_before_and_after_time(admin_client: CasClient, pca: PrivateCa) -> None:
    now = int(datetime.now(UTC).timestamp())
    cert = load_pem(
        issue(
            admin_client,
            pca,
            CommonName="days",
            Days=2,
            BeforeTime=now,
            AfterTime=now + 30 * 86400,
            Immediately=1,
        )["X509Certificate"]
    )
    assert (
        timedelta(days=2)
        <= cert.not_valid_after_utc - cert.not_valid_before_utc
        <= timedelta(days=2, minutes=2)
    )


def test_months_and_years_add_up_in_calendar_days(admin_client: CasClient, pca: PrivateCa) -> None:
    answer = body_of(
        admin_client,
        "CreateWHClientCertificate",
        {
            "ParentIdentifier": f"ca-{pca.intermediate_id}",
            "CommonName": "calendar",
            "Months": 2,
            "Immediately": 1,
        },
    )
    cert = load_pem(answer["X509Certificate"])
    today = datetime.now(UTC).date()
    month = today.month + 2
    expected = date(today.year + (month - 1) // 12, (month - 1) % 12 + 1, min(today.day, 28))
    assert abs((cert.not_valid_after_utc.date() - expected).days) <= 3


ISSUE_FAILURES = {
    "no-parent": ({"ParentIdentifier": None}, "MissingParameter", 400, "ParentIdentifier"),
    "not-a-ca": ({"ParentIdentifier": "f" * 32}, "NotFound.Certificate", 404, "CertType=CA"),
    "unknown-ca": ({"ParentIdentifier": "ca-987654321"}, "NotFound.CA", 404, "987654321"),
    "root": ({"ParentIdentifier": "root"}, "InvalidParameter", 400, "bound to no repository"),
    "no-validity": ({"Days": None}, "MissingParameter", 400, "Days"),
    "half-pair": ({"Days": None, "BeforeTime": 1_900_000_000}, "MissingParameter", 400, "AfterTime"),
    "too-long": ({"Days": 3651}, "InvalidParameter", 400, "Days"),
    "rsa-on-ec": ({"Algorithm": "RSA_2048"}, "AlgorithmMismatch", 400, "Algorithm"),
    "rsa-1024": ({"Algorithm": "RSA_1024"}, "InvalidParameter", 400, "too weak"),
    "unknown-algorithm": ({"Algorithm": "DSA_2048"}, "InvalidParameter", 400, "Algorithm"),
    "bad-san-type": ({"SanType": 3, "SanValue": "x"}, "InvalidParameter", 400, "SanType"),
    "san-value-alone": ({"SanValue": "a.example.com"}, "MissingParameter", 400, "SanType"),
    "bad-dns": ({"SanType": 2, "SanValue": "not a name"}, "InvalidParameter", 400, "DNS"),
    "no-subject": ({"CommonName": None}, "MissingParameter", 400, "CommonName"),
    "bad-csr": (
        {"Csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
        "InvalidParameter",
        400,
        "CSR",
    ),
    "immediately-3": ({"Immediately": 3}, "InvalidParameter", 400, "Immediately"),
}


@pytest.mark.parametrize(
    ("change", "code", "status", "says"), ISSUE_FAILURES.values(), ids=ISSUE_FAILURES.keys()
)
def test_create_wh_client_certificate_refuses_bad_requests(
    admin_client: CasClient, pca: PrivateCa, change: dict[str, Any], code: str, status: int, says: str
) -> None:
    query: dict[str, Any] = {
        "ParentIdentifier": f"ca-{pca.intermediate_id}",
        "CommonName": "refused",
        "Days": 3,
        **change,
    }
    if query["ParentIdentifier"] == "root":
        query["ParentIdentifier"] = f"ca-{pca.root_id}"
    before = list_cert(admin_client, pca.warehouse, CertType="CERT")["TotalCount"]
    error = rpc_error(
        lambda: body_of(
            admin_client, "CreateWHClientCertificate", {k: v for k, v in query.items() if v is not None}
        )
    )
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]
    assert list_cert(admin_client, pca.warehouse, CertType="CERT")["TotalCount"] == before


@pytest.fixture(scope="module")
def rsa_csr() -> str:
    return csr_pem(rsa_key(), "rsa device")


def test_a_csr_of_another_key_family_is_refused(
    admin_client: CasClient, pca: PrivateCa, rsa_csr: str
) -> None:
    error = rpc_error(lambda: issue(admin_client, pca, Csr=rsa_csr))
    assert (error.code, error.status_code) == ("AlgorithmMismatch", 400)
    assert "Csr" in error.data["Message"]


def test_a_ca_bound_to_a_compliant_repository_does_not_issue_client_certificates(acs_server: Server) -> None:
    tenant = tenant_of(acs_server)
    _root, _root_pem, sub_id, _sub_pem = create_ca_pair(tenant, name="Contracts")
    create_warehouse(tenant.client, "", Biz="contract", PcaInstanceId=sub_id)
    error = rpc_error(
        lambda: body_of(
            tenant.client,
            "CreateWHClientCertificate",
            {"ParentIdentifier": f"ca-{sub_id}", "CommonName": "c", "Days": 3},
        )
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "compliant" in error.data["Message"]


def test_a_signer_may_not_issue(acs_server: Server, pca: PrivateCa) -> None:
    signer = acs_server.client(acs_server.identity_with_role(acs_server.admin, "signer"))
    error = rpc_error(lambda: issue(signer, pca, CommonName="nope"))
    assert (error.code, error.status_code) == ("Forbidden", 403)


# --- RevokeWHClientCertificate ----------------------------------------------------------------------


def _crl_serials(server: Server, ca_id: int) -> set[int]:
    crl = x509.load_der_x509_crl(httpx.get(f"{server.base_url}/crl/{ca_id}.crl", timeout=20).content)
    return {entry.serial_number for entry in crl}


def test_revoke_wh_client_certificate_marks_it_and_lists_it_in_the_crl(
    acs_server: Server, admin_client: CasClient, pca: PrivateCa
) -> None:
    answer = issue(admin_client, pca, CommonName="to revoke", Immediately=1)
    serial = load_pem(answer["X509Certificate"]).serial_number
    assert serial not in _crl_serials(acs_server, pca.intermediate_id)
    response = admin_client.revoke_whclient_certificate(
        models.RevokeWHClientCertificateRequest(identifier=answer["Identifier"])
    )
    assert response.status_code == 200 and response.body.request_id
    row = list_cert(admin_client, pca.warehouse, Identifiers=answer["Identifier"])["CertList"][0]
    assert row["Status"] == "REVOKE"
    assert serial in _crl_serials(acs_server, pca.intermediate_id)


def test_revoke_takes_an_rfc_5280_reason(admin_client: CasClient, pca: PrivateCa) -> None:
    identifier = issue(admin_client, pca, CommonName="compromised")["Identifier"]
    answer = body_of(
        admin_client, "RevokeWHClientCertificate", {"Identifier": identifier, "Reason": "key_compromise"}
    )
    assert answer["Reason"] == "key_compromise"


def test_a_revoked_certificate_cannot_be_revoked_again_nor_sign(
    admin_client: CasClient, pca: PrivateCa
) -> None:
    identifier = issue(admin_client, pca, CommonName="once")["Identifier"]
    body_of(admin_client, "RevokeWHClientCertificate", {"Identifier": identifier})
    again = rpc_error(lambda: body_of(admin_client, "RevokeWHClientCertificate", {"Identifier": identifier}))
    assert (again.code, again.status_code) == ("CertificateRevoked", 409)
    query = {"CertIdentifier": identifier, "Message": "m", "SigningAlgorithm": "SHA256withECDSA"}
    assert rpc_error(lambda: body_of(admin_client, "Sign", query)).code == "CertificateRevoked"


def test_revoke_of_an_uploaded_certificate_is_refused(admin_client: CasClient) -> None:
    warehouse = create_warehouse(admin_client)
    identifier = upload(admin_client, warehouse, make_chain("Revoke"))["Identifier"]
    error = rpc_error(lambda: body_of(admin_client, "RevokeWHClientCertificate", {"Identifier": identifier}))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "DeletePCACert" in error.data["Message"]
    assert list_cert(admin_client, warehouse)["CertList"][0]["Status"] == "ISSUE"


@pytest.mark.parametrize(
    ("identifier", "code", "status"),
    [
        (None, "MissingParameter", 400),
        ("0" * 32, "NotFound.Certificate", 404),
        ("ca-1", "InvalidParameter", 400),
        ("bad-reason", "InvalidParameter", 400),
    ],
    ids=["missing", "unknown", "a-ca", "bad-reason"],
)
def test_revoke_refuses_bad_requests(
    admin_client: CasClient, pca: PrivateCa, identifier: str | None, code: str, status: int
) -> None:
    query: dict[str, Any] = {}
    if identifier == "bad-reason":
        query = {"Identifier": issue(admin_client, pca, CommonName="kept")["Identifier"], "Reason": "because"}
    elif identifier is not None:
        query = {"Identifier": identifier}
    error = rpc_error(lambda: body_of(admin_client, "RevokeWHClientCertificate", query))
    assert (error.code, error.status_code) == (code, status)
