"""The key-use fast path answers exactly what the FastAPI routes it bypasses answer.

Two ASGI apps on the same services: the production app (``CertrepoAPI``, fast path outermost) and the
same FastAPI app's own middleware stack without it. Every request below goes to both; status, body and
the headers a client relies on must agree.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from tests.conftest import World
from tests.factories import build, key_pem, pem, rsa_key

from certrepo.api.rest.keyuse_fastpath import KeyUseFastPath
from certrepo.app import build_app

REQUEST_ID = "fastpath-test-0001"


class Pair:
    def __init__(self, fast: httpx.AsyncClient, routed: httpx.AsyncClient) -> None:
        self.fast, self.routed = fast, routed

    async def both(self, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        headers = {"X-Request-Id": REQUEST_ID, **kwargs.pop("headers", {})}
        fast = await self.fast.post(path, headers=headers, **kwargs)
        routed = await self.routed.post(path, headers=headers, **kwargs)
        return fast, routed


@pytest.fixture
async def pair(world: World) -> AsyncIterator[Pair]:
    app = build_app(world.settings, world.services)
    stack = app.build_middleware_stack()
    assert isinstance(stack, KeyUseFastPath), "the production app must put the fast path outermost"
    inner = FastAPI.build_middleware_stack(app)  # the same app's stack without the fast path

    async def routed_stack(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # what Starlette.__call__ adds before its stack
        await inner(scope, receive, send)

    auth = {"Authorization": world.admin_bearer}
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth)
    routed = httpx.AsyncClient(transport=httpx.ASGITransport(app=routed_stack), base_url="http://t", headers=auth)
    async with fast, routed:
        yield Pair(fast, routed)


async def _target(pair: Pair, qps: int) -> dict[str, Any]:
    key = rsa_key()
    repo = (await pair.routed.post("/v1/repositories", json={"data_source": "uploaded", "qps": qps})).json()
    uploaded = await pair.routed.post(
        f"/v1/repositories/{repo['id']}/certificates",
        json={"certificate": pem(build("fast.example.com", key)), "private_key": key_pem(key)},
    )
    assert uploaded.status_code == 201, uploaded.text
    return {"identifier": uploaded.json()["items"][0]["identifier"], "key": key}


@pytest.fixture
async def target(pair: Pair) -> dict[str, Any]:
    """An RSA certificate and key (PKCS#1 v1.5 signatures are deterministic: equal bodies)."""
    return await _target(pair, qps=1000)


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.json() == routed.json()
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.headers["x-request-id"] == routed.headers["x-request-id"] == REQUEST_ID
    assert fast.headers.get("retry-after") == routed.headers.get("retry-after")


def _body(target: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"identifier": target["identifier"], "algorithm": "SHA256withRSA", "message": "m", **fields}


async def test_a_signature_and_its_verification_are_the_same_on_both_paths(pair: Pair, target: dict[str, Any]) -> None:
    fast, routed = await pair.both("/v1/sign", json=_body(target))
    _same(fast, routed)
    assert fast.status_code == 200
    signature = fast.json()["signature"]
    fast, routed = await pair.both("/v1/verify", json=_body(target, signature=signature))
    _same(fast, routed)
    assert fast.json() == {"valid": True}


async def test_encrypt_then_decrypt_agree(pair: Pair, target: dict[str, Any]) -> None:
    fast, routed = await pair.both(
        "/v1/encrypt", json={"identifier": target["identifier"], "algorithm": "RSAES_OAEP_SHA_256", "plaintext": "hi"}
    )
    assert fast.status_code == routed.status_code == 200
    for ciphertext in (fast.json()["ciphertext"], routed.json()["ciphertext"]):
        body = {"identifier": target["identifier"], "algorithm": "RSAES_OAEP_SHA_256", "ciphertext": ciphertext}
        decrypted = await pair.both("/v1/decrypt", json={**body, "message_type": "RAW"})
        _same(*decrypted)
        assert decrypted[0].json() == {"plaintext": "hi"}


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v1/sign", {"algorithm": "SHA256withECDSA"}),  # AlgorithmMismatch
        ("/v1/sign", {"algorithm": "NoSuchAlgorithm"}),
        ("/v1/sign", {"message_type": "DIGEST", "message": "AAAA"}),  # wrong digest length
        ("/v1/sign", {"identifier": "no-such-certificate"}),
        ("/v1/sign", {"identifier": None, "custom_identifier": "nobody"}),
        ("/v1/verify", {"signature": "***not base64***"}),
        ("/v1/decrypt", {"algorithm": "RSAES_OAEP_SHA_256", "ciphertext": "AAAA"}),
        ("/v1/sign", {"message": "x" * 5000}),  # RAW over 4 KiB
        ("/v1/sign", {"unexpected": 1}),
    ],
    ids=["algorithm-mismatch", "unknown-algorithm", "digest-length", "unknown-id", "unknown-custom-id",
         "bad-base64", "bad-ciphertext", "raw-too-long", "extra-field"],
)
async def test_every_refusal_is_the_same_on_both_paths(
    pair: Pair, target: dict[str, Any], path: str, fields: dict[str, Any]
) -> None:
    body = {k: v for k, v in _body(target, **fields).items() if v is not None}
    fast, routed = await pair.both(path, json=body)
    _same(fast, routed)
    assert 400 <= fast.status_code < 500


