"""Mixed API traffic over one or more nodes, shared by the system tests and `python -m bench load`.

Workers (asyncio tasks) each draw calls by weight from ``WEIGHTS`` and send each call to the next node in
turn, so what one call creates is often used through the other node. Every call is one a healthy service
answers with success (a revoke only ever names a certificate its worker issued, a lifecycle step follows
the repository's state), so any other answer is an error, recorded with its status and code. Latencies
are measured per call around the HTTP exchange; the run stops after ``calls_per_worker`` calls or at
``seconds``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from tests.factories import build, ec_key, key_pem, pem, rsa_key

__all__ = [
    "KEY_USES",
    "MESSAGE",
    "WEIGHTS",
    "CallRecord",
    "Tenant",
    "TrafficResult",
    "prepare_tenant",
    "run_traffic",
]

MESSAGE = "approve purchase order 2026-11-27 #0042, amount 1,250.00 EUR"
# Relative weights of the call kinds; "lifecycle" is one step of create/rename/reset/enable/reset/delete.
WEIGHTS: dict[str, int] = {
    "sign": 16,
    "verify": 12,
    "encrypt": 8,
    "decrypt": 8,
    "list": 10,
    "get": 6,
    "upload": 6,
    "issue": 8,
    "revoke": 4,
    "crl": 3,
    "quota": 2,
    "lifecycle": 6,
}
KEY_USES = frozenset({"sign", "verify", "encrypt", "decrypt"})  # the calls that consume a quota unit
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_names = itertools.count(1)


@dataclass(frozen=True)
class Tenant:
    """What the traffic works on: an account's admin key, two repositories, a CA, two stored keys, and
    a signature and ciphertext made locally with those keys."""

    bearer: str
    uploaded_repository_id: int
    private_repository_id: int
    ca_id: int
    rsa_identifier: str
    ec_identifier: str
    rsa_signature: str
    ec_signature: str
    ciphertext: str


def _post(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, Any]:
    """POST that must create; its JSON answer."""
    response = client.post(path, json=body)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
    created: dict[str, Any] = response.json()
    return created


def _upload_body(key: CertificateIssuerPrivateKeyTypes, common_name: str) -> dict[str, object]:
    """A self-signed certificate of ``key`` with the key, as the upload route takes them."""
    return {"certificate": pem(build(common_name, key)), "private_key": key_pem(key)}


def _store_key(
    client: httpx.Client, repository_id: int, key: CertificateIssuerPrivateKeyTypes, common_name: str
) -> str:
    """Upload a self-signed certificate of ``key`` with the key; the certificate's identifier."""
    uploaded = _post(client, f"/v1/repositories/{repository_id}/certificates", _upload_body(key, common_name))
    return str(uploaded["items"][0]["identifier"])


