"""The action table of the RPC API: Alibaba action name -> handler.

A handler is one small async function: read its parameters (``Params`` checks what is required, the SDK
does not), call the service that owns the rule, shape the answer with ``shapes``. It returns the body
without ``RequestId`` (the dispatcher adds it) and raises domain errors (the dispatcher renders them).
Handlers live in ``actions_<area>.py`` modules; this module only assembles them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from certrepo.domain.errors import ActionNotFound, Unsupported

from . import actions_repositories
from .actions_context import ActionContext, Handler

__all__ = [
    "ACTIONS",
    "PENDING_ACTIONS",
    "ActionContext",
    "Handler",
    "find_handler",
    "not_available_yet",
]


# SPEC §2.2 actions whose services are still being built (certificates, CA issuance, crypto, SSL
# certificates). They are routed already, so that a client gets a clear answer instead of "unknown".
PENDING_ACTIONS: Final = (
    "ListCert",
    "DescribeWarehouseCert",
    "UploadPCACert",
    "DeletePCACert",
    "CreateWHClientCertificate",
    "RevokeWHClientCertificate",
    "Sign",
    "Verify",
    "Encrypt",
    "Decrypt",
    "UploadUserCertificate",
    "GetUserCertificateDetail",
    "DeleteUserCertificate",
    "ListUserCertificateOrder",
)


def not_available_yet(action: str) -> Handler:
    """A handler for a known action that this version does not serve yet (raises Unsupported)."""

    async def handler(_ctx: ActionContext) -> dict[str, object]:
        # TODO(issue 6): replaced by the real handlers when their services land.
        raise Unsupported(
            f"the action {action} is not available yet in this certrepo version",
            details={"action": action},
        )

    handler.__name__ = f"pending_{action}"
    return handler


# One entry per area module; a name served twice is a programming error caught at import.
_AREAS: Final[tuple[Mapping[str, Handler], ...]] = (actions_repositories.HANDLERS,)


def _table() -> Mapping[str, Handler]:
    table: dict[str, Handler] = {}
    for area in _AREAS:
        twice = table.keys() & area.keys()
        if twice:
            raise RuntimeError(f"RPC actions registered twice: {sorted(twice)}")
        table.update(area)
    for name in PENDING_ACTIONS:
        table.setdefault(name, not_available_yet(name))
    return MappingProxyType(table)


ACTIONS: Final = _table()


def find_handler(action: str) -> Handler:
    """The handler of an action (names are case-sensitive, as Alibaba's). Raises ActionNotFound."""
    handler = ACTIONS.get(action)
    if handler is None:
        shown = action if len(action) <= 64 else action[:64] + "..."
        raise ActionNotFound(
            f"the action {shown!r} does not exist in the CAS API version 2020-04-07",
            details={"action": shown},
        )
    return handler
