"""A module-scoped certrepo app in process, on its own event loop (for hypothesis tests, which are
synchronous): storage in a temp dir, the bootstrapped admin, the app, and cleanup whatever happened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.services.accounts import Bootstrap, bootstrap
from certrepo.services.context import Services

__all__ = ["InProcess", "in_process_app"]


@dataclass
class InProcess:
    app: FastAPI
    services: Services
    admin: Bootstrap
    loop: asyncio.AbstractEventLoop

    @property
    def bearer(self) -> str:
        key = self.admin.access_key
        return f"Bearer {key.key.id}:{key.secret.reveal().decode()}"

    def client(self) -> httpx.AsyncClient:
        """An httpx client on the app, authenticated as the admin (closed by ``in_process_app``)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://certrepo.test",
            headers={"Authorization": self.bearer},
        )


@contextmanager
def in_process_app(data_dir: Path) -> Iterator[InProcess]:
    """The app over a fresh SQLite data dir; its engines are disposed and its loop closed on exit."""
    settings = Settings(data_dir=data_dir)
    prepare_storage(settings, create_master_key=True)
    loop = asyncio.new_event_loop()
    services, _ = build_services(settings)
    try:
        admin = loop.run_until_complete(bootstrap(services))
        assert admin is not None
        yield InProcess(build_app(settings, services), services, admin, loop)
    finally:
        loop.run_until_complete(services.extras["engine"].dispose())  # type: ignore[attr-defined]
        loop.run_until_complete(services.uow.dispose())  # type: ignore[attr-defined]
        loop.close()
