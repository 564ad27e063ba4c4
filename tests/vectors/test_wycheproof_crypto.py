"""Project Wycheproof vectors (../shared/vectors/wycheproof) through the registry's algorithms.

Each file is one test: every ``valid`` case must succeed, every ``invalid`` one must be refused (False,
or a CertrepoError), ``acceptable`` may go either way, and nothing may raise anything but CertrepoError.
Keys enter as a user's would: public keys through ``load_public_key`` (what a certificate carries),
private keys through ``load_stored_private_key``. Cases the product cannot express are still run, with
the outcome the product must give, and counted in the report of the test:

- ECDSA P1363 (raw r || s) signatures: the API carries DER, so they are converted to DER first; a
  P1363 signature of the wrong length cannot be converted and counts as refused.
- RSA-OAEP vectors with a non-empty label: the API has no label, so decryption must fail for them.
- RSA-PSS signatures whose only defect is a salt length other than the group's: certrepo verifies PSS
  with any salt length (to accept OpenSSL's default), so they count as acceptable once the test has
  checked, with the exact salt length, that they are genuine PSS signatures.
- PKCS#1 signature generation with SHA-1 or SHA-224: certrepo offers no such algorithm, so the
  registry must refuse the name.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from certrepo.crypto.keys import load_public_key, load_stored_private_key
from certrepo.crypto.messages import Message
from certrepo.crypto.registry import encryption_algorithm, signature_algorithm
from certrepo.domain.errors import CertrepoError, InvalidInput
from tests.conftest import skip_or_fail
from tests.vectors.wycheproof_cases import Case, Group, other_salt_length

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "wycheproof"
FILES = sorted(VECTORS.glob("*.json"))



@dataclass
class Tally:
    """What happened to the cases of one file; ``failures`` are cases that broke the rules."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, case: Case, accepted: bool, note: str = "") -> None:
        expected = case["result"]
        self.outcomes[f"{expected}:{'accepted' if accepted else 'refused'}{note}"] += 1
        if (expected == "valid" and not accepted) or (expected == "invalid" and accepted):
            self.failures.append(
                f"tcId {case['tcId']} {expected} {case['flags']} was {'accepted' if accepted else 'refused'}"
            )

    def crash(self, case: Case, exc: BaseException) -> None:
        self.outcomes["crashed"] += 1
        self.failures.append(f"tcId {case['tcId']} raised {type(exc).__name__}: {exc}")


def _attempt(tally: Tally, case: Case, run: Callable[[], bool], note: str = "") -> None:
    """Run one case: True accepted, False or a CertrepoError refused, anything else a crash."""
    try:
        accepted = run()
    except CertrepoError:
        accepted = False
    except Exception as exc:  # noqa: BLE001 - every foreign exception is a failure of the rule
        tally.crash(case, exc)
        return
    tally.record(case, accepted, note)


def _hash_name(wycheproof_sha: str) -> str:
    return wycheproof_sha.replace("-", "")  # "SHA-256" -> "SHA256"


# --- one runner per Wycheproof test type ---------------------------------------------------------------


def _signature_verify(algorithm_name: str) -> Callable[[Tally, Group, str], None]:
    def run(tally: Tally, group: Group, _type: str) -> None:
        algorithm = signature_algorithm(algorithm_name)
        public_key = load_public_key(bytes.fromhex(group["publicKeyDer"]))
        for case in group["tests"]:
            message, signature = Message(bytes.fromhex(case["msg"])), bytes.fromhex(case["sig"])
            _attempt(tally, case, partial(algorithm.verify, public_key, message, signature))

    return run


def _ecdsa_verify(tally: Tally, group: Group, test_type: str) -> None:
    algorithm = signature_algorithm(f"{_hash_name(group['sha'])}withECDSA")
    public_key = load_public_key(bytes.fromhex(group["publicKeyDer"]))
    coordinate_bytes = (public_key.key_size + 7) // 8  # type: ignore[union-attr]
    for case in group["tests"]:
        message, signature = Message(bytes.fromhex(case["msg"])), bytes.fromhex(case["sig"])
        if test_type == "EcdsaP1363Verify":
            if len(signature) != 2 * coordinate_bytes:
                tally.record(case, accepted=False, note=" (P1363 length, not convertible)")
                continue
            r = int.from_bytes(signature[:coordinate_bytes], "big")
            s = int.from_bytes(signature[coordinate_bytes:], "big")
            signature = encode_dss_signature(r, s)
        _attempt(tally, case, partial(algorithm.verify, public_key, message, signature))


