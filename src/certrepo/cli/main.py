"""The `certrepo` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .commands import audit, ca, cert, expiry, keyuse, local, notify, repo
from .commands._common import Options
from .output import State

app = typer.Typer(
    help="certrepo: certificate application repositories. Tables for people, --json for scripts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="where client.json is")] = None,
) -> None:
    State.json = json_output
    Options.data_dir = data_dir


app.command("init")(local.init)
app.command("serve")(local.serve)
for _command in (keyuse.sign, keyuse.verify, keyuse.encrypt, keyuse.decrypt):
    app.command(_command.__name__)(_command)
app.add_typer(local.keys_app, name="keys")
app.add_typer(repo.app, name="repo")
app.add_typer(cert.app, name="cert")
app.add_typer(ca.app, name="ca")
app.add_typer(audit.app, name="audit")
app.add_typer(notify.app, name="notify")
app.add_typer(expiry.app, name="expiry")


def main() -> None:
    app()
