"""ListWarehouse, ListCertWarehouse and GetCertWarehouseQuota with the official SDK (reference §4.3-4.5).

Tests read from accounts of their own, so the counts do not depend on other tests: ``account`` is a new
empty account per test, ``catalogue`` one per module with four repositories that the filter tests share
(a new account costs an Argon2 hash; reads do not change it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient

from .conftest import Server, call_action, rpc_error

UNLIMITED = 2**31 - 1
NEVER_MS = 253402300799000  # 9999-12-31T23:59:59Z


@pytest.fixture
def account(acs_server: Server) -> CasClient:
    """An SDK client of a new account with no repositories yet."""
    return acs_server.client(acs_server.fresh_account())


def create(client: CasClient, name: str, type_name: str = "uploadedCertificate") -> str:
    body = client.create_warehouse(models.CreateWarehouseRequest(name=name, type=type_name)).body
    assert body.warehouse_instance_id is not None
    return str(body.warehouse_instance_id)


@dataclass(frozen=True)
class Catalogue:
    client: CasClient
    ids: dict[str, str]  # name -> instance id


@pytest.fixture(scope="module")
def catalogue(acs_server: Server) -> Catalogue:
    """An account holding, in this order: payments, old payroll (uploaded), trust (uploaded CA),
    signing (compliant)."""
    client = acs_server.client(acs_server.fresh_account())
    ids = {name: create(client, name) for name in ("payments", "old payroll")}
    ids["trust"] = create(client, "trust", "uploadedAuthorityCertificate")
    ids["signing"] = str(
        client.create_warehouse(
            models.CreateWarehouseRequest(name="signing", biz="contract")
        ).body.warehouse_instance_id
    )
    return Catalogue(client, ids)


# --- ListWarehouse ----------------------------------------------------------------------------------


def test_list_warehouse_pages_with_next_token_until_the_end(account: CasClient) -> None:
    created = [create(account, f"repo{i}") for i in range(5)]
    seen: list[str] = []
    tokens: list[str | None] = []
    token: str | None = None
    for _ in range(5):
        body = account.list_warehouse(models.ListWarehouseRequest(max_results=2, next_token=token)).body
        assert (body.total_count, body.max_results) == (5, 2)
        seen.extend(item.warehouse_instance_id for item in body.data)
        token = body.next_token
        tokens.append(token)
        if not token:
            break
    assert seen == created
    assert tokens[-1] is None and len(tokens) == 3


def test_list_warehouse_continues_where_the_token_points_even_with_another_page_size(
    catalogue: Catalogue,
) -> None:
    first = catalogue.client.list_warehouse(models.ListWarehouseRequest(max_results=1)).body
    request = models.ListWarehouseRequest(max_results=2, next_token=first.next_token)
    second = catalogue.client.list_warehouse(request).body
    assert [i.warehouse_name for i in first.data + second.data] == ["payments", "old payroll", "trust"]
    assert second.next_token  # "signing" is still to come


def test_list_warehouse_defaults_to_twenty_items(account: CasClient) -> None:
    body = account.list_warehouse(models.ListWarehouseRequest()).body
    assert (body.max_results, body.total_count, body.data, body.next_token) == (20, 0, [], None)


def test_list_warehouse_items_carry_instance_id_name_and_type(catalogue: Catalogue) -> None:
    items = catalogue.client.list_warehouse(models.ListWarehouseRequest()).body.data
    assert [(i.warehouse_instance_id, i.warehouse_name, i.warehouse_type) for i in items] == [
        (catalogue.ids["payments"], "payments", "uploadedCertificate"),
        (catalogue.ids["old payroll"], "old payroll", "uploadedCertificate"),
        (catalogue.ids["trust"], "trust", "uploadedAuthorityCertificate"),
        (catalogue.ids["signing"], "signing", "contract"),
    ]


TYPE_FILTERS = {
    "one-type": (["uploadedAuthorityCertificate"], ["trust"]),
    "two-types": (
        ["uploadedAuthorityCertificate", "uploadedCertificate"],
        ["payments", "old payroll", "trust"],
    ),
    "list-spelling": (["uploadPCA"], ["payments", "old payroll"]),
    "contract": (["contract"], ["signing"]),
}


@pytest.mark.parametrize(("types", "names"), TYPE_FILTERS.values(), ids=TYPE_FILTERS.keys())
def test_list_warehouse_filters_by_types_given_as_a_json_list(
    catalogue: Catalogue, types: list[str], names: list[str]
) -> None:
    body = catalogue.client.list_warehouse(models.ListWarehouseRequest(warehouse_types=types)).body
    assert [item.warehouse_name for item in body.data] == names and body.total_count == len(names)


def test_list_warehouse_filters_by_instance_ids(catalogue: Catalogue) -> None:
    wanted = [catalogue.ids["trust"], catalogue.ids["payments"], "cas-wh-aaaaaaaaaa"]
    body = catalogue.client.list_warehouse(models.ListWarehouseRequest(warehouse_instance_ids=wanted)).body
    assert [item.warehouse_name for item in body.data] == ["payments", "trust"] and body.total_count == 2


def test_list_warehouse_filters_by_instance_ids_and_types(catalogue: Catalogue) -> None:
    wanted = [catalogue.ids["trust"], catalogue.ids["payments"]]
    request = models.ListWarehouseRequest(warehouse_instance_ids=wanted, warehouse_types=["uploadCA"])
    assert [item.warehouse_name for item in catalogue.client.list_warehouse(request).body.data] == ["trust"]


def test_list_warehouse_pages_a_filtered_listing(catalogue: Catalogue) -> None:
    ids = list(catalogue.ids.values())[:3]
    request = models.ListWarehouseRequest(warehouse_instance_ids=ids, max_results=2)
    first = catalogue.client.list_warehouse(request).body
    request.next_token = first.next_token
    second = catalogue.client.list_warehouse(request).body
    assert [i.warehouse_instance_id for i in first.data + second.data] == ids
    assert (first.total_count, second.total_count, second.next_token) == (3, 3, None)


def test_list_warehouse_does_not_show_another_accounts_repositories(
    catalogue: Catalogue, admin_client: CasClient
) -> None:
    create(admin_client, "the admin's")
    assert catalogue.client.list_warehouse(models.ListWarehouseRequest()).body.total_count == 4


LIST_WAREHOUSE_FAILURES = {
    "zero-page-size": ({"MaxResults": 0}, "MaxResults"),
    "huge-page-size": ({"MaxResults": 501}, "MaxResults"),
    "foreign-token": ({"NextToken": "not-ours"}, "NextToken"),
    "huge-token": ({"NextToken": "f" * 13}, "NextToken"),
    "types-not-json": ({"WarehouseTypes": "uploadedCertificate"}, "WarehouseTypes"),
    "unknown-type": ({"WarehouseTypes": '["bogus"]'}, "WarehouseTypes"),
}


@pytest.mark.parametrize(
    ("query", "says"), LIST_WAREHOUSE_FAILURES.values(), ids=LIST_WAREHOUSE_FAILURES.keys()
)
def test_list_warehouse_refuses_bad_parameters(
    admin_client: CasClient, query: dict[str, Any], says: str
) -> None:
    error = rpc_error(lambda: call_action(admin_client, "ListWarehouse", query))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert says in error.data["Message"]


# --- ListCertWarehouse ------------------------------------------------------------------------------


def test_list_cert_warehouse_rows_have_the_alibaba_fields_and_types(catalogue: Catalogue) -> None:
    body = call_action(catalogue.client, "ListCertWarehouse", {})["body"]
    assert (body["CurrentPage"], body["ShowSize"], body["TotalCount"]) == (1, 50, 4)
    row = body["CertWarehouseList"][2]
    assert isinstance(row["WhId"], int) and row["WhId"] > 0
    assert row["InstanceId"] == row["WarehouseInstanceId"] == catalogue.ids["trust"]
    assert (row["Name"], row["Type"], row["Qps"], row["EndTime"], row["IsExpired"]) == (
        "trust",
        "uploadCA",
        1000,
        NEVER_MS,
        False,
    )
    assert (row["Status"], row["CertCount"]) == ("enabled", 0) and "PcaInstanceId" not in row


def test_list_cert_warehouse_maps_onto_the_sdk_model(catalogue: Catalogue) -> None:
    body = catalogue.client.list_cert_warehouse(models.ListCertWarehouseRequest()).body
    row = body.cert_warehouse_list[0]
    assert (body.current_page, body.show_size, body.total_count) == (1, 50, 4)
    assert (row.instance_id, row.name, row.type, row.qps, row.is_expired, row.end_time) == (
        catalogue.ids["payments"],
        "payments",
        "uploadPCA",
        1000,
        False,
        NEVER_MS,
    )


def test_list_cert_warehouse_pages_by_current_page_and_show_size(account: CasClient) -> None:
    names = [f"p{i}" for i in range(5)]
    for name in names:
        create(account, name)
    pages = [
        account.list_cert_warehouse(models.ListCertWarehouseRequest(current_page=n, show_size=2)).body
        for n in (1, 2, 3, 4)
    ]
    assert [[r.name for r in p.cert_warehouse_list] for p in pages] == [names[:2], names[2:4], names[4:], []]
    assert {p.total_count for p in pages} == {5} and [p.current_page for p in pages] == [1, 2, 3, 4]


FILTERS = {
    "name-fuzzy": ({"name": "PAY"}, ["payments", "old payroll"]),
    "type": ({"type": "uploadCA"}, ["trust"]),
    "type-and-name": ({"type": "uploadPCA", "name": "roll"}, ["old payroll"]),
    "contract": ({"type": "contract"}, ["signing"]),
}


@pytest.mark.parametrize(("fields", "names"), FILTERS.values(), ids=FILTERS.keys())
def test_list_cert_warehouse_filters(catalogue: Catalogue, fields: dict[str, Any], names: list[str]) -> None:
    body = catalogue.client.list_cert_warehouse(models.ListCertWarehouseRequest(**fields)).body
    assert [r.name for r in body.cert_warehouse_list] == names and body.total_count == len(names)


@pytest.mark.parametrize(
    ("extra", "found"),
    [
        ({}, True),
        ({"type": "uploadPCA", "name": "ROLL"}, True),
        ({"type": "uploadCA"}, False),
        ({"name": "zzz"}, False),
    ],
    ids=["alone", "matching-filters", "other-type", "other-name"],
)
def test_list_cert_warehouse_by_instance_id_lists_that_repository_if_it_matches(
    catalogue: Catalogue, extra: dict[str, Any], found: bool
) -> None:
    instance_id = catalogue.ids["old payroll"]
    request = models.ListCertWarehouseRequest(instance_id=instance_id, **extra)
    body = catalogue.client.list_cert_warehouse(request).body
    assert [r.instance_id for r in body.cert_warehouse_list] == ([instance_id] if found else [])
    assert body.total_count == (1 if found else 0)


def test_list_cert_warehouse_by_an_unknown_instance_id_is_empty(admin_client: CasClient) -> None:
    body = admin_client.list_cert_warehouse(
        models.ListCertWarehouseRequest(instance_id="cas-wh-aaaaaaaaaa")
    ).body
    assert (body.total_count, body.cert_warehouse_list) == (0, [])


def test_list_cert_warehouse_by_another_accounts_instance_id_is_empty(
    catalogue: Catalogue, admin_client: CasClient
) -> None:
    request = models.ListCertWarehouseRequest(instance_id=catalogue.ids["trust"])
    assert admin_client.list_cert_warehouse(request).body.total_count == 0


LIST_CERT_WAREHOUSE_FAILURES = {
    "page-zero": ({"CurrentPage": 0}, "CurrentPage"),
    "page-size-too-big": ({"ShowSize": 501}, "ShowSize"),
    "page-not-a-number": ({"CurrentPage": "two"}, "CurrentPage"),
    "unknown-type": ({"Type": "bogus"}, "Type"),
}


@pytest.mark.parametrize(
    ("query", "says"), LIST_CERT_WAREHOUSE_FAILURES.values(), ids=LIST_CERT_WAREHOUSE_FAILURES.keys()
)
def test_list_cert_warehouse_refuses_bad_parameters(
    admin_client: CasClient, query: dict[str, Any], says: str
) -> None:
    error = rpc_error(lambda: call_action(admin_client, "ListCertWarehouse", query))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert says in error.data["Message"]


# --- GetCertWarehouseQuota --------------------------------------------------------------------------


def test_get_cert_warehouse_quota_reports_unlimited_pools_as_the_largest_int32(account: CasClient) -> None:
    body = call_action(account, "GetCertWarehouseQuota")["body"]
    assert (body["TotalQuota"], body["UseCount"], body["AppTotalQuota"], body["AppUseCount"]) == (
        UNLIMITED,
        0,
        UNLIMITED,
        0,
    )
    assert body["TotalQuotaUnlimited"] is True and body["AppTotalQuotaUnlimited"] is True


def test_get_cert_warehouse_quota_reports_the_totals_an_admin_set(acs_server: Server) -> None:
    identity = acs_server.fresh_account()
    with acs_server.rest(identity) as rest:
        response = rest.put("/v1/quota", json={"app": {"total": 500}, "contract": {"total": 7}})
        assert response.status_code == 200, response.text
    body = acs_server.client(identity).get_cert_warehouse_quota().body
    assert (body.total_quota, body.use_count, body.app_total_quota, body.app_use_count) == (7, 0, 500, 0)
