"""Repository lifecycle (SPEC §1): create, rename, reset, enable, delete — the console's exact rules."""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from .enums import DataSource, RepositoryStatus
from .errors import (
    ConfirmationRequired,
    InvalidInput,
    MissingParameter,
    RepositoryDisabled,
    RepositoryNotReset,
)

__all__ = [
    "DEFAULT_QPS",
    "MAX_NAME_LENGTH",
    "Binding",
    "Repository",
    "normalize_name",
    "validate_binding",
]

MAX_NAME_LENGTH = 64
DEFAULT_QPS = 1000


def normalize_name(name: str) -> str:
    """Trim and check a repository name: 1–64 characters after trimming, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidInput("name must not be empty", details={"field": "name"})
    if len(trimmed) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"name is {len(trimmed)} characters long; at most {MAX_NAME_LENGTH} are allowed",
            details={"field": "name"},
        )
    for position, char in enumerate(trimmed, start=1):
        # Cc = control, Cf = format (bidi overrides, zero-width): both make names lie about themselves.
        if unicodedata.category(char) in ("Cc", "Cf"):
            raise InvalidInput(
                f"name contains a control character (U+{ord(char):04X}) at position {position}",
                details={"field": "name"},
            )
    return trimmed


@dataclass(frozen=True)
class Binding:
    """What a data source binds: the intermediate CA (private, optional for compliant), the trust store."""

    data_source: DataSource
    ca_id: int | None = None
    trust_repository_id: int | None = None


def validate_binding(binding: Binding) -> None:
    """Check which references a data source takes (existence and types are the service's job)."""
    source = binding.data_source
    if source is DataSource.PRIVATE and binding.ca_id is None:
        raise MissingParameter(
            "a private repository needs ca_id: the intermediate CA that issues its certificates",
            details={"field": "ca_id"},
        )
    if binding.ca_id is not None and source not in (DataSource.PRIVATE, DataSource.COMPLIANT):
        raise InvalidInput(
            f"ca_id applies to private and compliant repositories, not to {source.value}",
            details={"field": "ca_id"},
        )
    if binding.trust_repository_id is not None and source is not DataSource.COMPLIANT:
        raise InvalidInput(
            f"trust_repository_id applies to compliant repositories, not to {source.value}",
            details={"field": "trust_repository_id"},
        )


@dataclass(frozen=True)
class Repository:
    """A certificate application repository. Rules return a changed copy; nothing here does I/O."""

    id: int | None
    account_id: int
    instance_id: str
    name: str
    data_source: DataSource | None
    status: RepositoryStatus
    qps: int
    ca_id: int | None
    trust_repository_id: int | None
    created_at: datetime
    updated_at: datetime
    certificate_count: int = 0

    @classmethod
    def create(
        cls,
        *,
        account_id: int,
        instance_id: str,
        name: str | None,
        binding: Binding,
        qps: int | None,
        now: datetime,
    ) -> Repository:
        """A new enabled repository; an omitted name defaults to the instance id."""
        validate_binding(binding)
        return cls(
            id=None,
            account_id=account_id,
            instance_id=instance_id,
            name=normalize_name(name) if name is not None else instance_id,
            data_source=binding.data_source,
            status=RepositoryStatus.ENABLED,
            qps=_check_qps(qps if qps is not None else DEFAULT_QPS),
            ca_id=binding.ca_id,
            trust_repository_id=binding.trust_repository_id,
            created_at=now,
            updated_at=now,
        )

    @property
    def is_enabled(self) -> bool:
        return self.status is RepositoryStatus.ENABLED

    def ensure_usable(self) -> None:
        """Any use of a reset repository (upload, issue, sign, …) fails with RepositoryDisabled."""
        if not self.is_enabled:
            raise RepositoryDisabled(
                f"repository {self.id} ({self.name}) is reset; enable it with a data source first",
                details={"repository_id": self.id},
            )

    def renamed(self, name: str, *, now: datetime) -> Repository:
        """Rename in any status."""
        return dataclasses.replace(self, name=normalize_name(name), updated_at=now)

    def with_qps(self, qps: int, *, now: datetime) -> Repository:
        return dataclasses.replace(self, qps=_check_qps(qps), updated_at=now)

    def reset(self, *, acknowledge_risk: bool, now: datetime) -> Repository:
        """Irreversible: clears the data source and bindings (the service destroys the certificates)."""
        if not self.is_enabled:
            raise RepositoryDisabled(
                f"repository {self.id} is already reset", details={"repository_id": self.id}
            )
        if acknowledge_risk is not True:
            raise ConfirmationRequired(
                "reset is irreversible: it removes every certificate of the repository and destroys "
                "their private keys; send acknowledge_risk: true to confirm",
                details={"field": "acknowledge_risk"},
            )
        return dataclasses.replace(
            self,
            status=RepositoryStatus.RESET,
            data_source=None,
            ca_id=None,
            trust_repository_id=None,
            certificate_count=0,
            updated_at=now,
        )

    def enable(self, binding: Binding, *, now: datetime) -> Repository:
        """Choose a data source again; allowed only after a reset."""
        if self.is_enabled:
            raise RepositoryNotReset(
                f"repository {self.id} is enabled; only a reset repository can be enabled",
                details={"repository_id": self.id},
            )
        validate_binding(binding)
        return dataclasses.replace(
            self,
            status=RepositoryStatus.ENABLED,
            data_source=binding.data_source,
            ca_id=binding.ca_id,
            trust_repository_id=binding.trust_repository_id,
            updated_at=now,
        )

    def ensure_deletable(self) -> None:
        """Delete only after reset."""
        if self.is_enabled:
            raise RepositoryNotReset(
                f"repository {self.id} must be reset before it can be deleted",
                details={"repository_id": self.id},
            )


def _check_qps(qps: int) -> int:
    if not 1 <= qps <= 1_000_000:
        raise InvalidInput(f"qps must be between 1 and 1000000, got {qps}", details={"field": "qps"})
    return qps
