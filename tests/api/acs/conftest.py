"""A real `certrepo serve` for the RPC tests, once on SQLite and once on PostgreSQL, driven by the
official Alibaba SDK (`alibabacloud_cas20200407`).

Each backend gets one server for the session (`certrepo init --json` in a temporary data dir, then
`certrepo serve` on a free port); tests keep out of each other's way by working in their own
repositories, or in their own account (`fresh_account`) when they read account-wide state.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cas20200407.client import Client as CasClient
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils
from darabonba.runtime import RuntimeOptions

from tests.conftest import skip_or_fail
from tests.support.postgres import PostgresCluster
from tests.support.server import free_port, init_json, serve

_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_accounts = itertools.count(1)


@dataclass(frozen=True)
class Identity:
    """An access key of some user on the server."""

    access_key_id: str
    access_key_secret: str

    @property
    def bearer(self) -> str:
        return f"Bearer {self.access_key_id}:{self.access_key_secret}"


@dataclass
class Server:
    """A running `certrepo serve` and the admin identity `init` printed."""

    backend: str
    endpoint: str  # host:port, as the SDK wants it (no scheme)
    admin: Identity
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self, identity: Identity | None = None, **config: Any) -> CasClient:
        """An SDK client of this server (ACS3-HMAC-SHA256 unless ``signature_algorithm='v2'``)."""
        who = identity or self.admin
        return CasClient(
            utils_models.Config(
                endpoint=self.endpoint,
                protocol="http",
                access_key_id=who.access_key_id,
                access_key_secret=who.access_key_secret,
                connect_timeout=5000,
                read_timeout=20000,
                **config,
            )
        )

    def rest(self, identity: Identity | None = None) -> httpx.Client:
        """A REST client (bearer) for arranging what the RPC API does not offer (users, keys, quota)."""
        who = identity or self.admin
        return httpx.Client(base_url=self.base_url, headers={"Authorization": who.bearer}, timeout=20)

    def fresh_account(self) -> Identity:
        """A new account with its own admin key: account-wide state (quota, listings) of its own."""
        with self.rest() as rest:
            n = next(_accounts)
            response = rest.post("/v1/accounts", json={"name": f"acs-{n}", "admin_name": f"admin{n}"})
            assert response.status_code == 201, response.text
            created = response.json()
        return Identity(created["access_key_id"], created["access_key_secret"])

    def identity_with_role(self, admin: Identity, role: str) -> Identity:
        """A user of ``admin``'s account with ``role``, and an access key of it."""
        with self.rest(admin) as rest:
            user = rest.post("/v1/users", json={"name": f"{role}{next(_accounts)}", "role": role})
            assert user.status_code == 201, user.text
            key = rest.post("/v1/access-keys", json={"user_id": user.json()["id"]})
            assert key.status_code == 201, key.text
        return Identity(key.json()["id"], key.json()["secret"])


def call_action(
    client: CasClient, action: str, query: dict[str, Any] | None = None, *, version: str = "2020-04-07"
) -> dict[str, Any]:
    """Call any action through the SDK's generic RPC path (for certrepo's extension actions)."""
    params = utils_models.Params(
        action=action,
        version=version,
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(query=Utils.query(query or {}))
    result: dict[str, Any] = client.call_api(params, request, RuntimeOptions())
    return result


def rpc_error(action: Callable[[], object]) -> ClientException:
    """The ClientException the SDK raises for ``action`` (a 4xx answer)."""
    with pytest.raises(ClientException) as raised:
        action()
    return raised.value


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # darabonba sends through HTTP(S)_PROXY when set: the tests talk to 127.0.0.1 directly.
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _environment(database_url: str | None, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_") and k not in _PROXY_VARIABLES}
    env["CERTREPO_BASE_URL"] = base_url
    env["CERTREPO_LOG_LEVEL"] = "warning"
    if database_url is not None:
        env["CERTREPO_DATABASE_URL"] = database_url
    return env


def _database_for(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "sqlite":
        return None  # the embedded default: SQLite in the data dir
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; the RPC API was tested on SQLite only")
    assert cluster is not None
    name = f"acs_{os.getpid()}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def acs_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`certrepo init --json` then `certrepo serve` on a free port, for the whole session."""
    backend: str = request.param
    root = tmp_path_factory.mktemp(f"acs-{backend}")
    data_dir = root / "data"
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    env = _environment(_database_for(backend, request), f"http://{endpoint}")
    created = init_json(data_dir, env)
    with serve(data_dir, port, env, root / "serve.log") as process:
        admin = Identity(created["access_key_id"], created["access_key_secret"])
        yield Server(backend, endpoint, admin, process, root / "serve.log")


@pytest.fixture(scope="session")
def admin_client(acs_server: Server) -> CasClient:
    return acs_server.client()