def _pss_verify(tally: Tally, group: Group, _type: str) -> None:
    # Our PSS uses MGF1 with the signature's hash; a group with another MGF hash is not expressible.
    assert group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"], f"unexpected PSS parameters {group}"
    algorithm = signature_algorithm(f"{_hash_name(group['sha'])}withRSA/PSS")
    public_key = load_public_key(bytes.fromhex(group["publicKeyDer"]))
    for case in group["tests"]:
        message, signature = Message(bytes.fromhex(case["msg"])), bytes.fromhex(case["sig"])
        salt_length = other_salt_length(case, group, public_key, message.data, signature)
        if salt_length is not None:
            # certrepo verifies PSS with any salt length (rsa.py: OpenSSL signs with the maximal one by
            # default), so a genuine signature whose only defect is another salt length is accepted.
            case = {**case, "result": "acceptable"}
        note = f" (salt length {salt_length})" if salt_length is not None else ""
        _attempt(tally, case, partial(algorithm.verify, public_key, message, signature), note)


def _pkcs1_verify(tally: Tally, group: Group, _type: str) -> None:
    _signature_verify(f"{_hash_name(group['sha'])}withRSA")(tally, group, _type)


def _pkcs1_generate(tally: Tally, group: Group, _type: str) -> None:
    name = f"{_hash_name(group['sha'])}withRSA"
    try:
        algorithm = signature_algorithm(name)
    except InvalidInput:
        # Only the hashes certrepo deliberately leaves out may be missing from the registry.
        for case in group["tests"]:
            tally.outcomes[f"{case['result']}:{name} not offered"] += 1
            if group["sha"] not in ("SHA-1", "SHA-224"):
                tally.failures.append(f"tcId {case['tcId']}: {name} should be offered")
        return
    private_key = load_stored_private_key(bytes.fromhex(group["privateKeyPkcs8"]))
    for case in group["tests"]:
        message, expected = Message(bytes.fromhex(case["msg"])), bytes.fromhex(case["sig"])

        def run(message: Message = message, expected: bytes = expected) -> bool:
            signature = algorithm.sign(private_key, message)
            return signature == expected and algorithm.verify(private_key.public_key(), message, signature)

        _attempt(tally, case, run)


def _oaep_decrypt(tally: Tally, group: Group, _type: str) -> None:
    assert group["mgf"] == "MGF1" and group["mgfSha"] == group["sha"], f"unexpected OAEP parameters {group}"
    algorithm = encryption_algorithm(f"RSAES_OAEP_{group['sha'].replace('-', '_')}")
    private_key = load_stored_private_key(bytes.fromhex(group["privateKeyPkcs8"]))
    for case in group["tests"]:
        ciphertext, plaintext = bytes.fromhex(case["ct"]), bytes.fromhex(case["msg"])

        def run(ciphertext: bytes = ciphertext, plaintext: bytes = plaintext) -> bool:
            return algorithm.decrypt(private_key, ciphertext) == plaintext

        if case["label"]:
            # No label in the API: decryption under the empty label must fail (a valid case is refused).
            labelled = {**case, "result": "invalid"}
            _attempt(tally, labelled, run, note=" (label, empty expected)")
        else:
            _attempt(tally, case, run)


RUNNERS: dict[str, Callable[[Tally, Group, str], None]] = {
    "EcdsaVerify": _ecdsa_verify,
    "EcdsaP1363Verify": _ecdsa_verify,
    "EddsaVerify": _signature_verify("Ed25519"),
    "RsassaPkcs1Verify": _pkcs1_verify,
    "RsassaPssVerify": _pss_verify,
    "RsassaPkcs1Generate": _pkcs1_generate,
    "RsaesOaepDecrypt": _oaep_decrypt,
}


def _files() -> Iterator[Any]:
    if not FILES:
        yield pytest.param(None, id="no-vectors")
    for path in FILES:
        yield pytest.param(path, id=path.stem)


@pytest.mark.parametrize("path", _files())
def test_wycheproof_file_through_the_registry(path: Path | None) -> None:
    if path is None:
        skip_or_fail(f"no Wycheproof vectors found in {VECTORS}")
        return
    suite = json.loads(path.read_text())
    tally = Tally()
    for group in suite["testGroups"]:
        runner = RUNNERS.get(group["type"])
        assert runner is not None, f"{path.name}: no runner for test type {group['type']}"
        runner(tally, group, group["type"])
    counted = sum(tally.outcomes.values())
    summary = ", ".join(f"{key}={n}" for key, n in sorted(tally.outcomes.items()))
    assert counted == suite["numberOfTests"], (
        f"{path.name}: {counted} of {suite['numberOfTests']} run ({summary})"
    )
    assert not tally.failures, (
        f"{path.name}: {len(tally.failures)} of {counted} cases broke the rules ({summary}):\n"
        + "\n".join(tally.failures[:20])
    )
