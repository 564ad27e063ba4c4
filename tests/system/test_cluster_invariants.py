"""Every invariant the database holds across nodes (SPEC §5, docs/deployment.md), each proven by concurrent
requests split over two real `certrepo serve` processes on one PostgreSQL database, then checked through
the API and with SQL straight against that database.

Each test works in an account of its own, so its quota pool and its audit events are its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from alibabacloud_tea_openapi.utils import Utils
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from darabonba.request import DaraRequest

from tests.factories import build, key_pem, pem, rsa_key
from tests.support.cluster import Account, Cluster, Request
from tests.support.traffic import MESSAGE

pytestmark = pytest.mark.postgres

_names = itertools.count(1)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


# --- arranging, through node A ----------------------------------------------------------------------


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, f"{response.request.url}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _intermediate(client: httpx.Client) -> int:
    """A new root and intermediate CA (EC P-256) of the client's account; the intermediate's id."""
    n = next(_names)
    root = _created(
        client.post("/v1/cas", json={"type": "root", "common_name": f"Root {n}", "key_algorithm": "ECC_256"})
    )
    body = {
        "type": "intermediate",
        "common_name": f"Issuing {n}",
        "key_algorithm": "ECC_256",
        "parent_id": root["id"],
    }
    return int(_created(client.post("/v1/cas", json=body))["id"])


def _private_repository(client: httpx.Client) -> tuple[int, int]:
    """A private repository bound to a new intermediate CA: (repository id, CA id)."""
    ca_id = _intermediate(client)
    body = {"data_source": "private", "ca_id": ca_id, "qps": 1_000_000}
    return int(_created(client.post("/v1/repositories", json=body))["id"]), ca_id


def _issue_body() -> dict[str, Any]:
    n = next(_names)
    return {
        "key_algorithm": "ECC_256",
        "common_name": f"node-{n}.example",
        "sans": [{"type": "dns", "value": f"node-{n}.example"}],
        "days": 30,
        "usage": "server",
    }


def _codes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    """(status, code) of each answer: code "" for a success."""
    return Counter(
        (r.status_code, "" if r.is_success else r.json().get("code", r.json().get("Code", "")))
        for r in responses
    )


# --- unique serials ---------------------------------------------------------------------------------


def test_certificates_issued_at_once_on_both_nodes_all_have_distinct_serials(cluster: Cluster) -> None:
    account = cluster.create_account("serials")
    with cluster.client(0, account.bearer) as client:
        repository_id, ca_id = _private_repository(client)
    requests = [
        Request(i % 2, "POST", f"/v1/repositories/{repository_id}/issue", _issue_body()) for i in range(24)
    ]

    answers = cluster.send_concurrently(requests, account.bearer)

    assert _codes(answers) == {(201, ""): 24}
    serials = [a.json()["serial_number"] for a in answers]
    assert len(set(serials)) == 24
    stored = cluster.query(
        "SELECT serial_number, certificate_identifier FROM ca_issued WHERE ca_id = %s", ca_id
    )
    assert sorted(stored) == sorted((a.json()["serial_number"], a.json()["identifier"]) for a in answers)
    in_repository = cluster.query(
        "SELECT serial_number FROM certificates WHERE repository_id = %s AND issuing_ca_id = %s",
        repository_id,
        ca_id,
    )
    assert sorted(s for (s,) in in_repository) == sorted(serials)


# --- one repository per intermediate ----------------------------------------------------------------


def test_both_nodes_creating_repositories_on_one_intermediate_let_exactly_one_through(
    cluster: Cluster,
) -> None:
    account = cluster.create_account("bind-create")
    with cluster.client(0, account.bearer) as client:
        ca_ids = [_intermediate(client) for _ in range(3)]
    requests = [
        Request(i % 2, "POST", "/v1/repositories", {"data_source": "private", "ca_id": ca_id})
        for ca_id in ca_ids
        for i in range(6)
    ]

    answers = cluster.send_concurrently(requests, account.bearer)

    for index, ca_id in enumerate(ca_ids):
        mine = answers[index * 6 : index * 6 + 6]
        assert _codes(mine) == {(201, ""): 1, (409, "CaAlreadyBound"): 5}, [a.text for a in mine]
        bound = cluster.query("SELECT id FROM repositories WHERE ca_id = %s", ca_id)
        assert bound == [(next(a.json()["id"] for a in mine if a.status_code == 201),)]


def test_both_nodes_enabling_reset_repositories_on_one_intermediate_let_exactly_one_through(
    cluster: Cluster,
) -> None:
    account = cluster.create_account("bind-enable")
    with cluster.client(0, account.bearer) as client:
        ca_id = _intermediate(client)
        waiting = []
        for _ in range(6):
            repository = _created(client.post("/v1/repositories", json={"data_source": "uploaded"}))
            reset = client.post(f"/v1/repositories/{repository['id']}/reset", json={"acknowledge_risk": True})
            assert reset.status_code == 200, reset.text
            waiting.append(repository["id"])
    requests = [
        Request(i % 2, "POST", f"/v1/repositories/{rid}/enable", {"data_source": "private", "ca_id": ca_id})
        for i, rid in enumerate(waiting)
    ]

    answers = cluster.send_concurrently(requests, account.bearer)

    assert _codes(answers) == {(200, ""): 1, (409, "CaAlreadyBound"): 5}, [a.text for a in answers]
    winner = next(rid for rid, a in zip(waiting, answers, strict=True) if a.status_code == 200)
    assert cluster.query("SELECT id FROM repositories WHERE ca_id = %s", ca_id) == [(winner,)]
    statuses = dict(cluster.query("SELECT id, status FROM repositories WHERE id = ANY(%s)", waiting))
    assert statuses == {rid: "enabled" if rid == winner else "reset" for rid in waiting}


# --- quota ------------------------------------------------------------------------------------------


def _rsa_certificate(client: httpx.Client, key: RSAPrivateKey) -> str:
    """An uploaded repository holding a certificate of ``key``; the certificate's identifier."""
    repository = _created(client.post("/v1/repositories", json={"data_source": "uploaded", "qps": 1_000_000}))
    body = {"certificate": pem(build(f"quota-{next(_names)}.example", key)), "private_key": key_pem(key)}
    uploaded = _created(client.post(f"/v1/repositories/{repository['id']}/certificates", json=body))
    return str(uploaded["items"][0]["identifier"])


