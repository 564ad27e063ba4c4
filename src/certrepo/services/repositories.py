"""Repository use cases: the lifecycle of SPEC §1 (create, rename, reset, enable, delete) and reads."""

from __future__ import annotations

from dataclasses import dataclass

from certrepo.domain.access import Permission
from certrepo.domain.enums import DataSource, RepositoryStatus
from certrepo.domain.errors import (
    CaAlreadyBound,
    CaNotFound,
    InvalidInput,
    RepositoryDisabled,
    RepositoryInUse,
    RepositoryNotFound,
)
from certrepo.domain.ids import new_instance_id
from certrepo.domain.paging import Page, PageOf
from certrepo.domain.repository import Binding, Repository

from .audit import event_for
from .context import Call, Services
from .ports import UnitOfWork

__all__ = [
    "RepositoryFilter",
    "create_repository",
    "delete_repository",
    "enable_repository",
    "get_repository",
    "list_repositories",
    "load_repository",
    "rename_repository",
    "reset_repository",
]


@dataclass(frozen=True)
class RepositoryFilter:
    name: str | None = None
    data_source: DataSource | None = None
    status: RepositoryStatus | None = None


async def load_repository(
    uow: UnitOfWork, call: Call, repository_id: int, *, for_update: bool = False, with_count: bool = True
) -> Repository:
    """A repository of the caller's account (signers: granted ones only), else RepositoryNotFound."""
    repository = await uow.repositories.get(repository_id, for_update=for_update, with_count=with_count)
    if (
        repository is None
        or repository.account_id != call.principal.account_id
        or not call.principal.can_see_repository(repository_id)
    ):
        raise RepositoryNotFound(
            f"repository {repository_id} does not exist", details={"repository_id": repository_id}
        )
    return repository


async def _check_binding(uow: UnitOfWork, call: Call, binding: Binding, *, repository_id: int | None) -> None:
    """References exist in the account and have the right kind; the CA is free (the database has the
    last word on a race: repositories.ca_id is unique)."""
    if binding.ca_id is not None:
        ca = await uow.cas.get(binding.ca_id)
        if ca is None or ca.account_id != call.principal.account_id:
            raise CaNotFound(f"CA {binding.ca_id} does not exist", details={"ca_id": binding.ca_id})
        ca.ensure_bindable(binding.data_source)
        if ca.bound_repository_id is not None and ca.bound_repository_id != repository_id:
            raise CaAlreadyBound(
                f"CA {ca.id} ({ca.common_name}) is already bound to repository {ca.bound_repository_id}; "
                "an intermediate CA can be bound to only one repository",
                details={"ca_id": ca.id, "repository_id": ca.bound_repository_id},
            )
    if binding.trust_repository_id is not None:
        trust = await load_repository(uow, call, binding.trust_repository_id)
        if trust.data_source is not DataSource.UPLOADED_CA or not trust.is_enabled:
            raise InvalidInput(
                f"trust repository {trust.id} must be an enabled uploaded_ca repository",
                details={"field": "trust_repository_id"},
            )


async def create_repository(
    services: Services, call: Call, *, name: str | None, binding: Binding, qps: int | None = None
) -> Repository:
    """Create an enabled repository. Raises InvalidInput, CaNotFound, CaAlreadyBound, PermissionDenied."""
    call.principal.require(Permission.MANAGE)
    now = services.clock()
    repository = Repository.create(
        account_id=call.principal.account_id,
        instance_id=new_instance_id(services.random_bytes),
        name=name,
        binding=binding,
        qps=qps,
        now=now,
    )
    async with services.uow() as uow:
        await _check_binding(uow, call, binding, repository_id=None)
        stored = await uow.repositories.add(repository)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "repository.create",
                    repository_id=stored.id,
                    details={"data_source": binding.data_source.value, "ca_id": binding.ca_id},
                )
            ]
        )
        await uow.commit()
    return stored


async def get_repository(services: Services, call: Call, repository_id: int) -> Repository:
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        return await load_repository(uow, call, repository_id)


