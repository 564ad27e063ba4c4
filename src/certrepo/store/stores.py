"""Stores: rows to domain objects and back, explicitly. Encrypted blobs never leave store and keystore."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, column, delete, func, insert, literal, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from certrepo.domain.accounts import AccessKey, Account, User
from certrepo.domain.audit import AuditEvent
from certrepo.domain.enums import DataSource, QuotaPool, RepositoryStatus, Role
from certrepo.domain.errors import CaAlreadyBound, InvalidInput
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.keystore.base import SealedSecret

from .ledger_sql import append_audit_events, consume_quota, ensure_quota_row
from .tables import (
    access_keys,
    accounts,
    audit_events,
    audit_head,
    certificates,
    grants,
    key_material,
    quota_pools,
    repositories,
    request_nonces,
    users,
)

__all__ = [
    "AccessKeyStore",
    "AccountStore",
    "AuditStore",
    "KeyMaterialStore",
    "NonceStore",
    "QuotaStore",
    "RepositoryStore",
    "UserStore",
]


class _Prefixed:
    """Attribute access to the ``prefix``-labelled columns of a joined row."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


class _Store:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _one(self, statement: Any) -> Any:
        return (await self._session.execute(statement)).first()


# --- accounts and users -----------------------------------------------------------------------------


def _account(row: Any) -> Account:
    return Account(id=row.id, name=row.name, created_at=row.created_at)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        role=Role(row.role),
        is_system_admin=row.is_system_admin,
        created_at=row.created_at,
        password_hash=row.password_hash,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
    )


class AccountStore(_Store):
    async def add(self, name: str, *, now: datetime) -> Account:
        result = await self._session.execute(
            insert(accounts).values(name=name, created_at=now).returning(accounts)
        )
        return _account(result.one())

    async def get(self, account_id: int) -> Account | None:
        row = await self._one(select(accounts).where(accounts.c.id == account_id))
        return _account(row) if row else None

    async def get_by_name(self, name: str) -> Account | None:
        row = await self._one(select(accounts).where(accounts.c.name == name))
        return _account(row) if row else None

    async def list(self) -> list[Account]:
        rows = await self._session.execute(select(accounts).order_by(accounts.c.id))
        return [_account(r) for r in rows]

    async def count(self) -> int:
        return int((await self._session.execute(select(func.count()).select_from(accounts))).scalar_one())


