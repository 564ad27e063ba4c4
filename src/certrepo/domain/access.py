"""Who may do what (SPEC §4): roles, permissions and signer grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .enums import Role
from .errors import PermissionDenied

__all__ = ["ROLE_PERMISSIONS", "Permission", "Principal"]


class Permission(StrEnum):
    READ = "read"  # list and show repositories, certificates, CAs, quota
    MANAGE = "manage"  # create/change repositories, certificates, CAs
    USE_KEYS = "use_keys"  # sign, verify, encrypt, decrypt (signers: granted repositories only)
    EXPORT_KEYS = "export_keys"  # read an exportable private key
    READ_AUDIT = "read_audit"
    ADMINISTER = "administer"  # users, grants, quota, access keys of others


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.MANAGE, Permission.USE_KEYS, Permission.EXPORT_KEYS}
    ),
    # A signer uses keys of the repositories granted to it; it can see certificates there, never keys.
    Role.SIGNER: frozenset({Permission.READ, Permission.USE_KEYS}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.READ_AUDIT}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a use case."""

    account_id: int
    user_id: int
    user_name: str
    role: Role
    access_key_id: str | None = None
    is_system_admin: bool = False
    granted_repository_ids: frozenset[int] = field(default_factory=frozenset)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise PermissionDenied unless the role holds ``permission``."""
        if not self.can(permission):
            raise PermissionDenied(
                f"role {self.role.value} may not {permission.value.replace('_', ' ')}",
                details={"permission": permission.value},
            )

    def can_see_repository(self, repository_id: int) -> bool:
        return self.role is not Role.SIGNER or repository_id in self.granted_repository_ids

    def require_repository(self, permission: Permission, repository_id: int) -> None:
        """Permission on one repository: signers only where they hold a grant."""
        self.require(permission)
        if not self.can_see_repository(repository_id):
            raise PermissionDenied(
                f"user {self.user_name} holds no grant on repository {repository_id}",
                details={"repository_id": repository_id},
            )

    @property
    def actor(self) -> str:
        """How audit events name the caller."""
        return f"user:{self.user_id}" + (f"/key:{self.access_key_id}" if self.access_key_id else "")
