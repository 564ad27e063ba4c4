"""What every RPC action handler receives and returns, and the helpers handlers share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from certrepo.services.context import Call, Services
from certrepo.services.requests import get_repository_by_instance_id

from .params import Params
from .shapes import RepositoryRef

__all__ = ["ActionContext", "Handler", "resolve_repository_id"]


@dataclass(frozen=True)
class ActionContext:
    """What a handler gets: the wired services, the authenticated call, the decoded query."""

    services: Services
    call: Call
    params: Params


# The body of the answer without RequestId (the dispatcher adds it); domain errors are raised.
Handler = Callable[[ActionContext], Awaitable[dict[str, object]]]


async def resolve_repository_id(ctx: ActionContext, ref: RepositoryRef) -> int:
    """The WhId of a repository named by WhId or instance id. Raises RepositoryNotFound."""
    if isinstance(ref, int):
        return ref
    repository = await get_repository_by_instance_id(ctx.services, ctx.call, ref)
    assert repository.id is not None
    return repository.id
