"""SQLite: AUTOINCREMENT on accounts, users, cas and repositories so ids are never reused

Revision ID: 0005
Revises: 0004

Without AUTOINCREMENT SQLite hands out max(id)+1, so deleting the newest repository and creating another
reuses its id: Alibaba's WhId and old audit events would then name two repositories. PostgreSQL sequences
never reuse values; nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("accounts", "users", "cas", "repositories")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
