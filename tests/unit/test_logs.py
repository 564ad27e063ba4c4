"""Logging: one plain traceback per error, never the frames' local variables (they can hold secrets)."""

from __future__ import annotations

import logging

import pytest
import structlog

from certrepo.logs import configure_logging


def test_an_exception_is_logged_as_a_plain_traceback_without_locals(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("info")
    log = structlog.get_logger("certrepo.test")
    caplog.set_level(logging.INFO)

    def fail() -> None:
        private_key_pem = "-----BEGIN PRIVATE KEY-----s3cr3t"  # noqa: F841 - a local a rich traceback would show
        raise RuntimeError("boom")

    try:
        fail()
    except RuntimeError:
        log.exception("unhandled error", request_id="R1")

    text = caplog.text
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text
    assert "request_id='R1'" in text
    assert "s3cr3t" not in text
    assert len(text.splitlines()) < 40
