"""Certificate authorities of the private CA (SPEC §1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .enums import CaType, DataSource
from .errors import InvalidInput

__all__ = ["CertificateAuthority"]


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

    def ensure_bindable(self, data_source: DataSource) -> None:
        """Only intermediates bind to repositories; roots never do."""
        if self.type is not CaType.INTERMEDIATE:
            raise InvalidInput(
                f"CA {self.id} ({self.common_name}) is a root CA; bind an intermediate CA to a "
                f"{data_source.value} repository",
                details={"field": "ca_id"},
            )