class UserStore(_Store):
    async def add(
        self,
        *,
        account_id: int,
        name: str,
        role: Role,
        password_hash: str | None,
        is_system_admin: bool,
        now: datetime,
    ) -> User:
        result = await self._session.execute(
            insert(users)
            .values(
                account_id=account_id,
                name=name,
                role=role.value,
                password_hash=password_hash,
                is_system_admin=is_system_admin,
                failed_logins=0,
                created_at=now,
            )
            .returning(users)
        )
        return _user(result.one())

    async def get(self, user_id: int) -> User | None:
        row = await self._one(select(users).where(users.c.id == user_id))
        return _user(row) if row else None

    async def get_by_name(self, name: str) -> User | None:
        row = await self._one(select(users).where(users.c.name == name))
        return _user(row) if row else None

    async def list(self, account_id: int) -> list[User]:
        rows = await self._session.execute(
            select(users).where(users.c.account_id == account_id).order_by(users.c.id)
        )
        return [_user(r) for r in rows]

    async def update(self, user: User) -> None:
        await self._session.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(
                role=user.role.value,
                password_hash=user.password_hash,
                failed_logins=user.failed_logins,
                locked_until=user.locked_until,
            )
        )

    async def delete(self, user_id: int) -> None:
        await self._session.execute(delete(grants).where(grants.c.user_id == user_id))
        await self._session.execute(delete(users).where(users.c.id == user_id))

    async def grant(self, user_id: int, repository_id: int, *, now: datetime) -> None:
        exists = await self._one(
            select(grants.c.user_id).where(
                and_(grants.c.user_id == user_id, grants.c.repository_id == repository_id)
            )
        )
        if not exists:
            await self._session.execute(
                insert(grants).values(user_id=user_id, repository_id=repository_id, created_at=now)
            )

    async def revoke_grant(self, user_id: int, repository_id: int) -> bool:
        result = await self._session.execute(
            delete(grants).where(and_(grants.c.user_id == user_id, grants.c.repository_id == repository_id))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def granted_repository_ids(self, user_id: int) -> frozenset[int]:
        rows = await self._session.execute(
            select(grants.c.repository_id).where(grants.c.user_id == user_id)
        )
        return frozenset(r.repository_id for r in rows)


# --- access keys and secrets ------------------------------------------------------------------------


def _access_key(row: Any) -> AccessKey:
    return AccessKey(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        description=row.description,
    )


class AccessKeyStore(_Store):
    async def add(
        self, *, key_id: str, user_id: int, secret_id: int, description: str | None, now: datetime
    ) -> AccessKey:
        result = await self._session.execute(
            insert(access_keys)
            .values(id=key_id, user_id=user_id, secret_id=secret_id, description=description, created_at=now)
            .returning(access_keys)
        )
        return _access_key(result.one())

    async def get_with_user(self, key_id: str) -> tuple[AccessKey, User, int | None] | None:
        """The key, its user and the id of its sealed secret (None once revoked), in one query."""
        user_columns = [c.label(f"u_{c.name}") for c in users.c]
        row = await self._one(
            select(access_keys, *user_columns)
            .join(users, users.c.id == access_keys.c.user_id)
            .where(access_keys.c.id == key_id)
        )
        if row is None:
            return None
        user = _user(_Prefixed(row, "u_"))
        return _access_key(row), user, row.secret_id

    async def get(self, key_id: str) -> AccessKey | None:
        row = await self._one(select(access_keys).where(access_keys.c.id == key_id))
        return _access_key(row) if row else None

    async def list(self, *, account_id: int, user_id: int | None = None) -> list[tuple[AccessKey, str]]:
        statement = (
            select(access_keys, users.c.name.label("user_name"))
            .join(users, users.c.id == access_keys.c.user_id)
            .where(users.c.account_id == account_id)
            .order_by(access_keys.c.created_at)
        )
        if user_id is not None:
            statement = statement.where(access_keys.c.user_id == user_id)
        rows = await self._session.execute(statement)
        return [(_access_key(r), r.user_name) for r in rows]

    async def revoke(self, key_id: str, *, now: datetime) -> int | None:
        """Mark revoked; returns the secret id so the caller can destroy it."""
        row = await self._one(select(access_keys.c.secret_id).where(access_keys.c.id == key_id))
        await self._session.execute(
            update(access_keys).where(access_keys.c.id == key_id).values(revoked_at=now, secret_id=None)
        )
        return row.secret_id if row else None

    async def delete_for_user(self, user_id: int) -> list[int]:
        rows = await self._session.execute(
            select(access_keys.c.secret_id).where(access_keys.c.user_id == user_id)
        )
        secret_ids = [r.secret_id for r in rows if r.secret_id is not None]
        await self._session.execute(delete(access_keys).where(access_keys.c.user_id == user_id))
        return secret_ids


def sealed_secret_of(row: Any) -> SealedSecret:
    """The SealedSecret of a key_material row."""
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_key=row.wrapped_key,
        wrap_nonce=row.wrap_nonce,
        master_version=row.master_version,
    )


