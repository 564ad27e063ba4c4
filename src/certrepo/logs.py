"""Logging setup: structlog once per process, on the standard library's handlers (uvicorn's included).

Without it structlog's development defaults render an exception as a rich traceback with every frame's
local variables: thousands of lines written synchronously on the event loop for one 500 (seconds during
which the worker serves nobody and its open transactions keep their locks), and locals can hold secrets.
Here an exception is one plain traceback, events are ``key=value`` lines, and nothing else is added.
"""

from __future__ import annotations

import logging

import structlog

__all__ = ["configure_logging"]


def configure_logging(level: str = "info") -> None:
    """Idempotent: configures structlog and the root level for this process."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(message)s", level=numeric)
    logging.getLogger("certrepo").setLevel(numeric)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # a plain traceback, no locals
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,  # structlog.testing.capture_logs must still reach module loggers
    )
