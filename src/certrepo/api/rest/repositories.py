"""/v1/repositories: the repository lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from certrepo.domain.enums import DataSource, RepositoryStatus
from certrepo.domain.repository import Binding
from certrepo.services import repositories as service

from .deps import CallDep, IdPath, PageDep, ServicesDep
from .errors import error_responses
from .schemas import (
    NO_CONTROL_CHARACTERS,
    ListOf,
    RepositoryCreate,
    RepositoryEnable,
    RepositoryOut,
    RepositoryRename,
    RepositoryReset,
)

router = APIRouter(prefix="/v1/repositories", tags=["repositories"])


@router.post("", status_code=201, responses=error_responses(403, 404, 409))
async def create_repository(body: RepositoryCreate, services: ServicesDep, call: CallDep) -> RepositoryOut:
    """Create an enabled repository with a data source (private: with an unbound intermediate CA)."""
    binding = Binding(body.data_source, body.ca_id, body.trust_repository_id)
    created = await service.create_repository(services, call, name=body.name, binding=binding, qps=body.qps)
    return RepositoryOut.of(created)


@router.get("", responses=error_responses(403))
async def list_repositories(
    services: ServicesDep,
    call: CallDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARACTERS)] = None,
    data_source: DataSource | None = None,
    status: RepositoryStatus | None = None,
) -> ListOf[RepositoryOut]:
    """Repositories of the caller's account, filtered and paginated."""
    where = service.RepositoryFilter(name=name, data_source=data_source, status=status)
    result = await service.list_repositories(services, call, page=page, where=where)
    return ListOf.of(result, [RepositoryOut.of(r) for r in result.items])


@router.get("/{repository_id}", responses=error_responses(403, 404))
async def get_repository(repository_id: IdPath, services: ServicesDep, call: CallDep) -> RepositoryOut:
    """One repository."""
    return RepositoryOut.of(await service.get_repository(services, call, repository_id))


@router.patch("/{repository_id}", responses=error_responses(403, 404))
async def rename_repository(
    repository_id: IdPath, body: RepositoryRename, services: ServicesDep, call: CallDep
) -> RepositoryOut:
    """Rename (any status): 1-64 characters after trimming, no control characters."""
    return RepositoryOut.of(await service.rename_repository(services, call, repository_id, body.name))


@router.post("/{repository_id}/reset", responses=error_responses(403, 404, 409))
async def reset_repository(
    repository_id: IdPath, body: RepositoryReset, services: ServicesDep, call: CallDep
) -> RepositoryOut:
    """Irreversible reset: removes every certificate, destroys their keys, releases the CA."""
    reset = await service.reset_repository(
        services, call, repository_id, acknowledge_risk=body.acknowledge_risk
    )
    return RepositoryOut.of(reset)


@router.post("/{repository_id}/enable", responses=error_responses(403, 404, 409))
async def enable_repository(
    repository_id: IdPath, body: RepositoryEnable, services: ServicesDep, call: CallDep
) -> RepositoryOut:
    """Enable a reset repository with a data source."""
    binding = Binding(body.data_source, body.ca_id, body.trust_repository_id)
    return RepositoryOut.of(await service.enable_repository(services, call, repository_id, binding=binding))


@router.delete("/{repository_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_repository(repository_id: IdPath, services: ServicesDep, call: CallDep) -> Response:
    """Delete a reset repository."""
    await service.delete_repository(services, call, repository_id)
    return Response(status_code=204)
