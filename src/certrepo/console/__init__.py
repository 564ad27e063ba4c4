"""Web console (SPEC §2.3): server-rendered Jinja2 + htmx on the same services as the REST API."""

from __future__ import annotations

from .routes import install_console

__all__ = ["install_console"]
