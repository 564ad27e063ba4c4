"""certrepo notify …: notification channels (webhook, email), test-send, delivery log, thresholds."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..output import console, emit, emit_table, reporting_errors
from ._common import client

app = typer.Typer(
    help="Expiry notifications: channels (webhook, email), test-send, delivery log, thresholds.",
    no_args_is_help=True,
)

_COLUMNS = ["id", "name", "kind", "target", "enabled", "created_at"]


def _row(channel: dict[str, Any]) -> dict[str, Any]:
    email = channel.get("email") or {}
    target = (
        channel.get("url") or f"{email.get('host')}:{email.get('port')} -> {', '.join(email.get('to', []))}"
    )
    return {**channel, "target": target}


def _show_created(channel: dict[str, Any]) -> None:
    console.print(f"channel {channel['id']} ({channel['kind']}) {channel['name']!r} created")
    if channel.get("secret"):
        console.print(
            "[bold]webhook secret[/bold] (shown once; the receiver checks X-Certrepo-Signature with it):"
        )
        console.print(f"  {channel['secret']}", highlight=False)


@app.command("add-webhook")
def add_webhook(
    name: Annotated[str, typer.Argument(help="a name for the channel")],
    url: Annotated[str, typer.Argument(help="your endpoint: receives a signed JSON POST per notice")],
) -> None:
    """Add a webhook channel; prints its signing secret once."""
    with reporting_errors():
        created = client().post("/v1/notification-channels", {"name": name, "kind": "webhook", "url": url})
    emit(created, human=_show_created)


@app.command("add-email")
def add_email(
    name: Annotated[str, typer.Argument(help="a name for the channel")],
    host: Annotated[str, typer.Option(help="SMTP relay host")],
    from_address: Annotated[str, typer.Option("--from", help="sender address")],
    to: Annotated[list[str], typer.Option("--to", help="recipient (repeat for several)")],
    port: Annotated[int, typer.Option(help="SMTP port")] = 587,
    starttls: Annotated[bool, typer.Option("--starttls/--no-starttls", help="upgrade with STARTTLS")] = True,
    username: Annotated[str | None, typer.Option(help="SMTP user")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="CERTREPO_SMTP_PASSWORD", help="SMTP password (better: the env var)")
    ] = None,
) -> None:
    """Add an email channel (SMTP); the password is sealed on the server and never shown again."""
    email = {
        "host": host,
        "port": port,
        "starttls": starttls,
        "username": username,
        "password": password,
        "from_address": from_address,
        "to": to,
    }
    body = {"name": name, "kind": "email", "email": {k: v for k, v in email.items() if v is not None}}
    with reporting_errors():
        created = client().post("/v1/notification-channels", body)
    emit(created, human=_show_created)


@app.command("list")
def list_() -> None:
    """List the account's channels."""
    with reporting_errors():
        channels = client().get("/v1/notification-channels")
    emit_table([_row(c) for c in channels], _COLUMNS, title=f"{len(channels)} notification channels")


@app.command("test")
def test(channel_id: int) -> None:
    """Send a test message now; exit 1 if it was not delivered."""
    with reporting_errors():
        result = client().post(f"/v1/notification-channels/{channel_id}/test")

    def human(r: dict[str, Any]) -> None:
        last = r["attempts"][-1] if r["attempts"] else {}
        if r["ok"]:
            console.print(f"delivered (status {r['status_code']})")
        else:
            console.print(f"[red]not delivered[/red]: {last.get('error') or last.get('status_code')}")

    emit(result, human=human)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("deliveries")
def deliveries(channel_id: int, page: int = 1, page_size: int = 50) -> None:
    """The delivery log of a channel: one line per attempt, with its status code."""
    with reporting_errors():
        result = client().get(
            f"/v1/notification-channels/{channel_id}/deliveries", page=page, page_size=page_size
        )
    emit_table(
        result["items"],
        ["at", "event", "target_id", "threshold_days", "attempt", "ok", "status_code", "error"],
        title=f"{result['total']} delivery attempts",
    )


@app.command("delete")
def delete(channel_id: int) -> None:
    """Remove a channel; its secret is destroyed."""
    with reporting_errors():
        client().delete(f"/v1/notification-channels/{channel_id}")
    emit({"deleted": channel_id}, human=lambda _: console.print(f"channel {channel_id} deleted"))


def _days(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give days as a comma-separated list, e.g. 30,14,7,1") from None


@app.command("thresholds")
def thresholds(
    repository_id: Annotated[
        int | None, typer.Option("--repository", help="one repository's thresholds")
    ] = None,
    set_days: Annotated[str | None, typer.Option("--set", help="days before expiry, e.g. 30,14,7,1")] = None,
    inherit: Annotated[
        bool, typer.Option("--inherit", help="drop the override (account: back to defaults)")
    ] = False,
) -> None:
    """Show or set the notice thresholds of the account or of one repository."""
    path = f"/v1/repositories/{repository_id}/expiry-thresholds" if repository_id else "/v1/expiry/thresholds"
    with reporting_errors():
        if set_days is not None or inherit:
            result = client().put(path, {"days": None if inherit else _days(set_days or "")})
        else:
            result = client().get(path)
    emit(result, human=lambda r: console.print(f"{', '.join(map(str, r['days']))} days ({r['source']})"))
