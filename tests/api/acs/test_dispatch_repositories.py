"""Repository lifecycle over the RPC API with the official SDK: CreateWarehouse, DeleteWarehouse and the
extensions ResetWarehouse, EnableWarehouse, UpdateWarehouse (reference §4.1-4.2, SPEC §1, §2.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient

from .conftest import Server, call_action, rpc_error


def create(client: CasClient, **fields: Any) -> str:
    """CreateWarehouse through the SDK's own method; the new WarehouseInstanceId."""
    fields.setdefault("type", "uploadedCertificate")
    response = client.create_warehouse(models.CreateWarehouseRequest(**fields))
    assert response.status_code == 200
    instance_id = response.body.warehouse_instance_id
    assert isinstance(instance_id, str)
    return instance_id


def row_of(client: CasClient, instance_id: str) -> dict[str, Any]:
    """The ListCertWarehouse row of one repository, as the server sent it (extension fields included:
    the SDK's models drop keys they do not know)."""
    body = call_action(client, "ListCertWarehouse", {"InstanceId": instance_id})["body"]
    rows = [r for r in body["CertWarehouseList"] if r["InstanceId"] == instance_id]
    assert len(rows) == 1, body
    return rows[0]  # type: ignore[no-any-return]


def reset(client: CasClient, instance_id: str) -> dict[str, Any]:
    body = call_action(
        client, "ResetWarehouse", {"WarehouseInstanceId": instance_id, "AcknowledgeRisk": True}
    )
    return body["body"]  # type: ignore[no-any-return]


# --- CreateWarehouse --------------------------------------------------------------------------------

TYPES = {
    "upload-certificate": ("uploadedCertificate", "uploadPCA", "uploadedCertificate"),
    "uploaded-ca": ("uploadedAuthorityCertificate", "uploadCA", "uploadedAuthorityCertificate"),
    "list-spelling": ("uploadCA", "uploadCA", "uploadedAuthorityCertificate"),
    "any-case": ("UPLOADEDCERTIFICATE", "uploadPCA", "uploadedCertificate"),
}


@pytest.mark.parametrize(("given", "list_type", "warehouse_type"), TYPES.values(), ids=TYPES.keys())
def test_create_warehouse_makes_an_enabled_repository_of_the_type(
    admin_client: CasClient, given: str, list_type: str, warehouse_type: str
) -> None:
    instance_id = create(admin_client, name="typed", type=given)
    row = row_of(admin_client, instance_id)
    assert (row["Type"], row["WarehouseType"], row["Status"]) == (list_type, warehouse_type, "enabled")


def test_create_warehouse_answers_the_instance_id_and_whid(admin_client: CasClient) -> None:
    body = call_action(admin_client, "CreateWarehouse", {"Type": "uploadedCertificate"})["body"]
    assert body["WarehouseInstanceId"].startswith("cas-wh-") and len(body["WarehouseInstanceId"]) == 17
    assert isinstance(body["WhId"], int) and isinstance(body["RequestId"], str) and body["RequestId"]
    assert row_of(admin_client, body["WarehouseInstanceId"])["WhId"] == body["WhId"]


def test_create_warehouse_without_a_name_names_it_by_its_instance_id(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    assert row_of(admin_client, instance_id)["Name"] == instance_id


def test_create_warehouse_with_biz_contract_makes_a_compliant_repository(admin_client: CasClient) -> None:
    instance_id = create(admin_client, type=None, biz="contract", name="contracts")
    row = row_of(admin_client, instance_id)
    assert (row["Type"], row["WarehouseType"]) == ("contract", "contract")


def test_create_warehouse_keeps_a_chinese_name(admin_client: CasClient) -> None:
    instance_id = create(admin_client, name="  证书仓库 测试  ")
    assert row_of(admin_client, instance_id)["Name"] == "证书仓库 测试"


CREATE_FAILURES = {
    "no-type": ({"type": None}, "MissingParameter", 400, "Type"),
    "unknown-type": ({"type": "bogus"}, "InvalidParameter", 400, "Type"),
    "ssl-product": ({"type": "ssl"}, "UnsupportedOperation", 400, "ssl"),
    "other-biz": ({"biz": "payments"}, "InvalidParameter", 400, "Biz"),
    "private-without-ca": ({"type": "pcaCertificate"}, "MissingParameter", 400, "PcaInstanceId"),
    "blank-name": ({"name": "   "}, "InvalidParameter", 400, "Name"),
    "long-name": ({"name": "n" * 65}, "InvalidParameter", 400, "at most 64"),
    "control-character": ({"name": "a\tb"}, "InvalidParameter", 400, "control character"),
}


@pytest.mark.parametrize(
    ("fields", "code", "status", "says"), CREATE_FAILURES.values(), ids=CREATE_FAILURES.keys()
)
def test_create_warehouse_refuses_bad_parameters(
    admin_client: CasClient, fields: dict[str, Any], code: str, status: int, says: str
) -> None:
    request = models.CreateWarehouseRequest(**{"type": "uploadedCertificate", **fields})
    error = rpc_error(lambda: admin_client.create_warehouse(request))
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]


