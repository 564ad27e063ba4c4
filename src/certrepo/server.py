"""ASGI entry for uvicorn workers: each worker process builds its app from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from .app import build_app
from .config import Settings

__all__ = ["create_app"]


def create_app() -> FastAPI:
    """uvicorn ``--factory`` target; settings come from CERTREPO_* set by `certrepo serve`."""
    return build_app(Settings())
