"""One pair of `certrepo serve` nodes on one PostgreSQL database for every system test (SPEC §5).

Tests share the pair and keep out of each other's way by working in accounts of their own
(``Cluster.create_account``): quota pools and audit events are per account; the audit chain is global.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.support.cluster import Cluster, two_nodes
from tests.support.postgres import PostgresCluster

TEMPLATE = "certrepo_template"  # migrated once per session by tests/conftest.py's postgres_cluster


@pytest.fixture(scope="package")
def cluster(
    postgres_cluster: PostgresCluster | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two nodes (node A, node B) serving one database of the session's PostgreSQL cluster."""
    if postgres_cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; the two-node system tests need it")
    assert postgres_cluster is not None
    with two_nodes(postgres_cluster, tmp_path_factory.mktemp("cluster"), template=TEMPLATE) as pair:
        yield pair


@pytest.fixture
def separate_cluster(postgres_cluster: PostgresCluster | None, tmp_path: Path) -> Iterator[Cluster]:
    """A pair of its own, for a test whose failure leaves its nodes unusable for a while (a 500 logs a
    long traceback while the event loop waits): the shared pair stays clean for the tests after it."""
    if postgres_cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; the two-node system tests need it")
    assert postgres_cluster is not None
    with two_nodes(postgres_cluster, tmp_path, template=TEMPLATE) as pair:
        yield pair
