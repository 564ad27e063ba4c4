"""Accounts, users, signer grants and access keys."""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass, replace

from certrepo.domain.access import Permission, Principal
from certrepo.domain.accounts import AccessKey, Account, User, validate_user_name
from certrepo.domain.enums import Role
from certrepo.domain.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    RepositoryNotFound,
    StateConflict,
)
from certrepo.domain.ids import new_access_key_id
from certrepo.domain.secrets import Secret

from .audit import event_for
from .auth import ACCESS_KEY_PURPOSE, hash_password
from .context import Call, Services
from .ports import UnitOfWork

__all__ = [
    "Bootstrap",
    "NewAccessKey",
    "bootstrap",
    "create_access_key",
    "create_account",
    "create_user",
    "delete_user",
    "grant_repository",
    "list_access_keys",
    "list_accounts",
    "list_users",
    "revoke_access_key",
    "revoke_grant",
    "update_user",
]


@dataclass(frozen=True)
class NewAccessKey:
    """A created access key; ``secret`` is shown once and never again."""

    key: AccessKey
    user_name: str
    secret: Secret


@dataclass(frozen=True)
class Bootstrap:
    account: Account
    admin: User
    admin_password: Secret
    access_key: NewAccessKey


def _random_secret(services: Services, size: int = 30) -> Secret:
    return Secret(base64.urlsafe_b64encode(services.random_bytes(size)).decode().rstrip("=").encode())


async def _add_access_key(
    services: Services, uow: UnitOfWork, user: User, description: str | None
) -> NewAccessKey:
    now = services.clock()
    secret = _random_secret(services)
    secret_id = await uow.key_material.add(
        services.keystore.seal(secret.reveal(), purpose=ACCESS_KEY_PURPOSE),
        purpose=ACCESS_KEY_PURPOSE,
        now=now,
    )
    key = await uow.access_keys.add(
        key_id=new_access_key_id(services.random_bytes),
        user_id=user.id,
        secret_id=secret_id,
        description=description,
        now=now,
    )
    return NewAccessKey(key, user.name, secret)


async def _add_account_with_admin(
    services: Services, uow: UnitOfWork, *, account_name: str, admin_name: str, is_system_admin: bool
) -> Bootstrap:
    now = services.clock()
    admin_name = validate_user_name(admin_name)  # before any lookup: bad input never reaches the database
    if await uow.accounts.get_by_name(account_name) is not None:
        raise StateConflict(f"account {account_name!r} already exists", details={"field": "name"})
    if await uow.users.get_by_name(admin_name) is not None:
        raise StateConflict(f"user name {admin_name!r} is taken", details={"field": "admin_name"})
    account = await uow.accounts.add(account_name, now=now)
    password = _random_secret(services, 18)
    admin = await uow.users.add(
        account_id=account.id,
        name=admin_name,
        role=Role.ADMIN,
        password_hash=hash_password(password.reveal().decode()),
        is_system_admin=is_system_admin,
        now=now,
    )
    key = await _add_access_key(services, uow, admin, "created with the account")
    return Bootstrap(account, admin, password, key)


async def bootstrap(services: Services, *, admin_name: str = "admin") -> Bootstrap | None:
    """First start: the first account, its admin (the system admin) and an access key.
    Returns None when the database already has an account (a second `init` changes nothing)."""
    async with services.uow() as uow:
        if await uow.accounts.count() > 0:
            return None
        result = await _add_account_with_admin(
            services, uow, account_name="default", admin_name=admin_name, is_system_admin=True
        )
        system = Principal(result.account.id, result.admin.id, result.admin.name, Role.ADMIN)
        await uow.audit.append([event_for(services, Call(system), "account.bootstrap")])
        await uow.commit()
    return result


async def create_account(services: Services, call: Call, *, name: str, admin_name: str) -> Bootstrap:
    """A new tenant with its first admin; only the system admin may. Raises PermissionDenied."""
    if not call.principal.is_system_admin:
        raise PermissionDenied("only the system admin may create accounts")
    if not name.strip() or len(name) > 128 or any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidInput(
            "account name must be 1-128 characters without control characters", details={"field": "name"}
        )
    async with services.uow() as uow:
        result = await _add_account_with_admin(
            services, uow, account_name=name.strip(), admin_name=admin_name, is_system_admin=False
        )
        await uow.audit.append(
            [event_for(services, call, "account.create", details={"account_id": result.account.id})]
        )
        await uow.commit()
    return result


async def list_accounts(services: Services, call: Call) -> list[Account]:
    if not call.principal.is_system_admin:
        raise PermissionDenied("only the system admin may list accounts")
    async with services.uow(read_only=True) as uow:
        return await uow.accounts.list()


async def _user_of_account(uow: UnitOfWork, principal: Principal, user_id: int) -> User:
    user = await uow.users.get(user_id)
    if user is None or user.account_id != principal.account_id:
        raise NotFound(f"user {user_id} does not exist", details={"user_id": user_id})
    return user


async def create_user(services: Services, call: Call, *, name: str, role: Role, password: str | None) -> User:
    """Add a user to the caller's account (admin). Raises InvalidInput, StateConflict."""
    call.principal.require(Permission.ADMINISTER)
    if password is not None and len(password) < 12:
        raise InvalidInput("password must be at least 12 characters", details={"field": "password"})
    name = validate_user_name(name)  # before the lookup: bad input never reaches the database
    async with services.uow() as uow:
        if await uow.users.get_by_name(name) is not None:
            raise StateConflict(f"user name {name!r} is taken", details={"field": "name"})
        user = await uow.users.add(
            account_id=call.principal.account_id,
            name=name,
            role=role,
            password_hash=hash_password(password) if password else None,
            is_system_admin=False,
            now=services.clock(),
        )
        await uow.audit.append(
            [event_for(services, call, "user.create", details={"user_id": user.id, "role": role.value})]
        )
        await uow.commit()
    return user


