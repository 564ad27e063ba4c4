"""/readyz tells an operator what is wrong with this node: database, schema, master key."""

from __future__ import annotations

import httpx
from tests.conftest import World

from certrepo.app import build_app, build_services
from certrepo.keystore.envelope import MasterKeyFile, MasterKeyring


async def test_a_healthy_node_is_ready(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["problem"] is None


async def test_a_node_with_another_clusters_master_key_is_not_ready_and_says_why(world: World) -> None:
    # The bootstrap sealed an access-key secret under the cluster's key; this node gets a different file.
    MasterKeyFile(world.settings.resolved_master_key_file).write(MasterKeyring.generate())
    services, _ = build_services(world.settings)
    try:
        app = build_app(world.settings, services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/readyz")
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]
        await services.uow.dispose()  # type: ignore[attr-defined]
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert "master key" in body["problem"] and "cluster's master key file" in body["problem"]
