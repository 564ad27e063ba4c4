"""uvicorn's access log without query strings.

The Alibaba-compatible API carries every parameter in the query string — private keys of uploads, the
messages of Sign and Encrypt — so a request line as uvicorn logs it would put secrets in the log
(SPEC §4). Each worker process applies ``log_config()``; its filter keeps the path and drops the rest.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

__all__ = ["StripQuery", "log_config"]


class StripQuery(logging.Filter):
    """Rewrites uvicorn access records ``(client, method, path?query, version, status)`` to the bare path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with ``StripQuery`` on the access handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["strip_query"] = {"()": f"{__name__}.StripQuery"}
    config["handlers"]["access"].setdefault("filters", []).append("strip_query")
    return config