class KeyMaterialStore(_Store):
    async def add(self, sealed: SealedSecret, *, purpose: str, now: datetime) -> int:
        result = await self._session.execute(
            insert(key_material)
            .values(
                purpose=purpose,
                ciphertext=sealed.ciphertext,
                nonce=sealed.nonce,
                wrapped_key=sealed.wrapped_key,
                wrap_nonce=sealed.wrap_nonce,
                master_version=sealed.master_version,
                created_at=now,
            )
            .returning(key_material.c.id)
        )
        return int(result.scalar_one())

    async def get(self, secret_id: int) -> SealedSecret | None:
        row = await self._one(select(key_material).where(key_material.c.id == secret_id))
        return sealed_secret_of(row) if row else None

    async def destroy(self, secret_ids: Sequence[int]) -> None:
        """Overwrite, then delete: the ciphertext is gone from the row before the row goes."""
        ids = [i for i in secret_ids if i is not None]
        if not ids:
            return
        zero = b"\x00" * 32
        await self._session.execute(
            update(key_material)
            .where(key_material.c.id.in_(ids))
            .values(ciphertext=zero, wrapped_key=zero, nonce=zero[:12], wrap_nonce=zero[:12])
        )
        await self._session.execute(delete(key_material).where(key_material.c.id.in_(ids)))

    async def ids_not_at_version(self, version: int, *, limit: int) -> list[int]:
        rows = await self._session.execute(
            select(key_material.c.id)
            .where(key_material.c.master_version != version)
            .order_by(key_material.c.id)
            .limit(limit)
        )
        return [r.id for r in rows]

    async def replace(self, secret_id: int, sealed: SealedSecret) -> None:
        await self._session.execute(
            update(key_material)
            .where(key_material.c.id == secret_id)
            .values(
                wrapped_key=sealed.wrapped_key,
                wrap_nonce=sealed.wrap_nonce,
                master_version=sealed.master_version,
            )
        )

    async def count_by_version(self) -> dict[int, int]:
        rows = await self._session.execute(
            select(key_material.c.master_version, func.count()).group_by(key_material.c.master_version)
        )
        return {int(v): int(n) for v, n in rows}


# --- repositories -----------------------------------------------------------------------------------

# Read from the trigger-maintained counters of migration 0002: counting the rows themselves costs ~70 ms
# per repository load at a million certificates.
_counts = table("certificate_counts", column("repository_id"), column("total"))
_certificate_count = (
    select(func.coalesce(func.sum(_counts.c.total), 0))
    .where(_counts.c.repository_id == repositories.c.id)
    .correlate(repositories)
    .scalar_subquery()
    .label("certificate_count")
)


def _repository(row: Any) -> Repository:
    return Repository(
        id=row.id,
        account_id=row.account_id,
        instance_id=row.instance_id,
        name=row.name,
        data_source=DataSource(row.data_source) if row.data_source else None,
        status=RepositoryStatus(row.status),
        qps=row.qps,
        ca_id=row.ca_id,
        trust_repository_id=row.trust_repository_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        certificate_count=int(row.certificate_count or 0),
    )


def _repository_values(repository: Repository) -> dict[str, Any]:
    return {
        "account_id": repository.account_id,
        "instance_id": repository.instance_id,
        "name": repository.name,
        "data_source": repository.data_source.value if repository.data_source else None,
        "status": repository.status.value,
        "qps": repository.qps,
        "ca_id": repository.ca_id,
        "trust_repository_id": repository.trust_repository_id,
        "created_at": repository.created_at,
        "updated_at": repository.updated_at,
    }


