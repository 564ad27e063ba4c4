"""Oversized bodies are refused early with 413 MessageTooLarge in the SPEC §3 shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

pytestmark = [pytest.mark.usefixtures("world"), pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


async def test_a_declared_oversized_body_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/repositories", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "MessageTooLarge"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_streamed_oversized_body_is_refused_and_the_service_keeps_serving(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"x" * 100_000

    response = await api.post("/v1/repositories", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "MessageTooLarge"
    assert (await api.get("/v1/repositories")).status_code == 200