def _key_use_requests(identifier: str, key: RSAPrivateKey, count: int) -> list[Request]:
    """``count`` calls cycling through sign, verify, encrypt, decrypt, alternating nodes."""
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    signature = base64.b64encode(key.sign(MESSAGE.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    ciphertext = base64.b64encode(key.public_key().encrypt(MESSAGE.encode(), oaep)).decode()
    rsa = {"identifier": identifier, "algorithm": "SHA256withRSA", "message": MESSAGE}
    oaep_ref = {"identifier": identifier, "algorithm": "RSAES_OAEP_SHA_256"}
    bodies = [
        ("/v1/sign", rsa),
        ("/v1/verify", {**rsa, "signature": signature}),
        ("/v1/encrypt", {**oaep_ref, "plaintext": MESSAGE}),
        ("/v1/decrypt", {**oaep_ref, "ciphertext": ciphertext}),
    ]
    return [Request(i % 2, "POST", *bodies[i % 4]) for i in range(count)]


@pytest.mark.parametrize(("units", "calls"), [(0, 8), (13, 40)], ids=["empty-pool", "13-units-40-calls"])
def test_concurrent_key_uses_on_both_nodes_consume_exactly_the_units_of_the_pool(
    cluster: Cluster, units: int, calls: int
) -> None:
    account = cluster.create_account("quota")
    key = rsa_key()
    with cluster.client(0, account.bearer) as client:
        identifier = _rsa_certificate(client, key)
        assert client.put("/v1/quota", json={"app": {"total": units}}).status_code == 200

    answers = cluster.send_concurrently(_key_use_requests(identifier, key, calls), account.bearer)

    codes = _codes(answers)
    assert codes[(200, "")] == units and codes[(429, "QuotaExhausted")] == calls - units, codes
    with cluster.client(1, account.bearer) as client:
        assert client.get("/v1/quota").json()["app"] == {"total": units, "used": units}
    assert (
        cluster.scalar("SELECT used FROM quota_pools WHERE account_id = %s AND pool = 'app'", account.id)
        == units
    )
    outcomes = dict(
        cluster.query(
            "SELECT outcome, count(*) FROM audit_events WHERE account_id = %s AND action LIKE 'key.%%'"
            " GROUP BY outcome",
            account.id,
        )
    )
    assert outcomes == {k: v for k, v in {"success": units, "refused": calls - units}.items() if v}


# --- CRL numbers ------------------------------------------------------------------------------------


def _crl_number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def _issued(client: httpx.Client, repository_id: int, count: int) -> list[dict[str, Any]]:
    path = f"/v1/repositories/{repository_id}/issue"
    return [_created(client.post(path, json=_issue_body())) for _ in range(count)]


def _revocations(certificates: list[dict[str, Any]]) -> list[Request]:
    return [
        Request(i % 2, "POST", f"/v1/certificates/{c['identifier']}/revoke", {"reason": "key_compromise"})
        for i, c in enumerate(certificates)
    ]


def test_crl_numbers_strictly_increase_when_both_nodes_revoke_at_once(cluster: Cluster) -> None:
    account = cluster.create_account("crl")
    with cluster.client(0, account.bearer) as client:
        repository_id, ca_id = _private_repository(client)
        certificates = _issued(client, repository_id, 12)
        before = _crl_number(client.get(f"/crl/{ca_id}.crl").content)

    answers, polls = cluster.send_while_polling(
        _revocations(certificates), account.bearer, poll=f"/crl/{ca_id}.crl"
    )

    assert _codes(answers) == {(200, ""): 12}, [a.text for a in answers]
    for node in (0, 1):
        seen = [_crl_number(r.content) for n, r in polls if n == node and r.status_code == 200]
        assert seen and seen == sorted(seen), f"node {node} served CRL numbers out of order: {seen}"
    # One new number per revocation: none handed out twice, none skipped.
    assert cluster.scalar("SELECT crl_number FROM cas WHERE id = %s", ca_id) == before + 12
    ca_pem = cluster.scalar("SELECT certificate_pem FROM cas WHERE id = %s", ca_id)
    issuer_key = x509.load_pem_x509_certificate(ca_pem.encode()).public_key()
    for node in (0, 1):
        with cluster.client(node, account.bearer) as client:
            crl = x509.load_der_x509_crl(client.get(f"/crl/{ca_id}.crl").content)
        assert _crl_number(crl.public_bytes(Encoding.DER)) == before + 12
        # The CRL with the highest number was signed after every revocation committed: it lists them all.
        assert {entry.serial_number for entry in crl} == {int(c["serial_number"], 16) for c in certificates}
        assert crl.is_signature_valid(issuer_key)  # type: ignore[arg-type]


# --- nonces -----------------------------------------------------------------------------------------


def _signed_rpc(cluster: Cluster, action: str) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query of an ACS3-HMAC-SHA256 request as the official SDK signs it, with one nonce,
    for the host of node A (what a load balancer in front of both nodes would pass on)."""
    headers = {
        "host": f"127.0.0.1:{cluster.nodes[0].port}",
        "x-acs-version": "2020-04-07",
        "x-acs-action": action,
        "x-acs-date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": EMPTY_SHA256,
        "accept": "application/json",
    }
    query: dict[str, str] = {}
    request = DaraRequest()
    request.method, request.pathname, request.query, request.headers = "POST", "/", query, headers
    key_id, secret = cluster.credentials["access_key_id"], cluster.credentials["access_key_secret"]
    headers["authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", EMPTY_SHA256, key_id, secret
    )
    return headers, query


def test_a_signed_request_served_by_node_a_is_refused_as_a_replay_by_node_b(cluster: Cluster) -> None:
    headers, query = _signed_rpc(cluster, "GetCertWarehouseQuota")
    fresh_headers, _ = _signed_rpc(cluster, "GetCertWarehouseQuota")

    first = cluster.send_concurrently([Request(0, "POST", "/", params=query, headers=headers)])[0]
    replayed = cluster.send_concurrently([Request(1, "POST", "/", params=query, headers=headers)])[0]
    fresh = cluster.send_concurrently([Request(1, "POST", "/", params=query, headers=fresh_headers)])[0]

    assert first.status_code == 200, first.text
    assert replayed.status_code >= 400 and replayed.json()["Code"] == "SignatureNonceUsed", replayed.text
    assert fresh.status_code == 200, fresh.text  # node B serves a request with a nonce of its own


def test_one_signed_request_sent_to_both_nodes_at_once_is_served_exactly_once(cluster: Cluster) -> None:
    headers, query = _signed_rpc(cluster, "GetCertWarehouseQuota")

    answers = cluster.send_concurrently(
        [Request(i % 2, "POST", "/", params=query, headers=headers) for i in range(12)]
    )

    codes = Counter(a.json().get("Code", "ok") if a.status_code != 200 else "ok" for a in answers)
    assert codes == {"ok": 1, "SignatureNonceUsed": 11}, [a.text for a in answers]
    nonce = headers["x-acs-signature-nonce"]
    assert cluster.scalar("SELECT count(*) FROM request_nonces WHERE nonce = %s", nonce) == 1


# --- audit chain ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRun:
    """Writes made at once on both nodes while both nodes verified the chain over and over."""

    account: Account
    writes: int
    events_before: int
    answers: list[httpx.Response]
    reports: list[tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def audit_run(cluster: Cluster) -> AuditRun:
    account = cluster.create_account("audit")
    key = rsa_key()
    with cluster.client(0, account.bearer) as client:
        identifier = _rsa_certificate(client, key)
        created = [
            _created(client.post("/v1/repositories", json={"data_source": "uploaded"})) for _ in range(12)
        ]
    events_before = cluster.scalar("SELECT count(*) FROM audit_events WHERE account_id = %s", account.id)
    writes = [
        *(
            Request(i % 2, "PATCH", f"/v1/repositories/{r['id']}", {"name": f"renamed-{i}"})
            for i, r in enumerate(created)
        ),
        *(Request(i % 2, "POST", "/v1/repositories", {"data_source": "uploaded"}) for i in range(12)),
        *_key_use_requests(identifier, key, 24),
    ]
    answers, polls = cluster.send_while_polling(writes, account.bearer, poll="/v1/audit-events/verify")
    reports = [(node, response.json()) for node, response in polls]
    return AuditRun(account, len(writes), events_before, answers, reports)


def test_the_audit_chain_stays_one_linear_chain_with_writers_on_both_nodes(
    audit_run: AuditRun, cluster: Cluster
) -> None:
    assert all(a.is_success for a in audit_run.answers), [
        a.text for a in audit_run.answers if not a.is_success
    ]
    broken_links = cluster.scalar(
        "SELECT count(*) FROM (SELECT sequence, prev_hash, lag(hash) OVER (ORDER BY sequence) AS before,"
        " lag(sequence) OVER (ORDER BY sequence) AS previous FROM audit_events) AS chain"
        " WHERE previous IS NOT NULL AND (prev_hash <> before OR sequence <> previous + 1)"
    )
    assert broken_links == 0
    head, first, last, total = cluster.query(
        "SELECT (SELECT sequence FROM audit_head WHERE id = 1), min(sequence), max(sequence), count(*)"
        " FROM audit_events"
    )[0]
    assert (first, last) == (1, total) and head == total


def test_no_event_of_the_concurrent_writers_is_lost(audit_run: AuditRun, cluster: Cluster) -> None:
    events = cluster.scalar("SELECT count(*) FROM audit_events WHERE account_id = %s", audit_run.account.id)
    assert events == audit_run.events_before + audit_run.writes


def test_both_nodes_verify_the_chain_as_intact_after_the_writes(
    audit_run: AuditRun, cluster: Cluster
) -> None:
    total = cluster.scalar("SELECT count(*) FROM audit_events")
    for node in (0, 1):
        with cluster.client(node) as client:
            report = client.get("/v1/audit-events/verify").json()
        assert report == {"events": total, "intact": True, "first_broken_sequence": None, "reason": None}


def test_verifying_the_chain_while_both_nodes_append_never_reports_a_break(audit_run: AuditRun) -> None:
    assert audit_run.reports, "no verification ran during the writes"
    broken = [report for report in audit_run.reports if not report[1]["intact"]]
    assert not broken, f"{len(broken)} of {len(audit_run.reports)} verifications said broken: {broken[:3]}"


# --- revocation racing issuance -------------------------------------------------------------------


def test_issuing_while_a_repository_gets_its_first_revocations_fails_no_call_on_either_node(
    separate_cluster: Cluster,
) -> None:
    # The first revocation of a repository creates its "revoked" counter row (a foreign key check on the
    # repository row) while issuance holds that row locked: the two must not deadlock.
    cluster = separate_cluster
    requests: list[Request] = []
    with cluster.client(0) as client:
        for _ in range(3):
            repository_id, _ca_id = _private_repository(client)
            requests += _revocations(_issued(client, repository_id, 4))
            path = f"/v1/repositories/{repository_id}/issue"
            requests += [Request(i % 2, "POST", path, _issue_body()) for i in range(4)]

    answers = cluster.send_concurrently(requests)

    assert _codes(answers) == {(200, ""): 12, (201, ""): 12}, [a.text for a in answers if not a.is_success]
