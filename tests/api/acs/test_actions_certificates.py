"""UploadPCACert, DeletePCACert, ListCert and DescribeWarehouseCert with the official SDK (reference
§4.6-4.9, SPEC §2.2)."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from cryptography.hazmat.primitives import hashes

from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

from .conftest import Server, rpc_error
from .support import (
    Warehouse,
    body_of,
    chain_pem,
    create_private_ca,
    create_warehouse,
    list_cert,
    reset_warehouse,
    tenant_of,
    upload,
)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Listed")


@pytest.fixture(scope="module")
def chains() -> list[Chain]:
    """Three leaves of one intermediate, for listings."""
    base = make_chain("Paged")
    leaves = []
    for name in ("alpha", "bravo", "charlie"):
        key = ec_key()
        leaf = build(f"{name}.paged.example.com", key, issuer=(base.intermediate, base.intermediate_key))
        leaves.append(Chain(base.root, base.root_key, base.intermediate, base.intermediate_key, leaf, key))
    return leaves


@pytest.fixture
def warehouse(admin_client: CasClient) -> Warehouse:
    return create_warehouse(admin_client)


# --- UploadPCACert ----------------------------------------------------------------------------------


def test_upload_pca_cert_stores_the_leaf_with_its_key(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain
) -> None:
    request = models.UploadPCACertRequest(
        warehouse_id=warehouse.wh_id, cert=chain_pem(chain), private_key=key_pem(chain.leaf_key), name="web"
    )
    identifier = admin_client.upload_pcacert(request).body.identifier
    rows = admin_client.list_cert(models.ListCertRequest(warehouse_id=warehouse.wh_id)).body.cert_list
    assert [(r.identifier, r.common_name, r.exist_private_key) for r in rows] == [
        (identifier, "listed.example.com", True)
    ]


def test_upload_pca_cert_without_a_key_stores_the_certificate_alone(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain
) -> None:
    upload(admin_client, warehouse, chain, with_key=False)
    assert list_cert(admin_client, warehouse)["CertList"][0]["ExistPrivateKey"] is False


def test_upload_pca_cert_into_an_uploaded_ca_repository_stores_each_ca(
    admin_client: CasClient, chain: Chain
) -> None:
    trust = create_warehouse(admin_client, "uploadedAuthorityCertificate")
    answer = body_of(
        admin_client,
        "UploadPCACert",
        {"WarehouseId": trust.wh_id, "Cert": pem(chain.intermediate) + pem(chain.root)},
    )
    assert len(answer["Identifiers"]) == 2 and answer["Identifier"] == answer["Identifiers"][-1]
    rows = list_cert(admin_client, trust, CertType="CA")["CertList"]
    assert sorted(r["CommonName"] for r in rows) == ["Listed Intermediate", "Listed Root"]
    assert list_cert(admin_client, trust, CertType="CERT")["TotalCount"] == 0


def test_upload_pca_cert_takes_a_custom_identifier(admin_client: CasClient, chain: Chain) -> None:
    warehouse = create_warehouse(admin_client)
    custom = f"web-{warehouse.wh_id}"
    upload(admin_client, warehouse, chain, CustomIdentifier=custom)
    assert list_cert(admin_client, warehouse)["CertList"][0]["CustomIdentifier"] == custom


FOREIGN_KEY = key_pem(ec_key())
UPLOAD_FAILURES = {
    "no-cert": ({"Cert": None}, "MissingParameter", 400, "Cert"),
    "no-warehouse": ({"WarehouseId": None}, "MissingParameter", 400, "WarehouseInstanceId"),
    "not-pem": ({"Cert": "hello"}, "InvalidParameter", 400, "certificate"),
    "foreign-key": ({"PrivateKey": FOREIGN_KEY}, "KeyMismatch", 400, ""),
    "unknown-warehouse": ({"WarehouseId": 987654321}, "NotFound.Repository", 404, "987654321"),
}


@pytest.mark.parametrize(
    ("change", "code", "status", "says"), UPLOAD_FAILURES.values(), ids=UPLOAD_FAILURES.keys()
)
def test_upload_pca_cert_refuses_bad_requests(
    admin_client: CasClient,
    warehouse: Warehouse,
    chain: Chain,
    change: dict[str, Any],
    code: str,
    status: int,
    says: str,
) -> None:
    query: dict[str, Any] = {
        "WarehouseId": warehouse.wh_id,
        "Cert": chain_pem(chain),
        "PrivateKey": key_pem(chain.leaf_key),
    }
    query = {k: v for k, v in {**query, **change}.items() if v is not None}
    error = rpc_error(lambda: body_of(admin_client, "UploadPCACert", query))
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]
    assert list_cert(admin_client, warehouse)["TotalCount"] == 0


def test_the_same_certificate_twice_in_a_repository_is_refused(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain
) -> None:
    first = upload(admin_client, warehouse, chain)
    error = rpc_error(lambda: upload(admin_client, warehouse, chain))
    assert (error.code, error.status_code) == ("CertificateExists", 409)
    assert first["Identifier"] in error.data["Message"]


def test_upload_pca_cert_into_a_private_repository_is_refused(acs_server: Server, chain: Chain) -> None:
    tenant = tenant_of(acs_server)
    ca = create_private_ca(tenant, name="Upload Refused")
    error = rpc_error(lambda: upload(tenant.client, ca.warehouse, chain))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "issue one instead" in error.data["Message"]


@pytest.mark.parametrize("with_cert", [True, False], ids=["with-cert", "without-cert"])
def test_upload_pca_cert_into_a_reset_repository_is_repository_disabled(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain, with_cert: bool
) -> None:
    reset_warehouse(admin_client, warehouse)
    query: dict[str, Any] = {"WarehouseId": warehouse.wh_id}
    if with_cert:
        query["Cert"] = chain_pem(chain)
    error = rpc_error(lambda: body_of(admin_client, "UploadPCACert", query))
    assert (error.code, error.status_code) == ("RepositoryDisabled", 409)


# --- DeletePCACert ----------------------------------------------------------------------------------


def test_delete_pca_cert_removes_the_certificate(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain
) -> None:
    identifier = upload(admin_client, warehouse, chain)["Identifier"]
    response = admin_client.delete_pcacert(models.DeletePCACertRequest(identifier=identifier))
    assert response.status_code == 200 and response.body.request_id
    assert list_cert(admin_client, warehouse)["TotalCount"] == 0
    error = rpc_error(lambda: body_of(admin_client, "DescribeWarehouseCert", {"CertIdentifier": identifier}))
    assert error.code == "NotFound.Certificate"


DELETE_FAILURES = {
    "missing": (None, "MissingParameter", 400),
    "unknown": ("0" * 32, "NotFound.Certificate", 404),
    "a-ca": ("ca-1", "InvalidParameter", 400),
}


@pytest.mark.parametrize(
    ("identifier", "code", "status"), DELETE_FAILURES.values(), ids=DELETE_FAILURES.keys()
)
def test_delete_pca_cert_refuses_what_names_no_certificate(
    admin_client: CasClient, identifier: str | None, code: str, status: int
) -> None:
    error = rpc_error(lambda: admin_client.delete_pcacert(models.DeletePCACertRequest(identifier=identifier)))
    assert (error.code, error.status_code) == (code, status)


def test_delete_pca_cert_of_another_account_is_not_found(
    acs_server: Server, warehouse: Warehouse, chain: Chain
) -> None:
    identifier = upload(acs_server.client(), warehouse, chain)["Identifier"]
    stranger = acs_server.client(acs_server.fresh_account())
    error = rpc_error(lambda: stranger.delete_pcacert(models.DeletePCACertRequest(identifier=identifier)))
    assert (error.code, error.status_code) == ("NotFound.Certificate", 404)
    assert list_cert(acs_server.client(), warehouse)["TotalCount"] == 1


# --- ListCert ---------------------------------------------------------------------------------------


@pytest.fixture
def listed(admin_client: CasClient, chains: list[Chain]) -> tuple[Warehouse, list[str]]:
    """A repository holding alpha, bravo, charlie (uploaded in that order); their identifiers."""
    warehouse = create_warehouse(admin_client)
    return warehouse, [upload(admin_client, warehouse, c)["Identifier"] for c in chains]


def test_list_cert_pages_newest_first(admin_client: CasClient, listed: tuple[Warehouse, list[str]]) -> None:
    warehouse, identifiers = listed
    first = admin_client.list_cert(models.ListCertRequest(warehouse_id=warehouse.wh_id, show_size=2)).body
    second = admin_client.list_cert(
        models.ListCertRequest(warehouse_id=warehouse.wh_id, show_size=2, current_page=2)
    ).body
    assert (first.total_count, first.show_size, first.current_page, second.current_page) == (3, 2, 1, 2)
    assert [r.identifier for r in first.cert_list + second.cert_list] == identifiers[::-1]


def test_list_cert_rows_carry_alibabas_fields(
    admin_client: CasClient, listed: tuple[Warehouse, list[str]]
) -> None:
    warehouse, _ = listed
    row = list_cert(admin_client, warehouse, KeyWord="alpha")["CertList"][0]
    assert {
        k: row[k]
        for k in ("CommonName", "Issuer", "Algorithm", "SignAlgorithm", "CertType", "SourceType", "Status")
    } == {
        "CommonName": "alpha.paged.example.com",
        "Issuer": "Paged Intermediate",
        "Algorithm": "ECC",
        "SignAlgorithm": "SHA256withECDSA",
        "CertType": "CERT",
        "SourceType": "upload",
        "Status": "ISSUE",
    }
    assert (row["WhId"], row["WhInstanceId"]) == (warehouse.wh_id, warehouse.instance_id)
    assert isinstance(row["BeforeDate"], int) and row["AfterDate"] - row["BeforeDate"] == 365 * 86_400_000


FILTERS = {
    "keyword": ({"KeyWord": "BRAVO"}, ["bravo"]),
    "issued": ({"Status": "ISSUE"}, ["charlie", "bravo", "alpha"]),
    "revoked": ({"Status": "REVOKE"}, []),
    "uploaded": ({"SourceType": "upload"}, ["charlie", "bravo", "alpha"]),
    "issued-here": ({"SourceType": "aliyun"}, []),
    "leaves": ({"CertType": "CERT"}, ["charlie", "bravo", "alpha"]),
    "cas": ({"CertType": "CA"}, []),
}


@pytest.mark.parametrize(("filters", "names"), FILTERS.values(), ids=FILTERS.keys())
def test_list_cert_filters(
    admin_client: CasClient, listed: tuple[Warehouse, list[str]], filters: dict[str, str], names: list[str]
) -> None:
    warehouse, _ = listed
    body = list_cert(admin_client, warehouse, **filters)
    assert [r["CommonName"].split(".")[0] for r in body["CertList"]] == names and body["TotalCount"] == len(
        names
    )


def test_list_cert_tells_a_ca_uploaded_with_leaves_by_its_cert_type(
    admin_client: CasClient, chain: Chain
) -> None:
    warehouse = create_warehouse(admin_client)
    key = ec_key()
    upload(admin_client, warehouse, chain)
    ca = build("Uploaded Self-Signed CA", key, ca=True)
    body_of(
        admin_client,
        "UploadPCACert",
        {"WarehouseId": warehouse.wh_id, "Cert": pem(ca), "PrivateKey": key_pem(key)},
    )
    assert [r["CommonName"] for r in list_cert(admin_client, warehouse, CertType="CA")["CertList"]] == [
        "Uploaded Self-Signed CA"
    ]
    assert [r["CommonName"] for r in list_cert(admin_client, warehouse, CertType="CERT")["CertList"]] == [
        "listed.example.com"
    ]


def test_list_cert_by_identifiers_keeps_the_named_ones(
    admin_client: CasClient, listed: tuple[Warehouse, list[str]]
) -> None:
    _warehouse, identifiers = listed
    named = f"{identifiers[0]},{'f' * 32},{identifiers[2]}"
    body = admin_client.list_cert(models.ListCertRequest(identifiers=named)).body
    assert sorted(r.identifier for r in body.cert_list) == sorted([identifiers[0], identifiers[2]])
    assert body.total_count == 2


def test_list_cert_of_a_reset_repository_is_empty(
    admin_client: CasClient, listed: tuple[Warehouse, list[str]]
) -> None:
    warehouse, _ = listed
    reset_warehouse(admin_client, warehouse)
    body = list_cert(admin_client, warehouse)
    assert (body["TotalCount"], body["CertList"]) == (0, [])


LIST_FAILURES = {
    "no-warehouse": ({}, "MissingParameter", 400, "WarehouseInstanceId"),
    "unknown-warehouse": ({"WarehouseId": 987654321}, "NotFound.Repository", 404, "987654321"),
    "bad-status": ({"WarehouseId": 1, "Status": "VALID"}, "InvalidParameter", 400, "Status"),
    "bad-cert-type": ({"WarehouseId": 1, "CertType": "LEAF"}, "InvalidParameter", 400, "CertType"),
    "big-page": ({"WarehouseId": 1, "ShowSize": 501}, "InvalidParameter", 400, "ShowSize"),
    "keyword-and-identifiers": ({"Identifiers": "a", "KeyWord": "b"}, "InvalidParameter", 400, "KeyWord"),
}


@pytest.mark.parametrize(
    ("query", "code", "status", "says"), LIST_FAILURES.values(), ids=LIST_FAILURES.keys()
)
def test_list_cert_refuses_bad_parameters(
    admin_client: CasClient, query: dict[str, Any], code: str, status: int, says: str
) -> None:
    error = rpc_error(lambda: body_of(admin_client, "ListCert", query))
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]


# --- DescribeWarehouseCert --------------------------------------------------------------------------


def test_describe_warehouse_cert_gives_the_pem_with_its_chain(
    admin_client: CasClient, warehouse: Warehouse, chain: Chain
) -> None:
    identifier = upload(admin_client, warehouse, chain)["Identifier"]
    body = admin_client.describe_warehouse_cert(
        models.DescribeWarehouseCertRequest(cert_identifier=identifier)
    ).body
    assert body.content == chain_pem(chain)
    assert (body.cert_identifier, body.common_name, body.issuer, body.cert_status) == (
        identifier,
        "listed.example.com",
        "Listed Intermediate",
        "issued",
    )
    assert body.fingerprint == chain.leaf.fingerprint(hashes.SHA1()).hex() and len(body.fingerprint) == 40
    assert (body.warehouse_instance_id, body.issuer_identifier, body.private_ca_instance_id) == (
        warehouse.instance_id,
        "",
        "",
    )


def test_describe_warehouse_cert_of_a_self_signed_certificate_names_itself_as_issuer(
    admin_client: CasClient, warehouse: Warehouse
) -> None:
    key = ec_key()
    cert = build("self.example.com", key)
    identifier = body_of(admin_client, "UploadPCACert", {"WarehouseId": warehouse.wh_id, "Cert": pem(cert)})[
        "Identifier"
    ]
    assert (
        body_of(admin_client, "DescribeWarehouseCert", {"CertIdentifier": identifier})["IssuerIdentifier"]
        == identifier
    )


@pytest.mark.parametrize(
    ("identifier", "code", "status"),
    [
        (None, "MissingParameter", 400),
        ("0" * 32, "NotFound.Certificate", 404),
        ("ca-987654321", "NotFound.CA", 404),
    ],
    ids=["missing", "unknown", "unknown-ca"],
)
def test_describe_warehouse_cert_refuses_what_names_nothing(
    admin_client: CasClient, identifier: str | None, code: str, status: int
) -> None:
    request = models.DescribeWarehouseCertRequest(cert_identifier=identifier)
    error = rpc_error(lambda: admin_client.describe_warehouse_cert(request))
    assert (error.code, error.status_code) == (code, status)
