"""The action table of the RPC API: Alibaba action name -> handler.

A handler is one small async function: read its parameters (``Params`` checks what is required, the SDK
does not), call the service that owns the rule, shape the answer with ``shapes``. It returns the body
without ``RequestId`` (the dispatcher adds it) and raises domain errors (the dispatcher renders them).
Handlers live in ``actions_<area>.py`` modules; this module only assembles them, with each area's table
of the RPC parameter that carries a REST field in error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from certrepo.domain.errors import ActionNotFound

from . import (
    actions_cas,
    actions_certificates,
    actions_operations,
    actions_repositories,
    actions_user_certificates,
)
from .actions_context import ActionContext, Handler
from .shapes import parameter_for_field

__all__ = ["ACTIONS", "ActionContext", "Handler", "find_handler", "parameter_for"]

# One entry per area module: (handlers, parameters of domain fields per action). A name served twice is
# a programming error caught at import.
_AREAS: Final[tuple[tuple[Mapping[str, Handler], Mapping[str, Mapping[str, str]]], ...]] = (
    (actions_repositories.HANDLERS, {}),
    (actions_certificates.HANDLERS, actions_certificates.PARAMETERS),
    (actions_cas.HANDLERS, actions_cas.PARAMETERS),
    (actions_operations.HANDLERS, actions_operations.PARAMETERS),
    (actions_user_certificates.HANDLERS, actions_user_certificates.PARAMETERS),
)


def _table() -> Mapping[str, Handler]:
    table: dict[str, Handler] = {}
    for handlers, _parameters in _AREAS:
        twice = table.keys() & handlers.keys()
        if twice:
            raise RuntimeError(f"RPC actions registered twice: {sorted(twice)}")
        table.update(handlers)
    return MappingProxyType(table)


ACTIONS: Final = _table()
_PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {action: fields for _handlers, parameters in _AREAS for action, fields in parameters.items()}
)


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


def parameter_for(action: str | None, field: str) -> str | None:
    """The RPC parameter of ``action`` that carries the REST field ``field`` (named in a domain error)."""
    per_action = _PARAMETERS.get(action) if action is not None else None
    return (per_action or {}).get(field) or parameter_for_field(field)
