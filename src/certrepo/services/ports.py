"""What services need from storage and key protection, as Protocols (implemented in store/, keystore/).

Services import these, never a concrete store, so the same use cases run on SQLite, PostgreSQL and the
fakes of the unit tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from certrepo.domain.accounts import AccessKey, Account, User
from certrepo.domain.audit import AuditEvent
from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.enums import DataSource, QuotaPool, RepositoryStatus, Role
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.keystore.base import Keystore, SealedSecret

__all__ = [
    "AccessKeyStore",
    "AccountStore",
    "AuditStore",
    "CaStore",
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
    async def get(self, repository_id: int, *, for_update: bool = False) -> Repository | None: ...
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


class CaStore(Protocol):
    async def get(self, ca_id: int) -> CertificateAuthority | None: ...
    async def list(self, account_id: int) -> list[CertificateAuthority]: ...


class AuditStore(Protocol):
    async def append(self, events: Sequence[AuditEvent]) -> list[AuditEvent]: ...
    async def list(
        self,
        *,
        account_id: int,
        page: Page,
        since: datetime | None = None,
        repository_id: int | None = None,
        action: str | None = None,
    ) -> tuple[list[AuditEvent], int]: ...
    def iterate(self, *, batch: int = 1000) -> AsyncIterator[tuple[int, AuditEvent]]: ...
    async def head(self) -> tuple[int, str]: ...


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
    audit: AuditStore
    quota: QuotaStore
    nonces: NonceStore

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class MasterKeyRotation(Protocol):
    """Optional keystore capability: add a master key version and make it current."""

    def add_master_version(self) -> int: ...
