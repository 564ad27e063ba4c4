"""Certificates over REST: upload into each data source, read, search, export, delete, trust store."""

from __future__ import annotations

import httpx
import pytest
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

pytestmark = pytest.mark.usefixtures("world")


async def _repository(api: httpx.AsyncClient, data_source: str = "uploaded", **kw: object) -> int:
    response = await api.post("/v1/repositories", json={"data_source": data_source, **kw})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _upload(api: httpx.AsyncClient, repository_id: int, **body: object) -> httpx.Response:
    return await api.post(f"/v1/repositories/{repository_id}/certificates", json=body)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Shop")


async def test_upload_leaf_key_and_chain_in_any_order_then_read_it_back(
    api: httpx.AsyncClient, chain: Chain
) -> None:
    rid = await _repository(api)
    response = await _upload(
        api,
        rid,
        certificate=pem(chain.root) + pem(chain.leaf),
        chain=pem(chain.intermediate),
        private_key=key_pem(chain.leaf_key),
        name="shop",
        custom_identifier="shop-tls",
    )
    assert response.status_code == 201, response.text
    item = response.json()["items"][0]
    assert item["common_name"] == "shop.example.com" and item["has_private_key"] is True
    assert item["exportable"] is False and item["key_algorithm"] == "ECC_256"
    assert item["sans"] == [{"type": "dns", "value": "shop.example.com"}]
    full = (await api.get(f"/v1/certificates/{item['identifier']}", params={"include": "pem,chain"})).json()
    assert full["pem"] == pem(chain.leaf)
    assert full["chain"] == [pem(chain.intermediate), pem(chain.root)]
    repo = (await api.get(f"/v1/repositories/{rid}")).json()
    assert repo["certificate_count"] == 1


async def test_the_same_certificate_twice_is_a_conflict_naming_the_first(
    api: httpx.AsyncClient, chain: Chain
) -> None:
    rid = await _repository(api)
    first = (await _upload(api, rid, certificate=pem(chain.leaf))).json()["items"][0]
    again = await _upload(api, rid, certificate=pem(chain.leaf))
    assert again.status_code == 409 and again.json()["code"] == "CertificateExists"
    assert first["identifier"] in again.json()["message"]


async def test_a_mismatched_key_is_refused(api: httpx.AsyncClient, chain: Chain) -> None:
    rid = await _repository(api)
    response = await _upload(api, rid, certificate=pem(chain.leaf), private_key=key_pem(ec_key()))
    assert response.status_code == 400 and response.json()["code"] == "KeyMismatch"


async def test_garbage_is_refused_and_upload_into_a_reset_repository_is_disabled(
    api: httpx.AsyncClient, chain: Chain
) -> None:
    rid = await _repository(api)
    garbage = await _upload(api, rid, certificate="hello\n" + pem(chain.leaf))
    assert garbage.status_code == 400
    await api.post(f"/v1/repositories/{rid}/reset", json={"acknowledge_risk": True})
    disabled = await _upload(api, rid, certificate="garbage")
    assert disabled.status_code == 409 and disabled.json()["code"] == "RepositoryDisabled"


async def test_uploaded_ca_needs_a_complete_chain_then_verifies_leaves(api: httpx.AsyncClient, chain: Chain) -> None:
    rid = await _repository(api, "uploaded_ca")
    incomplete = await _upload(api, rid, certificate=pem(chain.intermediate))
    assert incomplete.status_code == 400 and incomplete.json()["code"] == "ChainIncomplete"
    both = await _upload(api, rid, certificate=pem(chain.intermediate) + pem(chain.root))
    assert both.status_code == 201 and len(both.json()["items"]) == 2
    bundle = await api.get(f"/v1/repositories/{rid}/ca-bundle")
    assert pem(chain.root) in bundle.text and pem(chain.intermediate) in bundle.text
    good = await api.post(
        f"/v1/repositories/{rid}/verify-chain",
        json={"certificate": pem(chain.leaf), "hostname": "shop.example.com", "usage": "server"},
    )
    assert good.json()["valid"] is True, good.text
    wrong_host = await api.post(
        f"/v1/repositories/{rid}/verify-chain",
        json={"certificate": pem(chain.leaf), "hostname": "other.example.com", "usage": "server"},
    )
    assert wrong_host.json()["valid"] is False and wrong_host.json()["errors"]


async def test_keyword_search_finds_by_common_name_and_fingerprint(api: httpx.AsyncClient) -> None:
    rid = await _repository(api)
    chains = [make_chain(f"Site{i}") for i in range(3)]
    identifiers = []
    for c in chains:
        identifiers.append((await _upload(api, rid, certificate=pem(c.leaf))).json()["items"][0])
    found = (await api.get(f"/v1/repositories/{rid}/certificates", params={"keyword": "SITE1.example"})).json()
    assert [i["common_name"] for i in found["items"]] == ["site1.example.com"]
    fp = identifiers[2]["fingerprint_sha256"][10:30]
    by_fp = (await api.get(f"/v1/repositories/{rid}/certificates", params={"keyword": fp})).json()
    assert by_fp["total"] == 1 and by_fp["items"][0]["identifier"] == identifiers[2]["identifier"]


async def test_export_only_when_exportable_and_delete_destroys(api: httpx.AsyncClient, chain: Chain) -> None:
    rid = await _repository(api)
    locked = (await _upload(api, rid, certificate=pem(chain.leaf), private_key=key_pem(chain.leaf_key))).json()
    refused = await api.post(f"/v1/certificates/{locked['items'][0]['identifier']}/export-key", json={})
    assert refused.status_code == 403
    other = make_chain("Export")
    open_ = (
        await _upload(api, rid, certificate=pem(other.leaf), private_key=key_pem(other.leaf_key), exportable=True)
    ).json()["items"][0]
    exported = await api.post(f"/v1/certificates/{open_['identifier']}/export-key", json={})
    assert exported.status_code == 200 and exported.json()["private_key"] == key_pem(other.leaf_key)
    assert (await api.delete(f"/v1/certificates/{open_['identifier']}")).status_code == 204
    assert (await api.get(f"/v1/certificates/{open_['identifier']}")).status_code == 404


async def test_compliant_repository_enforces_the_signing_profile(api: httpx.AsyncClient) -> None:
    rid = await _repository(api, "compliant")
    tls = make_chain("Tls")
    refused = await _upload(api, rid, certificate=pem(tls.leaf), private_key=key_pem(tls.leaf_key))
    assert refused.status_code == 400 and "nonRepudiation" in refused.json()["message"]
    signing = make_chain(
        "Signer", leaf_eku=[x509_oid_document_signing()], leaf_key_usage="signing"
    )
    accepted = await _upload(api, rid, certificate=pem(signing.leaf), private_key=key_pem(signing.leaf_key))
    assert accepted.status_code == 201, accepted.text
    exportable = await _upload(
        api, rid, certificate=pem(build("x", ec_key())), exportable=True
    )
    assert exportable.status_code == 400


def x509_oid_document_signing():  # type: ignore[no-untyped-def]
    from cryptography import x509

    return x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


