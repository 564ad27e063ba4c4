"""CAs over REST: create a root and intermediates, import a CA with its key, list, show; refusals; the
one-repository-per-intermediate rule with real CAs, raced from two nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from tests.conftest import World
from tests.factories import build, ec_key, key_pem, make_chain, pem

from certrepo.app import build_services
from certrepo.domain.enums import CaType, DataSource, KeyAlgorithm
from certrepo.domain.errors import CaAlreadyBound
from certrepo.domain.repository import Binding
from certrepo.services import cas, repositories
from certrepo.services.context import Services

pytestmark = pytest.mark.usefixtures("world")
# Input checks do not depend on the database: run them on SQLite only, to keep the suite fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _create(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    defaults = {} if body.get("type") == "imported" else {"key_algorithm": "ECC_256"}
    return await api.post("/v1/cas", json={**defaults, **body})


async def _hierarchy(api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    root = await _create(api, type="root", common_name="Test Root")
    assert root.status_code == 201, root.text
    intermediate = await _create(
        api, type="intermediate", common_name="Test Issuing", parent_id=root.json()["id"], days=365
    )
    assert intermediate.status_code == 201, intermediate.text
    return root.json(), intermediate.json()


async def test_a_root_and_an_intermediate_are_created_signed_and_listed(api: httpx.AsyncClient) -> None:
    root, intermediate = await _hierarchy(api)

    root_cert = x509.load_pem_x509_certificate(root["certificate"].encode())
    int_cert = x509.load_pem_x509_certificate(intermediate["certificate"].encode())
    int_cert.verify_directly_issued_by(root_cert)
    assert (root["type"], intermediate["type"], intermediate["parent_id"]) == (
        "root",
        "intermediate",
        root["id"],
    )
    assert int_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert intermediate["crl_url"] == f"http://127.0.0.1:8080/crl/{intermediate['id']}.crl"
    assert intermediate["ocsp_url"] == f"http://127.0.0.1:8080/ocsp/{intermediate['id']}"
    # The intermediate points at its parent's CRL and OCSP responder.
    points = int_cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert points[0].full_name[0].value == root["crl_url"]
    listed = (await api.get("/v1/cas")).json()
    assert [c["id"] for c in listed["items"]] == [root["id"], intermediate["id"]] and listed["total"] == 2
    shown = (await api.get(f"/v1/cas/{intermediate['id']}")).json()
    assert shown == intermediate


@sqlite_only
async def test_a_ca_key_is_sealed_in_the_keystore_not_stored_in_clear(
    api: httpx.AsyncClient, world: World
) -> None:
    root = (await _create(api, type="root", common_name="Sealed Root")).json()

    async with world.services.uow(read_only=True) as uow:
        sealed = await uow.cas.sealed_key(root["id"])
    assert sealed is not None
    der = world.services.keystore.open(sealed, purpose=cas.CA_KEY_PURPOSE)
    assert b"PRIVATE" not in sealed.ciphertext and len(der) > 100


async def test_an_imported_intermediate_with_its_root_can_be_bound_and_anchors_its_chain(
    api: httpx.AsyncClient,
) -> None:
    chain = make_chain("Imported")

    response = await api.post(
        "/v1/cas",
        json={
            "type": "imported",
            "certificate": pem(chain.intermediate),
            "private_key": key_pem(chain.intermediate_key),
            "chain": pem(chain.root),
        },
    )

    assert response.status_code == 201, response.text
    imported = response.json()
    assert (imported["type"], imported["imported"], imported["has_private_key"]) == (
        "intermediate",
        True,
        True,
    )
    root = (await api.get(f"/v1/cas/{imported['parent_id']}")).json()
    assert (root["type"], root["has_private_key"], root["crl_url"]) == ("root", False, None)
    bound = await api.post("/v1/repositories", json={"data_source": "private", "ca_id": imported["id"]})
    assert bound.status_code == 201, bound.text
    assert (await api.get(f"/v1/cas/{imported['id']}")).json()["bound_repository_id"] == bound.json()["id"]


def _leaf_pem_and_key() -> tuple[str, str]:
    chain = make_chain("Leafy")
    return pem(chain.leaf), key_pem(chain.leaf_key)


_BAD_CREATES: list[tuple[str, dict[str, Any], int, str]] = [
    ("intermediate-without-parent", {"type": "intermediate", "common_name": "X"}, 400, "MissingParameter"),
    ("unknown-parent", {"type": "intermediate", "common_name": "X", "parent_id": 999}, 404, "NotFound.CA"),
    ("root-with-parent", {"type": "root", "common_name": "X", "parent_id": 1}, 400, "InvalidParameter"),
    (
        "unknown-algorithm",
        {"type": "root", "common_name": "X", "key_algorithm": "DSA_1024"},
        400,
        "InvalidParameter",
    ),
    ("bad-country", {"type": "root", "common_name": "X", "country": "Chin"}, 400, "InvalidParameter"),
    ("import-without-key", {"type": "imported", "certificate": "@root"}, 400, "MissingParameter"),
]


@sqlite_only
async def test_every_bad_ca_request_gets_a_4xx_with_its_own_code(api: httpx.AsyncClient) -> None:
    lone_root = pem(make_chain("Lone").root)
    outcomes = {}

    for name, body, _, _ in _BAD_CREATES:
        if body.get("certificate") == "@root":
            body = {**body, "certificate": lone_root}
        response = await _create(api, **body)
        outcomes[name] = (response.status_code, response.json()["code"])

    assert outcomes == {name: (status, code) for name, _, status, code in _BAD_CREATES}
    assert (await api.get("/v1/cas")).json()["total"] == 0


@sqlite_only
async def test_imports_that_cannot_sign_or_do_not_chain_are_refused(api: httpx.AsyncClient) -> None:
    chain = make_chain("Broken")
    leaf, leaf_key = _leaf_pem_and_key()
    cases = {
        "key of another certificate": (
            pem(chain.intermediate),
            key_pem(ec_key()),
            pem(chain.root),
            "KeyMismatch",
        ),
        "not a CA": (leaf, leaf_key, None, "InvalidParameter"),
        "no root": (pem(chain.intermediate), key_pem(chain.intermediate_key), None, "ChainIncomplete"),
    }
    outcomes = {}
    for name, (certificate, private_key, issuers, _) in cases.items():
        body = {"type": "imported", "certificate": certificate, "private_key": private_key, "chain": issuers}
        response = await api.post("/v1/cas", json={k: v for k, v in body.items() if v is not None})
        outcomes[name] = (response.status_code, response.json()["code"])

    assert outcomes == {name: (400, case[3]) for name, case in cases.items()}


@sqlite_only
async def test_an_intermediate_outliving_its_parent_is_refused_not_shortened(api: httpx.AsyncClient) -> None:
    root = (await _create(api, type="root", common_name="Short Root", days=30)).json()

    response = await _create(api, type="intermediate", common_name="Long", parent_id=root["id"], days=60)

    assert (response.status_code, response.json()["code"]) == (400, "InvalidParameter")
    assert response.json()["details"]["field"] == "days"
    assert (await api.get("/v1/cas")).json()["total"] == 1


@sqlite_only
async def test_binding_a_root_ca_is_refused(api: httpx.AsyncClient) -> None:
    root, _ = await _hierarchy(api)

    response = await api.post("/v1/repositories", json={"data_source": "private", "ca_id": root["id"]})

    assert (response.status_code, response.json()["code"]) == (400, "InvalidParameter")
    assert "root CA" in response.json()["message"]


@sqlite_only
async def test_an_imported_ca_already_known_is_a_conflict(api: httpx.AsyncClient) -> None:
    root_key = ec_key()
    root = build("Twice Root", root_key, ca=True, days=3650)
    body = {"type": "imported", "certificate": pem(root), "private_key": key_pem(root_key)}
    first = await api.post("/v1/cas", json=body)

    again = await api.post("/v1/cas", json=body)

    assert first.status_code == 201 and (again.status_code, again.json()["code"]) == (
        409,
        "CertificateExists",
    )


# --- two nodes --------------------------------------------------------------------------------------


@pytest.fixture
async def second_node(world: World) -> AsyncIterator[Services]:
    services, _ = build_services(world.settings)
    try:
        yield services
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def test_two_nodes_binding_one_real_intermediate_at_once_exactly_one_wins(
    world: World, second_node: Services
) -> None:
    call = world.admin_call
    root = await cas.create_ca(
        world.services, call, cas.CaSpec(CaType.ROOT, "Race Root", KeyAlgorithm.ECC_256)
    )
    intermediate = await cas.create_ca(
        world.services,
        call,
        cas.CaSpec(
            CaType.INTERMEDIATE, "Race Issuing", KeyAlgorithm.ECC_256, parent_id=root.id, validity_days=90
        ),
    )
    binding = Binding(DataSource.PRIVATE, ca_id=intermediate.id)

    results = await asyncio.gather(
        *[
            repositories.create_repository(node, call, name=f"n{i}", binding=binding)
            for i, node in enumerate([world.services, second_node] * 3)
        ],
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, CaAlreadyBound) for r in results if isinstance(r, BaseException)), results
    assert (await cas.get_ca(world.services, call, intermediate.id)).bound_repository_id == winners[0].id
