"""Project Wycheproof vectors (../shared/vectors/wycheproof) through the REST API, as a user would send them.

Each file is one test. The public key of a signature group travels in a certificate signed by a test CA
(uploaded with the CA as its chain) and its cases go to ``POST /v1/verify``; a private-key group is
uploaded with its key, its cases go to ``POST /v1/sign`` (PKCS#1 generation) or ``POST /v1/decrypt``
(OAEP). Messages are sent as BASE64, so the service hashes them. Rules: every ``valid`` case accepted,
every ``invalid`` one refused, ``acceptable`` either way; never a 5xx; a verify answers
``valid: true/false``, never an error (SPEC §1.3); a refused decrypt or sign is a clear 4xx. A key the
service refuses at upload with a clear 4xx is counted, not failed. Every case of every file is run.

Cases the API cannot express, as in test_wycheproof_crypto.py:
- ECDSA P1363 (raw r || s) signatures are sent as DER; one of the wrong length cannot be converted and
  counts as refused without a request.
- RSA-OAEP cases with a non-empty label: the API has no label, so decryption must fail.
- RSA-PSS signatures whose only defect is another salt length count as acceptable (certrepo verifies PSS
  with any salt length) once checked locally, with that salt length, to be genuine.
- PKCS#1 generation with SHA-1 or SHA-224: certrepo offers no such algorithm; a clear 4xx is expected.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.services.accounts import bootstrap
from tests.conftest import skip_or_fail
from tests.vectors.service_support import (
    FILES,
    VECTORS,
    Case,
    Group,
    Probe,
    Tally,
    VectorService,
    b64,
    make_test_ca,
    record_answer,
    refused_upload,
)
from tests.vectors.wycheproof_cases import other_salt_length

# Hashes certrepo deliberately offers no PKCS#1 signing with (test_wycheproof_crypto.py has the same rule).
LEFT_OUT_HASHES = ("SHA-1", "SHA-224")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[VectorService]:
    """One service (SQLite) for the module, built as tests/conftest.py builds ``world`` and ``api``, with
    an unlimited-in-practice app quota and one uploaded repository."""
    data_dir = tmp_path_factory.mktemp("wycheproof") / "data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "certrepo.db")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'certrepo.db'}",
        base_url="http://127.0.0.1:8080",
    )
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)
    try:
        admin = await bootstrap(services)
        assert admin is not None
        bearer = f"Bearer {admin.access_key.key.id}:{admin.access_key.secret.reveal().decode()}"
        # A 500 must reach the test as a response, not as the app's exception re-raised in the client.
        transport = httpx.ASGITransport(app=build_app(settings, services), raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://certrepo.test", headers={"Authorization": bearer}
        ) as client:
            quota = await client.put("/v1/quota", json={"app": {"total": 10**9}})
            assert quota.status_code == 200, quota.text
            created = await client.post(
                "/v1/repositories", json={"name": "wycheproof", "data_source": "uploaded"}
            )
            assert created.status_code == 201, created.text
            now = services.clock()
            yield VectorService(client, created.json()["id"], make_test_ca(now), now)
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


# --- probes per Wycheproof test type --------------------------------------------------------------------


def _hash_name(wycheproof_sha: str) -> str:
    return wycheproof_sha.replace("-", "")  # "SHA-256" -> "SHA256"


def _public_key(group: Group) -> PublicKeyTypes:
    return serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))


def _verify_probe(identifier: str, algorithm: str, case: Case, signature: bytes, note: str = "") -> Probe:
    body = {
        "identifier": identifier,
        "algorithm": algorithm,
        "message": b64(bytes.fromhex(case["msg"])),
        "message_type": "BASE64",
        "signature": b64(signature),
    }
    return Probe(
        case, "/v1/verify", body, lambda answer: answer["valid"] is True, note, verify_semantics=True
    )


async def _upload(
    service: VectorService, tally: Tally, group: Group, private_key_pem: str | None = None
) -> str | None:
    if private_key_pem is not None:
        key = serialization.load_pem_private_key(private_key_pem.encode(), None)
        public_key: PublicKeyTypes = key.public_key()
    else:
        public_key = _public_key(group)
    target = await service.certificate_for(public_key, private_key_pem)
    if isinstance(target, httpx.Response):
        what = f"{group['type']} key {group.get('keySize', '')} {group.get('sha', '')}".strip()
        refused_upload(tally, group["tests"], target, what)
        return None
    return target


async def _ecdsa_verify(service: VectorService, tally: Tally, group: Group) -> list[Probe]:
    identifier = await _upload(service, tally, group)
    if identifier is None:
        return []
    algorithm = f"{_hash_name(group['sha'])}withECDSA"
    public_key = _public_key(group)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    coordinate_bytes = (public_key.key_size + 7) // 8
    probes = []
    for case in group["tests"]:
        signature = bytes.fromhex(case["sig"])
        if group["type"] == "EcdsaP1363Verify":
            if len(signature) != 2 * coordinate_bytes:
                tally.record(case, accepted=False, note=" (P1363 length, not convertible)")
                continue
            r = int.from_bytes(signature[:coordinate_bytes], "big")
            s = int.from_bytes(signature[coordinate_bytes:], "big")
            signature = encode_dss_signature(r, s)
        probes.append(_verify_probe(identifier, algorithm, case, signature))
    return probes


def _signature_verify(algorithm_of: Callable[[Group], str]) -> Callable[..., Awaitable[list[Probe]]]:
    async def run(service: VectorService, tally: Tally, group: Group) -> list[Probe]:
        identifier = await _upload(service, tally, group)
        if identifier is None:
            return []
        algorithm = algorithm_of(group)
        return [
            _verify_probe(identifier, algorithm, case, bytes.fromhex(case["sig"])) for case in group["tests"]
        ]

    return run


async def _pss_verify(service: VectorService, tally: Tally, group: Group) -> list[Probe]:
    # Our PSS uses MGF1 with the signature's hash; a group with another MGF hash is not expressible.
    assert group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"], f"unexpected PSS parameters {group}"
    identifier = await _upload(service, tally, group)
    if identifier is None:
        return []
    algorithm = f"{_hash_name(group['sha'])}withRSA/PSS"
    public_key = _public_key(group)
    probes = []
    for case in group["tests"]:
        signature = bytes.fromhex(case["sig"])
        salt_length = other_salt_length(case, group, public_key, bytes.fromhex(case["msg"]), signature)
        note = ""
        if salt_length is not None:
            # certrepo verifies PSS with any salt length (rsa.py), so a genuine signature whose only defect
            # is another salt length is accepted.
            case, note = {**case, "result": "acceptable"}, f" (salt length {salt_length})"
        probes.append(_verify_probe(identifier, algorithm, case, signature, note))
    return probes


async def _pkcs1_generate(service: VectorService, tally: Tally, group: Group) -> list[Probe]:
    identifier = await _upload(service, tally, group, private_key_pem=group["privateKeyPem"])
    if identifier is None:
        return []
    algorithm = f"{_hash_name(group['sha'])}withRSA"
    left_out = group["sha"] in LEFT_OUT_HASHES
    note = f" ({algorithm} not offered)" if left_out else ""
    probes = []
    for case in group["tests"]:
        body = {
            "identifier": identifier,
            "algorithm": algorithm,
            "message": b64(bytes.fromhex(case["msg"])),
            "message_type": "BASE64",
        }
        expected = bytes.fromhex(case["sig"])

        def judge(answer: dict[str, Any], expected: bytes = expected) -> bool:
            return base64.b64decode(answer["signature"]) == expected  # PKCS#1 v1.5 is deterministic

        probes.append(Probe(case, "/v1/sign", body, judge, note, refusal_expected=left_out))
    return probes


async def _oaep_decrypt(service: VectorService, tally: Tally, group: Group) -> list[Probe]:
    assert group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"], f"unexpected OAEP parameters {group}"
    identifier = await _upload(service, tally, group, private_key_pem=group["privateKeyPem"])
    if identifier is None:
        return []
    algorithm = f"RSAES_OAEP_{group['sha'].replace('-', '_')}"
    probes = []
    for case in group["tests"]:
        body = {
            "identifier": identifier,
            "algorithm": algorithm,
            "ciphertext": b64(bytes.fromhex(case["ct"])),
            "message_type": "BASE64",
        }
        plaintext = bytes.fromhex(case["msg"])

        def judge(answer: dict[str, Any], plaintext: bytes = plaintext) -> bool:
            return base64.b64decode(answer["plaintext"]) == plaintext

        note = ""
        if case["label"]:
            # No label in the API: decryption under the empty label must fail (a valid case is refused).
            case, note = {**case, "result": "invalid"}, " (label, empty expected)"
        probes.append(Probe(case, "/v1/decrypt", body, judge, note))
    return probes


Runner = Callable[[VectorService, Tally, Group], Awaitable[list[Probe]]]

RUNNERS: dict[str, Runner] = {
    "EcdsaVerify": _ecdsa_verify,
    "EcdsaP1363Verify": _ecdsa_verify,
    "EddsaVerify": _signature_verify(lambda group: "Ed25519"),
    "RsassaPkcs1Verify": _signature_verify(lambda group: f"{_hash_name(group['sha'])}withRSA"),
    "RsassaPssVerify": _pss_verify,
    "RsassaPkcs1Generate": _pkcs1_generate,
    "RsaesOaepDecrypt": _oaep_decrypt,
}


def _files() -> Iterator[Any]:
    if not FILES:
        yield pytest.param(None, id="no-vectors")
    for path in FILES:
        yield pytest.param(path, id=path.stem)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("path", _files())
async def test_wycheproof_file_through_the_rest_api(path: Path | None, service: VectorService) -> None:
    if path is None:
        skip_or_fail(f"no Wycheproof vectors found in {VECTORS}")
        return
    suite = json.loads(path.read_text())
    tally = Tally()
    probes: list[Probe] = []
    for group in suite["testGroups"]:
        runner = RUNNERS.get(group["type"])
        assert runner is not None, f"{path.name}: no runner for test type {group['type']}"
        probes += await runner(service, tally, group)
    await service.run(tally, probes)
    counted = sum(tally.outcomes.values())
    refused = "".join(f"\n  key refused at upload: {line}" for line in tally.refused_keys)
    assert counted == suite["numberOfTests"], (
        f"{path.name}: {counted} of {suite['numberOfTests']} run ({tally.summary()})"
    )
    assert not tally.failures, (
        f"{path.name}: {len(tally.failures)} of {counted} cases broke the rules ({tally.summary()}):\n"
        + "\n".join(tally.failures[:40])
        + refused
    )


# --- the rules themselves bite (no service needed) ------------------------------------------------------

_CASE: Case = {"tcId": 7, "result": "acceptable", "flags": [], "comment": ""}
_ERROR = {"code": "InvalidParameter", "message": "signature is not valid base64", "request_id": "r-1"}


def _probe(*, verify_semantics: bool = False) -> Probe:
    return Probe(
        _CASE, "/v1/verify", {}, lambda answer: answer["valid"] is True, verify_semantics=verify_semantics
    )


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        pytest.param(httpx.Response(500, json={"code": "InternalError"}), "5xx", id="500"),
        pytest.param(httpx.Response(429, json=_ERROR), "throttled", id="429"),
        pytest.param(RuntimeError("boom"), "crashed", id="exception"),
        pytest.param(httpx.Response(400, text="bad"), "unclear error", id="400-without-error-shape"),
    ],
)
def test_an_answer_that_is_no_verdict_breaks_the_rules_even_for_an_acceptable_case(
    answer: httpx.Response | BaseException, kind: str
) -> None:
    tally = Tally()
    record_answer(tally, _probe(), answer)
    assert tally.outcomes == {kind: 1} and "tcId 7" in tally.failures[0]


def test_a_verify_that_answers_an_error_instead_of_false_breaks_the_rules() -> None:
    tally = Tally()
    record_answer(tally, _probe(verify_semantics=True), httpx.Response(400, json=_ERROR))
    assert tally.outcomes == {"verify error": 1} and "instead of valid: false" in tally.failures[0]


def test_a_key_refused_at_upload_with_a_clear_4xx_is_counted_not_failed() -> None:
    tally = Tally()
    refused_upload(tally, [_CASE, {**_CASE, "tcId": 8}], httpx.Response(400, json=_ERROR), "RSA key")
    assert tally.outcomes == {"acceptable:key refused at upload (InvalidParameter)": 2}
    assert not tally.failures and tally.refused_keys