class RepositoryStore(_Store):
    async def add(self, repository: Repository) -> Repository:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    insert(repositories).values(**_repository_values(repository)).returning(repositories.c.id)
                )
        except IntegrityError as exc:
            self._raise_bound(exc, repository)
            raise
        return await self._require(int(result.scalar_one()))

    async def update(self, repository: Repository) -> Repository:
        assert repository.id is not None
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(repositories)
                    .where(repositories.c.id == repository.id)
                    .values(**_repository_values(repository))
                )
        except IntegrityError as exc:
            self._raise_bound(exc, repository)
            raise
        return await self._require(repository.id)

    @staticmethod
    def _raise_bound(exc: IntegrityError, repository: Repository) -> None:
        # The unique constraint on ca_id is what decides a race between nodes binding one CA.
        if repository.ca_id is not None and "ca_id" in str(exc.orig).lower():
            raise CaAlreadyBound(
                f"CA {repository.ca_id} is already bound to another repository",
                details={"ca_id": repository.ca_id},
            ) from exc

    async def _require(self, repository_id: int) -> Repository:
        found = await self.get(repository_id)
        assert found is not None
        return found

    async def get(
        self, repository_id: int, *, for_update: bool = False, with_count: bool = True
    ) -> Repository | None:
        """One repository; ``with_count=False`` skips counting its certificates (hot paths)."""
        counted = _certificate_count if with_count else literal(0).label("certificate_count")
        statement = select(repositories, counted).where(repositories.c.id == repository_id)
        if for_update:
            # FOR NO KEY UPDATE on PostgreSQL: the key never changes, and a plain FOR UPDATE conflicts with
            # the FOR KEY SHARE that inserting a certificate_counts row takes (a deadlock with a first
            # revocation racing an issuance, found by the two-node tests).
            statement = statement.with_for_update(of=repositories, key_share=True)
        row = await self._one(statement)
        return _repository(row) if row else None

    async def get_by_instance_id(self, instance_id: str) -> Repository | None:
        row = await self._one(
            select(repositories, _certificate_count).where(repositories.c.instance_id == instance_id)
        )
        return _repository(row) if row else None

    async def get_by_ca(self, ca_id: int) -> Repository | None:
        row = await self._one(select(repositories, _certificate_count).where(repositories.c.ca_id == ca_id))
        return _repository(row) if row else None

    async def list(
        self,
        *,
        account_id: int,
        page: Page,
        name: str | None = None,
        data_source: DataSource | None = None,
        status: RepositoryStatus | None = None,
        only_ids: frozenset[int] | None = None,
    ) -> tuple[list[Repository], int]:
        condition = repositories.c.account_id == account_id
        if name:
            condition = and_(condition, func.lower(repositories.c.name).contains(name.lower(), autoescape=True))
        if data_source is not None:
            condition = and_(condition, repositories.c.data_source == data_source.value)
        if status is not None:
            condition = and_(condition, repositories.c.status == status.value)
        if only_ids is not None:
            condition = and_(condition, repositories.c.id.in_(sorted(only_ids)))
        total = (
            await self._session.execute(select(func.count()).select_from(repositories).where(condition))
        ).scalar_one()
        rows = await self._session.execute(
            select(repositories, _certificate_count)
            .where(condition)
            .order_by(repositories.c.id)
            .offset(page.offset)
            .limit(page.size)
        )
        return [_repository(r) for r in rows], int(total)

    async def dependents(self, repository_id: int) -> list[Repository]:
        """Compliant repositories that name ``repository_id`` as their trust repository."""
        rows = await self._session.execute(
            select(repositories, _certificate_count).where(
                repositories.c.trust_repository_id == repository_id
            )
        )
        return [_repository(r) for r in rows]

    async def delete(self, repository_id: int) -> None:
        await self._session.execute(delete(grants).where(grants.c.repository_id == repository_id))
        await self._session.execute(delete(repositories).where(repositories.c.id == repository_id))

    async def purge_certificates(self, repository_id: int) -> list[int]:
        """Remove every certificate of the repository; returns the key ids to destroy."""
        rows = await self._session.execute(
            select(certificates.c.key_id).where(certificates.c.repository_id == repository_id)
        )
        key_ids = [r.key_id for r in rows if r.key_id is not None]
        await self._session.execute(delete(certificates).where(certificates.c.repository_id == repository_id))
        return key_ids


