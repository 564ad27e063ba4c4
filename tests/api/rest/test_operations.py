"""Sign, Verify, Encrypt, Decrypt over REST: semantics, quota, rate limit, audit, permissions."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from tests.conftest import World
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem, rsa_key

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture(scope="module")
def rsa_material() -> tuple[object, str]:
    key = rsa_key()
    return key, pem(build("rsa.example.com", key, sans=["rsa.example.com"]))


@pytest.fixture(scope="module")
def ec_chain() -> Chain:
    return make_chain("Ops")


async def _upload(api: httpx.AsyncClient, certificate: str, key: str | None, *, data_source: str = "uploaded", qps: int | None = None, **extra: object) -> tuple[int, str]:
    repo = await api.post("/v1/repositories", json={"data_source": data_source, **({"qps": qps} if qps else {})})
    rid = repo.json()["id"]
    body: dict[str, object] = {"certificate": certificate, **extra}
    if key:
        body["private_key"] = key
    response = await api.post(f"/v1/repositories/{rid}/certificates", json=body)
    assert response.status_code == 201, response.text
    return rid, response.json()["items"][0]["identifier"]


@pytest.mark.parametrize("algorithm", ["SHA256withRSA", "SHA256withRSA/PSS", "SHA512withRSA"])
@pytest.mark.parametrize("message_type", ["RAW", "BASE64", "DIGEST"])
async def test_rsa_sign_then_verify_and_check_with_cryptography(
    api: httpx.AsyncClient, rsa_material: tuple[object, str], algorithm: str, message_type: str
) -> None:
    key, cert = rsa_material
    _, ident = await _upload(api, cert, key_pem(key))  # type: ignore[arg-type]
    data = b"approve invoice 42"
    hash_ = hashlib.sha512 if "512" in algorithm else hashlib.sha256
    message = {
        "RAW": data.decode(),
        "BASE64": base64.b64encode(data).decode(),
        "DIGEST": base64.b64encode(hash_(data).digest()).decode(),
    }[message_type]
    signed = await api.post(
        "/v1/sign", json={"identifier": ident, "algorithm": algorithm, "message": message, "message_type": message_type}
    )
    assert signed.status_code == 200, signed.text
    signature = base64.b64decode(signed.json()["signature"])
    pad = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        if "PSS" in algorithm
        else padding.PKCS1v15()
    )
    key.public_key().verify(signature, data, pad, hashes.SHA512() if "512" in algorithm else hashes.SHA256())  # type: ignore[attr-defined]
    verified = await api.post(
        "/v1/verify",
        json={"identifier": ident, "algorithm": algorithm, "message": message, "message_type": message_type,
              "signature": signed.json()["signature"]},
    )
    assert verified.json() == {"valid": True}


async def test_a_bad_signature_is_valid_false_not_an_error(api: httpx.AsyncClient, ec_chain: Chain) -> None:
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key))
    forged = ec_key().sign(b"x", ec.ECDSA(hashes.SHA256()))
    for signature in (base64.b64encode(forged).decode(), base64.b64encode(b"not der").decode()):
        response = await api.post(
            "/v1/verify",
            json={"identifier": ident, "algorithm": "SHA256withECDSA", "message": "x", "signature": signature},
        )
        assert response.status_code == 200 and response.json() == {"valid": False}


async def test_oaep_encrypt_decrypt_roundtrip_and_limits(api: httpx.AsyncClient, rsa_material: tuple[object, str]) -> None:
    key, cert = rsa_material
    _, ident = await _upload(api, cert, key_pem(key))  # type: ignore[arg-type]
    for algorithm, limit in (("RSAES_OAEP_SHA_1", 214), ("RSAES_OAEP_SHA_256", 190)):
        ok = await api.post("/v1/encrypt", json={"identifier": ident, "algorithm": algorithm, "plaintext": "a" * limit})
        assert ok.status_code == 200, ok.text
        back = await api.post(
            "/v1/decrypt",
            json={"identifier": ident, "algorithm": algorithm, "ciphertext": ok.json()["ciphertext"], "message_type": "RAW"},
        )
        assert back.json() == {"plaintext": "a" * limit}
        too_big = await api.post("/v1/encrypt", json={"identifier": ident, "algorithm": algorithm, "plaintext": "a" * (limit + 1)})
        assert too_big.status_code == 413 and too_big.json()["code"] == "MessageTooLarge"


@pytest.mark.parametrize(
    ("algorithm", "code"),
    [("SHA256withRSA/PSS", "AlgorithmMismatch"), ("RSAES_OAEP_SHA_256", "AlgorithmMismatch"), ("MD5withRSA", "InvalidParameter")],
    ids=["pss-on-ec", "oaep-on-ec", "unknown"],
)
async def test_an_algorithm_that_does_not_fit_the_key_is_a_clear_error(
    api: httpx.AsyncClient, ec_chain: Chain, algorithm: str, code: str
) -> None:
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key))
    path = "/v1/encrypt" if algorithm.startswith("RSAES") else "/v1/sign"
    field = "plaintext" if path == "/v1/encrypt" else "message"
    response = await api.post(path, json={"identifier": ident, "algorithm": algorithm, field: "x"})
    assert response.status_code == 400 and response.json()["code"] == code, response.text


async def test_no_private_key_revoked_and_raw_size(api: httpx.AsyncClient, ec_chain: Chain) -> None:
    _, no_key = await _upload(api, pem(ec_chain.leaf), None)
    response = await api.post("/v1/sign", json={"identifier": no_key, "algorithm": "SHA256withECDSA", "message": "x"})
    assert response.status_code == 400 and response.json()["code"] == "NoPrivateKey"
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key))
    big = await api.post("/v1/sign", json={"identifier": ident, "algorithm": "SHA256withECDSA", "message": "a" * 4096})
    assert big.status_code == 413
    blind = await api.post(
        "/v1/sign", json={"identifier": ident, "algorithm": "SHA256withECDSA", "message": "eA==", "message_type": "BLIND"}
    )
    assert blind.status_code == 400 and blind.json()["code"] == "UnsupportedOperation"


async def test_custom_identifier_selects_the_certificate(api: httpx.AsyncClient, ec_chain: Chain) -> None:
    await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key), custom_identifier="orders-signer")
    response = await api.post(
        "/v1/sign", json={"custom_identifier": "orders-signer", "algorithm": "SHA256withECDSA", "message": "x"}
    )
    assert response.status_code == 200, response.text
    missing = await api.post("/v1/sign", json={"custom_identifier": "nope", "algorithm": "SHA256withECDSA", "message": "x"})
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound.Certificate"


async def test_quota_pool_is_consumed_once_per_call_and_refuses_when_used_up(
    api: httpx.AsyncClient, ec_chain: Chain
) -> None:
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key))
    assert (await api.put("/v1/quota", json={"app": {"total": 5}})).status_code == 200
    body = {"identifier": ident, "algorithm": "SHA256withECDSA", "message": "x"}
    results = await asyncio.gather(*[api.post("/v1/sign", json=body) for _ in range(8)])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 5 + [429] * 3
    assert {r.json()["code"] for r in results if r.status_code == 429} == {"QuotaExhausted"}
    quota = (await api.get("/v1/quota")).json()
    assert quota["app"] == {"total": 5, "used": 5} and quota["contract"]["used"] == 0


async def test_a_repository_over_its_qps_is_throttled_with_retry_after(api: httpx.AsyncClient, ec_chain: Chain) -> None:
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key), qps=2)
    body = {"identifier": ident, "algorithm": "SHA256withECDSA", "message": "x"}
    results = [await api.post("/v1/sign", json=body) for _ in range(4)]
    throttled = [r for r in results if r.status_code == 429]
    assert throttled, [r.status_code for r in results]
    assert throttled[0].json()["code"] == "Throttling" and int(throttled[0].headers["retry-after"]) >= 1


async def test_each_key_use_is_audited_without_the_message(api: httpx.AsyncClient, ec_chain: Chain) -> None:
    _, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key))
    await api.post("/v1/sign", json={"identifier": ident, "algorithm": "SHA256withECDSA", "message": "secret-content-123"})
    await api.post("/v1/sign", json={"identifier": ident, "algorithm": "SHA256withRSA", "message": "secret-content-123"})
    events = (await api.get("/v1/audit-events", params={"action": "key.sign"})).json()["items"]
    assert [(e["outcome"], e["algorithm"]) for e in events] == [("failure", "SHA256withRSA"), ("success", "SHA256withECDSA")]
    assert all(e["certificate_id"] == ident and e["request_id"] for e in events)
    assert "secret-content-123" not in str(events)
    chain = (await api.get("/v1/audit-events/verify")).json()
    assert chain["intact"] is True


async def test_a_signer_uses_granted_repositories_only_and_cannot_export(
    api: httpx.AsyncClient, world: World, ec_chain: Chain
) -> None:
    rid, ident = await _upload(api, pem(ec_chain.leaf), key_pem(ec_chain.leaf_key), exportable=True)
    user = (await api.post("/v1/users", json={"name": "app-signer", "role": "signer"})).json()
    key = (await api.post("/v1/access-keys", json={"user_id": user["id"]})).json()
    headers = {"Authorization": f"Bearer {key['id']}:{key['secret']}"}
    body = {"identifier": ident, "algorithm": "SHA256withECDSA", "message": "x"}
    before = await api.post("/v1/sign", json=body, headers=headers)
    assert before.status_code == 404
    assert (await api.put(f"/v1/users/{user['id']}/grants/{rid}")).status_code == 204
    after = await api.post("/v1/sign", json=body, headers=headers)
    assert after.status_code == 200
    export = await api.post(f"/v1/certificates/{ident}/export-key", json={}, headers=headers)
    assert export.status_code == 403
