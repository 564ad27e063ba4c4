"""Two accounts (SPEC §1: "Nothing of one account is visible to another"): what account B lists, shows,
exports or audits never names an object of account A, and every route that reaches an object of A by its
id answers 404, as for an id that does not exist (403 would confirm that it does)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import build, ec_key, key_pem, pem

from .conftest import ROWS, Arrange, Row, SecurityEnv, Seeds, make_material, seed_account, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Tenants:
    """Account A (the module's seeded account, with traces of use) and account B, seeded alike."""

    env: SecurityEnv
    ours: set[str]  # strings that name A's objects
    other: httpx.AsyncClient  # B's admin
    theirs: Seeds
    our_custom_identifier: str  # of a certificate of A that B never claims before its own test


async def _traces_of_use(env: SecurityEnv, marker: str) -> set[str]:
    """Give A audit events of every kind, users, keys, a channel, thresholds, a certificate with a custom
    identifier; return the names they carry."""
    admin, seeds = env.admin, env.seeds
    key = ec_key()
    custom = await admin.post(
        f"/v1/repositories/{seeds.repositories['uploaded']}/certificates",
        json={
            "certificate": pem(build(f"a-{marker}.example.test", key)),
            "private_key": key_pem(key),
            "custom_identifier": f"a-custom-{marker}",
        },
    )
    assert custom.status_code == 201, custom.text
    user = await admin.post("/v1/users", json={"name": f"a-user-{marker}", "role": "operator"})
    assert user.status_code == 201, user.text
    access_key = await admin.post(
        "/v1/access-keys", json={"user_id": user.json()["id"], "description": f"a-key-{marker}"}
    )
    channel = await admin.post(
        "/v1/notification-channels",
        json={"name": f"a-channel-{marker}", "kind": "webhook", "url": f"https://a-{marker}.example.test/"},
    )
    thresholds = await admin.put("/v1/expiry/thresholds", json={"days": [45, 9]})
    signed = await admin.post(
        "/v1/sign",
        json={"identifier": seeds.certificates["uploaded"], "algorithm": "SHA256withRSA", "message": "a"},
    )
    for response in (access_key, channel, thresholds, signed):
        assert response.status_code in (200, 201), response.text
    return {
        f"a-custom-{marker}",
        custom.json()["items"][0]["identifier"],
        custom.json()["items"][0]["fingerprint_sha256"],
        f"a-user-{marker}",
        f"a-key-{marker}",
        f"a-channel-{marker}",
        f"a-{marker}.example.test",
        access_key.json()["id"],
        *(b.removeprefix("Bearer ").split(":")[0] for b in env.bearers.values() if b and ":" in b),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenants(security_env: SecurityEnv) -> AsyncIterator[Tenants]:
    marker = uuid.uuid4().hex
    ours = set(security_env.seeds.tokens) | await _traces_of_use(security_env, marker)
    created = await security_env.admin.post(
        "/v1/accounts", json={"name": unique("tenant-b"), "admin_name": unique("b-admin")}
    )
    assert created.status_code == 201, created.text
    bearer = f"Bearer {created.json()['access_key_id']}:{created.json()['access_key_secret']}"
    async with security_env.client_with(bearer) as other:
        theirs = await seed_account(other, make_material("Other"))
        yield Tenants(security_env, ours, other, theirs, f"a-custom-{marker}")


def _named(text: str, tokens: set[str]) -> list[str]:
    return sorted(t for t in tokens if t in text)


# --- lists, shows, audit and exports of B ------------------------------------------------------------

_READS = {
    "repositories": "/v1/repositories?page_size=500",
    "certificates-uploaded": "/v1/repositories/{uploaded}/certificates?page_size=500",
    "certificates-uploaded_ca": "/v1/repositories/{uploaded_ca}/certificates?page_size=500",
    "certificates-private": "/v1/repositories/{private}/certificates?page_size=500",
    "certificates-compliant": "/v1/repositories/{compliant}/certificates?page_size=500",
    "certificate-with-chain": "/v1/certificates/{certificate_private}?include=pem,chain",
    "ca-bundle-private": "/v1/repositories/{private}/ca-bundle",
    "ca-bundle-uploaded_ca": "/v1/repositories/{uploaded_ca}/ca-bundle",
    "cas": "/v1/cas?page_size=500",
    "ca": "/v1/cas/{root_ca}",
    "audit-events": "/v1/audit-events?page_size=500",
    "audit-export": "/v1/audit-events/export",
    "audit-verify": "/v1/audit-events/verify",
    "expiry-report": "/v1/expiry?within_days=3650&page_size=500",
    "users": "/v1/users",
    "access-keys": "/v1/access-keys",
    "channels": "/v1/notification-channels",
    "thresholds": "/v1/expiry/thresholds",
    "quota": "/v1/quota",
}
# Reads whose answer must show B's own objects: an empty answer would pass the search trivially.
_SHOWS_THEIRS = {
    *(r for r in _READS if r.startswith(("certificate", "ca"))),
    "repositories",
    "audit-events",
    "audit-export",
    "expiry-report",
}


def _their_path(template: str, theirs: Seeds) -> str:
    values = {
        **theirs.repositories,
        "certificate_private": theirs.certificates["private"],
        "root_ca": theirs.root_ca_id,
    }
    return template.format(**values)


@pytest.mark.parametrize("read", sorted(_READS))
async def test_what_another_account_reads_names_none_of_our_objects(tenants: Tenants, read: str) -> None:
    response = await tenants.other.get(_their_path(_READS[read], tenants.theirs))
    assert response.status_code == 200, response.text
    assert _named(response.text, tenants.ours) == []
    if read in _SHOWS_THEIRS:
        assert _named(response.text, tenants.theirs.tokens), "B's own objects are missing: the read is broken"


async def test_another_account_sees_its_own_quota_and_thresholds(tenants: Tenants) -> None:
    ours = (await tenants.env.admin.get("/v1/quota")).json()
    quota = (await tenants.other.get("/v1/quota")).json()
    thresholds = (await tenants.other.get("/v1/expiry/thresholds")).json()
    assert ours["app"]["used"] >= 1 and quota["app"]["used"] == 0
    assert thresholds["source"] == "default" and thresholds["days"] != [45, 9]


async def test_another_accounts_audit_chain_report_does_not_count_our_events(tenants: Tenants) -> None:
    report = (await tenants.other.get("/v1/audit-events/verify")).json()
    assert report.get("events") is None  # the chain spans every account: its length is not B's business


@pytest.mark.parametrize(
    "query",
    [
        {"repository_id": "{uploaded}"},
        {"repository_id": "{compliant}"},
        {"action": "key.sign"},
        {"action": "repository.create"},
    ],
    ids=["our-uploaded-repository", "our-compliant-repository", "key-use", "repository-create"],
)
async def test_filtering_the_audit_log_by_our_objects_finds_nothing_of_ours(
    tenants: Tenants, query: dict[str, str]
) -> None:
    params = {k: v.format(**tenants.env.seeds.repositories) for k, v in query.items()}
    response = await tenants.other.get("/v1/audit-events", params={**params, "page_size": "500"})
    assert response.status_code == 200, response.text
    ours = set(tenants.env.seeds.repositories.values())
    assert all(e["repository_id"] not in ours for e in response.json()["items"])
    assert _named(response.text, tenants.ours) == []


async def test_searching_by_our_names_finds_nothing(tenants: Tenants) -> None:
    seeds = tenants.env.seeds
    by_name = (
        await tenants.other.get("/v1/repositories", params={"name": f"{seeds.material.prefix}-uploaded"})
    ).json()
    fingerprint = next(t for t in seeds.tokens if re.fullmatch(r"[0-9a-f]{64}", t))
    by_keyword = await tenants.other.get(
        f"/v1/repositories/{tenants.theirs.repositories['uploaded']}/certificates",
        params={"keyword": fingerprint},
    )
    assert by_name["total"] == 0 and by_keyword.json()["total"] == 0


# --- direct access by id -----------------------------------------------------------------------------

_DIRECT = [r for r in ROWS if r.names_an_object]


@pytest.mark.parametrize("row", _DIRECT, ids=lambda r: r.name)
async def test_reaching_our_object_from_another_account_answers_not_found(tenants: Tenants, row: Row) -> None:
    request = await row.request(Arrange(tenants.env, "system_admin"))
    response = await tenants.other.request(
        request.method, request.path, json=request.body, params=request.params
    )
    assert response.status_code == 404, f"{request.method} {request.path}: {response.text[:300]}"
    assert response.json()["code"].startswith("NotFound")
    sent = json.dumps([request.path, request.body])  # a 404 may repeat the id it was given
    assert _named(response.text, {t for t in tenants.ours if t not in sent}) == []


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/v1/repositories/{}", None),
        ("GET", "/v1/certificates/{}", None),
        ("GET", "/v1/cas/{}", None),
        ("DELETE", "/v1/users/{}", None),
        ("POST", "/v1/sign", {"identifier": "{}", "algorithm": "SHA256withRSA", "message": "m"}),
    ],
    ids=["repository", "certificate", "ca", "user", "sign"],
)
async def test_our_object_and_a_missing_one_get_the_same_answer(
    tenants: Tenants, method: str, template: str, body: dict[str, str] | None
) -> None:
    """No existence oracle: status, code and message agree once the id itself is taken out."""
    seeds, env = tenants.env.seeds, tenants.env
    ours = {
        "/v1/repositories/{}": str(seeds.repositories["uploaded"]),
        "/v1/certificates/{}": seeds.certificates["uploaded"],
        "/v1/cas/{}": str(seeds.root_ca_id),
        "/v1/users/{}": str(env.user_ids["operator"]),
        "/v1/sign": seeds.certificates["uploaded"],
    }[template]
    missing = "987654321" if ours.isdigit() else "nosuchcertificate0000000000"
    answers = []
    for value in (ours, missing):
        filled = {k: v.replace("{}", value) for k, v in (body or {}).items()} if body else None
        response = await tenants.other.request(method, template.replace("{}", value), json=filled)
        payload = response.json()
        answers.append((response.status_code, payload["code"], payload["message"].replace(value, "<id>")))
    assert answers[0] == answers[1] and answers[0][0] == 404


