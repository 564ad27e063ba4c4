"""Certificate search in the store, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm): exact results, filters,
paging, indexes kept in sync by the schema's triggers, exact counters, and plans that use the indexes."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import column, create_engine, event, insert, table, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import World, skip_or_fail
from tests.support.postgres import PostgresCluster

import certrepo.store
from certrepo.domain.certificate import Certificate, CertificateQuery, San
from certrepo.domain.enums import CertificateSource, CertificateStatus, DataSource, RevocationReason
from certrepo.domain.paging import Page
from certrepo.domain.repository import Binding
from certrepo.services import repositories
from certrepo.store.certificates import search_text_of
from certrepo.store.database import create_engine_for, sync_url
from certrepo.store.tables import certificates
from certrepo.store.uow import UnitOfWorkFactory

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# (common name, SANs, name, status, days until expiry): words that collide on purpose, LIKE wildcards and
# quotes in names, so that a keyword matching too much or too little shows up.
CORPUS = [
    ("shop.example.com", ["shop.example.com", "www.shop.example.com"], "shop", "issued", 200),
    ("shopping.example.org", ["shopping.example.org"], None, "issued", 10),
    ("api.example.com", ["api.example.com", "api-v2.example.com"], "API front", "issued", 5),
    ("mail.internal", ["mail.internal", "smtp.internal"], "mail", "revoked", 100),
    ("50%-off.example.com", ["50%-off.example.com"], "promo 50%", "issued", 25),
    ("5000-off.example.com", ["5000-off.example.com"], "promo 5000", "issued", 25),
    ("under_score.example.net", ["under_score.example.net"], "a_b", "issued", 300),
    ("underxscore.example.net", ["underxscore.example.net"], "axb", "issued", 300),
    ("obrien.example.com", ["obrien.example.com"], "o'brien's", "issued", -3),
    ("quote.example.com", ["quote.example.com"], 'say "hi"', "issued", -40),
    ("back.example.com", ["back.example.com"], "back\\slash", "revoked", 60),
    ("edge.example.com", ["edge.example.com"], "tls/frontend", "issued", 20),
    ("Mixed.Case.EXAMPLE.com", ["Mixed.Case.EXAMPLE.com"], "MiXeD", "issued", 90),
    ("x.io", ["x.io"], "x", "issued", 400),
    ("münchen.example.de", ["münchen.example.de"], "Straße", "issued", 150),
]


def _fingerprints(seed: str) -> tuple[str, str]:
    return hashlib.sha1(seed.encode()).hexdigest(), hashlib.sha256(seed.encode()).hexdigest()


def _certificate(
    repository_id: int,
    account_id: int,
    common_name: str,
    sans: list[str],
    name: str | None,
    status: str,
    days: int,
) -> Certificate:
    sha1, sha256 = _fingerprints(common_name)
    return Certificate(
        identifier=hashlib.md5(f"{repository_id}/{common_name}".encode()).hexdigest(),
        account_id=account_id,
        repository_id=repository_id,
        name=name,
        custom_identifier=None,
        common_name=common_name,
        sans=tuple(San("dns", s) for s in sans),
        subject=f"CN={common_name}",
        issuer="CN=Test Issuing CA",
        serial_number=hashlib.md5(common_name.encode()).hexdigest()[:20].upper(),
        not_before=NOW - timedelta(days=365),
        not_after=NOW + timedelta(days=days),
        key_algorithm="ECC_256",
        key_size=256,
        signature_algorithm="SHA256withECDSA",
        fingerprint_sha1=sha1,
        fingerprint_sha256=sha256,
        is_ca=False,
        has_private_key=False,
        exportable=False,
        source=CertificateSource.UPLOAD,
        status=CertificateStatus(status),
        pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        created_at=NOW,
    )


async def _repository(world: World, name: str) -> int:
    created = await repositories.create_repository(
        world.services, world.admin_call, name=name, binding=Binding(DataSource.UPLOADED)
    )
    assert created.id is not None
    return created.id


async def _add(world: World, items: list[Certificate]) -> None:
    async with world.services.uow() as uow:
        for item in items:
            await uow.certificates.add(item, key_id=None)
        await uow.commit()


async def _search(
    world: World, repository_id: int, page: Page | None = None, **filters: Any
) -> tuple[list[str], int]:
    async with world.services.uow(read_only=True) as uow:
        items, total = await uow.certificates.list(
            repository_id, CertificateQuery(now=NOW, **filters), page or Page(1, 500)
        )
    return [i.identifier for i in items], total


@pytest.fixture
async def corpus(world: World) -> tuple[int, list[Certificate]]:
    """The corpus in one repository, and the same names in a second one that searches must never see."""
    main, other = await _repository(world, "main"), await _repository(world, "other")
    account = world.admin.account.id
    rows = [_certificate(main, account, *spec) for spec in CORPUS]
    await _add(world, rows)
    await _add(world, [_certificate(other, account, *spec) for spec in CORPUS])
    return main, rows


def _holding(rows: list[Certificate], keyword: str) -> set[str]:
    return {r.identifier for r in rows if keyword.lower() in search_text_of(r)}


KEYWORDS = {
    "common name part": "shop",
    "common name, upper case": "SHOPPING",
    "upper case in the data": "case.example",
    "SAN only": "api-v2",
    "SAN and name": "smtp",
    "name with a space": "api front",
    "serial part": hashlib.md5(b"mail.internal").hexdigest()[4:14],
    "sha256 part": _fingerprints("x.io")[1][30:42],
    "sha1 part": _fingerprints("x.io")[0][20:32],
    "percent is literal": "50%",
    "percent alone": "%",
    "underscore is literal": "a_b",
    "underscore in a host": "under_score",
    "single quote": "o'brien",
    "double quote": 'say "hi"',
    "backslash": "back\\slash",
    "slash escape character": "/",
    "one character": "x",
    "two characters": "io",
    "three characters": "ail",
    "accented": "münchen",
    "across two fields": "com www",
    "nowhere": "zzzz-not-there",
    "longer than the probed trigrams": "shop.example.com www.shop.example.com shop",
}


async def test_keyword_search_returns_exactly_the_rows_holding_the_keyword(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    repository_id, rows = corpus
    assert all(_holding(rows, k) for label, k in KEYWORDS.items() if label != "nowhere"), (
        "a case proves nothing"
    )
    wrong = {}
    for label, keyword in KEYWORDS.items():
        found, total = await _search(world, repository_id, keyword=keyword)
        expected = _holding(rows, keyword)
        if set(found) != expected or total != len(expected):
            wrong[label] = {
                "keyword": keyword,
                "found": len(found),
                "total": total,
                "expected": len(expected),
            }
    assert wrong == {}


def _expected(rows: list[Certificate], keyword: str, **filters: Any) -> set[str]:
    """The brute-force answer: what the store must return for a keyword and filters."""
    wanted = set()
    for row in _holding_rows(rows, keyword):
        status = filters.get("status")
        if status is not None and row.status is not status:
            continue
        days = filters.get("expiring_within_days")
        if days is not None and not NOW <= row.not_after <= NOW + timedelta(days=days):
            continue
        expired = filters.get("expired")
        if expired is not None and (row.not_after < NOW) is not expired:
            continue
        wanted.add(row.identifier)
    return wanted


def _holding_rows(rows: list[Certificate], keyword: str) -> list[Certificate]:
    return [r for r in rows if keyword.lower() in search_text_of(r)]


FILTERS = {
    "status revoked": {"status": CertificateStatus.REVOKED},
    "status issued": {"status": CertificateStatus.ISSUED},
    "expiring within 30 days": {"expiring_within_days": 30},
    "expired": {"expired": True},
    "not expired": {"expired": False},
    "revoked and expiring within 90 days": {"status": CertificateStatus.REVOKED, "expiring_within_days": 90},
}


async def test_filters_combine_with_the_keyword(world: World, corpus: tuple[int, list[Certificate]]) -> None:
    repository_id, rows = corpus
    wrong = {}
    for keyword in ("example", "ex", ".com"):  # through the trigram index, a short one, a common one
        for label, filters in FILTERS.items():
            found, total = await _search(world, repository_id, keyword=keyword, **filters)
            expected = _expected(rows, keyword, **filters)
            assert expected, f"no row for {keyword!r} and {label}: the case would prove nothing"
            if set(found) != expected or total != len(expected):
                wrong[f"{keyword!r}, {label}"] = (sorted(found), total, sorted(expected))
    assert wrong == {}


@pytest.mark.parametrize(
    "keyword", ["example", "e", None], ids=["fts keyword", "short keyword", "no keyword"]
)
async def test_pages_walk_the_matches_newest_first_and_each_carries_the_total(
    world: World, corpus: tuple[int, list[Certificate]], keyword: str | None
) -> None:
    repository_id, rows = corpus
    expected = [r.identifier for r in reversed(rows) if keyword is None or keyword in search_text_of(r)]
    pages = [await _search(world, repository_id, Page(n, 4), keyword=keyword) for n in range(1, 7)]
    assert [i for items, _ in pages for i in items] == expected
    assert {total for _, total in pages} == {len(expected)}
    assert pages[-1] == ([], len(expected))  # a page past the end is empty, with the total still exact


async def test_rows_added_later_are_found_and_deleted_ones_are_not(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    repository_id, rows = corpus
    late = _certificate(
        repository_id, world.admin.account.id, "late.example.com", [], "late arrival", "issued", 50
    )
    await _add(world, [late])
    assert await _search(world, repository_id, keyword="late arrival") == ([late.identifier], 1)
    async with world.services.uow() as uow:
        await uow.certificates.delete(late.identifier)
        await uow.certificates.delete(rows[0].identifier)
        await uow.commit()
    assert await _search(world, repository_id, keyword="late arrival") == ([], 0)
    found, total = await _search(world, repository_id, keyword="shop")
    assert set(found) == _holding(rows[1:], "shop") and total == 1


async def test_a_revoked_certificate_is_found_under_its_new_status_only(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    repository_id, rows = corpus
    shop = rows[0]
    async with world.services.uow() as uow:
        await uow.certificates.mark_revoked(shop.identifier, at=NOW, reason=RevocationReason.KEY_COMPROMISE)
        await uow.commit()
    revoked, revoked_total = await _search(
        world, repository_id, keyword="www.shop", status=CertificateStatus.REVOKED
    )
    issued, issued_total = await _search(
        world, repository_id, keyword="www.shop", status=CertificateStatus.ISSUED
    )
    assert (revoked, revoked_total, issued, issued_total) == ([shop.identifier], 1, [], 0)


async def test_a_reset_repository_finds_nothing_and_other_repositories_keep_their_rows(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    repository_id, _ = corpus
    other = await _repository(world, "third")
    await _add(world, [_certificate(other, world.admin.account.id, *CORPUS[0])])
    await repositories.reset_repository(
        world.services, world.admin_call, repository_id, acknowledge_risk=True
    )
    assert await _search(world, repository_id, keyword="example") == ([], 0)
    assert await _search(world, repository_id) == ([], 0)
    assert (await _search(world, other, keyword="www.shop"))[1] == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL keeps its GIN index itself
async def test_the_sqlite_full_text_index_matches_the_table_after_every_kind_of_change(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    """Results alone cannot show a stale entry (the exact check drops it); FTS5's integrity check with
    rank 1 compares the index with the certificates table and fails on any difference."""
    engine: AsyncEngine = world.services.extras["engine"]  # type: ignore[attr-defined]
    repository_id, rows = corpus
    await _add(
        world, [_certificate(repository_id, world.admin.account.id, "new.example", [], "n", "issued", 9)]
    )
    async with world.services.uow() as uow:
        await uow.certificates.delete(rows[0].identifier)
        await uow.certificates.mark_revoked(rows[1].identifier, at=NOW, reason=RevocationReason.SUPERSEDED)
        await uow.commit()
    await repositories.reset_repository(
        world.services, world.admin_call, repository_id, acknowledge_risk=True
    )
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO certificates_search (certificates_search, rank) VALUES ('integrity-check', 1)"
        )
        indexed = await connection.exec_driver_sql(
            "SELECT count(*) FROM certificates_search WHERE certificates_search MATCH '\"exa\"'"
        )
        assert indexed.scalar_one() == len(_holding(rows, "exa"))  # the other repository's rows only


async def test_totals_without_keyword_follow_inserts_deletes_revocations_and_resets(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    repository_id, rows = corpus
    revoked = sum(r.status is CertificateStatus.REVOKED for r in rows)

    async def totals() -> tuple[int, int, int]:
        return (
            (await _search(world, repository_id, Page(1, 1)))[1],
            (await _search(world, repository_id, Page(1, 1), status=CertificateStatus.REVOKED))[1],
            (await _search(world, repository_id, Page(1, 1), status=CertificateStatus.ISSUED))[1],
        )

    assert await totals() == (len(rows), revoked, len(rows) - revoked)
    async with world.services.uow() as uow:
        await uow.certificates.delete(rows[0].identifier)  # an issued one
        await uow.certificates.mark_revoked(rows[1].identifier, at=NOW, reason=RevocationReason.SUPERSEDED)
        await uow.commit()
    assert await totals() == (len(rows) - 1, revoked + 1, len(rows) - revoked - 2)
    async with world.services.uow() as uow:
        await uow.certificates.mark_revoked(rows[2].identifier, at=NOW, reason=RevocationReason.SUPERSEDED)
        # A rolled-back change leaves the counters as they were.
    assert await totals() == (len(rows) - 1, revoked + 1, len(rows) - revoked - 2)
    await repositories.reset_repository(
        world.services, world.admin_call, repository_id, acknowledge_risk=True
    )
    assert await totals() == (0, 0, 0)


async def test_a_keyword_made_only_of_common_trigrams_still_matches_exactly(world: World) -> None:
    """Over 2,000 rows per trigram: no trigram is rare, so candidates come from the sparsest ones."""
    repository_id = await _repository(world, "bulk")
    account = world.admin.account.id
    holding = [
        _certificate(repository_id, account, f"h{i}.abcd.test", [], None, "issued", 30) for i in range(2050)
    ]
    # Every trigram of "abcd" but never the keyword itself: candidates the exact check must drop.
    near = [
        _certificate(repository_id, account, f"n{i}.abcx.bcdy.test", [], None, "issued", 30)
        for i in range(2050)
    ]
    engine: AsyncEngine = world.services.extras["engine"]  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        await connection.execute(insert(certificates), [_row(c) for c in holding + near])
    found, total = await _search(world, repository_id, Page(1, 10), keyword="abcd")
    expected = [c.identifier for c in reversed(holding + near) if "abcd" in search_text_of(c)]
    assert len(expected) >= len(holding)  # a random fingerprint may hold "abcd" too
    assert (found, total) == (expected[:10], len(expected))


_COPIED_FIELDS = [
    "identifier", "account_id", "repository_id", "name", "custom_identifier", "common_name", "subject", "issuer",
    "serial_number", "not_before", "not_after", "key_algorithm", "key_size", "signature_algorithm",
    "fingerprint_sha1", "fingerprint_sha256", "is_ca", "exportable", "pem", "chain_pem", "created_at",
]  # fmt: skip


def _row(certificate: Certificate) -> dict[str, Any]:
    """The certificates row of a domain certificate, for bulk inserts that bypass the store."""
    return {
        **{f: getattr(certificate, f) for f in _COPIED_FIELDS},
        "sans": [{"type": s.type, "value": s.value} for s in certificate.sans],
        "search_text": search_text_of(certificate),
        "source": certificate.source.value,
        "status": certificate.status.value,
        "tags": {},
    }


# --- plans ----------------------------------------------------------------------------------------------


async def _plans_of_a_keyword_search(world: World, repository_id: int, keyword: str) -> list[list[str]]:
    """Run a keyword search, capture the SQL it sent, and ask the database for the plan of each statement."""
    engine: AsyncEngine = world.services.extras["engine"]  # type: ignore[attr-defined]
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await _search(world, repository_id, keyword=keyword)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in sent:
            result = await connection.exec_driver_sql(explain + statement, parameters)
            plans.append([str(row[-1]) for row in result])
    return plans


_PG_FILLER = """
INSERT INTO certificates (identifier, account_id, repository_id, common_name, sans, search_text, subject, issuer,
    serial_number, not_before, not_after, key_algorithm, key_size, signature_algorithm, fingerprint_sha1,
    fingerprint_sha256, is_ca, exportable, source, status, pem, chain_pem, tags, created_at)
