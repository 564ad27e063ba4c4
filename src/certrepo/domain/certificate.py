"""Certificates held by repositories (SPEC §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .enums import CertificateSource, CertificateStatus, RevocationReason
from .errors import CertificateExpired, CertificateRevoked, NoPrivateKey

__all__ = ["Certificate", "CertificateQuery", "San"]


@dataclass(frozen=True)
class San:
    type: str  # dns | email | uri | ip | other
    value: str


@dataclass(frozen=True)
class Certificate:
    """A stored certificate and its indexed facts. The key itself is never here: only whether one exists."""

    identifier: str
    account_id: int
    repository_id: int
    name: str | None
    custom_identifier: str | None
    common_name: str | None
    sans: tuple[San, ...]
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    key_size: int
    signature_algorithm: str
    fingerprint_sha1: str
    fingerprint_sha256: str
    is_ca: bool
    has_private_key: bool
    exportable: bool
    source: CertificateSource
    status: CertificateStatus
    pem: str
    chain_pem: str = ""
    revoked_at: datetime | None = None
    revocation_reason: RevocationReason | None = None
    issuing_ca_id: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    number: int | None = None  # the row id: Alibaba's integer CertId ({CertId}-cn-hangzhou identifiers)

    def is_expired(self, now: datetime) -> bool:
        return now > self.not_after

    def ensure_can_use_private_key(self, now: datetime) -> None:
        """Sign and encrypt need a key, an unrevoked and unexpired certificate (verify needs none of it)."""
        if self.status is CertificateStatus.REVOKED:
            raise CertificateRevoked(
                f"certificate {self.identifier} was revoked"
                + (f" on {self.revoked_at:%Y-%m-%d}" if self.revoked_at else ""),
                details={"identifier": self.identifier},
            )
        if self.is_expired(now):
            raise CertificateExpired(
                f"certificate {self.identifier} expired on {self.not_after:%Y-%m-%d}",
                details={"identifier": self.identifier},
            )

    def ensure_has_private_key(self) -> None:
        if not self.has_private_key:
            raise NoPrivateKey(
                f"certificate {self.identifier} has no private key in this repository",
                details={"identifier": self.identifier},
            )


@dataclass(frozen=True)
class CertificateQuery:
    """Filters of a certificate list (all optional). ``now`` anchors the expiry filters."""

    keyword: str | None = None
    status: CertificateStatus | None = None
    expiring_within_days: int | None = None
    expired: bool | None = None
    is_ca: bool | None = None
    source: CertificateSource | None = None
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.keyword is not None:
            cleaned = self.keyword.strip().lower()
            object.__setattr__(self, "keyword", cleaned or None)
