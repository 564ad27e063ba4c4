"""ASGI entry for uvicorn workers (each worker process builds its app from the environment), and the
uvicorn options of `certrepo serve`: the one place its HTTP limits and timeouts are set."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .api.common.access_log import log_config
from .api.common.slow_clients import ConnectionLimits, protocol_factory
from .app import build_app
from .config import Settings

__all__ = ["KEEP_ALIVE_SECONDS", "connection_limits", "create_app", "run_server", "uvicorn_options"]

KEEP_ALIVE_SECONDS = 30  # an idle kept-alive connection is closed after this


def create_app() -> FastAPI:
    """uvicorn ``--factory`` target; settings come from CERTREPO_* set by `certrepo serve`."""
    return build_app(Settings())


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The per-connection limits of the HTTP server, from ``settings``."""
    return ConnectionLimits(
        head_timeout_seconds=settings.request_head_timeout_seconds,
        body_timeout_seconds=settings.request_body_timeout_seconds,
        max_request_line_bytes=settings.max_request_line_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for `certrepo serve` (besides the app and ``factory``)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": settings.log_level,
        # uvicorn's httptools protocol (h11 cost ~170 µs more CPU per request), extended with timeouts for
        # slow clients, exact head limits, JSON refusals, and query strings of 64 KiB and more: the Alibaba
        # SDK sends certificates and keys there (api/common/slow_clients.py).
        "http": protocol_factory(connection_limits(settings)),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "proxy_headers": False,
        "log_config": log_config(),  # access lines without query strings: RPC parameters carry secrets
    }


def run_server(settings: Settings) -> None:
    """Serve until stopped: uvicorn with ``settings.workers`` processes, each building its app here."""
    import uvicorn

    uvicorn.run("certrepo.server:create_app", factory=True, **uvicorn_options(settings))
