"""Reading the CAs of an account (the console's CA selectors); CA creation lives in services/cas.py."""

from __future__ import annotations

from certrepo.domain.access import Permission
from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.enums import CaType

from .context import Call, Services

__all__ = ["bindable_intermediates", "list_cas"]


async def list_cas(services: Services, call: Call) -> list[CertificateAuthority]:
    """CAs of the caller's account, oldest first, each with the id of the repository it is bound to.
    Raises PermissionDenied without read."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        return await uow.cas.list(call.principal.account_id)


def bindable_intermediates(
    cas: list[CertificateAuthority], *, repository_id: int | None = None
) -> list[CertificateAuthority]:
    """Intermediates free to bind (to ``repository_id``, when it already holds one): roots never bind,
    and an intermediate binds to one repository only."""
    return [
        ca
        for ca in cas
        if ca.type is CaType.INTERMEDIATE
        and (ca.bound_repository_id is None or ca.bound_repository_id == repository_id)
    ]
