"""certrepo repo …: the repository lifecycle over the REST API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..client import ApiError
from ..output import console, emit, emit_table, reporting_errors
from ._common import client

app = typer.Typer(
    help="Repositories: create, list, show, rename, reset, enable, delete.", no_args_is_help=True
)

_COLUMNS = ["id", "instance_id", "name", "data_source", "status", "certificate_count", "created_at"]


def _show(repository: dict[str, Any]) -> None:
    for key, value in repository.items():
        console.print(f"[bold]{key}[/bold]: {value}")


@app.command("create")
def create(
    data_source: Annotated[
        str, typer.Option("--data-source", "-s", help="uploaded, uploaded_ca, private, compliant")
    ],
    name: Annotated[str | None, typer.Option(help="defaults to the instance id")] = None,
    ca_id: Annotated[int | None, typer.Option(help="intermediate CA (private, compliant)")] = None,
    trust_repository_id: Annotated[
        int | None, typer.Option(help="uploaded_ca trust store (compliant)")
    ] = None,
    qps: Annotated[int | None, typer.Option(help="per-repository rate limit")] = None,
) -> None:
    """Create a repository."""
    body = {
        "name": name,
        "data_source": data_source,
        "ca_id": ca_id,
        "trust_repository_id": trust_repository_id,
        "qps": qps,
    }
    with reporting_errors():
        emit(client().post("/v1/repositories", {k: v for k, v in body.items() if v is not None}), human=_show)


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Option(help="substring of the name")] = None,
    data_source: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="enabled or reset")] = None,
    page: int = 1,
    page_size: int = 50,
) -> None:
    """List repositories."""
    with reporting_errors():
        result = client().get(
            "/v1/repositories",
            name=name,
            data_source=data_source,
            status=status,
            page=page,
            page_size=page_size,
        )
    emit_table(result["items"], _COLUMNS, title=f"{result['total']} repositories")


@app.command("show")
def show(repository_id: int) -> None:
    """Show one repository."""
    with reporting_errors():
        emit(client().get(f"/v1/repositories/{repository_id}"), human=_show)


@app.command("rename")
def rename(repository_id: int, name: str) -> None:
    """Rename a repository."""
    with reporting_errors():
        emit(client().patch(f"/v1/repositories/{repository_id}", {"name": name}), human=_show)


@app.command("reset")
def reset(
    repository_id: int,
    i_understand_the_risks: Annotated[
        bool, typer.Option("--i-understand-the-risks", help="required: reset is irreversible")
    ] = False,
) -> None:
    """Reset (irreversible): removes every certificate and destroys their keys."""
    with reporting_errors():
        try:
            result = client().post(
                f"/v1/repositories/{repository_id}/reset", {"acknowledge_risk": i_understand_the_risks}
            )
        except ApiError as exc:
            if exc.code == "ConfirmationRequired":  # the server names its JSON field; say the flag here
                exc.message = (
                    "reset is irreversible: it removes every certificate of the repository and destroys "
                    "their private keys; run again with --i-understand-the-risks to confirm"
                )
            raise
    emit(result, human=_show)


@app.command("enable")
def enable(
    repository_id: int,
    data_source: Annotated[str, typer.Option("--data-source", "-s")],
    ca_id: Annotated[int | None, typer.Option()] = None,
    trust_repository_id: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Enable a reset repository with a data source."""
    body = {"data_source": data_source, "ca_id": ca_id, "trust_repository_id": trust_repository_id}
    with reporting_errors():
        result = client().post(
            f"/v1/repositories/{repository_id}/enable", {k: v for k, v in body.items() if v is not None}
        )
    emit(result, human=_show)


@app.command("delete")
def delete(repository_id: int) -> None:
    """Delete a reset repository."""
    with reporting_errors():
        client().delete(f"/v1/repositories/{repository_id}")
    emit({"deleted": repository_id}, human=lambda _: console.print(f"repository {repository_id} deleted"))
