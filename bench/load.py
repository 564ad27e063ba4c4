"""Mixed API traffic for a fixed time at a fixed concurrency, loopback only (issue 8, item 5).

`python -m bench load` starts the service, arranges a tenant (repositories, a private CA, an RSA and an
EC key), warms up, then runs the mixed traffic of ``tests/support/traffic.py`` (sign, verify, encrypt,
decrypt, list, get, upload, issue, revoke, CRL, quota, repository lifecycle) for ``BENCH_LOAD_SECONDS``
(60) from ``BENCH_LOAD_CONCURRENCY`` (16) workers, stops by itself and prints one markdown table: calls,
errors (the target is 0), throughput and p50/p99 latency per call kind and overall.

Backends (``BENCH_LOAD_BACKEND``):
- ``sqlite`` (default): one `certrepo serve --workers BENCH_WORKERS` (2) on SQLite;
- ``postgres``: a throwaway PostgreSQL cluster and two `certrepo serve` nodes (one worker each) on one
  database, the workers' calls alternating between the nodes.

The client (httpx, one event loop) runs on the same cores as the service and costs about a millisecond of
CPU per call: the figures are conservative.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.traffic import TrafficResult, prepare_tenant, run_traffic

from .server import running_server

__all__ = ["main"]

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
CONCURRENCY = int(os.environ.get("BENCH_LOAD_CONCURRENCY", "16"))
BACKEND = os.environ.get("BENCH_LOAD_BACKEND", "sqlite")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WARMUP_SECONDS = 3.0
_SHOWN_PROBLEMS = 5


@dataclass(frozen=True)
class Service:
    """Where the traffic goes, and the admin key it uses."""

    base_urls: list[str]
    bearer: str
    description: str


@contextmanager
def _sqlite_service() -> Iterator[Service]:
    with running_server(workers=WORKERS) as server:
        yield Service([server.url], server.bearer, f"SQLite, one node, {WORKERS} workers")


@contextmanager
def _postgres_service() -> Iterator[Service]:
    from tests.support.cluster import two_nodes
    from tests.support.postgres import start_cluster

    postgres = start_cluster()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="certrepo-bench-load-") as root,
            two_nodes(postgres, Path(root)) as cluster,
        ):
            yield Service(cluster.base_urls, cluster.bearer, "PostgreSQL, two nodes, 1 worker each")
    finally:
        postgres.stop()


def _service() -> AbstractContextManager[Service]:
    if BACKEND == "postgres":
        return _postgres_service()
    if BACKEND != "sqlite":
        raise SystemExit(f"BENCH_LOAD_BACKEND must be sqlite or postgres, not {BACKEND!r}")
    return _sqlite_service()


def _report(service: Service, result: TrafficResult) -> None:
    print(
        f"\n## Mixed API traffic ({service.description}, {CONCURRENCY} concurrent clients, "
        f"{result.seconds:.0f} s, loopback)\n"
    )
    print(result.markdown())
    errors = result.errors
    print(f"\nerrors: {len(errors)} of {len(result.records):,} calls; 5xx: {len(result.server_errors)}")
    for record in errors[:_SHOWN_PROBLEMS]:
        print(f"- {record.kind} on node {record.node}: status {record.status}: {record.problem[:200]}")


def main() -> None:
    with _service() as service:
        with httpx.Client(
            base_url=service.base_urls[0],
            headers={"Authorization": service.bearer},
            timeout=60,
            trust_env=False,
        ) as client:
            tenant = prepare_tenant(client, "load")
        asyncio.run(run_traffic(service.base_urls, tenant, concurrency=CONCURRENCY, seconds=WARMUP_SECONDS))
        result = asyncio.run(
            run_traffic(service.base_urls, tenant, concurrency=CONCURRENCY, seconds=SECONDS, seed=1)
        )
    _report(service, result)


if __name__ == "__main__":
    main()
