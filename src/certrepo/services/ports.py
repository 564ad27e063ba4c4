"""What services need from storage and key protection, as Protocols (implemented in store/, keystore/).

Services import these, never a concrete store, so the same use cases run on SQLite, PostgreSQL and the
fakes of the unit tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from certrepo.domain.accounts import AccessKey, Account, User
from certrepo.domain.audit import AuditEvent, KeyUseRecord
from certrepo.domain.ca import CertificateAuthority, CrlRecord, IssuedRecord
from certrepo.domain.certificate import Certificate, CertificateQuery
from certrepo.domain.enums import CaType, DataSource, QuotaPool, RepositoryStatus, RevocationReason, Role
from certrepo.domain.errors import QuotaExhausted
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.domain.secrets import SealedSecret

__all__ = [
    "AccessKeyStore",
    "AccountStore",
    "AuditStore",
    "CaStore",
    "CertificateStore",
    "Clock",
    "KeyMaterialStore",
    "Keystore",
    "MasterKeyRotation",
    "NonceStore",
    "QuotaStore",
    "RandomBytes",
    "RepositoryStore",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserStore",
]

Clock = Callable[[], datetime]
RandomBytes = Callable[[int], bytes]


class AccountStore(Protocol):
    async def add(self, name: str, *, now: datetime) -> Account: ...
    async def get(self, account_id: int) -> Account | None: ...
    async def get_by_name(self, name: str) -> Account | None: ...
    async def list(self) -> list[Account]: ...
    async def count(self) -> int: ...


class UserStore(Protocol):
    async def add(
        self,
        *,
        account_id: int,
        name: str,
        role: Role,
        password_hash: str | None,
        is_system_admin: bool,
        now: datetime,
    ) -> User: ...
    async def get(self, user_id: int) -> User | None: ...
    async def get_by_name(self, name: str) -> User | None: ...
    async def list(self, account_id: int) -> list[User]: ...
    async def update(self, user: User) -> None: ...
    async def delete(self, user_id: int) -> None: ...
    async def grant(self, user_id: int, repository_id: int, *, now: datetime) -> None: ...
    async def revoke_grant(self, user_id: int, repository_id: int) -> bool: ...
    async def granted_repository_ids(self, user_id: int) -> frozenset[int]: ...


class AccessKeyStore(Protocol):
    async def add(
        self, *, key_id: str, user_id: int, secret_id: int, description: str | None, now: datetime
    ) -> AccessKey: ...
    async def get_with_user(self, key_id: str) -> tuple[AccessKey, User, int | None] | None: ...
    async def get(self, key_id: str) -> AccessKey | None: ...
    async def list(self, *, account_id: int, user_id: int | None = None) -> list[tuple[AccessKey, str]]: ...
    async def revoke(self, key_id: str, *, now: datetime) -> int | None: ...
    async def delete_for_user(self, user_id: int) -> list[int]: ...


class KeyMaterialStore(Protocol):
    async def add(self, sealed: SealedSecret, *, purpose: str, now: datetime) -> int: ...
    async def get(self, secret_id: int) -> SealedSecret | None: ...
    async def destroy(self, secret_ids: Sequence[int]) -> None: ...
    async def ids_not_at_version(self, version: int, *, limit: int) -> list[int]: ...
    async def replace(self, secret_id: int, sealed: SealedSecret) -> None: ...
    async def count_by_version(self) -> dict[int, int]: ...


class RepositoryStore(Protocol):
    async def add(self, repository: Repository) -> Repository: ...
    async def update(self, repository: Repository) -> Repository: ...
    async def get(
        self, repository_id: int, *, for_update: bool = False, with_count: bool = True
    ) -> Repository | None: ...
    async def get_by_instance_id(self, instance_id: str) -> Repository | None: ...
    async def get_by_ca(self, ca_id: int) -> Repository | None: ...
    async def list(
        self,
        *,
        account_id: int,
        page: Page,
        name: str | None = None,
        data_source: DataSource | None = None,
        status: RepositoryStatus | None = None,
        only_ids: frozenset[int] | None = None,
    ) -> tuple[list[Repository], int]: ...
    async def dependents(self, repository_id: int) -> list[Repository]: ...
    async def delete(self, repository_id: int) -> None: ...
    async def purge_certificates(self, repository_id: int) -> list[int]: ...


class CertificateStore(Protocol):
    async def add(self, certificate: Certificate, *, key_id: int | None) -> Certificate: ...
    async def find_by_fingerprint(
        self, repository_id: int, fingerprint_sha256: str
    ) -> Certificate | None: ...
    async def get(self, identifier: str) -> Certificate | None: ...
    async def get_by_number(self, number: int) -> Certificate | None: ...
    async def get_by_custom_identifier(
        self, account_id: int, custom_identifier: str
    ) -> Certificate | None: ...
    async def sealed_key(self, identifier: str) -> tuple[int, SealedSecret] | None: ...
    async def list(
        self, repository_id: int, query: CertificateQuery, page: Page
    ) -> tuple[list[Certificate], int]: ...
    async def all_in_repository(
        self, repository_id: int, *, is_ca: bool | None = None
    ) -> list[Certificate]: ...
    async def delete(self, identifier: str) -> int | None: ...
    async def mark_revoked(self, identifier: str, *, at: datetime, reason: RevocationReason) -> None: ...
    async def expiring(
        self, account_id: int, *, now: datetime, within_days: int, limit: int
    ) -> list[Certificate]: ...


class CaStore(Protocol):
    """CAs, what they issued, and their CRLs (store/cas.py)."""

    async def get(self, ca_id: int) -> CertificateAuthority | None: ...
    async def add(
        self,
        *,
        account_id: int,
        type: CaType,
        parent_id: int | None,
        common_name: str | None,
        key_algorithm: str,
        certificate_pem: str,
        serial_number: str,
        not_before: datetime,
        not_after: datetime,
        imported: bool,
        key_id: int | None,
        now: datetime,
    ) -> CertificateAuthority: ...
    async def sealed_key(self, ca_id: int) -> SealedSecret | None: ...
    async def reserve_serial(self, record: IssuedRecord) -> bool: ...
    async def issued(self, ca_id: int, serial_number: str) -> IssuedRecord | None: ...
    async def mark_revoked(
        self, ca_id: int, serial_number: str, *, at: datetime, reason: RevocationReason
    ) -> bool: ...
    async def revoked_entries(self, ca_id: int, *, unexpired_at: datetime) -> list[IssuedRecord]: ...
    async def next_crl_number(self, ca_id: int) -> int: ...
    async def save_crl(self, record: CrlRecord) -> None: ...
    async def crl(self, ca_id: int) -> CrlRecord | None: ...
    async def list(self, account_id: int) -> list[CertificateAuthority]: ...


class AuditStore(Protocol):
    async def append(self, events: Sequence[AuditEvent]) -> None: ...
    async def list(
        self,
        *,
        account_id: int,
        page: Page,
        since: datetime | None = None,
        repository_id: int | None = None,
        action: str | None = None,
    ) -> tuple[list[AuditEvent], int]: ...
    def iterate(self, *, batch: int = 1000, through: int | None = None) -> AsyncIterator[tuple[int, AuditEvent]]: ...
    async def head(self) -> tuple[int, str]: ...
    async def last_sequence(self) -> int: ...
    async def mutation_epoch(self) -> int: ...


class QuotaStore(Protocol):
    async def get(self, account_id: int) -> dict[QuotaPool, tuple[int | None, int]]: ...
    async def set_total(self, account_id: int, pool: QuotaPool, total: int | None) -> None: ...
    async def consume(self, account_id: int, pool: QuotaPool, units: int = 1) -> None: ...


class NonceStore(Protocol):
    async def remember(self, nonce: str, *, access_key_id: str, now: datetime) -> bool: ...
    async def purge_before(self, cutoff: datetime) -> None: ...


class UnitOfWork(Protocol):
    accounts: AccountStore
    users: UserStore
    access_keys: AccessKeyStore
    key_material: KeyMaterialStore
    repositories: RepositoryStore
    cas: CaStore
    certificates: CertificateStore
    audit: AuditStore
    quota: QuotaStore
    nonces: NonceStore

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...

    async def record_key_uses(self, records: Sequence[KeyUseRecord]) -> list[QuotaExhausted | None]:
        """Consume the records' quota units and append their audit events in one transaction of its own;
        per record None or the QuotaExhausted its call gets (the event is then stored as refused)."""
        ...


class Keystore(Protocol):
    """Envelope encryption of secrets. ``purpose`` is bound into the ciphertext as associated data."""

    def seal(self, plaintext: bytes, *, purpose: str) -> SealedSecret:
        """Encrypt ``plaintext`` under a fresh data key wrapped by the current master key."""
        ...

    def open(self, sealed: SealedSecret, *, purpose: str) -> bytes:
        """Decrypt; raises KeystoreError if the secret was altered or its master key is unknown."""
        ...

    def rewrap(self, sealed: SealedSecret) -> SealedSecret:
        """Re-wrap the data key under the current master key; the ciphertext is unchanged."""
        ...

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for ``label``, the same on every node sharing the master key."""
        ...


