"""Concurrent mixed traffic over both nodes (issue 8, item 3): upload, issue, revoke, sign, verify,
encrypt, decrypt, list, lifecycle changes, CRL and quota reads, split over node A and node B.

One bounded run (a fixed number of calls per worker, and a time cap) feeds every assertion below: the
service never answers 5xx, never gives two certificates one serial, accounts every key use exactly once
in the quota pool and the audit log, and its audit chain still verifies afterwards.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.support.cluster import ANSWER_SECONDS, Account, Cluster
from tests.support.traffic import KEY_USES, CallRecord, Tenant, TrafficResult, prepare_tenant, run_traffic

pytestmark = pytest.mark.postgres

CONCURRENCY = 8
CALLS_PER_WORKER = 30
TIME_CAP_SECONDS = 15


@pytest.fixture(scope="module")
def account(cluster: Cluster) -> Account:
    return cluster.create_account("traffic")


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, account: Account) -> Tenant:
    """Repositories, CA and keys of the fresh account; arranging them uses no quota unit."""
    with cluster.client(0, account.bearer) as client:
        return prepare_tenant(client, "traffic")


@pytest.fixture(scope="module")
def traffic(cluster: Cluster, tenant: Tenant) -> TrafficResult:
    """The one run every test of this module looks at."""
    return asyncio.run(
        run_traffic(
            cluster.base_urls,
            tenant,
            concurrency=CONCURRENCY,
            seconds=TIME_CAP_SECONDS,
            calls_per_worker=CALLS_PER_WORKER,
            seed=8,
            timeout_seconds=ANSWER_SECONDS,
        )
    )


def _describe(records: list[CallRecord]) -> str:
    return "\n".join(map(repr, records[:10]))


def test_the_run_covered_every_kind_of_call_on_both_nodes(traffic: TrafficResult) -> None:
    kinds = Counter((r.kind, r.node) for r in traffic.records)
    missing = [
        (k, n)
        for k in ("sign", "verify", "encrypt", "decrypt", "issue", "upload")
        for n in (0, 1)
        if kinds[(k, n)] == 0
    ]
    assert not missing, f"no call of these kinds reached these nodes: {missing}"
    assert traffic.counts()["revoke"] > 0 and traffic.counts()["lifecycle"] > 0


def test_no_call_answered_a_server_error(traffic: TrafficResult, cluster: Cluster) -> None:
    assert not traffic.server_errors, f"{_describe(traffic.server_errors)}\n{cluster.logs()}"


def test_every_call_got_the_answer_a_healthy_service_gives(traffic: TrafficResult) -> None:
    assert not traffic.errors, _describe(traffic.errors)


def test_no_two_issued_certificates_share_a_serial(
    traffic: TrafficResult, tenant: Tenant, cluster: Cluster
) -> None:
    assert len(set(traffic.serials)) == len(traffic.serials) > 0
    stored = cluster.query("SELECT serial_number FROM ca_issued WHERE ca_id = %s", tenant.ca_id)
    assert sorted(s for (s,) in stored) == sorted(traffic.serials)
    duplicates = cluster.query(
        "SELECT issuing_ca_id, serial_number, count(*) FROM certificates WHERE issuing_ca_id IS NOT NULL"
        " GROUP BY issuing_ca_id, serial_number HAVING count(*) > 1"
    )
    assert duplicates == []


def test_the_quota_pool_counts_each_successful_key_use_exactly_once(
    traffic: TrafficResult, account: Account, cluster: Cluster
) -> None:
    with cluster.client(1, account.bearer) as client:
        quota = client.get("/v1/quota").json()
    assert traffic.key_uses > 0
    assert quota["app"]["used"] == traffic.key_uses
    assert (
        cluster.scalar("SELECT used FROM quota_pools WHERE account_id = %s AND pool = 'app'", account.id)
        == traffic.key_uses
    )


def test_the_audit_log_holds_one_event_per_successful_key_use(
    traffic: TrafficResult, account: Account, cluster: Cluster
) -> None:
    rows = cluster.query(
        "SELECT action, count(*) FROM audit_events WHERE account_id = %s AND action LIKE 'key.%%'"
        " AND outcome = 'success' GROUP BY action",
        account.id,
    )
    recorded = {action.removeprefix("key."): count for action, count in rows}
    made = Counter(r.kind for r in traffic.records if r.kind in KEY_USES and r.status == 200)
    assert recorded == dict(made)


def test_the_audit_chain_verifies_after_the_run(traffic: TrafficResult, cluster: Cluster) -> None:
    assert traffic.records
    for index in (0, 1):
        with cluster.client(index) as client:
            report = client.get("/v1/audit-events/verify").json()
        assert report["intact"] is True, report
        assert report["events"] == cluster.scalar("SELECT count(*) FROM audit_events")