def test_create_warehouse_with_an_unknown_ca_is_not_found(admin_client: CasClient) -> None:
    error = rpc_error(
        lambda: call_action(
            admin_client, "CreateWarehouse", {"Type": "pcaCertificate", "PcaInstanceId": 987654}
        )
    )
    assert (error.code, error.status_code) == ("NotFound.CA", 404)


@pytest.fixture(scope="module")
def intermediate_ca_ids(acs_server: Server) -> Iterator[int]:
    """Fresh ECC intermediate CAs of the admin's account (made through REST), one per call of next()."""

    def make() -> Iterator[int]:
        with acs_server.rest() as rest:
            root = rest.post(
                "/v1/cas", json={"type": "root", "common_name": "RPC Root", "key_algorithm": "ECC_256"}
            )
            assert root.status_code == 201, root.text
            while True:
                sub = rest.post(
                    "/v1/cas",
                    json={
                        "type": "intermediate",
                        "common_name": "RPC Intermediate",
                        "key_algorithm": "ECC_256",
                        "parent_id": root.json()["id"],
                    },
                )
                assert sub.status_code == 201, sub.text
                yield int(sub.json()["id"])

    return make()


def test_create_warehouse_of_private_certificates_binds_the_intermediate_ca(
    admin_client: CasClient, intermediate_ca_ids: Iterator[int]
) -> None:
    ca_id = next(intermediate_ca_ids)
    body = call_action(admin_client, "CreateWarehouse", {"Type": "pcaCertificate", "PcaInstanceId": ca_id})
    row = row_of(admin_client, body["body"]["WarehouseInstanceId"])
    assert (row["Type"], row["WarehouseType"], row["PcaInstanceId"]) == (
        "aliyunPCA",
        "pcaCertificate",
        str(ca_id),
    )


def test_an_intermediate_ca_can_be_bound_to_only_one_repository(
    admin_client: CasClient, intermediate_ca_ids: Iterator[int]
) -> None:
    ca_id = next(intermediate_ca_ids)
    call_action(admin_client, "CreateWarehouse", {"Type": "aliyunPCA", "PcaInstanceId": ca_id})
    error = rpc_error(
        lambda: call_action(
            admin_client, "CreateWarehouse", {"Type": "pcaCertificate", "PcaInstanceId": ca_id}
        )
    )
    assert (error.code, error.status_code) == ("CaAlreadyBound", 409)


def test_a_compliant_repository_names_its_trust_repository_by_instance_id(admin_client: CasClient) -> None:
    trust = create(admin_client, type="uploadedAuthorityCertificate")
    body = call_action(admin_client, "CreateWarehouse", {"Biz": "contract", "TrustWarehouseId": trust})
    row = row_of(admin_client, body["body"]["WarehouseInstanceId"])
    assert (row["Type"], row["TrustWarehouseId"]) == ("contract", row_of(admin_client, trust)["WhId"])


