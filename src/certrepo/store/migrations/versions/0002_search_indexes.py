"""search indexes: keyword search and counts that stay fast at a million certificates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00

Keyword search is a case-insensitive substring match over ``certificates.search_text``; a B-tree cannot
serve ``LIKE '%kw%'``, so each database gets a trigram index:

* PostgreSQL: ``pg_trgm`` and a GIN index, which serves ``search_text LIKE '%kw%'`` directly. pg_trgm is
  a trusted extension (PostgreSQL 13+): the database owner may create it without superuser rights. Debian
  ships it in the ``postgresql-15`` package itself.
* SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34+), external content over ``certificates``
  (rowid = ``certificates.id``, nothing stored twice), kept in sync by triggers that are part of the
  schema, so every writer (service, CLI, a DBA's shell) keeps it right without ORM listeners.
  ``detail='none'`` keeps no token positions (a quarter of the size): the store ANDs trigrams to find
  candidates and confirms each with an exact substring test, so it never needs phrase queries.

Exact totals: ``certificate_counts`` holds the number of certificates per repository and status, kept by
triggers in the same transaction as the change, so the total of an unfiltered or status-filtered list (and a
repository's certificate count) is one row read instead of a count over a million index entries.

Caution for later migrations: a SQLite batch ("move and copy") migration of ``certificates`` drops the
table and with it these triggers; such a migration must re-create them and run the FTS ``rebuild``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FTS_TABLE = "certificates_search"
_MIN_SQLITE = (3, 34, 0)  # the FTS5 trigram tokenizer appeared in SQLite 3.34.0

_SQLITE_TRIGGERS = {
    "certificates_search_ai": f"""
        CREATE TRIGGER certificates_search_ai AFTER INSERT ON certificates BEGIN
            INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    # External content: FTS5 cannot read the deleted row any more, so the old text is handed to 'delete'.
    "certificates_search_ad": f"""
        CREATE TRIGGER certificates_search_ad AFTER DELETE ON certificates BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
        END""",
    # Only a change of the searched text touches the index (revocation updates status, not the text).
    "certificates_search_au": f"""
        CREATE TRIGGER certificates_search_au AFTER UPDATE OF id, search_text ON certificates BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
            INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}


_SQLITE_COUNT_TRIGGERS = {
    "certificate_counts_ai": """
        CREATE TRIGGER certificate_counts_ai AFTER INSERT ON certificates BEGIN
            INSERT INTO certificate_counts (repository_id, status, total)
                VALUES (new.repository_id, new.status, 1)
                ON CONFLICT (repository_id, status) DO UPDATE SET total = total + 1;
        END""",
    "certificate_counts_ad": """
        CREATE TRIGGER certificate_counts_ad AFTER DELETE ON certificates BEGIN
            UPDATE certificate_counts SET total = total - 1
                WHERE repository_id = old.repository_id AND status = old.status;
        END""",
    "certificate_counts_au": """
        CREATE TRIGGER certificate_counts_au AFTER UPDATE OF repository_id, status ON certificates BEGIN
            UPDATE certificate_counts SET total = total - 1
                WHERE repository_id = old.repository_id AND status = old.status;
            INSERT INTO certificate_counts (repository_id, status, total)
                VALUES (new.repository_id, new.status, 1)
                ON CONFLICT (repository_id, status) DO UPDATE SET total = total + 1;
        END""",
}

# PostgreSQL: statement-level triggers with transition tables, so that a bulk insert or a repository purge
# updates each counter once per statement, not once per row. Counters are upserted in key order, so two
# transactions touching the same counters lock them in the same order and cannot deadlock on them.
_PG_COUNT_FUNCTION = """
CREATE FUNCTION certificate_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO certificate_counts AS c (repository_id, status, total)
            SELECT repository_id, status, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (repository_id, status) DO UPDATE SET total = c.total + excluded.total;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO certificate_counts AS c (repository_id, status, total)
            SELECT repository_id, status, -count(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (repository_id, status) DO UPDATE SET total = c.total + excluded.total;
    ELSE
        INSERT INTO certificate_counts AS c (repository_id, status, total)
            SELECT repository_id, status, sum(delta) FROM (
                SELECT repository_id, status, 1 AS delta FROM new_rows
                UNION ALL
                SELECT repository_id, status, -1 FROM old_rows
            ) AS changes
            GROUP BY 1, 2 HAVING sum(delta) <> 0 ORDER BY 1, 2
            ON CONFLICT (repository_id, status) DO UPDATE SET total = c.total + excluded.total;
    END IF;
    RETURN NULL;
END
$body$"""

_PG_COUNT_TRIGGERS = {
    "certificate_counts_ai": "AFTER INSERT ON certificates REFERENCING NEW TABLE AS new_rows",
    "certificate_counts_ad": "AFTER DELETE ON certificates REFERENCING OLD TABLE AS old_rows",
    "certificate_counts_au": (
        "AFTER UPDATE ON certificates REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
}


def _create_counts() -> None:
    op.create_table(
        "certificate_counts",
        sa.Column(
            "repository_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey(
                "repositories.id", ondelete="CASCADE", name="fk_certificate_counts_repository_id_repositories"
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "status", name="pk_certificate_counts"),
    )
    op.execute(
        "INSERT INTO certificate_counts (repository_id, status, total) "
        "SELECT repository_id, status, count(*) FROM certificates GROUP BY repository_id, status"
    )


def _check_sqlite() -> None:
    bind = op.get_bind()
    version = bind.execute(text("SELECT sqlite_version()")).scalar_one()
    if tuple(int(p) for p in str(version).split(".")[:3]) < _MIN_SQLITE:
        raise RuntimeError(
            f"SQLite {version} has no FTS5 trigram tokenizer: certrepo needs SQLite 3.34 or newer "
            "(Python's sqlite3 module is linked against it)"
        )
    options = {str(r[0]) for r in bind.execute(text("PRAGMA compile_options"))}
    if "ENABLE_FTS5" not in options:
        raise RuntimeError(f"this SQLite {version} was built without FTS5, which keyword search needs")


def _upgrade_sqlite() -> None:
    _check_sqlite()
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
        "search_text, content='certificates', content_rowid='id', tokenize='trigram', detail='none')"
    )
    # Backfill what is already there (no-op on an empty database), then keep it in sync.
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    for statement in (*_SQLITE_TRIGGERS.values(), *_SQLITE_COUNT_TRIGGERS.values()):
        op.execute(statement)


def _upgrade_postgresql() -> None:
    # Counters first: the backfill and the triggers are created before anyone else writes (the migration
    # runs in one transaction, and CREATE TRIGGER locks the table against writers until it commits).
    op.execute(_PG_COUNT_FUNCTION)
    for name, timing in _PG_COUNT_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {timing} FOR EACH STATEMENT EXECUTE FUNCTION certificate_counts_apply()"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Builds in one pass over existing rows (the migration holds a write lock on certificates meanwhile:
    # about two minutes at a million rows on two cores).
    op.execute(
        "CREATE INDEX ix_certificates_search_trgm ON certificates USING gin (search_text gin_trgm_ops)"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise RuntimeError(f"no search index for database {dialect!r}: use sqlite or postgresql")
    _create_counts()
    if dialect == "sqlite":
        _upgrade_sqlite()
    else:
        _upgrade_postgresql()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (*_SQLITE_TRIGGERS, *_SQLITE_COUNT_TRIGGERS):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    else:
        for name in _PG_COUNT_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON certificates")
        op.execute("DROP FUNCTION IF EXISTS certificate_counts_apply()")
        # The extension stays: other objects may use it, and dropping it needs more rights than creating.
        op.execute("DROP INDEX IF EXISTS ix_certificates_search_trgm")
    op.drop_table("certificate_counts")