# --- audit ------------------------------------------------------------------------------------------


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.sequence,
        account_id=row.account_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        outcome=row.outcome,
        request_id=row.request_id,
        repository_id=row.repository_id,
        certificate_id=row.certificate_id,
        algorithm=row.algorithm,
        details=row.details or {},
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditStore(_Store):
    mutated = False  # set when this unit of work appended a mutation (not only key uses)

    async def mutation_epoch(self) -> int:
        """The counter every audited mutation advances (see migration 0004)."""
        return int((await self._session.execute(select(audit_head.c.mutations).where(audit_head.c.id == 1))).scalar_one())

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Append to the chain (ledger_sql.append_audit_events: the head row is locked, so concurrent
        writers on any node form one linear chain)."""
        mutated = await self._session.run_sync(lambda s: append_audit_events(s.connection(), events))
        self.mutated = self.mutated or mutated

    async def list(
        self,
        *,
        account_id: int,
        page: Page,
        since: datetime | None = None,
        repository_id: int | None = None,
        action: str | None = None,
    ) -> tuple[list[AuditEvent], int]:
        condition = audit_events.c.account_id == account_id
        if since is not None:
            condition = and_(condition, audit_events.c.at >= since)
        if repository_id is not None:
            condition = and_(condition, audit_events.c.repository_id == repository_id)
        if action:
            condition = and_(condition, audit_events.c.action == action)
        total = (
            await self._session.execute(select(func.count()).select_from(audit_events).where(condition))
        ).scalar_one()
        rows = await self._session.execute(
            select(audit_events)
            .where(condition)
            .order_by(audit_events.c.sequence.desc())
            .offset(page.offset)
            .limit(page.size)
        )
        return [_event(r) for r in rows], int(total)

    async def iterate(
        self, *, batch: int = 1000, through: int | None = None
    ) -> AsyncIterator[tuple[int, AuditEvent]]:
        """Every event in sequence order (up to sequence ``through``), in batches (for verification)."""
        last = 0
        bound = audit_events.c.sequence <= through if through is not None else literal(True)
        while True:
            rows = (
                await self._session.execute(
                    select(audit_events)
                    .where(and_(audit_events.c.sequence > last, bound))
                    .order_by(audit_events.c.sequence)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.sequence), _event(row)
            last = int(rows[-1].sequence)

    async def head(self) -> tuple[int, str]:
        row = (await self._session.execute(select(audit_head).where(audit_head.c.id == 1))).one()
        return int(row.sequence), row.hash

    async def last_sequence(self) -> int:
        """The highest stored sequence (0 for none)."""
        return int((await self._session.execute(select(func.coalesce(func.max(audit_events.c.sequence), 0)))).scalar_one())


# --- quota ------------------------------------------------------------------------------------------


class QuotaStore(_Store):
    async def get(self, account_id: int) -> dict[QuotaPool, tuple[int | None, int]]:
        """{pool: (total, used)}; a pool without a row is unlimited and unused."""
        rows = await self._session.execute(select(quota_pools).where(quota_pools.c.account_id == account_id))
        found = {QuotaPool(r.pool): (r.total, int(r.used)) for r in rows}
        return {pool: found.get(pool, (None, 0)) for pool in QuotaPool}

    async def _ensure_row(self, account_id: int, pool: QuotaPool) -> None:
        await self._session.run_sync(lambda s: ensure_quota_row(s.connection(), account_id, pool))

    async def set_total(self, account_id: int, pool: QuotaPool, total: int | None) -> None:
        if total is not None and total < 0:
            raise InvalidInput(f"quota total for {pool.value} must be >= 0", details={"field": pool.value})
        await self._ensure_row(account_id, pool)
        await self._session.execute(
            update(quota_pools)
            .where(and_(quota_pools.c.account_id == account_id, quota_pools.c.pool == pool.value))
            .values(total=total)
        )

    async def consume(self, account_id: int, pool: QuotaPool, units: int = 1) -> None:
        """Guarded UPDATE (ledger_sql.consume_quota). Raises QuotaExhausted."""
        await self._session.run_sync(lambda s: consume_quota(s.connection(), account_id, pool, units))


# --- request nonces (ACS signature replay) ----------------------------------------------------------


class NonceStore(_Store):
    async def remember(self, nonce: str, *, access_key_id: str, now: datetime) -> bool:
        """True the first time a nonce is seen; False for a replay (the primary key decides)."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(request_nonces).values(nonce=nonce, access_key_id=access_key_id, seen_at=now)
                )
        except IntegrityError:
            return False
        return True

    async def purge_before(self, cutoff: datetime) -> None:
        await self._session.execute(delete(request_nonces).where(request_nonces.c.seen_at < cutoff))