class MasterKeyRotation(Protocol):
    """Optional keystore capability: add a master key version and make it current."""

    def add_master_version(self) -> int: ...


# --- expiry monitoring and notifications (issue 9) --------------------------------------------------
# Appended apart so that it merges cleanly; the unit of work carries it as ``uow.notifications``.

from certrepo.domain.notifications import (
    Channel,
    Delivery,
    EmailConfig,
    ExpiryRules,
    Monitored,
    NoticeRecord,
    NoticeStatus,
    WebhookConfig,
)

__all__ += ["NotificationStore", "NotifyingUnitOfWork"]


class NotificationStore(Protocol):
    async def add_channel(
        self,
        *,
        account_id: int,
        name: str,
        config: WebhookConfig | EmailConfig,
        secret_id: int | None,
        now: datetime,
    ) -> Channel: ...
    async def channel_name_taken(self, account_id: int, name: str) -> bool: ...
    async def get_channel(self, channel_id: int) -> Channel | None: ...
    async def list_channels(
        self, account_id: int | None = None, *, enabled_only: bool = False
    ) -> list[Channel]: ...
    async def delete_channel(self, channel_id: int) -> None: ...
    async def get_rules(self, account_id: int) -> ExpiryRules: ...
    async def set_rule(
        self, account_id: int, repository_id: int | None, days: tuple[int, ...] | None, *, now: datetime
    ) -> None: ...
    async def acquire_lease(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool: ...
    async def release_lease(self, name: str, *, holder: str, now: datetime) -> None: ...
    async def monitored(
        self, *, not_after_to: datetime, not_after_from: datetime | None = None, account_id: int | None = None
    ) -> list[Monitored]: ...
    async def renewal_peers(self, targets: Sequence[Monitored]) -> list[Monitored]: ...
    async def count_by_expiry_bucket(self, now: datetime) -> dict[str, int]: ...
    async def notices_for(
        self, channel_ids: Sequence[int], target_ids: Sequence[str]
    ) -> list[NoticeRecord]: ...
    async def claim_notice(
        self, *, channel_id: int, target: Monitored, threshold_days: int, holder: str, now: datetime
    ) -> int | None: ...
    async def reclaim_notice(
        self, notice_id: int, *, holder: str, now: datetime, stale_before: datetime
    ) -> bool: ...
    async def finish_notice(
        self, notice_id: int, *, status: NoticeStatus, attempts: int, status_code: int | None, now: datetime
    ) -> None: ...
    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> None: ...
    async def list_deliveries(self, channel_id: int, page: Page) -> tuple[list[Delivery], int]: ...


class NotifyingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work with the notification store (the SQL one always has it)."""

    notifications: NotificationStore