def test_a_trust_repository_must_hold_ca_certificates(admin_client: CasClient) -> None:
    plain = create(admin_client, type="uploadedCertificate")
    error = rpc_error(
        lambda: call_action(admin_client, "CreateWarehouse", {"Biz": "contract", "TrustWarehouseId": plain})
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "TrustWarehouseId" in error.data["Message"]


def test_a_signer_may_not_create_a_repository(acs_server: Server) -> None:
    signer = acs_server.identity_with_role(acs_server.admin, "signer")
    client = acs_server.client(signer)
    error = rpc_error(
        lambda: client.create_warehouse(models.CreateWarehouseRequest(type="uploadedCertificate"))
    )
    assert (error.code, error.status_code) == ("Forbidden", 403)


# --- DeleteWarehouse --------------------------------------------------------------------------------


def test_delete_warehouse_of_an_enabled_repository_is_refused_and_keeps_it(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    error = rpc_error(
        lambda: admin_client.delete_warehouse(
            models.DeleteWarehouseRequest(warehouse_instance_id=instance_id)
        )
    )
    assert (error.code, error.status_code) == ("RepositoryNotReset", 409)
    assert row_of(admin_client, instance_id)["Status"] == "enabled"


def test_delete_warehouse_after_a_reset_removes_the_repository(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    reset(admin_client, instance_id)
    response = admin_client.delete_warehouse(models.DeleteWarehouseRequest(warehouse_instance_id=instance_id))
    assert response.status_code == 200 and response.body.request_id
    listed = admin_client.list_cert_warehouse(models.ListCertWarehouseRequest(instance_id=instance_id))
    assert listed.body.total_count == 0 and listed.body.cert_warehouse_list == []


def test_delete_warehouse_without_a_repository_is_a_missing_parameter(admin_client: CasClient) -> None:
    error = rpc_error(lambda: admin_client.delete_warehouse(models.DeleteWarehouseRequest()))
    assert (error.code, error.status_code) == ("MissingParameter", 400)
    assert "WarehouseInstanceId" in error.data["Message"]


def test_delete_warehouse_of_an_unknown_instance_is_not_found(admin_client: CasClient) -> None:
    request = models.DeleteWarehouseRequest(warehouse_instance_id="cas-wh-aaaaaaaaaa")
    error = rpc_error(lambda: admin_client.delete_warehouse(request))
    assert (error.code, error.status_code) == ("NotFound.Repository", 404)


def test_another_accounts_repository_is_not_found(acs_server: Server, admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    stranger = acs_server.client(acs_server.fresh_account())
    error = rpc_error(
        lambda: call_action(stranger, "UpdateWarehouse", {"WarehouseInstanceId": instance_id, "Name": "x"})
    )
    assert (error.code, error.status_code) == ("NotFound.Repository", 404)
    assert row_of(admin_client, instance_id)["Name"] == instance_id


# --- repository handles -----------------------------------------------------------------------------


def test_a_repository_can_be_named_by_its_whid(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    wh_id = row_of(admin_client, instance_id)["WhId"]
    call_action(admin_client, "UpdateWarehouse", {"WarehouseId": wh_id, "Name": "by-whid"})
    assert row_of(admin_client, instance_id)["Name"] == "by-whid"


def test_a_numeric_warehouse_instance_id_is_taken_as_the_whid(admin_client: CasClient) -> None:
    # One Alibaba example shows WarehouseInstanceId "66".
    instance_id = create(admin_client)
    wh_id = row_of(admin_client, instance_id)["WhId"]
    call_action(admin_client, "UpdateWarehouse", {"WarehouseInstanceId": str(wh_id), "Name": "numeric"})
    assert row_of(admin_client, instance_id)["Name"] == "numeric"


HANDLE_FAILURES = {
    "both-handles": ({"WarehouseInstanceId": "cas-wh-aaaaaaaaaa", "WarehouseId": 1}, "not both"),
    "malformed": ({"WarehouseInstanceId": "wh-1"}, "WarehouseInstanceId"),
}


@pytest.mark.parametrize(("query", "says"), HANDLE_FAILURES.values(), ids=HANDLE_FAILURES.keys())
def test_a_bad_repository_handle_is_an_invalid_parameter(
    admin_client: CasClient, query: dict[str, Any], says: str
) -> None:
    error = rpc_error(lambda: call_action(admin_client, "UpdateWarehouse", {**query, "Name": "x"}))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert says in error.data["Message"]


# --- ResetWarehouse ---------------------------------------------------------------------------------


@pytest.mark.parametrize("acknowledge", [None, False, "no"], ids=["missing", "false", "no"])
def test_reset_warehouse_without_acknowledging_the_risk_needs_confirmation(
    admin_client: CasClient, acknowledge: object
) -> None:
    instance_id = create(admin_client)
    query: dict[str, Any] = {"WarehouseInstanceId": instance_id}
    if acknowledge is not None:
        query["AcknowledgeRisk"] = acknowledge
    error = rpc_error(lambda: call_action(admin_client, "ResetWarehouse", query))
    expected = "InvalidParameter" if acknowledge == "no" else "ConfirmationRequired"
    assert (error.code, error.status_code) == (expected, 400)
    assert "AcknowledgeRisk" in error.data["Message"]
    assert row_of(admin_client, instance_id)["Status"] == "enabled"


@pytest.mark.parametrize("acknowledge", [True, "true", "TRUE"], ids=["sdk-True", "true", "upper"])
def test_reset_warehouse_with_the_acknowledgement_resets_the_repository(
    admin_client: CasClient, acknowledge: object
) -> None:
    instance_id = create(admin_client, type="uploadedAuthorityCertificate")
    body = call_action(
        admin_client, "ResetWarehouse", {"WarehouseInstanceId": instance_id, "AcknowledgeRisk": acknowledge}
    )["body"]
    assert (body["Status"], body["Type"], body["WarehouseInstanceId"]) == ("reset", "", instance_id)
    assert isinstance(body["RequestId"], str) and row_of(admin_client, instance_id)["Status"] == "reset"


def test_a_reset_repository_cannot_be_reset_again(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    reset(admin_client, instance_id)
    error = rpc_error(lambda: reset(admin_client, instance_id))
    assert (error.code, error.status_code) == ("RepositoryDisabled", 409)


def test_a_reset_repository_answers_repository_disabled_whatever_was_sent(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    reset(admin_client, instance_id)
    error = rpc_error(
        lambda: call_action(admin_client, "ResetWarehouse", {"WarehouseInstanceId": instance_id})
    )
    assert (error.code, error.status_code) == ("RepositoryDisabled", 409)


# --- EnableWarehouse --------------------------------------------------------------------------------


def test_enable_warehouse_gives_a_reset_repository_a_data_source_again(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    reset(admin_client, instance_id)
    body = call_action(
        admin_client, "EnableWarehouse", {"WarehouseInstanceId": instance_id, "Type": "uploadCA"}
    )
    assert (body["body"]["Status"], body["body"]["Type"]) == ("enabled", "uploadCA")
    assert row_of(admin_client, instance_id)["WarehouseType"] == "uploadedAuthorityCertificate"


def test_enable_warehouse_of_an_enabled_repository_is_refused(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    error = rpc_error(
        lambda: call_action(
            admin_client, "EnableWarehouse", {"WarehouseInstanceId": instance_id, "Type": "uploadCA"}
        )
    )
    assert (error.code, error.status_code) == ("RepositoryNotReset", 409)


def test_enable_warehouse_without_a_type_is_a_missing_parameter(admin_client: CasClient) -> None:
    instance_id = create(admin_client)
    reset(admin_client, instance_id)
    error = rpc_error(
        lambda: call_action(admin_client, "EnableWarehouse", {"WarehouseInstanceId": instance_id})
    )
    assert (error.code, error.status_code) == ("MissingParameter", 400)
    assert row_of(admin_client, instance_id)["Status"] == "reset"


# --- UpdateWarehouse --------------------------------------------------------------------------------


@pytest.mark.parametrize("was_reset", [False, True], ids=["enabled", "reset"])
def test_update_warehouse_renames_in_any_status(admin_client: CasClient, was_reset: bool) -> None:
    instance_id = create(admin_client, name="before")
    if was_reset:
        reset(admin_client, instance_id)
    body = call_action(
        admin_client, "UpdateWarehouse", {"WarehouseInstanceId": instance_id, "Name": "  after "}
    )
    assert body["body"]["Name"] == "after"
    assert row_of(admin_client, instance_id)["Name"] == "after"


@pytest.mark.parametrize(
    ("name", "code"),
    [(None, "MissingParameter"), ("", "MissingParameter"), ("a\x07b", "InvalidParameter")],
    ids=["missing", "empty", "control-character"],
)
def test_update_warehouse_refuses_a_bad_name(admin_client: CasClient, name: str | None, code: str) -> None:
    instance_id = create(admin_client, name="kept")
    query: dict[str, Any] = {"WarehouseInstanceId": instance_id}
    if name is not None:
        query["Name"] = name
    error = rpc_error(lambda: call_action(admin_client, "UpdateWarehouse", query))
    assert (error.code, error.status_code) == (code, 400)
    assert row_of(admin_client, instance_id)["Name"] == "kept"
