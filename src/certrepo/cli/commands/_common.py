"""What every REST-client command needs: a client built from the environment or the data dir."""

from __future__ import annotations

from pathlib import Path

from ..client import Client, load_client_config
from ..output import reporting_errors

__all__ = ["Options", "client"]


class Options:
    data_dir: Path | None = None


def client() -> Client:
    with reporting_errors():
        return Client(load_client_config(Options.data_dir))