SELECT md5('fill' || i), %(account)s, %(repository)s, 'h' || i || '.fill.test', '[]'::json,
    'h' || i || '.fill.test', 'CN=fill', 'CN=fill', to_hex(i), now(), now() + interval '30 days', 'ECC_256', 256,
    'SHA256withECDSA', left(md5('1' || i) || md5('2' || i), 40), md5('3' || i) || md5('4' || i), false, false,
    'upload', 'issued', repeat(md5(i::text), 27), '', '{}'::json, now()
FROM generate_series(1, 12000) AS i
"""


async def test_a_keyword_search_reads_the_trigram_index_and_never_scans_the_table(
    world: World, corpus: tuple[int, list[Certificate]]
) -> None:
    """On a table of a few rows PostgreSQL rightly prefers a scan to any index, and planner switches do not
    help (with enable_seqscan=off it walks the (repository_id, id) index instead, a scan all the same). So on
    PostgreSQL the repository gets 12,000 more rows of a real certificate's size, enough for the planner to
    choose as it does at a million rows, with fresh statistics. SQLite's plan follows from the query's form."""
    repository_id, _ = corpus
    engine: AsyncEngine = world.services.extras["engine"]  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            parameters = {"account": world.admin.account.id, "repository": repository_id}
            await connection.exec_driver_sql(_PG_FILLER, parameters)
            await connection.commit()
            await connection.exec_driver_sql("ANALYZE certificates")
            await connection.commit()
    plans = await _plans_of_a_keyword_search(world, repository_id, "www.shop")
    assert plans
    page = plans[-1]  # the statement that returns the rows (before it, SQLite probes trigram frequencies)
    if engine.dialect.name == "sqlite":
        assert any(line.startswith("SCAN certificates_search VIRTUAL TABLE INDEX") for line in page), page
        assert not any(re.match(r"SCAN certificates\b(?!_search)", line) for line in page), page
    else:
        assert any("ix_certificates_search_trgm" in line for line in page), page
        assert not any("Seq Scan on certificates" in line for line in page), page


# --- the migration on a database that already holds certificates ------------------------------------------

_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not migrated: the migrations under test run on it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; the migration ran on SQLite only")
    assert cluster is not None
    name = f"blank_{os.getpid()}_{next(_counter)}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option(
                "script_location", str(Path(certrepo.store.__file__).parent / "migrations")
            )
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


# Only columns of revision 0001, typed, so that later columns of the metadata do not leak into the insert.
_CERTIFICATE_COLUMNS_0001 = [
    "identifier", "account_id", "repository_id", "name", "custom_identifier", "common_name", "sans",
    "search_text", "subject", "issuer", "serial_number", "not_before", "not_after", "key_algorithm",
    "key_size", "signature_algorithm", "fingerprint_sha1", "fingerprint_sha256", "is_ca", "exportable",
    "source", "status", "pem", "chain_pem", "tags", "created_at",
]  # fmt: skip


def _insert_at_0001(url: str, rows: list[Certificate]) -> None:
    certificates_0001 = table(
        "certificates", *[column(n, certificates.c[n].type) for n in _CERTIFICATE_COLUMNS_0001]
    )
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', :t)"), {"t": "2026-01-01"}
            )
            for repository_id in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO repositories (id, account_id, instance_id, name, data_source, status, qps, "
                        "created_at, updated_at) VALUES (:id, 1, :instance, 'r', 'uploaded', 'enabled', 10, :t, :t)"
                    ),
                    {"id": repository_id, "instance": f"cas-wh-aaaaaaaaa{repository_id}", "t": "2026-01-01"},
                )
            connection.execute(insert(certificates_0001), [_row(r) for r in rows])
    finally:
        engine.dispose()


async def _search_url(url: str, repository_id: int, **filters: Any) -> tuple[set[str], int]:
    engine = create_engine_for(url)
    try:
        async with UnitOfWorkFactory(engine)(read_only=True) as uow:
            items, total = await uow.certificates.list(
                repository_id, CertificateQuery(now=NOW, **filters), Page(1, 500)
            )
    finally:
        await engine.dispose()
    return {i.identifier for i in items}, total


def _rows_in_two_repositories() -> list[Certificate]:
    return [_certificate(r, 1, *spec) for r in (1, 2) for spec in CORPUS]


async def test_the_migration_indexes_and_counts_certificates_already_in_the_database(
    blank_database_url: str,
) -> None:
    rows = _rows_in_two_repositories()
    _migrate_to(blank_database_url, "0001")
    _insert_at_0001(blank_database_url, rows)
    _migrate_to(blank_database_url, "head")
    in_first = [r for r in rows if r.repository_id == 1]
    assert await _search_url(blank_database_url, 1, keyword="example") == (
        _holding(in_first, "example"),
        len(_holding(in_first, "example")),
    )
    revoked = {r.identifier for r in in_first if r.status is CertificateStatus.REVOKED}
    assert await _search_url(blank_database_url, 1, status=CertificateStatus.REVOKED) == (
        revoked,
        len(revoked),
    )
    assert (await _search_url(blank_database_url, 2))[1] == len(CORPUS)


async def test_the_migration_goes_down_and_up_again_with_certificates_in_place(
    blank_database_url: str,
) -> None:
    rows = _rows_in_two_repositories()
    _migrate_to(blank_database_url, "0001")
    _insert_at_0001(blank_database_url, rows)
    _migrate_to(blank_database_url, "head")
    _migrate_to(blank_database_url, "0001", down=True)
    _migrate_to(blank_database_url, "head")
    in_second = [r for r in rows if r.repository_id == 2]
    assert await _search_url(blank_database_url, 2, keyword="www.shop") == (
        _holding(in_second, "www.shop"),
        1,
    )
    assert (await _search_url(blank_database_url, 1))[1] == len(CORPUS)
