"""Tables for people, JSON for scripts, and errors as one line on stderr with a non-zero exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .client import ApiError

__all__ = ["State", "emit", "emit_table", "reporting_errors"]

console = Console()
errors = Console(stderr=True)


class State:
    """Options shared by every command (set by the root callback)."""

    json: bool = False


def emit(data: Any, *, human: Callable[[Any], None] | None = None) -> None:
    if State.json or human is None:
        sys.stdout.write(json.dumps(data, indent=None if State.json else 2, default=str) + "\n")
    else:
        human(data)


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None) -> None:
    if State.json:
        emit(list(rows))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)


@contextmanager
def reporting_errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        suffix = f" (request {exc.request_id})" if exc.request_id else ""
        errors.print(f"[red]error[/red] {exc.code}: {exc.message}{suffix}", highlight=False)
        raise typer.Exit(2 if exc.status == 0 else 1) from None
