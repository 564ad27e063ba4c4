"""certrepo audit …: verify the hash chain, export events."""

from __future__ import annotations

import sys

import typer

from ..output import console, emit, reporting_errors
from ._common import client

app = typer.Typer(help="Audit log: verify the hash chain, export as JSON lines.", no_args_is_help=True)


@app.command("verify")
def verify() -> None:
    """Check every link of the audit hash chain; exit 1 and name the first broken link if any."""
    with reporting_errors():
        report = client().get("/v1/audit-events/verify")

    def human(r: dict[str, object]) -> None:
        if r["intact"]:
            counted = f": {r['events']} events" if r.get("events") is not None else ""
            console.print(f"audit chain intact{counted}")
        else:
            console.print(f"[red]audit chain broken[/red] at event {r['first_broken_sequence']}: {r['reason']}")

    emit(report, human=human)
    if not report["intact"]:
        raise typer.Exit(1)


@app.command("export")
def export() -> None:
    """Every event of the account as JSON lines on stdout, oldest first."""
    with reporting_errors():
        text = client().request("GET", "/v1/audit-events/export")
    sys.stdout.write(text if isinstance(text, str) else "")


@app.command("list")
def list_(action: str | None = None, repository_id: int | None = None, page: int = 1, page_size: int = 50) -> None:
    """Recent audit events."""
    from ..output import emit_table

    with reporting_errors():
        result = client().get(
            "/v1/audit-events", action=action, repository_id=repository_id, page=page, page_size=page_size
        )
    emit_table(result["items"], ["sequence", "at", "actor", "action", "outcome", "repository_id", "certificate_id"])
