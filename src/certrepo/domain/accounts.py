"""Accounts (tenants), users and access keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from .enums import Role
from .errors import InvalidInput

__all__ = ["AccessKey", "Account", "User", "validate_user_name"]

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def validate_user_name(name: str) -> str:
    """User names sign in to the console: 1–64 of letters, digits, ``. _ @ -``."""
    if not _USER_NAME.match(name):
        raise InvalidInput(
            f"user name {name!r} is not valid: use 1-64 letters, digits, '.', '_', '@' or '-'",
            details={"field": "name"},
        )
    return name


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: int
    account_id: int
    name: str
    role: Role
    is_system_admin: bool
    created_at: datetime
    password_hash: str | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None

    def __repr__(self) -> str:  # keep the hash out of logs
        return f"User(id={self.id}, name={self.name!r}, role={self.role.value})"


@dataclass(frozen=True)
class AccessKey:
    id: str
    user_id: int
    created_at: datetime
    revoked_at: datetime | None
    description: str | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