def prepare_tenant(client: httpx.Client, label: str) -> Tenant:
    """Repositories, a root and intermediate CA, an RSA-2048 and an EC P-256 key, made through the REST
    API of ``client`` (an admin of the account the traffic will use)."""
    uploaded = _post(
        client, "/v1/repositories", {"name": f"{label}-uploaded", "data_source": "uploaded", "qps": 1_000_000}
    )
    root = _post(
        client, "/v1/cas", {"type": "root", "common_name": f"{label} Root", "key_algorithm": "ECC_256"}
    )
    intermediate = _post(
        client,
        "/v1/cas",
        {
            "type": "intermediate",
            "common_name": f"{label} Issuing",
            "key_algorithm": "ECC_256",
            "parent_id": root["id"],
        },
    )
    private = _post(
        client,
        "/v1/repositories",
        {"name": f"{label}-private", "data_source": "private", "ca_id": intermediate["id"], "qps": 1_000_000},
    )
    rsa, ecdsa = rsa_key(), ec_key()
    message = MESSAGE.encode()
    return Tenant(
        bearer=str(client.headers["Authorization"]),
        uploaded_repository_id=int(uploaded["id"]),
        private_repository_id=int(private["id"]),
        ca_id=int(intermediate["id"]),
        rsa_identifier=_store_key(client, int(uploaded["id"]), rsa, f"{label}-rsa.example"),
        ec_identifier=_store_key(client, int(uploaded["id"]), ecdsa, f"{label}-ec.example"),
        rsa_signature=_b64(rsa.sign(message, padding.PKCS1v15(), hashes.SHA256())),
        ec_signature=_b64(ecdsa.sign(message, ec.ECDSA(hashes.SHA256()))),
        ciphertext=_b64(rsa.public_key().encrypt(message, _OAEP)),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class CallRecord:
    kind: str
    node: int
    status: int  # 0: no HTTP answer (transport error)
    seconds: float
    ok: bool
    problem: str = ""  # code and message of an unexpected answer


@dataclass
class TrafficResult:
    records: list[CallRecord] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)  # of every certificate issued
    seconds: float = 0.0

    @property
    def errors(self) -> list[CallRecord]:
        return [r for r in self.records if not r.ok]

    @property
    def server_errors(self) -> list[CallRecord]:
        return [r for r in self.records if r.status >= 500]

    @property
    def key_uses(self) -> int:
        """Successful sign, verify, encrypt and decrypt calls: each consumed one quota unit."""
        return sum(1 for r in self.records if r.status == 200 and r.kind in KEY_USES)

    def counts(self) -> Counter[str]:
        return Counter(r.kind for r in self.records)

    def markdown(self) -> str:
        """Calls, errors, throughput and p50/p99 latency per call kind and overall."""
        lines = ["| call | calls | errors | calls/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
        kinds = sorted(self.counts(), key=lambda k: -self.counts()[k])
        for kind in [*kinds, "all"]:
            chosen = [r for r in self.records if kind in ("all", r.kind)]
            latencies = sorted(r.seconds for r in chosen)
            rate = len(chosen) / self.seconds if self.seconds else 0.0
            lines.append(
                f"| {kind} | {len(chosen):,} | {sum(not r.ok for r in chosen)} | {rate:,.1f} "
                f"| {statistics.median(latencies) * 1000:.1f} | {_p99(latencies) * 1000:.1f} |"
            )
        return "\n".join(lines)


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass
class _Worker:
    """One worker's own state: the certificates it issued and may revoke, its lifecycle repository."""

    index: int
    rng: random.Random
    issued: list[str] = field(default_factory=list)
    repository: int | None = None
    step: int = 0


_LIFECYCLE = ("create", "rename", "reset", "enable", "reset", "delete")


@dataclass(frozen=True)
class _Call:
    kind: str
    method: str
    path: str
    body: dict[str, object] | None
    expected: int  # the status a healthy service answers


def _key_use(tenant: Tenant, kind: str, use_rsa: bool) -> _Call:
    ident = tenant.rsa_identifier if use_rsa else tenant.ec_identifier
    algorithm = "SHA256withRSA" if use_rsa else "SHA256withECDSA"
    if kind == "sign":
        return _Call(
            kind, "POST", "/v1/sign", {"identifier": ident, "algorithm": algorithm, "message": MESSAGE}, 200
        )
    if kind == "verify":
        signature = tenant.rsa_signature if use_rsa else tenant.ec_signature
        body: dict[str, object] = {
            "identifier": ident,
            "algorithm": algorithm,
            "message": MESSAGE,
            "signature": signature,
        }
        return _Call(kind, "POST", "/v1/verify", body, 200)
    # Encryption needs the RSA key (OAEP); the EC key has no encryption scheme here.
    key: dict[str, object] = {"identifier": tenant.rsa_identifier, "algorithm": "RSAES_OAEP_SHA_256"}
    if kind == "encrypt":
        return _Call(kind, "POST", "/v1/encrypt", {**key, "plaintext": MESSAGE}, 200)
    decrypt = {**key, "ciphertext": tenant.ciphertext, "message_type": "RAW"}
    return _Call(kind, "POST", "/v1/decrypt", decrypt, 200)


def _certificate_call(tenant: Tenant, worker: _Worker, kind: str, use_rsa: bool) -> _Call:
    uploaded, private = tenant.uploaded_repository_id, tenant.private_repository_id
    if kind == "list":
        return _Call(kind, "GET", f"/v1/repositories/{uploaded}/certificates?page_size=20", None, 200)
    if kind == "get":
        ident = tenant.rsa_identifier if use_rsa else tenant.ec_identifier
        return _Call(kind, "GET", f"/v1/certificates/{ident}?include=pem,chain", None, 200)
    if kind == "upload":
        body = _upload_body(ec_key(), f"upload-{next(_names)}.example")
        return _Call(kind, "POST", f"/v1/repositories/{uploaded}/certificates", body, 201)
    if kind == "revoke":
        return _Call(
            kind, "POST", f"/v1/certificates/{worker.issued.pop()}/revoke", {"reason": "superseded"}, 200
        )
    n = next(_names)
    body = {
        "key_algorithm": "ECC_256",
        "common_name": f"issued-{n}.example",
        "sans": [{"type": "dns", "value": f"issued-{n}.example"}],
        "days": 30,
        "usage": "server",
    }
    return _Call("issue", "POST", f"/v1/repositories/{private}/issue", body, 201)


def _lifecycle_call(worker: _Worker) -> _Call:
    """The next step of the worker's own repository: create, rename, reset, enable, reset, delete."""
    step = _LIFECYCLE[worker.step]
    path = f"/v1/repositories/{worker.repository}"
    if step == "create":
        body: dict[str, object] = {"name": f"lifecycle-{worker.index}", "data_source": "uploaded"}
        return _Call("lifecycle", "POST", "/v1/repositories", body, 201)
    if step == "rename":
        return _Call("lifecycle", "PATCH", path, {"name": f"renamed-{worker.index}-{next(_names)}"}, 200)
    if step == "reset":
        return _Call("lifecycle", "POST", f"{path}/reset", {"acknowledge_risk": True}, 200)
    if step == "enable":
        return _Call("lifecycle", "POST", f"{path}/enable", {"data_source": "uploaded_ca"}, 200)
    return _Call("lifecycle", "DELETE", path, None, 204)


def _next_call(tenant: Tenant, worker: _Worker) -> _Call:
    """The worker's next call: kind drawn by weight, arguments fitting the worker's state."""
    kind = worker.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    use_rsa = worker.rng.random() < 0.5
    if kind in KEY_USES:
        return _key_use(tenant, kind, use_rsa)
    if kind == "crl":
        return _Call(kind, "GET", f"/crl/{tenant.ca_id}.crl", None, 200)
    if kind == "quota":
        return _Call(kind, "GET", "/v1/quota", None, 200)
    if kind == "lifecycle":
        return _lifecycle_call(worker)
    if kind == "revoke" and not worker.issued:
        kind = "issue"  # nothing of this worker's to revoke yet
    return _certificate_call(tenant, worker, kind, use_rsa)


def _after(worker: _Worker, kind: str, response: httpx.Response, result: TrafficResult) -> str:
    """Follow up a successful answer: remember what was created; check what the body must say.
    Returns a problem description, or "" when the answer is right."""
    if kind == "issue":
        body = response.json()
        worker.issued.append(body["identifier"])
        result.serials.append(body["serial_number"])
    elif kind == "verify" and response.json().get("valid") is not True:
        return f"verify answered {response.text}"
    elif kind == "decrypt" and response.json().get("plaintext") != MESSAGE:
        return "decrypt did not give the message back"
    elif kind == "lifecycle":
        if _LIFECYCLE[worker.step] == "create":
            worker.repository = int(response.json()["id"])
        worker.step = (worker.step + 1) % len(_LIFECYCLE)
    return ""


async def _work(
    worker: _Worker,
    tenant: Tenant,
    clients: list[httpx.AsyncClient],
    result: TrafficResult,
    keep_going: Callable[[int], bool],
) -> None:
    for count in itertools.count():
        if not keep_going(count):
            return
        node = (worker.index + count) % len(clients)
        call = _next_call(tenant, worker)
        started = time.perf_counter()
        try:
            response = await clients[node].request(call.method, call.path, json=call.body)
        except httpx.TransportError as exc:
            failed = CallRecord(call.kind, node, 0, time.perf_counter() - started, False, repr(exc))
            result.records.append(failed)
            continue
        elapsed = time.perf_counter() - started
        problem = (
            ""
            if response.status_code == call.expected
            else f"{call.method} {call.path}: {response.text[:300]}"
        )
        if not problem:
            problem = _after(worker, call.kind, response, result)
        result.records.append(
            CallRecord(call.kind, node, response.status_code, elapsed, not problem, problem)
        )


async def run_traffic(
    base_urls: list[str],
    tenant: Tenant,
    *,
    concurrency: int,
    seconds: float,
    calls_per_worker: int | None = None,
    seed: int = 0,
    timeout_seconds: float = 60,
) -> TrafficResult:
    """Mixed traffic from ``concurrency`` workers over the nodes at ``base_urls`` until each worker made
    ``calls_per_worker`` calls or ``seconds`` passed (calls in flight then finish, each within
    ``timeout_seconds``). Never raises for what the service answers: a call without an answer is
    recorded with status 0."""
    result = TrafficResult()
    started = time.perf_counter()
    deadline = started + seconds

    def keep_going(count: int) -> bool:
        within = calls_per_worker is None or count < calls_per_worker
        return within and time.perf_counter() < deadline

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": tenant.bearer}
    clients = [
        httpx.AsyncClient(
            base_url=u, headers=headers, limits=limits, timeout=timeout_seconds, trust_env=False
        )
        for u in base_urls
    ]
    try:
        workers = [_Worker(i, random.Random(seed * 7919 + i)) for i in range(concurrency)]
        tasks: list[Awaitable[None]] = [_work(w, tenant, clients, result, keep_going) for w in workers]
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    result.seconds = time.perf_counter() - started
    return result
