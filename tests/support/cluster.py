"""Two `certrepo serve` nodes on one PostgreSQL database, as docs/deployment.md deploys them.

`certrepo init` runs once (migrations, master key, first admin); both nodes then serve the same data dir's
master key file and the same ``CERTREPO_DATABASE_URL``, on two ports of 127.0.0.1. Whatever a test does,
both nodes are stopped when the block ends. Direct SQL against the shared database goes through
``query`` (rows as tuples) for checks the API does not expose.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.postgres import PostgresCluster
from tests.support.server import free_port, init_json, serve

__all__ = ["ANSWER_SECONDS", "Account", "Cluster", "Node", "Request", "cluster_environment", "two_nodes"]

_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_databases = itertools.count(1)
_accounts = itertools.count(1)
# A healthy pair answers any request of these tests within a second or two; past this, a node is stuck.
ANSWER_SECONDS = 20


@dataclass(frozen=True)
class Node:
    """One `certrepo serve` process of the cluster."""

    name: str
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Request:
    """One HTTP request of a concurrent batch, and the node it goes to."""

    node: int
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Account:
    """A tenant made for one test: quota pools and audit events of its own."""

    id: int
    bearer: str


@dataclass(frozen=True)
class Cluster:
    """Two nodes, their shared database and the admin `certrepo init` created (the system admin)."""

    nodes: tuple[Node, Node]
    postgres: PostgresCluster
    database: str
    data_dir: Path
    credentials: dict[str, str]

    @property
    def bearer(self) -> str:
        return f"Bearer {self.credentials['access_key_id']}:{self.credentials['access_key_secret']}"

    @property
    def base_urls(self) -> list[str]:
        return [node.base_url for node in self.nodes]

    def client(self, index: int, bearer: str | None = None, *, timeout: float = 30) -> httpx.Client:
        """A REST client of node ``index`` (0 or 1), as the system admin unless ``bearer`` is given."""
        return httpx.Client(
            base_url=self.nodes[index].base_url,
            headers={"Authorization": bearer or self.bearer},
            timeout=timeout,
            trust_env=False,  # loopback only, whatever proxy the environment names
        )

    def create_account(self, label: str) -> Account:
        """A new account (through node A, as the system admin) and its first admin's access key."""
        n = next(_accounts)
        with self.client(0) as client:
            response = client.post(
                "/v1/accounts", json={"name": f"{label}-{n}", "admin_name": f"{label}-admin-{n}"}
            )
        assert response.status_code == 201, response.text
        body = response.json()
        return Account(int(body["id"]), f"Bearer {body['access_key_id']}:{body['access_key_secret']}")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of one SQL statement run straight against the shared database (autocommit)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.postgres.port,
            user=self.postgres.user,
            dbname=self.database,
            autocommit=True,
        ) as conn:
            cursor = conn.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def scalar(self, sql: str, *params: Any) -> Any:
        """The one value of a one-row, one-column query."""
        rows = self.query(sql, *params)
        assert len(rows) == 1 and len(rows[0]) == 1, f"{sql!r} answered {rows!r}"
        return rows[0][0]

    def send_concurrently(
        self, requests: Sequence[Request], bearer: str | None = None
    ) -> list[httpx.Response]:
        """Send every request at once (one connection each, all in flight together); the answers in
        order. ``bearer`` authenticates each request unless its own headers carry an Authorization."""
        return asyncio.run(self._send_all(requests, bearer or self.bearer))

    async def _send_all(self, requests: Sequence[Request], bearer: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests) or 1, max_keepalive_connections=0)
        clients = [
            httpx.AsyncClient(
                base_url=node.base_url,
                headers={"Authorization": bearer},
                limits=limits,
                timeout=ANSWER_SECONDS,
                trust_env=False,
            )
            for node in self.nodes
        ]
        try:
            answers = await asyncio.gather(
                *(
                    clients[r.node].request(r.method, r.path, json=r.json, params=r.params, headers=r.headers)
                    for r in requests
                ),
                return_exceptions=True,
            )
        finally:
            for client in clients:
                await client.aclose()
        unanswered = [
            f"{r.method} {r.path} to {self.nodes[r.node].name}: {a!r}"
            for r, a in zip(requests, answers, strict=True)
            if isinstance(a, BaseException)
        ]
        assert not unanswered, f"no answer within {ANSWER_SECONDS} s: " + "; ".join(unanswered)
        return [a for a in answers if isinstance(a, httpx.Response)]

    def send_while_polling(
        self, requests: Sequence[Request], bearer: str, *, poll: str, poll_bearer: str | None = None
    ) -> tuple[list[httpx.Response], list[tuple[int, httpx.Response]]]:
        """Send ``requests`` at once (as ``send_concurrently``) while one client per node GETs ``poll``
        over and over until every request is answered; the answers, and each poll's node and answer
        in the order they came."""
        return asyncio.run(self._send_while_polling(requests, bearer, poll, poll_bearer or self.bearer))

    async def _send_while_polling(
        self, requests: Sequence[Request], bearer: str, poll: str, poll_bearer: str
    ) -> tuple[list[httpx.Response], list[tuple[int, httpx.Response]]]:
        answered = asyncio.Event()
        polls: list[tuple[int, httpx.Response]] = []

        async def poller(index: int) -> None:
            async with httpx.AsyncClient(
                base_url=self.nodes[index].base_url,
                headers={"Authorization": poll_bearer},
                timeout=ANSWER_SECONDS,
                trust_env=False,
            ) as client:
                while not answered.is_set():
                    polls.append((index, await client.get(poll)))

        async def send() -> list[httpx.Response]:
            try:
                return await self._send_all(requests, bearer)
            finally:
                answered.set()

        pollers = [asyncio.ensure_future(poller(i)) for i in range(len(self.nodes))]
        answers = await send()
        await asyncio.gather(*pollers)
        return answers, polls

    def logs(self) -> str:
        """Both nodes' output, for a failure message."""
        return "\n".join(f"--- {n.name} ---\n{n.log.read_text(errors='replace')[-4000:]}" for n in self.nodes)


