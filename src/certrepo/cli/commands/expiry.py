"""certrepo expiry …: run the scan now, report what expires across repositories."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..output import State, console, emit, emit_table, reporting_errors
from ._common import client

app = typer.Typer(help="Expiry monitoring: scan now, report what expires.", no_args_is_help=True)

_COLUMNS = ["days_left", "not_after", "kind", "common_name", "repository_name", "repository_id", "identifier"]


@app.command("scan")
def scan() -> None:
    """Run the expiry scan on the server now (admin): due notices go out, each once."""
    with reporting_errors():
        report = client().post("/v1/expiry/scan")

    def human(r: dict[str, Any]) -> None:
        if not r["ran"]:
            console.print("another node is scanning right now; nothing done")
            return
        console.print(
            f"{r['targets']} expiring targets checked, {r['notices_sent']} notices sent, "
            f"{r['notices_failed']} failed, {r['renewed']} renewed"
        )

    emit(report, human=human)


@app.command("report")
def report(
    within: Annotated[int, typer.Option("--within", help="days ahead", min=0, max=3650)] = 30,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """What expires within DAYS (and what has expired), across repositories, soonest first."""
    State.json = State.json or json_output
    items: list[dict[str, Any]] = []
    with reporting_errors():
        page = 1
        while True:  # every page: a report is short, and scripts want all of it
            result = client().get("/v1/expiry", within_days=within, page=page, page_size=500)
            items.extend(result["items"])
            if len(items) >= result["total"] or not result["items"]:
                break
            page += 1
    rows = [{**i, "days_left": "expired" if i["expired"] else i["days_left"]} for i in items]
    if State.json:
        emit(items)
        return
    emit_table(rows, _COLUMNS, title=f"{len(items)} expiring within {within} days")