async def list_users(services: Services, call: Call) -> list[User]:
    call.principal.require(Permission.ADMINISTER)
    async with services.uow(read_only=True) as uow:
        return await uow.users.list(call.principal.account_id)


async def update_user(
    services: Services, call: Call, user_id: int, *, role: Role | None, password: str | None
) -> User:
    """Change a user's role or password (admin). An admin cannot demote itself (the last way in)."""
    call.principal.require(Permission.ADMINISTER)
    if password is not None and len(password) < 12:
        raise InvalidInput("password must be at least 12 characters", details={"field": "password"})
    async with services.uow() as uow:
        user = await _user_of_account(uow, call.principal, user_id)
        if role is not None and user.id == call.principal.user_id and role is not Role.ADMIN:
            raise StateConflict("an admin cannot change its own role", details={"field": "role"})
        changed = replace(
            user,
            role=role or user.role,
            password_hash=hash_password(password) if password else user.password_hash,
        )
        await uow.users.update(changed)
        await uow.audit.append(
            [
                event_for(
                    services, call, "user.update", details={"user_id": user.id, "role": changed.role.value}
                )
            ]
        )
        await uow.commit()
    return changed


async def delete_user(services: Services, call: Call, user_id: int) -> None:
    call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        user = await _user_of_account(uow, call.principal, user_id)
        if user.id == call.principal.user_id or user.is_system_admin:
            raise StateConflict("this user cannot be deleted (yourself or the system admin)")
        secret_ids = await uow.access_keys.delete_for_user(user.id)
        await uow.key_material.destroy(secret_ids)
        await uow.users.delete(user.id)
        await uow.audit.append([event_for(services, call, "user.delete", details={"user_id": user.id})])
        await uow.commit()


async def grant_repository(services: Services, call: Call, user_id: int, repository_id: int) -> None:
    """Let a signer use the keys of one repository (admin)."""
    call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        user = await _user_of_account(uow, call.principal, user_id)
        repository = await uow.repositories.get(repository_id)
        if repository is None or repository.account_id != call.principal.account_id:
            raise RepositoryNotFound(f"repository {repository_id} does not exist")
        if user.role is not Role.SIGNER:
            raise InvalidInput(
                f"grants are for signers; user {user.name} is {user.role.value}", details={"field": "user_id"}
            )
        await uow.users.grant(user.id, repository_id, now=services.clock())
        await uow.audit.append(
            [
                event_for(
                    services, call, "grant.add", repository_id=repository_id, details={"user_id": user.id}
                )
            ]
        )
        await uow.commit()


async def revoke_grant(services: Services, call: Call, user_id: int, repository_id: int) -> None:
    call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        user = await _user_of_account(uow, call.principal, user_id)
        if not await uow.users.revoke_grant(user.id, repository_id):
            raise NotFound(f"user {user.name} holds no grant on repository {repository_id}")
        await uow.audit.append(
            [
                event_for(
                    services, call, "grant.remove", repository_id=repository_id, details={"user_id": user.id}
                )
            ]
        )
        await uow.commit()


async def create_access_key(
    services: Services, call: Call, *, user_id: int | None = None, description: str | None = None
) -> NewAccessKey:
    """A key for the caller, or (admin) for another user of the account. The secret is returned once."""
    target_id = user_id if user_id is not None else call.principal.user_id
    if target_id != call.principal.user_id:
        call.principal.require(Permission.ADMINISTER)
    async with services.uow() as uow:
        user = await _user_of_account(uow, call.principal, target_id)
        created = await _add_access_key(services, uow, user, description)
        await uow.audit.append(
            [event_for(services, call, "access_key.create", details={"access_key_id": created.key.id})]
        )
        await uow.commit()
    return created


async def list_access_keys(services: Services, call: Call) -> list[tuple[AccessKey, str]]:
    """Own keys; an admin sees every key of the account."""
    only_user = None if call.principal.can(Permission.ADMINISTER) else call.principal.user_id
    async with services.uow(read_only=True) as uow:
        return await uow.access_keys.list(account_id=call.principal.account_id, user_id=only_user)


async def revoke_access_key(services: Services, call: Call, access_key_id: str) -> None:
    """Revoke and destroy the secret; own keys, or any key of the account for an admin."""
    async with services.uow() as uow:
        key = await uow.access_keys.get(access_key_id)
        owner = await uow.users.get(key.user_id) if key else None
        if key is None or owner is None or owner.account_id != call.principal.account_id:
            raise NotFound(f"access key {access_key_id} does not exist")
        if owner.id != call.principal.user_id:
            call.principal.require(Permission.ADMINISTER)
        if not key.is_active:
            raise StateConflict(f"access key {access_key_id} is already revoked")
        secret_id = await uow.access_keys.revoke(access_key_id, now=services.clock())
        await uow.key_material.destroy([secret_id] if secret_id else [])
        await uow.audit.append(
            [event_for(services, call, "access_key.revoke", details={"access_key_id": access_key_id})]
        )
        await uow.commit()