@pytest.mark.parametrize(
    "body",
    [{}, {"identifier": "x"}, {"identifier": "x", "algorithm": 5, "message": []}, [1, 2]],
    ids=["empty", "missing-fields", "wrong-types", "not-an-object"],
)
async def test_a_malformed_body_is_the_same_400(pair: Pair, body: Any) -> None:
    fast, routed = await pair.both("/v1/sign", json=body)
    _same(fast, routed)
    assert fast.status_code == 400


async def test_invalid_json_is_the_same_400(pair: Pair) -> None:
    fast, routed = await pair.both("/v1/sign", content=b"{not json", headers={"Content-Type": "application/json"})
    _same(fast, routed)
    assert fast.json()["code"] == "InvalidParameter"


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer AAAA:wrong"])
async def test_authentication_failures_are_the_same_401(
    pair: Pair, target: dict[str, Any], authorization: str | None
) -> None:
    for client in (pair.fast, pair.routed):
        if authorization is None:
            client.headers.pop("Authorization")
        else:
            client.headers["Authorization"] = authorization
    fast, routed = await pair.both("/v1/sign", json=_body(target))
    _same(fast, routed)
    assert fast.status_code == 401


async def test_an_oversized_body_is_the_same_413(pair: Pair, world: World, target: dict[str, Any]) -> None:
    big = base64.b64encode(b"x" * world.settings.max_body_bytes).decode()
    fast, routed = await pair.both("/v1/sign", json=_body(target, message=big, message_type="BASE64"))
    assert fast.status_code == routed.status_code == 413
    assert fast.json()["code"] == routed.json()["code"] == "MessageTooLarge"


async def test_the_qps_limit_answers_the_same_429_with_retry_after(pair: Pair) -> None:
    # The repository allows 2 calls per second and both paths share the process's counter.
    target = await _target(pair, qps=2)
    statuses = []
    for _ in range(3):
        fast, routed = await pair.both("/v1/sign", json=_body(target))
        statuses += [fast.status_code, routed.status_code]
        if fast.status_code == 429 and routed.status_code == 429:
            _same(fast, routed)
            assert int(fast.headers["retry-after"]) >= 1
            return
    pytest.fail(f"no 429 from both paths within 6 calls at qps 2: {statuses}")


async def test_other_methods_and_paths_go_to_the_app(pair: Pair) -> None:
    assert (await pair.fast.get("/v1/sign")).status_code == 405
    assert (await pair.fast.post("/v1/sign/extra", json={})).status_code == 404
    assert (await pair.fast.get("/healthz")).json() == {"status": "ok"}
