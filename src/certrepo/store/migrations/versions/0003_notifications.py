"""expiry monitoring and notifications: channels, thresholds, the notified key, delivery log, scan lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00

``expiry_notices`` carries the unique key (channel, target kind, target id, threshold) that makes each
notice happen at most once whatever node claims it; ``scan_leases`` holds the row whose guarded UPDATE
picks the one node that runs a scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import certrepo.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> certrepo.store.tables.UtcDateTime:
    return certrepo.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret_id", _Id, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_notification_channels_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["key_material.id"], name=op.f("fk_notification_channels_secret_id_key_material")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("account_id", "name", name="uq_notification_channels_account_name"),
    )
    op.create_index(
        op.f("ix_notification_channels_account_id"), "notification_channels", ["account_id"], unique=False
    )

    op.create_table(
        "expiry_rules",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("repository_id", _Id, nullable=True),
        sa.Column("thresholds_days", sa.JSON(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_expiry_rules_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_expiry_rules_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_rules")),
        sa.UniqueConstraint("account_id", "repository_id", name="uq_expiry_rules_account_repository"),
    )
    op.create_index(
        "uq_expiry_rules_account_default",
        "expiry_rules",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("repository_id IS NULL"),
        postgresql_where=sa.text("repository_id IS NULL"),
    )

    op.create_table(
        "expiry_notices",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("channel_id", _Id, nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("repository_id", _Id, nullable=False),
        sa.Column("not_after", _time(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_expiry_notices_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_notices")),
        sa.UniqueConstraint(
            "channel_id", "target_kind", "target_id", "threshold_days", name="uq_expiry_notices_once"
        ),
    )
    op.create_index("ix_expiry_notices_target", "expiry_notices", ["target_kind", "target_id"], unique=False)

    op.create_table(
        "notification_deliveries",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("channel_id", _Id, nullable=False),
        sa.Column("notice_id", _Id, nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=256), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("threshold_days", sa.Integer(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["expiry_notices.id"],
            name=op.f("fk_notification_deliveries_notice_id_expiry_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        "ix_notification_deliveries_channel", "notification_deliveries", ["channel_id", "id"], unique=False
    )

    # The scan and the report select certificates by not_after across every repository.
    op.create_index("ix_certificates_not_after", "certificates", ["not_after"], unique=False)

    op.create_table(
        "scan_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scan_leases")),
    )


def downgrade() -> None:
    op.drop_table("scan_leases")
    op.drop_index("ix_certificates_not_after", table_name="certificates")
    op.drop_index("ix_notification_deliveries_channel", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_expiry_notices_target", table_name="expiry_notices")
    op.drop_table("expiry_notices")
    op.drop_index("uq_expiry_rules_account_default", table_name="expiry_rules")
    op.drop_table("expiry_rules")
    op.drop_index(op.f("ix_notification_channels_account_id"), table_name="notification_channels")
    op.drop_table("notification_channels")