async def list_repositories(
    services: Services, call: Call, *, page: Page, where: RepositoryFilter = RepositoryFilter()
) -> PageOf[Repository]:
    """Repositories of the caller's account; a signer sees the ones granted to it."""
    call.principal.require(Permission.READ)
    only = call.principal.granted_repository_ids if not call.principal.can(Permission.MANAGE) else None
    if call.principal.can(Permission.READ_AUDIT):
        only = None  # auditors read everything of their account
    async with services.uow(read_only=True) as uow:
        items, total = await uow.repositories.list(
            account_id=call.principal.account_id,
            page=page,
            name=where.name,
            data_source=where.data_source,
            status=where.status,
            only_ids=only,
        )
    return PageOf(items, total, page)


async def rename_repository(services: Services, call: Call, repository_id: int, name: str) -> Repository:
    """Rename in any status."""
    call.principal.require(Permission.MANAGE)
    async with services.uow() as uow:
        repository = await load_repository(uow, call, repository_id, for_update=True)
        renamed = repository.renamed(name, now=services.clock())
        stored = await uow.repositories.update(renamed)
        await uow.audit.append([event_for(services, call, "repository.rename", repository_id=repository_id)])
        await uow.commit()
    return stored


async def _ensure_not_trusted(uow: UnitOfWork, repository: Repository) -> None:
    assert repository.id is not None
    dependents = await uow.repositories.dependents(repository.id)
    if dependents:
        names = ", ".join(f"{d.id} ({d.name})" for d in dependents)
        raise RepositoryInUse(
            f"repository {repository.id} is the trust repository of compliant repositories {names}",
            details={"dependents": [d.id for d in dependents]},
        )


async def reset_repository(
    services: Services, call: Call, repository_id: int, *, acknowledge_risk: bool
) -> Repository:
    """Irreversible: every certificate removed, its key destroyed, the CA binding released."""
    call.principal.require(Permission.MANAGE)
    async with services.uow() as uow:
        repository = await load_repository(uow, call, repository_id, for_update=True)
        if not repository.is_enabled:
            raise RepositoryDisabled(f"repository {repository_id} is already reset")
        reset = repository.reset(acknowledge_risk=acknowledge_risk, now=services.clock())
        await _ensure_not_trusted(uow, repository)
        key_ids = await uow.repositories.purge_certificates(repository_id)
        await uow.key_material.destroy(key_ids)
        stored = await uow.repositories.update(reset)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "repository.reset",
                    repository_id=repository_id,
                    details={
                        "certificates_removed": repository.certificate_count,
                        "keys_destroyed": len(key_ids),
                        "released_ca_id": repository.ca_id,
                    },
                )
            ]
        )
        await uow.commit()
    return stored


async def enable_repository(
    services: Services, call: Call, repository_id: int, *, binding: Binding
) -> Repository:
    """Choose a data source again; allowed only after a reset."""
    call.principal.require(Permission.MANAGE)
    async with services.uow() as uow:
        repository = await load_repository(uow, call, repository_id, for_update=True)
        enabled = repository.enable(binding, now=services.clock())
        await _check_binding(uow, call, binding, repository_id=repository_id)
        stored = await uow.repositories.update(enabled)
        await uow.audit.append(
            [
                event_for(
                    services,
                    call,
                    "repository.enable",
                    repository_id=repository_id,
                    details={"data_source": binding.data_source.value, "ca_id": binding.ca_id},
                )
            ]
        )
        await uow.commit()
    return stored


async def delete_repository(services: Services, call: Call, repository_id: int) -> None:
    """Delete; only a reset repository (RepositoryNotReset otherwise)."""
    call.principal.require(Permission.MANAGE)
    async with services.uow() as uow:
        repository = await load_repository(uow, call, repository_id, for_update=True)
        repository.ensure_deletable()
        await _ensure_not_trusted(uow, repository)
        await uow.repositories.delete(repository_id)
        await uow.audit.append([event_for(services, call, "repository.delete", repository_id=repository_id)])
        await uow.commit()
