"""What every RPC action handler receives and returns, and the helpers handlers share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.errors import InvalidInput
from certrepo.services import cas, user_certificates
from certrepo.services.context import Call, Services
from certrepo.services.requests import get_repository_by_instance_id

from .params import Params
from .shapes import RepositoryRef
from .shapes_certificates import ca_id_of, cert_id_of

__all__ = [
    "ActionContext",
    "Handler",
    "ca_chain",
    "refuse_ca_handle",
    "resolve_certificate_identifier",
    "resolve_repository_id",
]


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


def refuse_ca_handle(parameter: str, handle: str) -> None:
    """Refuse a ``ca-{id}`` handle where a repository certificate is meant. Raises InvalidInput."""
    if ca_id_of(handle) is not None:
        raise InvalidInput(
            f"the parameter {parameter} names the CA {handle}: CAs are managed through /v1/cas, "
            "not as certificates of a repository",
            details={"parameter": parameter},
        )


async def resolve_certificate_identifier(ctx: ActionContext, handle: str) -> str:
    """The identifier of the certificate a handle names: an identifier as is, or Alibaba's
    ``{CertId}-cn-hangzhou`` looked up by its CertId. Raises CertificateNotFound, PermissionDenied."""
    number = cert_id_of(handle)
    if number is None:
        return handle
    certificate = await user_certificates.get_certificate_by_number(ctx.services, ctx.call, number)
    return certificate.identifier


# A CA chain is a handful of certificates; the bound only guards against a corrupt parent loop.
_MAX_CA_CHAIN = 16


async def ca_chain(ctx: ActionContext, ca_id: int) -> list[CertificateAuthority]:
    """A CA of the caller's account and its issuers, the CA first and its root last. Raises CaNotFound,
    PermissionDenied."""
    chain = [await cas.get_ca(ctx.services, ctx.call, ca_id)]
    while chain[-1].parent_id is not None and len(chain) < _MAX_CA_CHAIN:
        chain.append(await cas.get_ca(ctx.services, ctx.call, chain[-1].parent_id))
    return chain
