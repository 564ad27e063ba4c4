"""Secrets stay secret (SPEC §4): a signer uses keys it can never export (REST, console, RPC), and after a
run of representative operations on a real `certrepo serve` logging at debug level, neither its log nor
its database (the SQLite files with their WAL, or a pg_dump of PostgreSQL) holds a private key, an
access-key secret, a password or a message that was signed or encrypted, in any usual encoding."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

import httpx
import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from alibabacloud_tea_openapi import utils_models
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tests.conftest import skip_or_fail
from tests.factories import build, ec_key, key_pem, make_chain, pem, rsa_key
from tests.support.postgres import PostgresCluster, find_pg_bin
from tests.support.server import free_port, init_json, serve

from .conftest import DOCUMENT_SIGNING, OAEP_SHA256, SecurityEnv, pem_line, unique

in_process = pytest.mark.asyncio(loop_scope="module")

# --- a signer uses keys it never sees (in process) ---------------------------------------------------

SEEDED = ("uploaded", "private", "compliant")
EXPORTS = {
    "pkcs8": {},
    "pkcs8-encrypted": {"format": "pkcs8", "password": "export-password-1"},
    "pkcs12": {"format": "pkcs12", "password": "export-password-1"},
}
INCLUDES = ("key", "private_key", "pem,chain,key", "pem,chain,private_key,pkcs12")


def _seeded_key(env: SecurityEnv, data_source: str) -> PrivateKeyTypes:
    material = env.seeds.material
    if data_source == "uploaded":
        return material.rsa_key
    if data_source == "compliant":
        return material.document.leaf_key
    return serialization.load_pem_private_key(env.seeds.issued_key_pem.encode(), None)


def _shows_key(text: str, key: PrivateKeyTypes) -> list[str]:
    """Which forms of ``key`` (or any PEM private key block) ``text`` contains."""
    hay = Haystack.of(text.encode())
    found = [kind for kind, needle in key_needles(key) if hay.holds(needle)]
    return found + (["PRIVATE KEY block"] if "PRIVATE KEY" in text else [])


@in_process
@pytest.mark.parametrize("data_source", SEEDED)
async def test_a_signer_signs_with_a_key_of_each_data_source(
    security_env: SecurityEnv, data_source: str
) -> None:
    key = _seeded_key(security_env, data_source)
    algorithm = "SHA256withRSA" if isinstance(key, rsa.RSAPrivateKey) else "SHA256withECDSA"
    identifier = security_env.seeds.certificates[data_source]
    async with security_env.client("signer") as signer:
        response = await signer.post(
            "/v1/sign",
            json={"identifier": identifier, "algorithm": algorithm, "message": "signed by a signer"},
        )
    assert response.status_code == 200, response.text
    signature = base64.b64decode(response.json()["signature"])
    if isinstance(key, rsa.RSAPrivateKey):
        key.public_key().verify(signature, b"signed by a signer", padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        key.public_key().verify(signature, b"signed by a signer", ec.ECDSA(hashes.SHA256()))


@in_process
@pytest.mark.parametrize("export", sorted(EXPORTS))
@pytest.mark.parametrize("data_source", SEEDED)
@pytest.mark.parametrize("caller", ["signer", "auditor"])
async def test_no_export_of_a_key_answers_a_signer_or_an_auditor(
    security_env: SecurityEnv, caller: str, data_source: str, export: str
) -> None:
    identifier = security_env.seeds.certificates[data_source]
    async with security_env.client(caller) as client:
        response = await client.post(f"/v1/certificates/{identifier}/export-key", json=EXPORTS[export])
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden"), response.text
    assert _shows_key(response.text, _seeded_key(security_env, data_source)) == []


@in_process
@pytest.mark.parametrize("export", sorted(EXPORTS))
async def test_a_compliant_key_is_not_exported_even_to_an_admin(
    security_env: SecurityEnv, export: str
) -> None:
    """SPEC §1.1: "The key is never exportable"."""
    identifier = security_env.seeds.certificates["compliant"]
    async with security_env.client("system_admin") as admin:
        response = await admin.post(f"/v1/certificates/{identifier}/export-key", json=EXPORTS[export])
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden"), response.text
    assert _shows_key(response.text, _seeded_key(security_env, "compliant")) == []


@in_process
@pytest.mark.parametrize("include", INCLUDES)
@pytest.mark.parametrize("data_source", SEEDED)
@pytest.mark.parametrize("caller", ["signer", "system_admin"])
async def test_no_include_of_a_certificate_read_shows_its_key(
    security_env: SecurityEnv, caller: str, data_source: str, include: str
) -> None:
    identifier = security_env.seeds.certificates[data_source]
    async with security_env.client(caller) as client:
        response = await client.get(f"/v1/certificates/{identifier}", params={"include": include})
    assert response.status_code == 200, response.text
    assert _shows_key(response.text, _seeded_key(security_env, data_source)) == []


@in_process
@pytest.mark.parametrize("data_source", SEEDED)
async def test_a_signer_listing_a_repository_sees_no_key(security_env: SecurityEnv, data_source: str) -> None:
    repository_id = security_env.seeds.repositories[data_source]
    async with security_env.client("signer") as signer:
        listed = await signer.get(f"/v1/repositories/{repository_id}/certificates")
        expiring = await signer.get("/v1/expiry", params={"within_days": 3650})
    assert listed.status_code == 200 and listed.json()["total"] >= 1
    key = _seeded_key(security_env, data_source)
    assert _shows_key(listed.text, key) == [] and _shows_key(expiring.text, key) == []


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@in_process
@pytest.mark.parametrize("export", ["pkcs8", "pkcs12"])
async def test_the_console_does_not_hand_a_signer_a_key(security_env: SecurityEnv, export: str) -> None:
    env, password = security_env, "signer-console-password"
    created = await env.admin.post(
        "/v1/users", json={"name": unique("csigner"), "role": "signer", "password": password}
    )
    assert created.status_code == 201, created.text
    await env.grant(created.json()["id"], env.seeds.repositories["uploaded"])
    identifier = env.seeds.certificates["uploaded"]
    async with env.client("no_credentials") as browser:
        page = await browser.get("/console/sign-in")
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:300]
        form = {"user_name": created.json()["name"], "password": password, "csrf_token": csrf.group(1)}
        assert (await browser.post("/console/sign-in", data=form)).status_code == 303
        shown = await browser.get(f"/console/certificates/{identifier}")
        token = _CSRF.search(shown.text)
        assert shown.status_code == 200 and token, shown.text[:300]
        fields = {"csrf_token": token.group(1), "format": export, "password": "export-password-1"}
        response = await browser.post(f"/console/certificates/{identifier}/export-key", data=fields)
    assert response.status_code == 403, response.text[:300]
    assert _shows_key(response.text, env.seeds.material.rsa_key) == []


# --- what a key, a secret or a message looks like at rest or in a log --------------------------------


def _binary_forms(data: bytes) -> list[bytes]:
    """Raw bytes (SQLite blobs), lowercase hex (pg_dump's bytea), base64 (JSON, PEM)."""
    return [data, data.hex().encode(), base64.b64encode(data)]


def key_needles(key: PrivateKeyTypes) -> list[tuple[str, bytes]]:
    """Every form of a private key worth searching for: PKCS#8 and traditional DER, each full PEM line,
    and the secret numbers themselves."""
    none = serialization.NoEncryption()
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none)
    traditional = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, none
    )
    found = [("pkcs8 der", f) for f in _binary_forms(pkcs8)]
    found += [("traditional der", f) for f in _binary_forms(traditional)]
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none).decode()
    lines = text.splitlines()[1:-1]
    found += [("pem line", line.encode()) for line in lines if len(line) == 64]
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        size = (key.key_size + 7) // 8
        for name, value in (("d", numbers.d), ("p", numbers.p), ("q", numbers.q)):
            found += [
                (f"rsa {name}", f)
                for f in _binary_forms(value.to_bytes(size if name == "d" else size // 2, "big"))
            ]
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        scalar = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
        found += [("ec scalar", f) for f in _binary_forms(scalar)]
    return found


def text_needles(secret: str) -> list[tuple[str, bytes]]:
    raw = secret.encode()
    return [("text", f) for f in _binary_forms(raw)]


@dataclass(frozen=True)
class Haystack:
    """What is searched, as stored and as a URL decoder would read it (query strings in access logs)."""

    variants: tuple[bytes, ...]

    @classmethod
    def of(cls, data: bytes) -> Haystack:
        text = data.decode("latin-1")
        decoded = {
            unquote(text).encode("latin-1", "replace"),
            unquote_plus(text).encode("latin-1", "replace"),
        }
        return cls((data, *sorted(decoded - {data})))

    def holds(self, needle: bytes) -> bool:
        return any(needle in variant for variant in self.variants)


# --- a run of representative operations on a real server ---------------------------------------------

_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass
class Run:
    """What a run left behind and what it must not have left anywhere: kind -> needles."""

    backend: str
    log: bytes = b""
    stored: bytes = b""
    secrets: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # answers the tests look at

    def keep(self, kind: str, needles: list[tuple[str, bytes]]) -> None:
        self.secrets.setdefault(kind, []).extend(needles)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def _environment(database_url: str | None, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREPO_") and k not in _PROXY_VARIABLES}
    env.update({"CERTREPO_BASE_URL": base_url, "CERTREPO_LOG_LEVEL": "debug"})
    if database_url is not None:
        env["CERTREPO_DATABASE_URL"] = database_url
    return env


def _rest_operations(rest: httpx.Client, run: Run) -> None:
    """Uploads with keys (plain, encrypted, refused), a generated key, exports, an imported CA key, an
    access key, a user with a password, notification secrets, and every key use."""
    uploaded = _ok(rest.post("/v1/repositories", json={"data_source": "uploaded"}), 201)["id"]
    key = rsa_key()
    certificate = build("leak.example.test", key, key_usage="none")
    rsa_item = _ok(
        rest.post(
            f"/v1/repositories/{uploaded}/certificates",
            json={"certificate": pem(certificate), "private_key": key_pem(key), "exportable": True},
        ),
        201,
    )["items"][0]
    run.keep("uploaded private key", key_needles(key))
    run.facts["certificate"] = certificate

    sealed_key, sealed_password = ec_key(), f"upload-password-{uuid.uuid4().hex}"
    _ok(
        rest.post(
            f"/v1/repositories/{uploaded}/certificates",
            json={
                "certificate": pem(build("sealed.example.test", sealed_key)),
                "private_key": key_pem(sealed_key, sealed_password.encode()),
                "password": sealed_password,
            },
        ),
        201,
    )
    run.keep("encrypted key upload and its password", key_needles(sealed_key) + text_needles(sealed_password))

    refused_key = ec_key()
    refused = rest.post(
        f"/v1/repositories/{uploaded}/certificates",
        json={
            "certificate": pem(build("refused.example.test", ec_key())),
            "private_key": key_pem(refused_key),
        },
    )
    assert refused.status_code == 400, refused.text
    run.keep("key of a refused upload", key_needles(refused_key))

    document = make_chain("Leak", leaf_eku=[DOCUMENT_SIGNING], leaf_key_usage="signing")
    compliant = _ok(rest.post("/v1/repositories", json={"data_source": "compliant"}), 201)["id"]
    document_item = _ok(
        rest.post(
            f"/v1/repositories/{compliant}/certificates",
            json={"certificate": pem(document.leaf), "private_key": key_pem(document.leaf_key)},
        ),
        201,
    )["items"][0]
    run.keep("compliant private key", key_needles(document.leaf_key))

    ca_key = ec_key()
    ca_certificate = build("Leak Imported Root", ca_key, ca=True, days=3650)
    imported = _ok(
        rest.post(
            "/v1/cas",
            json={"type": "imported", "certificate": pem(ca_certificate), "private_key": key_pem(ca_key)},
        ),
        201,
    )
    run.keep("imported CA private key", key_needles(ca_key))
    intermediate = _ok(
        rest.post(
            "/v1/cas",
            json={
                "type": "intermediate",
                "common_name": "Leak CA",
                "key_algorithm": "ECC_256",
                "parent_id": imported["id"],
            },
        ),
        201,
    )
    private = _ok(
        rest.post("/v1/repositories", json={"data_source": "private", "ca_id": intermediate["id"]}), 201
    )["id"]
    issued = _ok(
        rest.post(
            f"/v1/repositories/{private}/issue",
            json={"usage": "client", "common_name": "leak-client", "exportable": True},
        ),
        201,
    )
    generated = serialization.load_pem_private_key(issued["private_key"].encode(), None)
    run.keep("generated private key", key_needles(generated))
    export_password = f"export-password-{uuid.uuid4().hex}"
    for body in (
        {},
        {"format": "pkcs8", "password": export_password},
        {"format": "pkcs12", "password": export_password},
    ):
        _ok(rest.post(f"/v1/certificates/{issued['identifier']}/export-key", json=body))
    run.keep("export password", text_needles(export_password))

    user_password = f"user-password-{uuid.uuid4().hex}"
    user = _ok(
        rest.post("/v1/users", json={"name": unique("leaker"), "role": "signer", "password": user_password}),
        201,
    )
    run.keep("user password", text_needles(user_password))
    run.facts["signer"] = user
    access_key = _ok(rest.post("/v1/access-keys", json={"user_id": user["id"]}), 201)
    revoked_key = _ok(rest.post("/v1/access-keys", json={"user_id": user["id"]}), 201)
    _ok(rest.delete(f"/v1/access-keys/{revoked_key['id']}"), 204)
    run.keep("access-key secret", text_needles(access_key["secret"]) + text_needles(revoked_key["secret"]))
    run.facts["signer_key"] = access_key

    hook = _ok(
        rest.post(
            "/v1/notification-channels",
            json={"name": "hook", "kind": "webhook", "url": "https://hooks.example.test/"},
        ),
        201,
    )
    smtp_password = f"smtp-password-{uuid.uuid4().hex}"
    _ok(
        rest.post(
            "/v1/notification-channels",
            json={
                "name": "mail",
                "kind": "email",
                "email": {
                    "host": "smtp.example.test",
                    "username": "certrepo",
                    "password": smtp_password,
                    "from_address": "certrepo@example.test",
                    "to": ["ops@example.test"],
                },
            },
        ),
        201,
    )
    run.keep("notification secrets", text_needles(hook["secret"]) + text_needles(smtp_password))

    _key_uses(rest, run, rsa_item["identifier"], key, document_item["identifier"])


def _key_uses(
    rest: httpx.Client, run: Run, rsa_identifier: str, key: rsa.RSAPrivateKey, document: str
) -> None:
    """Sign (RAW and BASE64), verify, encrypt and decrypt messages that exist nowhere else."""
    signed_text = f"sign-me-{uuid.uuid4().hex}"
    signed_bytes = os.urandom(24) + uuid.uuid4().bytes
    encrypted_text = f"encrypt-me-{uuid.uuid4().hex}"
    decrypted_text = f"decrypt-me-{uuid.uuid4().hex}"
    ciphertext = base64.b64encode(key.public_key().encrypt(decrypted_text.encode(), OAEP_SHA256)).decode()
    use = {"identifier": rsa_identifier, "algorithm": "SHA256withRSA"}
    signature = _ok(rest.post("/v1/sign", json={**use, "message": signed_text}))["signature"]
    _ok(rest.post("/v1/verify", json={**use, "message": signed_text, "signature": signature}))
    _ok(
        rest.post(
            "/v1/sign",
            json={**use, "message": base64.b64encode(signed_bytes).decode(), "message_type": "BASE64"},
        )
    )
    _ok(
        rest.post(
            "/v1/sign", json={"identifier": document, "algorithm": "SHA256withECDSA", "message": signed_text}
        )
    )
    oaep = {"identifier": rsa_identifier, "algorithm": "RSAES_OAEP_SHA_256"}
    _ok(rest.post("/v1/encrypt", json={**oaep, "plaintext": encrypted_text}))
    answer = _ok(rest.post("/v1/decrypt", json={**oaep, "ciphertext": ciphertext, "message_type": "RAW"}))
    assert answer["plaintext"] == decrypted_text
    run.keep(
        "signed, encrypted or decrypted message",
        text_needles(signed_text)
        + text_needles(encrypted_text)
        + text_needles(decrypted_text)
        + [("bytes", f) for f in _binary_forms(signed_bytes)],
    )


def _console_sign_in(base_url: str, user_name: str, password: str, run: Run) -> None:
    """A failed then a successful sign-in: neither password may be kept."""
    wrong = f"wrong-password-{uuid.uuid4().hex}"
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        for attempt, status in ((wrong, 401), (password, 303)):
            page = browser.get("/console/sign-in")
            csrf = _CSRF.search(page.text)
            assert csrf, page.text[:300]
            answer = browser.post(
                "/console/sign-in",
                data={"user_name": user_name, "password": attempt, "csrf_token": csrf.group(1)},
            )
            assert answer.status_code == status, answer.text[:300]
    run.keep("console passwords", text_needles(password) + text_needles(wrong))


def _cas_client(endpoint: str, key_id: str, secret: str) -> CasClient:
    config = utils_models.Config(
        endpoint=endpoint,
        protocol="http",
        access_key_id=key_id,
        access_key_secret=secret,
        connect_timeout=5000,
        read_timeout=20000,
    )
    return CasClient(config)


def _rpc_operations(endpoint: str, admin: tuple[str, str], rest: httpx.Client, run: Run) -> None:
    """The official SDK: UploadUserCertificate with a key, Sign, and the certificate detail as a signer."""
    client = _cas_client(endpoint, *admin)
    chain = make_chain("Rpc")
    uploaded = client.upload_user_certificate(
        models.UploadUserCertificateRequest(
            name="rpc",
            cert=pem(chain.leaf) + pem(chain.intermediate) + pem(chain.root),
            key=key_pem(chain.leaf_key),
        )
    ).body
    run.keep("private key uploaded through the RPC API", key_needles(chain.leaf_key))
    message = f"rpc-sign-me-{uuid.uuid4().hex}"
    identifier = f"{uploaded.cert_id}-cn-hangzhou"
    signer, signer_key = run.facts["signer"], run.facts["signer_key"]
    shown = _ok(rest.get(f"/v1/certificates/{uploaded.resource_id}"))
    assert rest.put(f"/v1/users/{signer['id']}/grants/{shown['repository_id']}").status_code == 204
    as_signer = _cas_client(endpoint, signer_key["id"], signer_key["secret"])
    request = models.SignRequest(
        cert_identifier=identifier, message=message, message_type="RAW", signing_algorithm="SHA256withECDSA"
    )
    run.facts["rpc_signature"] = as_signer.sign(request).body.signature
    run.facts["rpc_detail_as_signer"] = as_signer.get_user_certificate_detail(
        models.GetUserCertificateDetailRequest(cert_id=uploaded.cert_id)
    ).body
    run.facts["rpc_public_key"] = chain.leaf.public_key()
    run.facts["rpc_message"] = message
    run.keep("message signed through the RPC API", text_needles(message))


def _pg_dump(cluster: PostgresCluster, database: str) -> bytes:
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    dump = subprocess.run(
        [str(bin_dir / "pg_dump"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", cluster.user, database],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


def _sqlite_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("certrepo.db*")))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """init, serve at debug level, the operations, then stop; the log and the database as they are left."""
    backend: str = request.param
    postgres = _postgres_database(request) if backend == "postgres" else None
    root = tmp_path_factory.mktemp(f"leaks-{backend}")
    data_dir, port = root / "data", free_port()
    endpoint = f"127.0.0.1:{port}"
    env = _environment(postgres[0].url(postgres[1]) if postgres else None, f"http://{endpoint}")
    created = init_json(data_dir, env)
    result = Run(backend)
    result.keep("access-key secret", text_needles(created["access_key_secret"]))
    log = root / "server.log"
    admin = (created["access_key_id"], created["access_key_secret"])
    with pytest.MonkeyPatch.context() as patch:
        for variable in _PROXY_VARIABLES:  # the SDK sends through a proxy when one is set
            patch.delenv(variable, raising=False)
        with (
            serve(data_dir, port, env, log),
            httpx.Client(
                base_url=f"http://{endpoint}",
                headers={"Authorization": f"Bearer {admin[0]}:{admin[1]}"},
                timeout=30,
            ) as rest,
        ):
            _rest_operations(rest, result)
            _console_sign_in(f"http://{endpoint}", created["admin_user"], created["admin_password"], result)
            _rpc_operations(endpoint, admin, rest, result)
            running = b"" if postgres else _sqlite_files(data_dir)  # the WAL as the running server left it
    result.log = log.read_bytes()
    result.stored = _pg_dump(*postgres) if postgres else running + _sqlite_files(data_dir)
    return result


def _postgres_database(request: pytest.FixtureRequest) -> tuple[PostgresCluster, str]:
    """A new database in the session's cluster."""
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster")
    if cluster is None:
        skip_or_fail("PostgreSQL (initdb) is not installed; secrets at rest were searched on SQLite only")
    assert cluster is not None
    name = unique("leaks")
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster, name


SECRET_KINDS = (
    "uploaded private key",
    "encrypted key upload and its password",
    "key of a refused upload",
    "compliant private key",
    "imported CA private key",
    "generated private key",
    "export password",
    "user password",
    "console passwords",
    "access-key secret",
    "notification secrets",
    "signed, encrypted or decrypted message",
    "private key uploaded through the RPC API",
    "message signed through the RPC API",
)

# (where, kind) -> why the code keeps it there. Each is a bug to fix; strict, so the fix must drop it.
KNOWN_LEAKS: dict[tuple[str, str], str] = {}  # (where, kind) -> why; none known


def _cases(where: str) -> list[object]:
    cases: list[object] = []
    for kind in SECRET_KINDS:
        leak = KNOWN_LEAKS.get((where, kind))
        marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {leak}")] if leak else []
        cases.append(pytest.param(kind, id=kind.replace(" ", "-").replace(",", ""), marks=marks))
    return cases


def _found(haystack: bytes, needles: list[tuple[str, bytes]]) -> list[str]:
    hay = Haystack.of(haystack)
    return sorted({kind for kind, needle in needles if hay.holds(needle)})


@pytest.mark.parametrize("kind", _cases("log"))
def test_the_server_log_holds_no_secret(run: Run, kind: str) -> None:
    assert len(run.log) > 1000  # the server really logged (debug level, every request)
    assert _found(run.log, run.secrets[kind]) == []


@pytest.mark.parametrize("kind", _cases("database"))
def test_the_database_holds_no_secret(run: Run, kind: str) -> None:
    assert len(run.stored) > 10_000  # we really read the database
    assert _found(run.stored, run.secrets[kind]) == []


def test_the_search_finds_what_is_there(run: Run) -> None:
    """The haystacks are real: the log names the requests, the database holds the certificates in clear,
    and the key needles match a key's own PEM."""
    certificate: x509.Certificate = run.facts["certificate"]
    der = certificate.public_bytes(serialization.Encoding.DER)
    stored = Haystack.of(run.stored)
    assert b"/v1/sign" in run.log
    assert any(stored.holds(form) for form in [*_binary_forms(der), pem_line(pem(certificate)).encode()])
    key = rsa_key()
    assert {
        kind for kind, needle in key_needles(key) if Haystack.of(key_pem(key).encode()).holds(needle)
    } == {"pem line"}


def test_a_signer_used_the_key_over_rpc_but_its_detail_carries_no_key(run: Run) -> None:
    detail = run.facts["rpc_detail_as_signer"]
    signature = base64.b64decode(run.facts["rpc_signature"])
    run.facts["rpc_public_key"].verify(
        signature, run.facts["rpc_message"].encode(), ec.ECDSA(hashes.SHA256())
    )
    assert not detail.key and detail.cert  # the certificate, never its key