@pytest.mark.parametrize(
    "body",
    [
        {"data_source": "private", "ca_id": "{intermediate}"},
        {"data_source": "compliant", "trust_repository_id": "{uploaded_ca}"},
    ],
    ids=["bind-our-intermediate", "trust-our-trust-store"],
)
async def test_a_new_repository_cannot_lean_on_our_objects(tenants: Tenants, body: dict[str, str]) -> None:
    seeds = tenants.env.seeds
    unbound = await tenants.env.admin.post(
        "/v1/cas",
        json={
            "type": "intermediate",
            "common_name": unique("free"),
            "key_algorithm": "ECC_256",
            "parent_id": seeds.root_ca_id,
        },
    )
    values = {"intermediate": unbound.json()["id"], "uploaded_ca": seeds.repositories["uploaded_ca"]}
    filled = {k: values[v[1:-1]] if v.startswith("{") else v for k, v in body.items()}
    response = await tenants.other.post("/v1/repositories", json=filled)
    assert response.status_code == 404 and response.json()["code"].startswith("NotFound"), response.text


async def test_an_intermediate_cannot_be_made_under_our_root(tenants: Tenants) -> None:
    response = await tenants.other.post(
        "/v1/cas",
        json={
            "type": "intermediate",
            "common_name": "stolen",
            "key_algorithm": "ECC_256",
            "parent_id": tenants.env.seeds.root_ca_id,
        },
    )
    assert response.status_code == 404 and response.json()["code"].startswith("NotFound"), response.text


async def test_our_custom_identifier_is_free_in_another_account_and_names_its_certificate(
    tenants: Tenants,
) -> None:
    """custom_identifier is unique per account (SPEC §1): a conflict would tell B that A uses it, and a
    key use by it must find B's certificate, never A's."""
    key = ec_key()
    uploaded = await tenants.other.post(
        f"/v1/repositories/{tenants.theirs.repositories['uploaded']}/certificates",
        json={
            "certificate": pem(build("b.example.test", key)),
            "private_key": key_pem(key),
            "custom_identifier": tenants.our_custom_identifier,
        },
    )
    signed = await tenants.other.post(
        "/v1/sign",
        json={
            "custom_identifier": tenants.our_custom_identifier,
            "algorithm": "SHA256withECDSA",
            "message": "theirs",
        },
    )
    assert uploaded.status_code == 201, uploaded.text
    assert signed.status_code == 200, signed.text
    signature = base64.b64decode(signed.json()["signature"])
    key.public_key().verify(signature, b"theirs", ec.ECDSA(hashes.SHA256()))  # raises unless B's key signed