def cluster_environment(database_url: str, base_url: str) -> dict[str, str]:
    """The caller's environment without CERTREPO_* and proxy settings, plus the cluster's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_") and k not in _PROXY_VARIABLES}
    env.update(
        CERTREPO_DATABASE_URL=database_url,
        CERTREPO_BASE_URL=base_url,
        CERTREPO_LOG_LEVEL="warning",
    )
    return env


@contextmanager
def two_nodes(postgres: PostgresCluster, root: Path, *, template: str | None = None) -> Iterator[Cluster]:
    """A fresh database on ``postgres``, `certrepo init` once into ``root``/data, then two `certrepo
    serve` processes on it, both healthy when this yields. Fails the test if a node does not start."""
    database = f"cluster_{os.getpid()}_{next(_databases)}"
    # A migrated template (the session's certrepo_template) spares `init` the migrations: seconds here.
    postgres.psql(f"CREATE DATABASE {database}" + (f" TEMPLATE {template}" if template else ""))
    ports = (free_port(), free_port())
    while ports[1] == ports[0]:
        ports = (ports[0], free_port())
    # Node A's URL stands for the load balancer's: both nodes write it into CRL and OCSP URLs.
    env = cluster_environment(postgres.url(database), f"http://127.0.0.1:{ports[0]}")
    data_dir = root / "data"
    credentials = init_json(data_dir, env)
    nodes = (
        Node("node-a", ports[0], root / "node-a.log"),
        Node("node-b", ports[1], root / "node-b.log"),
    )
    with ExitStack() as stack:
        for node in nodes:
            stack.enter_context(serve(data_dir, node.port, env, node.log))
        yield Cluster(nodes, postgres, database, data_dir, credentials)
