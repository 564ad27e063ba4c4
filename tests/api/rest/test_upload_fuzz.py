"""Hostile upload bodies never make the upload route answer 5xx (hypothesis-generated and mutated)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import key_pem, make_chain, pem
from tests.support.inprocess import in_process_app

CHAIN = make_chain("Fuzz")
SEED_PEM = pem(CHAIN.leaf) + pem(CHAIN.intermediate)
SEED_KEY = key_pem(CHAIN.leaf_key)


class _Client:
    """The app in process on a loop of its own (hypothesis drives plain functions, not coroutines)."""

    def __init__(self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.http, self.loop = http, loop

    def post(self, path: str, body: dict[str, object]) -> httpx.Response:
        return self.loop.run_until_complete(self.http.post(path, json=body))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Client, int]]:
    with in_process_app(tmp_path_factory.mktemp("fuzz")) as running:
        http = running.client()
        client = _Client(http, running.loop)
        try:
            repository = client.post("/v1/repositories", {"data_source": "uploaded"}).json()["id"]
            yield client, repository
        finally:
            running.loop.run_until_complete(http.aclose())


def _mutate(text: str, data: st.DataObject) -> str:
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    return raw.decode("utf-8", errors="replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_pem_and_keys_get_a_4xx_or_a_2xx_never_a_5xx(client: tuple[_Client, int], data: st.DataObject) -> None:
    http, repository = client
    body = {
        "certificate": _mutate(SEED_PEM, data),
        "private_key": data.draw(st.sampled_from([None, SEED_KEY, _mutate(SEED_KEY, data)])),
        "password": data.draw(st.sampled_from([None, "", "wrong"])),
    }
    response = http.post(
        f"/v1/repositories/{repository}/certificates", {k: v for k, v in body.items() if v is not None}
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["code"] and response.json()["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=0, max_size=4096))
def test_arbitrary_bytes_as_der_or_pkcs12_never_make_a_5xx(client: tuple[_Client, int], blob: bytes) -> None:
    http, repository = client
    response = http.post(
        f"/v1/repositories/{repository}/certificates",
        {"certificate": base64.b64encode(blob).decode(), "password": "x"},
    )
    assert 400 <= response.status_code < 500, response.text
