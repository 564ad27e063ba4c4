"""POST /v1/repositories/{id}/certificates/batch: each item answered as its single upload would be, a refused
item storing nothing and refusing no other, one audit event per stored certificate, limits, and concurrent
batches holding the same certificates (on both databases: the ``api`` fixture is parametrised)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography import x509
from tests.conftest import World
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

pytestmark = pytest.mark.usefixtures("world")

PASSWORD = "batch-pass"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)


@dataclass(frozen=True)
class Material:
    """Certificates and keys made once for the module (key generation dominates these tests)."""

    chain: Chain
    leaves: list[tuple[Any, Any]]  # (certificate, key) under the chain's intermediate
    expired: tuple[Any, Any]
    stored_before: Any  # a certificate each repository holds before the batch


@pytest.fixture(scope="module")
def material() -> Material:
    chain = make_chain("Batch")
    issuer = (chain.intermediate, chain.intermediate_key)

    def leaf(host: str, **kw: Any) -> tuple[Any, Any]:
        key = ec_key()
        return build(host, key, issuer=issuer, sans=[host], **kw), key

    leaves = [leaf(f"leaf{i}.batch.example") for i in range(6)]
    expired = leaf("expired.batch.example", not_before=LONG_AGO, days=30)
    return Material(chain, leaves, expired, leaf("before.batch.example")[0])


def _mixed_items(m: Material, tag: str) -> list[dict[str, Any]]:
    """Good items and one of each kind of refusal; ``tag`` keeps custom identifiers apart (they are unique
    per account, and the single and the batch run share the account)."""
    (a, a_key), (b, b_key), (c, _), (d, d_key), (e, e_key), (f, f_key) = m.leaves
    chain = pem(m.chain.intermediate) + pem(m.chain.root)
    return [
        {"certificate": pem(a), "private_key": key_pem(a_key), "custom_identifier": f"{tag}-a", "name": "A"},
        {"certificate": pem(b), "private_key": key_pem(b_key), "chain": chain, "exportable": True},
        {"certificate": "hello\n" + pem(c)},  # garbage before the PEM
        {"certificate": pem(c), "private_key": key_pem(d_key)},  # key mismatch
        {"certificate": pem(m.stored_before)},  # already in the repository
        {"certificate": pem(a), "private_key": key_pem(a_key)},  # a duplicate of the batch's first item
        {"certificate": pem(m.expired[0])},  # expired, not allowed
        {"certificate": pem(m.expired[0]), "allow_expired": True},  # expired, allowed: stored with a warning
        {"certificate": pem(e), "private_key": key_pem(e_key, PASSWORD.encode()), "password": "wrong"},
        {"certificate": pem(f), "private_key": key_pem(f_key), "custom_identifier": f"{tag}-a"},  # id taken
        {"private_key": key_pem(f_key)},  # not an upload body: no certificate
        {"certificate": pem(d), "private_key": key_pem(d_key), "tags": {"team": "web"}},
    ]


async def _repository(api: httpx.AsyncClient, data_source: str = "uploaded", **fields: object) -> int:
    response = await api.post("/v1/repositories", json={"data_source": data_source, **fields})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _single(api: httpx.AsyncClient, repository_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """A single upload's answer in the shape of a batch item."""
    response = await api.post(f"/v1/repositories/{repository_id}/certificates", json=body)
    if response.status_code == 201:
        return {"status": 201, "certificates": response.json()["items"], "error": None}
    return {"status": response.status_code, "certificates": None, "error": response.json()}


async def _batch(api: httpx.AsyncClient, repository_id: int, items: list[Any]) -> httpx.Response:
    return await api.post(f"/v1/repositories/{repository_id}/certificates/batch", json={"items": items})


async def _stored(api: httpx.AsyncClient, repository_id: int) -> list[dict[str, Any]]:
    listed = await api.get(f"/v1/repositories/{repository_id}/certificates", params={"page_size": 100})
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def _key_rows(world: World) -> int:
    async with world.services.uow(read_only=True) as uow:
        return sum((await uow.key_material.count_by_version()).values())


