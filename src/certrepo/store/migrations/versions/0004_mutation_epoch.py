"""mutation epoch: a counter on the audit head that every audited mutation advances

Revision ID: 0004
Revises: 0003

Nodes cache principals and key-use targets; they poll this one integer to learn that something changed
anywhere (a revoked key, a reset repository, a revoked certificate) and drop their caches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.add_column(sa.Column("mutations", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.drop_column("mutations")
