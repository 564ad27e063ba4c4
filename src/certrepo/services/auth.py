"""Authentication: access keys (bearer and signed requests) and console passwords (Argon2id)."""

from __future__ import annotations

import asyncio
import functools
import hmac
from dataclasses import replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from certrepo.domain.access import Principal
from certrepo.domain.accounts import User
from certrepo.domain.audit import AuditEvent
from certrepo.domain.enums import Role
from certrepo.domain.errors import AuthFailure, InvalidAccessKey, SignatureDoesNotMatch
from certrepo.domain.secrets import Secret

from .context import Services
from .hotcache import hot_cache_of
from .ports import UnitOfWork

__all__ = [
    "ACCESS_KEY_PURPOSE",
    "LOCKOUT_AFTER_FAILURES",
    "authenticate_bearer",
    "authenticate_password",
    "hash_password",
    "principal_for_access_key",
    "principal_for_user",
]

ACCESS_KEY_PURPOSE = "access-key-secret"
LOCKOUT_AFTER_FAILURES = 5
LOCKOUT_SECONDS = 300

_hasher = PasswordHasher()  # argon2-cffi defaults: Argon2id, RFC 9106 low-memory profile


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def _principal(uow: UnitOfWork, user: User, access_key_id: str | None) -> Principal:
    # Only signers are limited to granted repositories: skip the query for everyone else.
    grants = await uow.users.granted_repository_ids(user.id) if user.role is Role.SIGNER else frozenset()
    return Principal(
        account_id=user.account_id,
        user_id=user.id,
        user_name=user.name,
        role=user.role,
        access_key_id=access_key_id,
        is_system_admin=user.is_system_admin,
        granted_repository_ids=grants,
    )


async def principal_for_access_key(services: Services, access_key_id: str) -> tuple[Principal, Secret]:
    """The principal behind an active access key and the key's secret (for HMAC checks).

    Raises InvalidAccessKey for an unknown or revoked key."""
    cache = hot_cache_of(services)
    if cache is not None:
        await cache.ensure_fresh(services)
        cached = cache.principals.get(access_key_id)
        if cached is not None:
            return cached  # type: ignore[return-value]
    async with services.uow(read_only=True) as uow:
        found = await uow.access_keys.get_with_user(access_key_id)
        if found is None or not found[0].is_active or found[2] is None:
            raise InvalidAccessKey(f"access key {access_key_id} does not exist or was revoked")
        key, user, secret_id = found
        sealed = await uow.key_material.get(secret_id)
        if sealed is None:
            raise InvalidAccessKey(f"access key {access_key_id} does not exist or was revoked")
        principal = await _principal(uow, user, key.id)
    secret = Secret(services.keystore.open(sealed, purpose=ACCESS_KEY_PURPOSE))
    if cache is not None:
        cache.principals.put(access_key_id, (principal, secret))
    return principal, secret


async def principal_for_user(services: Services, user_id: int) -> Principal:
    """The principal of a signed-in console user (re-read on every request: role changes apply at once).
    Raises AuthFailure when the user no longer exists."""
    async with services.uow(read_only=True) as uow:
        user = await uow.users.get(user_id)
        if user is None:
            raise AuthFailure("the signed-in user no longer exists; sign in again")
        return await _principal(uow, user, None)


async def authenticate_bearer(services: Services, access_key_id: str, secret: str) -> Principal:
    """``Bearer <id>:<secret>``. Raises InvalidAccessKey or SignatureDoesNotMatch (wrong secret)."""
    principal, expected = await principal_for_access_key(services, access_key_id)
    if not hmac.compare_digest(expected.reveal(), secret.encode()):
        raise SignatureDoesNotMatch("the access key secret is wrong")
    return principal


async def authenticate_password(
    services: Services, user_name: str, password: str, *, request_id: str | None = None
) -> Principal:
    """Console sign-in. Locks the user for a while after repeated failures; says nothing about which
    part was wrong. Every attempt on an existing user is audited (``user.sign_in``). Argon2 runs in a
    worker thread, outside any transaction: ~50 ms of CPU neither blocks the event loop nor holds
    SQLite's write lock. Raises AuthFailure."""
    refusal = AuthFailure("user name or password is wrong, or the user is locked for a while")
    async with services.uow(read_only=True) as uow:
        user = await uow.users.get_by_name(user_name)
    if user is None or user.password_hash is None:
        await asyncio.to_thread(_hasher_dummy_verify, password)  # same cost whether or not the user exists
        raise refusal
    now = services.clock()
    locked = user.locked_until is not None and user.locked_until > now
    matches = not locked and await asyncio.to_thread(_password_matches, user.password_hash, password)
    async with services.uow() as uow:
        current = await uow.users.get(user.id)
        if current is None or current.password_hash != user.password_hash:
            raise refusal  # deleted or changed meanwhile: the answer is for the state it was checked against
        if not matches:
            await _record_failure(
                services, uow, current, now, request_id, "locked" if locked else "wrong password"
            )
            await uow.commit()
            raise refusal
        if current.failed_logins or current.locked_until:
            current = replace(current, failed_logins=0, locked_until=None)
            await uow.users.update(current)
        if _hasher.check_needs_rehash(current.password_hash or ""):
            await uow.users.update(replace(current, password_hash=hash_password(password)))
        principal = await _principal(uow, current, None)
        await uow.audit.append([_sign_in_event(services, current, now, request_id, "success")])
        await uow.commit()
    return principal


async def _record_failure(
    services: Services, uow: UnitOfWork, user: User, now: datetime, request_id: str | None, reason: str
) -> None:
    if reason == "wrong password":
        failures = user.failed_logins + 1
        locked_until = (
            now + timedelta(seconds=LOCKOUT_SECONDS) if failures >= LOCKOUT_AFTER_FAILURES else None
        )
        await uow.users.update(
            replace(user, failed_logins=0 if locked_until else failures, locked_until=locked_until)
        )
        if locked_until is not None:
            reason = f"wrong password; locked until {locked_until.isoformat(timespec='seconds')}"
    await uow.audit.append([_sign_in_event(services, user, now, request_id, "failure", reason=reason)])


def _sign_in_event(
    services: Services, user: User, now: datetime, request_id: str | None, outcome: str, **details: str
) -> AuditEvent:
    return AuditEvent(
        account_id=user.account_id,
        at=now,
        actor=f"user:{user.id}",
        action="user.sign_in",
        outcome=outcome,
        request_id=request_id,
        details=details,
    )


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("certrepo-dummy-password")


def _hasher_dummy_verify(password: str) -> None:
    try:
        _hasher.verify(_dummy_hash(), password)
    except VerificationError:
        pass
