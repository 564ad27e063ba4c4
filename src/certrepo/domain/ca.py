"""Certificate authorities of the private CA (SPEC §1.2), what they issued, and their CRLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .enums import CaType, DataSource, RevocationReason
from .errors import CertificateRevoked, InvalidInput, NoPrivateKey

__all__ = ["CertificateAuthority", "CrlRecord", "IssuedRecord", "crl_url_of", "ocsp_url_of"]


def crl_url_of(base_url: str, ca_id: int) -> str:
    """Where the CRL of CA ``ca_id`` is published (the CRL distribution point of what it issues)."""
    return f"{base_url.rstrip('/')}/crl/{ca_id}.crl"


def ocsp_url_of(base_url: str, ca_id: int) -> str:
    """The OCSP responder of CA ``ca_id`` (the AIA OCSP URL of what it issues)."""
    return f"{base_url.rstrip('/')}/ocsp/{ca_id}"


@dataclass(frozen=True)
class CertificateAuthority:
    id: int
    account_id: int
    type: CaType
    parent_id: int | None
    common_name: str | None
    key_algorithm: str
    certificate_pem: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    imported: bool
    created_at: datetime
    bound_repository_id: int | None = None
    # False for the issuers of an imported CA that came without their keys: they anchor chains only.
    has_private_key: bool = True

    @property
    def is_root(self) -> bool:
        return self.type is CaType.ROOT

    def ensure_bindable(self, data_source: DataSource) -> None:
        """Only intermediates bind to repositories; roots never do."""
        if self.type is not CaType.INTERMEDIATE:
            raise InvalidInput(
                f"CA {self.id} ({self.common_name}) is a root CA; bind an intermediate CA to a "
                f"{data_source.value} repository",
                details={"field": "ca_id"},
            )

    def ensure_can_sign(self, now: datetime) -> None:
        """The CA holds its key here and is within its validity. Raises NoPrivateKey, InvalidInput."""
        if not self.has_private_key:
            raise NoPrivateKey(
                f"CA {self.id} ({self.common_name}) was imported without its private key: it cannot sign",
                details={"ca_id": self.id},
            )
        if now >= self.not_after:
            raise InvalidInput(
                f"CA {self.id} ({self.common_name}) expired on {self.not_after:%Y-%m-%d}",
                details={"ca_id": self.id},
            )


@dataclass(frozen=True)
class IssuedRecord:
    """What a CA issued (kept after a repository reset, so that CRL and OCSP keep answering)."""

    ca_id: int
    serial_number: str  # lowercase hex, as certificates.serial_number
    certificate_identifier: str | None
    not_after: datetime
    revoked_at: datetime | None = None
    revocation_reason: RevocationReason | None = None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def ensure_not_revoked(self) -> None:
        if self.revoked_at is not None:
            raise CertificateRevoked(
                f"serial {self.serial_number} of CA {self.ca_id} was already revoked on "
                f"{self.revoked_at:%Y-%m-%d}",
                details={"ca_id": self.ca_id, "serial_number": self.serial_number},
            )


@dataclass(frozen=True)
class CrlRecord:
    """The current CRL of a CA, as published."""

    ca_id: int
    crl_number: int
    der: bytes
    this_update: datetime
    next_update: datetime
