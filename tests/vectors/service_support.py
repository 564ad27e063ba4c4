"""Running Wycheproof vectors through the REST API: a test CA, per-key uploads, probes and their verdicts.

A *probe* is one request made for one Wycheproof case (``POST /v1/verify``, ``/v1/sign`` or
``/v1/decrypt``) together with the rule that reads the answer: accepted, refused, or a broken rule.
Probes of a whole file are sent concurrently in chunks; keys are uploaded once per module, each in a
certificate signed by a test CA, with the CA as the chain.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from tests.vectors.wycheproof_cases import Case, Group

__all__ = [
    "FILES",
    "VECTORS",
    "Case",
    "Group",
    "Probe",
    "Tally",
    "TestCa",
    "VectorService",
    "b64",
    "describe",
    "is_clear_error",
    "make_test_ca",
    "record_answer",
    "refused_upload",
]

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "wycheproof"
FILES = sorted(VECTORS.glob("*.json"))
CHUNK = 48  # concurrent requests in flight: enough to overlap database round trips, few enough for 2 cores


# --- the test CA and the certificates that carry the vectors' keys ------------------------------------


@dataclass(frozen=True)
class TestCa:
    """A self-signed P-256 CA that signs a certificate for each vector key (their private keys are unknown)."""

    __test__ = False  # not a pytest test class despite the name

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def leaf_pem(self, public_key: PublicKeyTypes, now: dt.datetime) -> str:
        """A end-entity certificate for ``public_key``, valid around ``now``, signed by this CA."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wycheproof vector key")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_test_ca(now: dt.datetime) -> TestCa:
    """A fresh test CA valid around ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Wycheproof Test CA")])
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TestCa(key, cert)


# --- outcomes -----------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What happened to the cases of one file; ``failures`` are cases that broke the rules."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    refused_keys: list[str] = field(default_factory=list)

    def record(self, case: Case, accepted: bool, note: str = "") -> None:
        expected = case["result"]
        self.outcomes[f"{expected}:{'accepted' if accepted else 'refused'}{note}"] += 1
        if (expected == "valid" and not accepted) or (expected == "invalid" and accepted):
            verb = "accepted" if accepted else "refused"
            self.failures.append(f"tcId {case['tcId']} {expected} {case['flags']} was {verb}{note}")

    def broke(self, case: Case, kind: str, what: str) -> None:
        """A case whose answer breaks a rule whatever its expected result (5xx, an error for a verify)."""
        self.outcomes[kind] += 1
        self.failures.append(f"tcId {case['tcId']} {case['result']}: {what}")

    def summary(self) -> str:
        return ", ".join(f"{key}={n}" for key, n in sorted(self.outcomes.items()))


def describe(response: httpx.Response) -> str:
    """``status code: message`` of an error answer, for failure lists."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]!r}"
    if isinstance(body, dict):
        return f"{response.status_code} {body.get('code')}: {body.get('message')}"
    return f"{response.status_code} {body!r:.200}"


def is_clear_error(response: httpx.Response) -> bool:
    """A 4xx with the JSON error shape of SPEC §3 and a message for people."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and bool(body.get("code"))
        and isinstance(body.get("message"), str)
        and len(body["message"]) > 10
        and bool(body.get("request_id"))
    )


# Reads the 2xx answer of a probe: True accepted, False refused.
Judge = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Probe:
    """One request for one case. ``verify_semantics``: a 4xx breaks SPEC §1.3 (bad signature → false);
    ``refusal_expected``: a clear 4xx is the product's intended answer whatever the case's result."""

    case: Case
    path: str
    body: dict[str, Any]
    judge: Judge
    note: str = ""
    verify_semantics: bool = False
    refusal_expected: bool = False


def b64(data: bytes) -> str:
    """Standard base64 text, as the API carries binary values."""
    return base64.b64encode(data).decode()


# --- the service under test ---------------------------------------------------------------------------


@dataclass
class VectorService:
    """The in-process REST API as admin, one uploaded repository, and the keys uploaded so far."""

    client: httpx.AsyncClient
    repository_id: int
    ca: TestCa
    now: dt.datetime
    _uploads: dict[tuple[bytes, bool], str | httpx.Response] = field(default_factory=dict)

    async def certificate_for(
        self, public_key: PublicKeyTypes, private_key_pem: str | None = None
    ) -> str | httpx.Response:
        """The identifier of a certificate for the key (with the private key when given), uploaded once;
        or the answer that refused the upload."""
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cache_key = (spki, private_key_pem is not None)
        if cache_key not in self._uploads:
            body: dict[str, Any] = {
                "certificate": self.ca.leaf_pem(public_key, self.now),
                "chain": self.ca.pem,
            }
            if private_key_pem is not None:
                body["private_key"] = private_key_pem
            response = await self.client.post(
                f"/v1/repositories/{self.repository_id}/certificates", json=body
            )
            if response.status_code == 201:
                self._uploads[cache_key] = response.json()["items"][0]["identifier"]
            else:
                self._uploads[cache_key] = response
        return self._uploads[cache_key]

    async def run(self, tally: Tally, probes: Sequence[Probe]) -> None:
        """Send the probes concurrently in chunks and record each verdict in ``tally``."""
        for start in range(0, len(probes), CHUNK):
            chunk = probes[start : start + CHUNK]
            answers = await asyncio.gather(
                *(self.client.post(p.path, json=p.body) for p in chunk), return_exceptions=True
            )
            for probe, answer in zip(chunk, answers, strict=True):
                record_answer(tally, probe, answer)


def refused_upload(tally: Tally, group_cases: Sequence[Case], response: httpx.Response, what: str) -> None:
    """Count the cases of a group whose key the service refused; a 5xx or unclear refusal is a failure."""
    if response.status_code >= 500 or not is_clear_error(response):
        for case in group_cases:
            tally.broke(case, "upload crashed", f"upload of {what} answered {describe(response)}")
        return
    code = response.json()["code"]
    tally.refused_keys.append(f"{what} ({len(group_cases)} cases): {describe(response)}")
    for case in group_cases:
        tally.outcomes[f"{case['result']}:key refused at upload ({code})"] += 1


def record_answer(tally: Tally, probe: Probe, answer: httpx.Response | BaseException) -> None:
    """Record the verdict of one answer (or the exception the request raised) in ``tally``."""
    case = probe.case
    if isinstance(answer, BaseException):
        tally.broke(case, "crashed", f"{probe.path} raised {type(answer).__name__}: {answer}")
        return
    status = answer.status_code
    if status >= 500:
        tally.broke(case, "5xx", f"{probe.path} answered {describe(answer)}")
    elif status == 429:
        tally.broke(case, "throttled", f"{probe.path} was throttled: {describe(answer)}")
    elif 200 <= status < 300:
        tally.record(case, probe.judge(answer.json()), probe.note)
    elif probe.verify_semantics:
        tally.broke(case, "verify error", f"{probe.path} answered {describe(answer)} instead of valid: false")
    elif not is_clear_error(answer):
        tally.broke(case, "unclear error", f"{probe.path} answered an unclear error {describe(answer)}")
    elif probe.refusal_expected:
        tally.outcomes[f"{case['result']}:refused{probe.note}"] += 1
    else:
        tally.record(case, accepted=False, note=f"{probe.note} ({answer.json()['code']})")
