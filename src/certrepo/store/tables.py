"""The schema. Invariants that must hold across nodes are constraints here, not code elsewhere:
one repository per intermediate CA (``repositories.ca_id`` unique), unique serial per CA
(``ca_issued`` primary key), one quota row per pool (guarded UPDATE), one audit head row (locked append)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UtcDateTime", "metadata"]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: store UTC, hand back aware)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database layer")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids autoincrement on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")
Time = UtcDateTime()

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", Time, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused after a delete (WhId, audit references)
)

key_material = Table(
    "key_material",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("purpose", String(32), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("wrap_nonce", LargeBinary, nullable=False),
    Column("master_version", Integer, nullable=False, index=True),
    Column("created_at", Time, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("is_system_admin", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", Time, nullable=True),
    Column("created_at", Time, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused after a delete (WhId, audit references)
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("secret_id", Id, ForeignKey("key_material.id"), nullable=True),
    Column("description", String(128), nullable=True),
    Column("created_at", Time, nullable=False),
    Column("revoked_at", Time, nullable=True),
)

cas = Table(
    "cas",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("type", String(16), nullable=False),
    Column("parent_id", Id, ForeignKey("cas.id"), nullable=True),
    Column("common_name", String(256), nullable=True),
    Column("key_algorithm", String(16), nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("key_id", Id, ForeignKey("key_material.id"), nullable=True),
    Column("serial_number", String(64), nullable=False),
    Column("not_before", Time, nullable=False),
    Column("not_after", Time, nullable=False),
    Column("imported", Boolean, nullable=False, default=False),
    Column("crl_number", BigInteger, nullable=False, default=0),
    Column("created_at", Time, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused after a delete (WhId, audit references)
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("instance_id", String(32), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("data_source", String(16), nullable=True),
    Column("status", String(16), nullable=False),
    Column("qps", Integer, nullable=False),
    # unique: an intermediate CA binds to at most one repository, whatever node does the binding.
    Column("ca_id", Id, ForeignKey("cas.id"), nullable=True, unique=True),
    Column("trust_repository_id", Id, ForeignKey("repositories.id"), nullable=True, index=True),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_repositories_account_name", "account_id", "name"),
    sqlite_autoincrement=True,  # ids are never reused after a delete (WhId, audit references)
)

grants = Table(
    "grants",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("repository_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Time, nullable=False),
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("identifier", String(64), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("repository_id", Id, ForeignKey("repositories.id"), nullable=False),
    Column("name", String(128), nullable=True),
    Column("custom_identifier", String(128), nullable=True),
    Column("common_name", String(256), nullable=True),
    Column("sans", JSON, nullable=False),
    Column("search_text", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("serial_number", String(64), nullable=False),
    Column("not_before", Time, nullable=False),
    Column("not_after", Time, nullable=False),
    Column("key_algorithm", String(16), nullable=False),
    Column("key_size", Integer, nullable=False),
    Column("signature_algorithm", String(32), nullable=False),
    Column("fingerprint_sha1", String(40), nullable=False),
    Column("fingerprint_sha256", String(64), nullable=False),
    Column("is_ca", Boolean, nullable=False),
    Column("key_id", Id, ForeignKey("key_material.id"), nullable=True),
    Column("exportable", Boolean, nullable=False, default=False),
    Column("source", String(8), nullable=False),
    Column("status", String(8), nullable=False),
    Column("revoked_at", Time, nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Column("issuing_ca_id", Id, ForeignKey("cas.id"), nullable=True),
    Column("pem", Text, nullable=False),
    Column("chain_pem", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("repository_id", "fingerprint_sha256", name="uq_certificates_repository_fp"),
    UniqueConstraint("account_id", "custom_identifier", name="uq_certificates_account_custom"),
    Index("ix_certificates_repository_created", "repository_id", "id"),
    Index("ix_certificates_repository_not_after", "repository_id", "not_after"),
    Index("ix_certificates_repository_status", "repository_id", "status", "id"),
    Index("ix_certificates_fingerprint", "fingerprint_sha256"),
)

# What a CA issued stays here after a repository reset, so that CRL and OCSP keep answering.
ca_issued = Table(
    "ca_issued",
    metadata,
    Column("ca_id", Id, ForeignKey("cas.id"), primary_key=True),
    Column("serial_number", String(64), primary_key=True),  # unique serial per CA, enforced here
    Column("certificate_identifier", String(64), nullable=True),
    Column("not_after", Time, nullable=False),
    Column("revoked_at", Time, nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Index("ix_ca_issued_revoked", "ca_id", "revoked_at"),
)

crls = Table(
    "crls",
    metadata,
    Column("ca_id", Id, ForeignKey("cas.id"), primary_key=True),
    Column("crl_number", BigInteger, nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("this_update", Time, nullable=False),
    Column("next_update", Time, nullable=False),
)

quota_pools = Table(
    "quota_pools",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("pool", String(16), primary_key=True),
    Column("total", BigInteger, nullable=True),  # NULL = unlimited
    Column("used", BigInteger, nullable=False, default=0),
    CheckConstraint("total IS NULL OR used <= total", name="not_over_consumed"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", Id, nullable=False),
    Column("at", Time, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("repository_id", Id, nullable=True),
    Column("certificate_id", String(64), nullable=True),
    Column("algorithm", String(32), nullable=True),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_account_sequence", "account_id", "sequence"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    # Advanced by every audited mutation (not by key uses): nodes poll it to drop their caches.
    Column("mutations", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("id = 1", name="single_row"),
)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("access_key_id", String(32), nullable=False),
    Column("seen_at", Time, nullable=False, index=True),
)

# --- expiry monitoring and notifications (issue 9) --------------------------------------------------

notification_channels = Table(
    "notification_channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("config", JSON, nullable=False),  # url, or SMTP host/port/… ; never a secret
    Column("secret_id", Id, ForeignKey("key_material.id"), nullable=True),  # webhook secret, SMTP password
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_notification_channels_account_name"),
)

# Thresholds: one row per account (repository_id NULL) and one per overriding repository.
expiry_rules = Table(
    "expiry_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("repository_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=True),
    Column("thresholds_days", JSON, nullable=False),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("account_id", "repository_id", name="uq_expiry_rules_account_repository"),
)
# NULLs are distinct in a unique constraint: a partial unique index keeps one account-wide row.
Index(
    "uq_expiry_rules_account_default",
    expiry_rules.c.account_id,
    unique=True,
    sqlite_where=expiry_rules.c.repository_id.is_(None),
    postgresql_where=expiry_rules.c.repository_id.is_(None),
)

# The notified(channel, target, threshold) key: a notice exists at most once, whichever node claims it.
# No foreign key to certificates or repositories: they may be deleted while their notices stay on record.
expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False),
    Column("target_kind", String(16), nullable=False),  # certificate | ca
    Column("target_id", String(64), nullable=False),  # certificate identifier | CA id
    Column("threshold_days", Integer, nullable=False),  # 0 = the final notice of an expired target
    Column("account_id", Id, nullable=False),
    Column("repository_id", Id, nullable=False),
    Column("not_after", Time, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("claimed_by", String(64), nullable=False),
    Column("claimed_at", Time, nullable=False),
    Column("finished_at", Time, nullable=True),
    UniqueConstraint(
        "channel_id", "target_kind", "target_id", "threshold_days", name="uq_expiry_notices_once"
    ),
    Index("ix_expiry_notices_target", "target_kind", "target_id"),
)

# The delivery log: one row per attempt, with the HTTP status or SMTP reply code.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False),
    Column("notice_id", Id, ForeignKey("expiry_notices.id", ondelete="CASCADE"), nullable=True),
    Column("event", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(256), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("threshold_days", Integer, nullable=True),
    Column("created_at", Time, nullable=False),
    Index("ix_notification_deliveries_channel", "channel_id", "id"),
)

# One node at a time runs the expiry scan: whoever holds the unexpired lease row (guarded UPDATE).
scan_leases = Table(
    "scan_leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=True),
    Column("expires_at", Time, nullable=False),
)

# The expiry scan and report select certificates by not_after across repositories (all accounts).
Index("ix_certificates_not_after", certificates.c.not_after)
