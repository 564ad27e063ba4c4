"""Composition root: settings in, a wired ASGI application out. The only module importing every layer."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from . import __version__
from .api.common.limits import BodyLimitMiddleware
from .api.common.requests import RequestIdMiddleware
from .api.rest import audit, certificates, health, identity, operations, repositories
from .api.rest.errors import install_error_handlers
from .api.rest.keyuse_fastpath import CertrepoAPI
from .config import Settings
from .domain.secrets import Secret
from .keystore.envelope import EnvelopeKeystore, MasterKeyFile, MasterKeyring
from .keystore.pkcs11 import Pkcs11Keystore
from .logs import configure_logging
from .services.context import Services
from .services.hotcache import HotCache
from .store.database import create_engine_for, migrate
from .store.health import check_database
from .store.uow import UnitOfWorkFactory

__all__ = ["build_app", "build_services", "prepare_storage", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_embedded(settings: Settings) -> bool:
    return make_url(settings.resolved_database_url).get_backend_name() == "sqlite"


def prepare_storage(settings: Settings, *, create_master_key: bool = False) -> bool:
    """Create the data dir, migrate, and (embedded mode) generate the master key on first start.
    Returns True when a master key was generated. A shared PostgreSQL never gets a key invented by one
    node: there the key file must be provided (``certrepo init`` writes one)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    migrate(settings.resolved_database_url)
    if settings.keystore == "pkcs11":
        return False  # master keys live in the HSM (docs/hsm.md)
    key_file = MasterKeyFile(settings.resolved_master_key_file)
    if key_file.exists():
        return False
    if not (create_master_key or is_embedded(settings)):
        raise SystemExit(
            f"master key file {key_file.path} is missing; copy the cluster's key file to every node"
        )
    key_file.write(MasterKeyring.generate())
    return True


def build_services(settings: Settings) -> tuple[Services, EnvelopeKeystore | Pkcs11Keystore]:
    keystore: EnvelopeKeystore | Pkcs11Keystore
    if settings.keystore == "pkcs11":  # SPEC §5: the master keys live in an HSM (docs/hsm.md)
        assert settings.pkcs11_module and settings.pkcs11_token_label and settings.pkcs11_pin  # by Settings
        pin = Secret(settings.pkcs11_pin.get_secret_value().encode())
        keystore = Pkcs11Keystore.connect(settings.pkcs11_module, settings.pkcs11_token_label, pin)
    else:
        keystore = EnvelopeKeystore(MasterKeyFile(settings.resolved_master_key_file))
    engine = create_engine_for(settings.resolved_database_url)
    hot_cache = HotCache(staleness_seconds=settings.cache_staleness_seconds)
    services = Services(
        uow=UnitOfWorkFactory(engine, on_mutation=hot_cache.invalidate),
        keystore=keystore,
        clock=utc_now,
        random_bytes=os.urandom,
        base_url=settings.base_url,
        extras={"engine": engine, "hot_cache": hot_cache},
    )
    return services, keystore


def build_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The ASGI app: REST API, probes; storage must have been prepared (``prepare_storage``)."""
    configure_logging(settings.log_level)
    if services is None:
        services, _ = build_services(settings)
    engine = services.extras["engine"]
    # Private CA (issue 4): slow RSA keys kept ready by the key pool's thread, started with the app.
    from .api.rest import cas as ca_routes
    from .api.rest import public as public_routes
    from .pki.keygen import KeyPool

    key_pool = services.extras.get("key_pool")
    if not isinstance(key_pool, KeyPool):
        key_pool = services.extras["key_pool"] = KeyPool(on_demand=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        key_pool.start()
        from .notify.scheduler import expiry_schedule  # issue 9: this process's expiry scan task

        try:
            async with expiry_schedule(services, interval_seconds=settings.expiry_scan_interval_seconds):
                yield
        finally:
            key_pool.stop(timeout_seconds=5)
        await engine.dispose()  # type: ignore[attr-defined]
        await services.uow.dispose()  # type: ignore[attr-defined]  # the factory's own SQLite engines

    # CertrepoAPI: FastAPI with the key-use routes answered outside routing and dependency solving (issue 5).
    app = CertrepoAPI(
        title="certrepo",
        version=__version__,
        description="Certificate application repositories: store certificates, use their keys through an API.",
        lifespan=lifespan,
        # No OpenTelemetry here (Prometheus at /metrics): off, FastAPI stops probing for OTEL providers and
        # reading the environment on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.state.settings = settings
    keystore = services.keystore
    app.state.readiness = partial(
        check_database, engine, open_secret=lambda sealed, purpose: keystore.open(sealed, purpose=purpose)
    )
    install_error_handlers(app)
    for router in (
        health.router,
        repositories.router,
        certificates.router,
        operations.router,
        identity.router,
        audit.router,
    ):
        app.include_router(router)
    app.include_router(ca_routes.router)
    app.include_router(public_routes.router)  # /crl, /ocsp: public
    # Expiry monitoring and notifications (issue 9): routes, and the real webhook and SMTP transports.
    from .api.rest import notifications as notifications_api
    from .notify.wiring import install_notifier

    install_notifier(services)
    app.include_router(notifications_api.router)
    # Alibaba Cloud CAS-compatible RPC API (SPEC §2.2): POST / only; GET / stays the console's.
    from .api.acs.dispatcher import router as acs_router

    app.include_router(acs_router)
    from .console import install_console  # /console, and GET / sends browsers there

    install_console(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
