"""Commands that act on the local data directory directly: init, serve, keys rotate-master."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..client import ClientConfig, write_client_config
from ..output import State, console, emit

if TYPE_CHECKING:
    from certrepo.config import Settings

# The server stack (certrepo.app: FastAPI, SQLAlchemy, cryptography) is imported inside the commands that
# act on the data dir: every `certrepo` run imports this module, and REST-client commands should not wait
# for it.

__all__ = ["init", "keys_app", "serve"]

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data directory (default ./data)")]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    from certrepo.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def init(data_dir: DataDir = None, admin_name: str = "admin", json_output: JsonFlag = False) -> None:
    """Create the data dir, database, master key, first account, admin and access key (once)."""
    from certrepo.app import build_services, prepare_storage
    from certrepo.services.accounts import bootstrap

    State.json = State.json or json_output
    settings = _settings(data_dir)
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)

    async def run() -> object:
        try:
            return await bootstrap(services, admin_name=admin_name)
        finally:
            await services.extras["engine"].dispose()  # type: ignore[attr-defined]

    result = asyncio.run(run())
    console_url = f"{settings.base_url}/console"
    if result is None:
        emit(
            {
                "initialized": False,
                "message": f"{settings.data_dir} is already initialised; nothing changed",
                "url": settings.base_url,
            },
            human=lambda d: console.print(d["message"]),
        )
        return
    from certrepo.services.accounts import Bootstrap

    assert isinstance(result, Bootstrap)
    secret = result.access_key.secret.reveal().decode()
    write_client_config(
        settings.client_config_file, ClientConfig(settings.base_url, result.access_key.key.id, secret)
    )
    data = {
        "access_key_id": result.access_key.key.id,
        "access_key_secret": secret,
        "admin_user": result.admin.name,
        "admin_password": result.admin_password.reveal().decode(),
        "url": settings.base_url,
    }

    def human(d: dict[str, str]) -> None:
        console.print("[bold green]certrepo initialised[/bold green] (shown once; store these now)")
        console.print(f"  console:           {console_url}")
        console.print(f"  admin user:        {d['admin_user']}")
        console.print(f"  admin password:    {d['admin_password']}")
        console.print(f"  access key id:     {d['access_key_id']}")
        console.print(f"  access key secret: {d['access_key_secret']}")
        console.print(f"  (the CLI reads the key from {settings.client_config_file})")

    emit(data, human=human)


def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    check_cluster: Annotated[
        bool,
        typer.Option(
            "--check-cluster",
            help="check this node's configuration (database, schema, master key) like /readyz, then exit",
        ),
    ] = False,
) -> None:
    """Serve the API, console and probes."""
    if check_cluster:
        _check_node(_settings(data_dir, host=host, port=port, workers=workers))
        return
    from certrepo.app import prepare_storage
    from certrepo.server import run_server

    settings = _settings(data_dir, host=host, port=port, workers=workers)
    prepare_storage(settings)
    # Worker processes build their own app from the environment: hand the resolved settings down.
    os.environ["CERTREPO_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["CERTREPO_HOST"] = settings.host
    os.environ["CERTREPO_PORT"] = str(settings.port)
    if not State.json:
        console.print(f"certrepo serving on http://{settings.host}:{settings.port} (console: /console)")
    run_server(settings)


def _check_node(settings: Settings) -> None:
    """What /readyz would say on this node, without serving; exit 1 when it is not ready."""
    from certrepo.app import build_app

    app = build_app(settings)

    async def probe() -> dict[str, object]:
        try:
            report = await app.state.readiness()
        finally:
            await app.state.services.extras["engine"].dispose()
            await app.state.services.uow.dispose()
        return dict(report.__dict__)

    data = asyncio.run(probe())

    def human(d: dict[str, object]) -> None:
        if d["ready"]:
            console.print(f"[green]ready[/green]: {d['database']} at schema {d['schema_revision']}, master key opens secrets")
        else:
            console.print(f"[red]not ready[/red]: {d['problem']}")

    emit(data, human=human)
    if not data["ready"]:
        raise typer.Exit(1)


keys_app = typer.Typer(help="Key protection.", no_args_is_help=True)


@keys_app.command("rotate-master")
def rotate_master(data_dir: DataDir = None) -> None:
    """Add a master key version and rewrap every data key; running servers keep working."""
    from certrepo.app import build_services
    from certrepo.services.keys import rotate_master_key

    settings = _settings(data_dir)
    services, keystore = build_services(settings)

    async def run() -> object:
        try:
            return await rotate_master_key(services, keystore)
        finally:
            await services.extras["engine"].dispose()  # type: ignore[attr-defined]

    report = asyncio.run(run())
    emit(
        report.__dict__,
        human=lambda d: console.print(
            f"master key version {d['new_version']}; {d['rewrapped']} data keys rewrapped"
        ),
    )