class _Normaliser:
    """Makes the answers of two repositories comparable: identifiers become the common name they stand for,
    repository ids and the custom identifiers' tags become placeholders, per-request values go."""

    def __init__(self, names: dict[str, str], replacements: dict[str, str]) -> None:
        self._names, self._replacements = names, replacements

    def text(self, value: str) -> str:
        for identifier, name in self._names.items():
            value = value.replace(identifier, f"<{name}>")
        for old, new in self._replacements.items():
            value = re.sub(rf"\b{re.escape(old)}\b", new, value)
        return value

    def answer(self, answer: dict[str, Any]) -> Any:
        return self._walk({k: v for k, v in answer.items() if v is not None})

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            volatile = {"request_id", "identifier", "repository_id", "created_at"}
            return {k: self._walk(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return self.text(value) if isinstance(value, str) else value


async def _normaliser(
    api: httpx.AsyncClient, repositories: dict[int, str], tags: dict[str, str]
) -> _Normaliser:
    names: dict[str, str] = {}
    for repository_id in repositories:
        names.update({c["identifier"]: str(c["common_name"]) for c in await _stored(api, repository_id)})
    return _Normaliser(
        names, {**{f"repository {r}": f"repository {n}" for r, n in repositories.items()}, **tags}
    )


async def test_each_item_of_a_batch_gets_what_its_single_upload_gets(
    api: httpx.AsyncClient, material: Material
) -> None:
    one_by_one, batched = await _repository(api), await _repository(api)
    for repository_id in (one_by_one, batched):
        assert (await _single(api, repository_id, {"certificate": pem(material.stored_before)}))[
            "status"
        ] == 201
    expected = [await _single(api, one_by_one, body) for body in _mixed_items(material, "single")]
    response = await _batch(api, batched, _mixed_items(material, "batch"))
    assert response.status_code == 200, response.text
    normalise = await _normaliser(api, {one_by_one: "R", batched: "R"}, {"single": "T", "batch": "T"})
    answers = response.json()["items"]
    assert [normalise.answer(a) for a in answers] == [normalise.answer(e) for e in expected]
    assert [a["status"] for a in answers] == [201, 201, 400, 400, 409, 409, 400, 201, 400, 400, 400, 201]


async def test_refused_items_leave_no_certificate_and_no_key_behind(
    api: httpx.AsyncClient, world: World, material: Material
) -> None:
    repository_id = await _repository(api)
    await _single(api, repository_id, {"certificate": pem(material.stored_before)})
    keys_before = await _key_rows(world)
    answers = (await _batch(api, repository_id, _mixed_items(material, "nothing"))).json()["items"]
    created = [c for a in answers if a["status"] == 201 for c in a["certificates"]]
    stored = await _stored(api, repository_id)
    assert {c["identifier"] for c in stored} == {c["identifier"] for c in created} | {
        c["identifier"] for c in stored if c["common_name"] == "before.batch.example"
    }
    assert len(stored) == len(created) + 1
    assert await _key_rows(world) == keys_before + sum(c["has_private_key"] for c in created)


async def test_batched_certificates_are_counted_and_found_by_keyword(
    api: httpx.AsyncClient, material: Material
) -> None:
    """The schema's triggers (certificate counts, the SQLite trigram index) see rows inserted in bulk."""
    repository_id = await _repository(api)
    await _batch(api, repository_id, _mixed_items(material, "search"))
    stored = await _stored(api, repository_id)
    repository = (await api.get(f"/v1/repositories/{repository_id}")).json()
    assert repository["certificate_count"] == len(stored) == 5  # nothing held before: 5 items stored
    found = await api.get(f"/v1/repositories/{repository_id}/certificates", params={"keyword": "leaf3.batch"})
    assert [c["common_name"] for c in found.json()["items"]] == ["leaf3.batch.example"]


async def test_each_stored_certificate_gets_one_upload_audit_event(
    api: httpx.AsyncClient, material: Material
) -> None:
    repository_id = await _repository(api)
    answers = (await _batch(api, repository_id, _mixed_items(material, "audit"))).json()["items"]
    created = [c["identifier"] for a in answers if a["status"] == 201 for c in a["certificates"]]
    events = await api.get(
        "/v1/audit-events",
        params={"repository_id": repository_id, "action": "certificate.upload", "page_size": 100},
    )
    assert events.status_code == 200, events.text
    assert sorted(e["certificate_id"] for e in events.json()["items"]) == sorted(created)


async def test_a_trust_store_batch_is_checked_item_after_item_like_single_uploads(
    api: httpx.AsyncClient, material: Material
) -> None:
    """An intermediate alone chains to the root an earlier item stored; the same CA again is a duplicate."""
    chain = material.chain
    items = [
        {"certificate": pem(chain.root), "name": "root"},
        {"certificate": pem(chain.intermediate)},
        {"certificate": pem(chain.intermediate)},
        {"certificate": pem(chain.leaf)},  # not a CA
        {"certificate": pem(chain.root), "private_key": key_pem(ec_key())},  # a trust store takes no key
    ]
    one_by_one, batched = await _repository(api, "uploaded_ca"), await _repository(api, "uploaded_ca")
    expected = [await _single(api, one_by_one, body) for body in items]
    response = await _batch(api, batched, items)
    assert response.status_code == 200, response.text
    normalise = await _normaliser(api, {one_by_one: "R", batched: "R"}, {})
    answers = response.json()["items"]
    assert [normalise.answer(a) for a in answers] == [normalise.answer(e) for e in expected]
    assert [a["status"] for a in answers] == [201, 201, 409, 400, 400]


async def test_a_compliant_batch_checks_each_item_against_the_trust_repository_like_single_uploads(
    api: httpx.AsyncClient,
) -> None:
    """Over 16 KiB: the trust anchors are read before the write transaction and found unchanged in it."""
    signer, stranger = make_chain("Signer"), make_chain("Stranger")
    trust = await _repository(api, "uploaded_ca")
    stored = await _single(api, trust, {"certificate": pem(signer.root) + pem(signer.intermediate)})
    assert stored["status"] == 201, stored

    def signing_leaf(host: str, issuer: Chain) -> dict[str, Any]:
        key = ec_key()
        cert = build(
            host,
            key,
            issuer=(issuer.intermediate, issuer.intermediate_key),
            key_usage="signing",
            eku=[DOCUMENT_SIGNING],
        )
        return {"certificate": pem(cert), "private_key": key_pem(key)}

    items = [signing_leaf(f"doc{i}.batch.example", signer) for i in range(18)]
    items += [
        signing_leaf("stranger.batch.example", stranger),  # not under the trusted root
        {**signing_leaf("export.batch.example", signer), "exportable": True},  # never exportable here
        {"certificate": pem(signer.leaf), "private_key": key_pem(signer.leaf_key)},  # a TLS profile
    ]
    assert sum(len(str(i)) for i in items) > 16 * 1024
    one_by_one, batched = (
        await _repository(api, "compliant", trust_repository_id=trust),
        await _repository(api, "compliant", trust_repository_id=trust),
    )
    expected = [await _single(api, one_by_one, body) for body in items]
    response = await _batch(api, batched, items)
    assert response.status_code == 200, response.text
    normalise = await _normaliser(api, {one_by_one: "R", batched: "R"}, {})
    answers = response.json()["items"]
    assert [normalise.answer(a) for a in answers] == [normalise.answer(e) for e in expected]
    assert [a["status"] for a in answers] == [201] * 18 + [400, 400, 400]


async def test_a_batch_large_enough_to_be_checked_off_the_event_loop_stores_every_item(
    api: httpx.AsyncClient, material: Material
) -> None:
    issuer = (material.chain.intermediate, material.chain.intermediate_key)
    items = []
    for i in range(24):  # ~1 KiB each: over the 16 KiB checked in the event loop
        key = ec_key()
        cert = build(f"bulk{i}.batch.example", key, issuer=issuer, sans=[f"bulk{i}.batch.example"])
        items.append({"certificate": pem(cert), "private_key": key_pem(key)})
    repository_id = await _repository(api)
    answers = (await _batch(api, repository_id, items)).json()["items"]
    assert [a["status"] for a in answers] == [201] * len(items)
    stored = {c["common_name"] for c in await _stored(api, repository_id)}
    assert stored == {f"bulk{i}.batch.example" for i in range(len(items))}


async def test_two_concurrent_batches_with_the_same_certificates_store_each_once(
    api: httpx.AsyncClient, material: Material
) -> None:
    """In opposite orders, so that inserting in the order given could deadlock on PostgreSQL."""
    items = [{"certificate": pem(cert), "private_key": key_pem(key)} for cert, key in material.leaves]
    repository_id = await _repository(api)
    first, second = await asyncio.gather(
        _batch(api, repository_id, items), _batch(api, repository_id, items[::-1])
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    answers = zip(first.json()["items"], second.json()["items"][::-1], strict=True)
    assert sorted((a["status"], b["status"]) in ((201, 409), (409, 201)) for a, b in answers) == [True] * 6
    assert len(await _stored(api, repository_id)) == len(items)


@pytest.mark.parametrize(
    ("items", "status", "code", "says"),
    [
        pytest.param([{"certificate": "x"}] * 101, 413, "MessageTooLarge", "at most 100", id="101-items"),
        pytest.param(
            [{"certificate": "x" * 199_000}] * 6, 413, "MessageTooLarge", "over the limit", id="1.2-MB"
        ),
        pytest.param([], 400, "InvalidParameter", "at least 1 item", id="no-item"),
    ],
)
async def test_a_batch_over_the_limits_is_refused_whole_with_a_clear_message(
    api: httpx.AsyncClient, items: list[Any], status: int, code: str, says: str
) -> None:
    repository_id = await _repository(api)
    response = await _batch(api, repository_id, items)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert says in response.json()["message"]
    assert await _stored(api, repository_id) == []


async def test_a_reset_repository_refuses_the_whole_batch(api: httpx.AsyncClient, material: Material) -> None:
    repository_id = await _repository(api)
    reset = await api.post(f"/v1/repositories/{repository_id}/reset", json={"acknowledge_risk": True})
    assert reset.status_code == 200, reset.text
    response = await _batch(api, repository_id, [{"certificate": pem(material.leaves[0][0])}])
    assert (response.status_code, response.json()["code"]) == (409, "RepositoryDisabled")
