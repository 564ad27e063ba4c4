"""The audit chain spans every account: tenants learn whether it is intact, not how long it is."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.usefixtures("world"), pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


async def test_a_tenant_learns_the_chain_is_intact_but_not_how_long_it_is(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/accounts", json={"name": "tenant-b", "admin_name": "tenant-b-admin"})).json()
    tenant = {"Authorization": f"Bearer {created['access_key_id']}:{created['access_key_secret']}"}
    own = (await api.get("/v1/audit-events/verify")).json()
    theirs = (await api.get("/v1/audit-events/verify", headers=tenant)).json()
    assert own["intact"] is True and own["events"] >= 2
    assert theirs["intact"] is True and theirs["events"] is None
