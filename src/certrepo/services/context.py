"""What every use case receives: the ports it acts through and who is acting."""

from __future__ import annotations

from dataclasses import dataclass, field

from certrepo.domain.access import Principal

from .ports import Clock, Keystore, RandomBytes, UnitOfWorkFactory

__all__ = ["Call", "Services"]


@dataclass(frozen=True)
class Services:
    """The ports, wired once by ``app.build_app`` (or a test) and shared by every front end."""

    uow: UnitOfWorkFactory
    keystore: Keystore
    clock: Clock
    random_bytes: RandomBytes
    base_url: str = "http://127.0.0.1:8080"
    extras: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request: the acting principal and the request id that audit events carry."""

    principal: Principal
    request_id: str | None = None
