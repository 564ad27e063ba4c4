"""UploadUserCertificate, GetUserCertificateDetail, ListUserCertificateOrder, DeleteUserCertificate with
the official SDK (reference §5): the default repository of SSL certificates, CertId and its
``{CertId}-cn-hangzhou`` identifier."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from cryptography.hazmat.primitives import hashes

from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

from .conftest import Server, rpc_error
from .support import Warehouse, b64, body_of, chain_pem, reset_warehouse

DEFAULT_NAME = "SSL certificates"


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Ssl")


def fresh_leaf(chain: Chain, name: str) -> Chain:
    key = ec_key()
    leaf = build(
        f"{name}.ssl.example.com",
        key,
        issuer=(chain.intermediate, chain.intermediate_key),
        sans=[f"{name}.ssl.example.com"],
    )
    return Chain(chain.root, chain.root_key, chain.intermediate, chain.intermediate_key, leaf, key)


@pytest.fixture
def account(acs_server: Server) -> CasClient:
    """A new account: its default repository does not exist yet."""
    return acs_server.client(acs_server.fresh_account())


def upload_user(client: CasClient, chain: Chain, name: str, **extra: Any) -> int:
    request = models.UploadUserCertificateRequest(
        name=name, cert=chain_pem(chain), key=key_pem(chain.leaf_key), **extra
    )
    cert_id = client.upload_user_certificate(request).body.cert_id
    assert isinstance(cert_id, int)
    return cert_id


def order_list(client: CasClient, **query: Any) -> dict[str, Any]:
    return body_of(client, "ListUserCertificateOrder", {"OrderType": "UPLOAD", **query})


def test_an_ssl_certificate_round_trip(account: CasClient, chain: Chain) -> None:
    tags = [models.UploadUserCertificateRequestTags(key="team", value="web")]
    cert_id = upload_user(account, chain, "web cert", tags=tags)

    detail = account.get_user_certificate_detail(models.GetUserCertificateDetailRequest(cert_id=cert_id)).body
    assert (detail.id, detail.cert_identifier, detail.name, detail.common) == (
        cert_id,
        f"{cert_id}-cn-hangzhou",
        "web cert",
        "ssl.example.com",
    )
    assert detail.cert == chain_pem(chain) and detail.key == key_pem(chain.leaf_key)
    assert detail.sha_2 == chain.leaf.fingerprint(hashes.SHA256()).hex() and detail.expired is False
    assert [(c.common_name, c.issuer_common_name) for c in detail.cert_chain] == [
        ("ssl.example.com", "Ssl Intermediate"),
        ("Ssl Intermediate", "Ssl Root"),
        ("Ssl Root", "Ssl Root"),
    ]
    assert [(t.tag_key, t.tag_value) for t in detail.tags] == [("team", "web")]

    listed = account.list_user_certificate_order(
        models.ListUserCertificateOrderRequest(order_type="UPLOAD")
    ).body
    assert [(r.certificate_id, r.name, r.upload, r.status) for r in listed.certificate_order_list] == [
        (cert_id, "web cert", True, "ISSUED")
    ]
    assert listed.total_count == 1

    account.delete_user_certificate(models.DeleteUserCertificateRequest(cert_id=cert_id))
    error = rpc_error(
        lambda: account.get_user_certificate_detail(models.GetUserCertificateDetailRequest(cert_id=cert_id))
    )
    assert (error.code, error.status_code) == ("NotFound.Certificate", 404)
    assert order_list(account)["TotalCount"] == 0


def test_cert_filter_leaves_out_the_certificate_and_key(account: CasClient, chain: Chain) -> None:
    cert_id = upload_user(account, chain, "filtered")
    detail = body_of(account, "GetUserCertificateDetail", {"CertId": cert_id, "CertFilter": True})
    assert "Cert" not in detail and "Key" not in detail and detail["Common"] == "ssl.example.com"


def test_uploads_land_in_one_default_repository(account: CasClient, chain: Chain) -> None:
    upload_user(account, chain, "first")
    upload_user(account, fresh_leaf(chain, "second"), "second")
    repositories = account.list_cert_warehouse(models.ListCertWarehouseRequest(name=DEFAULT_NAME)).body
    assert [(r.name, r.type) for r in repositories.cert_warehouse_list] == [(DEFAULT_NAME, "uploadPCA")]
    wh_id = repositories.cert_warehouse_list[0].wh_id
    assert account.list_cert(models.ListCertRequest(warehouse_id=wh_id)).body.total_count == 2


def test_a_reset_default_repository_is_replaced_by_the_next_upload(account: CasClient, chain: Chain) -> None:
    cert_id = upload_user(account, chain, "before")
    wh_id = body_of(account, "GetUserCertificateDetail", {"CertId": cert_id})["WhId"]
    reset_warehouse(account, Warehouse("", wh_id))
    again = upload_user(account, chain, "after")
    assert body_of(account, "GetUserCertificateDetail", {"CertId": again})["WhId"] != wh_id
    assert [r["Name"] for r in order_list(account)["CertificateOrderList"]] == ["after"]


def test_the_cert_id_identifier_is_accepted_by_sign_and_get_user_certificate_detail(
    account: CasClient, chain: Chain
) -> None:
    cert_id = upload_user(account, chain, "signing")
    identifier = f"{cert_id}-cn-hangzhou"
    detail = body_of(account, "GetUserCertificateDetail", {"CertId": identifier})
    assert detail["Id"] == cert_id
    signature = account.sign(
        models.SignRequest(
            cert_identifier=identifier, message="m", message_type="RAW", signing_algorithm="SHA256withECDSA"
        )
    ).body.signature
    verified = account.verify(
        models.VerifyRequest(
            cert_identifier=identifier,
            message=b64("m"),
            message_type="RAW",
            signature_value=signature,
            signing_algorithm="SHA256withECDSA",
        )
    ).body
    assert verified.signature_valid is True


def test_list_user_certificate_order_lists_no_purchases(account: CasClient, chain: Chain) -> None:
    upload_user(account, chain, "uploaded")
    for order_type in (None, "CPACK", "BUY"):
        body = account.list_user_certificate_order(
            models.ListUserCertificateOrderRequest(order_type=order_type)
        ).body
        assert (body.total_count, body.certificate_order_list) == (0, [])


STATUS_FILTERS = {
    "valid": ({}, ["kept"]),
    "issued": ({"Status": "ISSUED"}, ["kept"]),
    "expired": ({"Status": "EXPIRED"}, []),
    "revoked": ({"Status": "REVOKED"}, []),
    "will-expire": ({"Status": "WILLEXPIRED"}, []),
    "order-state": ({"Status": "PAYED"}, []),
    "keyword": ({"Keyword": "KEPT"}, ["kept"]),
    "other-keyword": ({"Keyword": "absent"}, []),
    "cert-order-type": ({"OrderType": "CERT"}, ["kept"]),
}


@pytest.mark.parametrize(("query", "names"), STATUS_FILTERS.values(), ids=STATUS_FILTERS.keys())
def test_list_user_certificate_order_filters(
    acs_server: Server, ssl_account: CasClient, query: dict[str, Any], names: list[str]
) -> None:
    assert [r["Name"] for r in order_list(ssl_account, **query)["CertificateOrderList"]] == names


@pytest.fixture(scope="module")
def ssl_account(acs_server: Server) -> CasClient:
    client = acs_server.client(acs_server.fresh_account())
    upload_user(client, make_chain("Kept"), "kept")
    return client


def test_a_role_that_may_not_read_keys_gets_the_detail_without_the_key(
    acs_server: Server, chain: Chain
) -> None:
    admin = acs_server.fresh_account()
    cert_id = upload_user(acs_server.client(admin), chain, "guarded")
    auditor = acs_server.client(acs_server.identity_with_role(admin, "auditor"))
    detail = body_of(auditor, "GetUserCertificateDetail", {"CertId": cert_id})
    assert "Key" not in detail and detail["Cert"] == chain_pem(chain)


UPLOAD_FAILURES = {
    "no-name": ({"Name": None}, "MissingParameter", 400, "Name"),
    "long-name": ({"Name": "n" * 64}, "InvalidParameter", 400, "63"),
    "no-cert": ({"Cert": None, "Key": None}, "MissingParameter", 400, "Cert"),
    "key-alone": ({"Cert": None}, "MissingParameter", 400, "Cert"),
    "foreign-key": ({"Key": key_pem(ec_key())}, "KeyMismatch", 400, ""),
    "sm2-encryption-pair": (
        {"Cert": None, "Key": None, "SignCert": "x", "EncryptCert": "y"},
        "UnsupportedOperation",
        400,
        "EncryptCert",
    ),
    "tag-without-key": ({"Tags.1.Value": "v"}, "MissingParameter", 400, "Tags.1.Key"),
}


@pytest.mark.parametrize(
    ("change", "code", "status", "says"), UPLOAD_FAILURES.values(), ids=UPLOAD_FAILURES.keys()
)
def test_upload_user_certificate_refuses_bad_requests(
    account: CasClient, chain: Chain, change: dict[str, Any], code: str, status: int, says: str
) -> None:
    query: dict[str, Any] = {
        "Name": "refused",
        "Cert": chain_pem(chain),
        "Key": key_pem(chain.leaf_key),
        **change,
    }
    error = rpc_error(
        lambda: body_of(account, "UploadUserCertificate", {k: v for k, v in query.items() if v is not None})
    )
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]
    assert order_list(account)["TotalCount"] == 0


@pytest.mark.parametrize("action", ["GetUserCertificateDetail", "DeleteUserCertificate"])
@pytest.mark.parametrize(
    ("cert_id", "code", "status"),
    [
        (None, "MissingParameter", 400),
        ("x", "InvalidParameter", 400),
        (987654321, "NotFound.Certificate", 404),
    ],
    ids=["missing", "not-a-number", "unknown"],
)
def test_a_bad_cert_id_is_refused(
    account: CasClient, action: str, cert_id: object, code: str, status: int
) -> None:
    query = {} if cert_id is None else {"CertId": cert_id}
    error = rpc_error(lambda: body_of(account, action, query))
    assert (error.code, error.status_code) == (code, status)


def test_another_accounts_certificate_is_not_found_by_its_cert_id(
    acs_server: Server, account: CasClient, chain: Chain
) -> None:
    cert_id = upload_user(account, chain, "mine")
    stranger = acs_server.client(acs_server.fresh_account())
    for action in ("GetUserCertificateDetail", "DeleteUserCertificate"):
        error = rpc_error(lambda action=action: body_of(stranger, action, {"CertId": cert_id}))  # type: ignore[misc]
        assert (error.code, error.status_code) == ("NotFound.Certificate", 404)
    assert body_of(account, "GetUserCertificateDetail", {"CertId": cert_id})["Id"] == cert_id


def test_detail_of_a_certificate_without_key_has_no_key(account: CasClient, chain: Chain) -> None:
    body = body_of(account, "UploadUserCertificate", {"Name": "public only", "Cert": pem(chain.leaf)})
    detail = body_of(account, "GetUserCertificateDetail", {"CertId": body["CertId"]})
    assert "Key" not in detail and detail["Cert"] == pem(chain.leaf)
