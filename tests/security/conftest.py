"""Security fixtures: one prepared service per test module (SQLite, in process), an account seeded with one
repository of each data source holding a certificate and its key, one caller per role and credential
state, and the REST route table that the permission matrix and the tenant isolation tests walk.

The expected rights come from SPEC §2.1 and §4, not from certrepo.domain.access:
  admin      everything in its account; the system admin (the one `init` creates) also manages accounts
  operator   manage repositories, certificates, CAs (SPEC is silent on key use and export: an operator is
             taken to be trusted with both, as whoever uploads a key already holds it)
  signer     crypto operations on the repositories granted to it; it reads those repositories and their
             certificates (it needs their identifiers) but never a key: "a signer can use a key it cannot
             see". A repository it was not granted answers 404, as another account's would
  auditor    read-only and audit: reads everything of its account, changes nothing, uses no key
  no, malformed, wrong or revoked credentials: 401 on every authenticated route
Routes of issue 9 (notifications, expiry) are not in SPEC: their documented rights are used ("(admin)").
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI

from certrepo.app import build_app, build_services, prepare_storage
from certrepo.config import Settings
from certrepo.notify.transports import HttpSmtpTransport
from certrepo.services.accounts import bootstrap
from certrepo.services.notifications import NOTIFIER_KEY, Notifier
from tests.conftest import World
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

__all__ = [
    "CALLERS",
    "EXCLUDED",
    "ROWS",
    "Arrange",
    "Material",
    "Request",
    "Row",
    "SecurityEnv",
    "Seeds",
    "app_operations",
    "make_material",
    "seed_account",
    "unique",
]

BASE_URL = "http://certrepo.test"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
MESSAGE = "matrix message"

_names = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test of this process uses."""
    return f"{prefix}{os.getpid()}x{next(_names)}"


# --- PKI material and a seeded account --------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """What one account uploads: an RSA certificate with its key (uploaded), a CA chain (uploaded_ca),
    a document-signing chain (compliant). Each account gets its own, so fingerprints never collide."""

    prefix: str
    rsa_key: rsa.RSAPrivateKey
    rsa_cert: x509.Certificate
    ca: Chain
    document: Chain

    def rsa_signature(self, message: str = MESSAGE) -> str:
        signature = self.rsa_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def rsa_ciphertext(self, plaintext: bytes) -> str:
        return base64.b64encode(self.rsa_key.public_key().encrypt(plaintext, OAEP_SHA256)).decode()


def make_material(prefix: str) -> Material:
    """Keys and certificates of one account (one RSA key: ~60 ms)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # No key usage extension: the key may sign and decrypt.
    certificate = build(f"{prefix.lower()}.rsa.example.test", key, key_usage="none")
    document = make_chain(f"{prefix}Doc", leaf_eku=[DOCUMENT_SIGNING], leaf_key_usage="signing")
    return Material(prefix, key, certificate, make_chain(f"{prefix}Trust"), document)


@dataclass
class Seeds:
    """One repository of each data source with a certificate and key, the CAs of the private one."""

    material: Material
    repositories: dict[str, int]  # data source -> repository id
    certificates: dict[str, str]  # data source -> identifier (uploaded_ca: the intermediate CA cert)
    root_ca_id: int
    intermediate_ca_id: int
    issued_key_pem: str  # the private repository's generated key, as issuance returned it once
    tokens: set[str] = field(default_factory=set)  # strings that name this account's objects


def pem_line(text: str) -> str:
    """A base64 line from the middle of a PEM block: names the certificate in a PEM answer."""
    lines = text.strip().splitlines()
    return lines[len(lines) // 2]


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def seed_account(admin: httpx.AsyncClient, material: Material) -> Seeds:
    """Fill an account through its admin's REST client; ``tokens`` collects every identifier, name,
    fingerprint and serial shown, for tests that look for them where they must not be."""
    prefix = material.prefix
    tokens: set[str] = set()
    repositories: dict[str, int] = {}

    async def repository(data_source: str, **extra: object) -> int:
        body = {"data_source": data_source, "name": f"{prefix}-{data_source}", **extra}
        created = await _created(await admin.post("/v1/repositories", json=body))
        tokens.update({created["instance_id"], created["name"]})
        repositories[data_source] = int(created["id"])
        return repositories[data_source]

    async def upload(repository_id: int, **body: object) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (
            await _created(await admin.post(f"/v1/repositories/{repository_id}/certificates", json=body))
        )["items"]
        for item in items:
            tokens.update({item["identifier"], item["fingerprint_sha256"], item["serial_number"]})
        return items

    certificates: dict[str, str] = {}
    uploaded = await repository("uploaded")
    [rsa_item] = await upload(
        uploaded,
        certificate=pem(material.rsa_cert),
        private_key=key_pem(material.rsa_key),
        exportable=True,
        name=f"{prefix}-rsa",
        custom_identifier=f"{prefix}-rsa-custom",
    )
    tokens.update({f"{prefix}-rsa", f"{prefix}-rsa-custom"})
    certificates["uploaded"] = rsa_item["identifier"]

    trust = await repository("uploaded_ca")
    ca_items = await upload(trust, certificate=pem(material.ca.intermediate) + pem(material.ca.root))
    certificates["uploaded_ca"] = ca_items[0]["identifier"]

    root = await _created(
        await admin.post(
            "/v1/cas", json={"type": "root", "common_name": f"{prefix} Root CA", "key_algorithm": "ECC_256"}
        )
    )
    intermediate = await _created(
        await admin.post(
            "/v1/cas",
            json={
                "type": "intermediate",
                "common_name": f"{prefix} Issuing CA",
                "key_algorithm": "ECC_256",
                "parent_id": root["id"],
            },
        )
    )
    tokens.update(
        {f"{prefix} Root CA", f"{prefix} Issuing CA", root["serial_number"], intermediate["serial_number"]}
    )
    tokens.update(pem_line(c) for c in (root["certificate"], intermediate["certificate"]))
    tokens.update(pem_line(pem(c)) for c in (material.ca.root, material.ca.intermediate))
    private = await repository("private", ca_id=intermediate["id"])
    issued = await _created(
        await admin.post(
            f"/v1/repositories/{private}/issue",
            json={
                "usage": "server",
                "common_name": f"{prefix.lower()}.issued.test",
                "sans": [{"type": "dns", "value": f"{prefix.lower()}.issued.test"}],
                "exportable": True,
            },
        )
    )
    tokens.update({issued["identifier"], issued["fingerprint_sha256"], issued["serial_number"]})
    certificates["private"] = issued["identifier"]

    compliant = await repository("compliant")
    [document] = await upload(
        compliant, certificate=pem(material.document.leaf), private_key=key_pem(material.document.leaf_key)
    )
    certificates["compliant"] = document["identifier"]
    return Seeds(
        material,
        repositories,
        certificates,
        int(root["id"]),
        int(intermediate["id"]),
        issued["private_key"],
        tokens,
    )


# --- callers ----------------------------------------------------------------------------------------

ROLE_CALLERS = ("system_admin", "admin", "operator", "signer", "signer_ungranted", "auditor")
UNAUTHENTICATED = ("revoked_key", "wrong_secret", "malformed_bearer", "no_credentials")
CALLERS = ROLE_CALLERS + UNAUTHENTICATED


@dataclass
class SecurityEnv:
    """The module's service: the system admin's client, a user and access key per caller, the seeds."""

    world: World
    app: FastAPI
    admin: httpx.AsyncClient
    seeds: Seeds
    bearers: dict[str, str | None] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    webhooks: list[httpx.Request] = field(default_factory=list)

    def client(self, caller: str) -> httpx.AsyncClient:
        """A client of the app in process as ``caller`` (its own connection, closed by the caller)."""
        return self.client_with(self.bearers[caller])

    def client_with(self, authorization: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": authorization} if authorization is not None else {}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)

    async def new_user(self, role: str, name: str | None = None) -> int:
        response = await self.admin.post("/v1/users", json={"name": name or unique(role), "role": role})
        return int((await _created(response))["id"])

    async def new_key(self, user_id: int) -> tuple[str, str]:
        created = await _created(await self.admin.post("/v1/access-keys", json={"user_id": user_id}))
        return created["id"], created["secret"]

    async def grant(self, user_id: int, repository_id: int) -> None:
        response = await self.admin.put(f"/v1/users/{user_id}/grants/{repository_id}")
        assert response.status_code == 204, response.text


def _sqlite_copy(tmp_path: Path, template: Path) -> str:
    target = tmp_path / "data" / "certrepo.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, target)
    return f"sqlite:///{target}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def security_env(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[SecurityEnv]:
    """SQLite only: authorisation is decided above the store, and the store tests prove both databases.
    One service per module: a fresh database per case would cost minutes for ~650 cases."""
    tmp_path = tmp_path_factory.mktemp("security")
    settings = Settings(
        data_dir=tmp_path / "data", database_url=_sqlite_copy(tmp_path, sqlite_template), base_url=BASE_URL
    )
    prepare_storage(settings, create_master_key=True)
    services, _ = build_services(settings)
    webhooks: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        webhooks.append(request)
        return httpx.Response(204)

    # Outbound webhooks go to a mock transport: the channel test route must not reach the network.
    services.extras[NOTIFIER_KEY] = Notifier(
        transport=HttpSmtpTransport(http_transport=httpx.MockTransport(receive))
    )
    try:
        created = await bootstrap(services)
        assert created is not None
        world = World(settings, services, created)
        app = build_app(settings, services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE_URL,
            headers={"Authorization": world.admin_bearer},
        ) as admin:
            env = SecurityEnv(world, app, admin, await seed_account(admin, make_material("Main")))
            env.webhooks = webhooks
            await _give_credentials(env)
            yield env
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def _give_credentials(env: SecurityEnv) -> None:
    """A user and access key per role caller (the granted signer holds every seeded repository), and the
    credentials that must fail: a revoked key, a wrong secret, a malformed header, none."""
    bootstrapped = env.world.admin
    env.bearers["system_admin"] = env.world.admin_bearer
    env.user_ids["system_admin"] = bootstrapped.admin.id
    roles = {"signer_ungranted": "signer"}
    for caller in ROLE_CALLERS[1:]:
        user_id = await env.new_user(roles.get(caller, caller))
        key_id, secret = await env.new_key(user_id)
        env.user_ids[caller] = user_id
        env.bearers[caller] = f"Bearer {key_id}:{secret}"
    for repository_id in env.seeds.repositories.values():
        await env.grant(env.user_ids["signer"], repository_id)
    # A revoked key of an admin: the strongest key there is, refused once revoked.
    revoked_id, revoked_secret = await env.new_key(env.user_ids["admin"])
    assert (await env.admin.delete(f"/v1/access-keys/{revoked_id}")).status_code == 204
    env.bearers["revoked_key"] = f"Bearer {revoked_id}:{revoked_secret}"
    env.bearers["wrong_secret"] = f"Bearer {bootstrapped.access_key.key.id}:{'x' * 40}"
    env.bearers["malformed_bearer"] = "Bearer not-an-access-key-pair"
    env.bearers["no_credentials"] = None


# --- the route table --------------------------------------------------------------------------------

EVERYONE = frozenset({"system_admin", "admin", "operator", "signer", "auditor"})
SYSTEM_ADMIN = frozenset({"system_admin"})
ADMINS = frozenset({"system_admin", "admin"})
MANAGERS = ADMINS | {"operator"}
AUDITORS = ADMINS | {"auditor"}
KEY_USERS = MANAGERS | {"signer"}  # sign, verify, encrypt, decrypt
EXPORTERS = MANAGERS  # never a signer ("a key it cannot see"), never the read-only auditor

REPOSITORY = "repository"  # the target lies in a repository: a signer without its grant gets 404
ACCOUNT = "account"  # account-wide: grants do not matter


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, object] | None = None
    params: dict[str, str] | None = None


class Arrange:
    """The objects a row's request names, made by the system admin of ``env``'s account. Each public
    method is a placeholder of the templates in ROWS: seeds are shared, ``fresh_*`` objects are new for
    each case (the cases that change or delete them must not disturb the others)."""

    def __init__(self, env: SecurityEnv, caller: str) -> None:
        self.env, self.caller, self.seeds = env, caller, env.seeds

    # seeds
    async def uploaded(self) -> int:
        return self.seeds.repositories["uploaded"]

    async def uploaded_ca(self) -> int:
        return self.seeds.repositories["uploaded_ca"]

    async def private(self) -> int:
        return self.seeds.repositories["private"]

    async def compliant(self) -> int:
        return self.seeds.repositories["compliant"]

    async def rsa_certificate(self) -> str:
        return self.seeds.certificates["uploaded"]

    async def rsa_custom_identifier(self) -> str:
        return f"{self.seeds.material.prefix}-rsa-custom"

    async def issued_certificate(self) -> str:
        return self.seeds.certificates["private"]

    async def compliant_certificate(self) -> str:
        return self.seeds.certificates["compliant"]

    async def ca_certificate(self) -> str:
        return self.seeds.certificates["uploaded_ca"]

    async def root_ca(self) -> int:
        return self.seeds.root_ca_id

    async def intermediate_ca(self) -> int:
        return self.seeds.intermediate_ca_id

    async def rsa_signature(self) -> str:
        return self.seeds.material.rsa_signature()

    async def rsa_ciphertext(self) -> str:
        return self.seeds.material.rsa_ciphertext(b"matrix secret")

    async def trusted_leaf(self) -> str:
        return pem(self.seeds.material.ca.leaf)

    async def new_name(self) -> str:
        return unique("n")

    async def new_certificate_pem(self) -> str:
        return pem(build(f"{unique('new')}.example.test", ec_key()))

    # fresh objects
    async def fresh_repository(self) -> int:
        response = await self.env.admin.post("/v1/repositories", json={"data_source": "uploaded"})
        repository_id = int((await _created(response))["id"])
        await self.env.grant(self.env.user_ids["signer"], repository_id)
        return repository_id

    async def fresh_reset_repository(self) -> int:
        repository_id = await self.fresh_repository()
        response = await self.env.admin.post(
            f"/v1/repositories/{repository_id}/reset", json={"acknowledge_risk": True}
        )
        assert response.status_code == 200, response.text
        return repository_id

    async def fresh_certificate(self) -> str:
        """A new certificate with its key in the (granted) uploaded seed repository."""
        key = ec_key()
        body = {"certificate": pem(build(f"{unique('c')}.example.test", key)), "private_key": key_pem(key)}
        response = await self.env.admin.post(
            f"/v1/repositories/{await self.uploaded()}/certificates", json=body
        )
        return str((await _created(response))["items"][0]["identifier"])

    async def _issue(self) -> dict[str, Any]:
        body = {"usage": "client", "common_name": unique("issued")}
        return await _created(
            await self.env.admin.post(f"/v1/repositories/{await self.private()}/issue", json=body)
        )

    async def fresh_issued_certificate(self) -> str:
        return str((await self._issue())["identifier"])

    async def fresh_issued_serial(self) -> str:
        return str((await self._issue())["serial_number"])

    async def fresh_user(self) -> int:
        return await self.env.new_user("operator")

    async def fresh_signer(self) -> int:
        return await self.env.new_user("signer")

    async def own_key(self) -> str:
        """A second key of the caller's own user (the caller's key keeps working)."""
        user_id = self.env.user_ids.get(self.caller, self.env.user_ids["operator"])
        return (await self.env.new_key(user_id))[0]

    async def other_key(self) -> str:
        return (await self.env.new_key(await self.fresh_user()))[0]

    async def fresh_channel(self) -> int:
        body = {"name": unique("hook"), "kind": "webhook", "url": "https://hooks.example.test/certrepo"}
        return int((await _created(await self.env.admin.post("/v1/notification-channels", json=body)))["id"])


# Placeholders that are values, not objects of the account (the tenant isolation tests skip rows whose
# only placeholders are these: there is nothing of another account to reach).
VALUE_PLACEHOLDERS = frozenset(
    {"new_name", "new_certificate_pem", "rsa_signature", "rsa_ciphertext", "trusted_leaf"}
)

Build = Callable[[Arrange], Awaitable[Request]]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _is_placeholder(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith("{") and value.endswith("}") and len(value) > 2


async def _fill(arrange: Arrange, row: Row) -> Request:
    values = {name: await getattr(arrange, name)() for name in sorted(_placeholders(row.path))}
    body: dict[str, object] | None = None
    if row.body is not None:
        body = {}
        for key, value in row.body.items():
            body[key] = await getattr(arrange, value[1:-1])() if _is_placeholder(value) else value
    return Request(row.method, row.path.format(**values), body, row.params)


async def _existing_grant(arrange: Arrange) -> Request:
    signer_id, repository_id = await arrange.fresh_signer(), await arrange.fresh_repository()
    await arrange.env.grant(signer_id, repository_id)
    return Request("DELETE", f"/v1/users/{signer_id}/grants/{repository_id}")


async def _batch_upload(arrange: Arrange) -> Request:
    """A batch of one new certificate into a fresh repository (its items are not top-level placeholders)."""
    repository_id = await arrange.fresh_repository()
    items = [{"certificate": await arrange.new_certificate_pem()}]
    return Request("POST", f"/v1/repositories/{repository_id}/certificates/batch", {"items": items})


@dataclass(frozen=True)
class Row:
    """One request of the matrix: who may make it (roles) and what they get."""

    name: str
    method: str
    route: str  # the app's path template, as app_operations lists it
    path: str  # with Arrange placeholders
    allowed: frozenset[str]
    success: int
    scope: str
    body: dict[str, object] | None = None
    params: dict[str, str] | None = None
    build: Build | None = None

    async def request(self, arrange: Arrange) -> Request:
        return await (self.build(arrange) if self.build else _fill(arrange, self))

    @property
    def operation(self) -> tuple[str, str]:
        return self.method, self.route

    @property
    def names_an_object(self) -> bool:
        """Whether the request reaches an object of the account (a repository, certificate, CA, user,
        key, channel), in its path or its body."""
        in_body = {v[1:-1] for v in (self.body or {}).values() if _is_placeholder(v)}
        names = _placeholders(self.path) | in_body
        return self.build is not None or bool(names - VALUE_PLACEHOLDERS)


# The app's name of the parameter after each collection in a path.
_PARAMETERS = {
    "repositories": "repository_id",
    "certificates": "identifier",
    "cas": "ca_id",
    "users": "user_id",
    "grants": "repository_id",
    "access-keys": "access_key_id",
    "notification-channels": "channel_id",
}


def _route_of(path: str) -> str:
    """The app's path template of a row's path: ``/v1/users/{fresh_user}`` -> ``/v1/users/{user_id}``."""
    return re.sub(r"/([a-z-]+)/\{\w+\}", lambda m: f"/{m[1]}/{{{_PARAMETERS[m[1]]}}}", path)


def _row(
    name: str,
    method: str,
    path: str,
    allowed: frozenset[str],
    success: int,
    scope: str = ACCOUNT,
    **extra: Any,
) -> Row:
    return Row(name, method, _route_of(path), path, allowed, success, scope, **extra)


def _key_use(name: str, path: str, identifier: str, algorithm: str, **body: object) -> Row:
    body = {"identifier": identifier, "algorithm": algorithm, **body}
    return _row(name, "POST", path, KEY_USERS, 200, REPOSITORY, body=body)


_ECC_ROOT = {"type": "root", "common_name": "{new_name}", "key_algorithm": "ECC_256"}
_HOOK = {"name": "{new_name}", "kind": "webhook", "url": "https://hooks.example.test/new"}
_P12 = {"format": "pkcs12", "password": "p12-password"}
_BY_CUSTOM_ID = {
    "custom_identifier": "{rsa_custom_identifier}",
    "algorithm": "SHA256withRSA",
    "message": MESSAGE,
}

R = REPOSITORY  # short, for the table
# fmt: off
ROWS: tuple[Row, ...] = (
    # repositories (SPEC §1 lifecycle): operators manage, the account reads
    _row("repository.create", "POST", "/v1/repositories", MANAGERS, 201, body={"data_source": "uploaded"}),
    _row("repository.list", "GET", "/v1/repositories", EVERYONE, 200),
    _row("repository.get", "GET", "/v1/repositories/{uploaded}", EVERYONE, 200, R),
    _row("repository.rename", "PATCH", "/v1/repositories/{fresh_repository}", MANAGERS, 200, R,
         body={"name": "renamed"}),
    _row("repository.reset", "POST", "/v1/repositories/{fresh_repository}/reset", MANAGERS, 200, R,
         body={"acknowledge_risk": True}),
    _row("repository.enable", "POST", "/v1/repositories/{fresh_reset_repository}/enable", MANAGERS, 200, R,
         body={"data_source": "uploaded"}),
    _row("repository.delete", "DELETE", "/v1/repositories/{fresh_reset_repository}", MANAGERS, 204, R),
    _row("repository.ca_bundle_uploaded_ca", "GET", "/v1/repositories/{uploaded_ca}/ca-bundle", EVERYONE, 200,
         R),
    _row("repository.ca_bundle_private", "GET", "/v1/repositories/{private}/ca-bundle", EVERYONE, 200, R),
    _row("repository.verify_chain", "POST", "/v1/repositories/{uploaded_ca}/verify-chain", EVERYONE, 200, R,
         body={"certificate": "{trusted_leaf}"}),
    _row("repository.issue", "POST", "/v1/repositories/{private}/issue", MANAGERS, 201, R,
         body={"usage": "client", "common_name": "{new_name}"}),
    # certificates
    _row("certificate.upload", "POST", "/v1/repositories/{fresh_repository}/certificates", MANAGERS, 201, R,
         body={"certificate": "{new_certificate_pem}"}),
    _row("certificate.upload_batch", "POST", "/v1/repositories/{fresh_repository}/certificates/batch", MANAGERS,
         200, R, build=_batch_upload),
    _row("certificate.list", "GET", "/v1/repositories/{uploaded}/certificates", EVERYONE, 200, R),
    _row("certificate.get", "GET", "/v1/certificates/{rsa_certificate}", EVERYONE, 200, R),
    _row("certificate.get_with_pem_and_chain", "GET", "/v1/certificates/{issued_certificate}", EVERYONE, 200,
         R, params={"include": "pem,chain"}),
    _row("certificate.delete", "DELETE", "/v1/certificates/{fresh_certificate}", MANAGERS, 204, R),
    _row("certificate.export_pkcs8", "POST", "/v1/certificates/{rsa_certificate}/export-key", EXPORTERS, 200,
         R, body={}),
    _row("certificate.export_pkcs12", "POST", "/v1/certificates/{issued_certificate}/export-key", EXPORTERS,
         200, R, body=_P12),
    _row("certificate.revoke", "POST", "/v1/certificates/{fresh_issued_certificate}/revoke", MANAGERS, 200, R,
         body={"reason": "key_compromise"}),
    # key use (SPEC §1.3), on a certificate of each data source that holds keys
    _key_use("key.sign_uploaded", "/v1/sign", "{rsa_certificate}", "SHA256withRSA", message=MESSAGE),
    _key_use("key.sign_private", "/v1/sign", "{issued_certificate}", "SHA256withECDSA", message=MESSAGE),
    _key_use("key.sign_compliant", "/v1/sign", "{compliant_certificate}", "SHA256withECDSA", message=MESSAGE),
    _row("key.sign_by_custom_identifier", "POST", "/v1/sign", KEY_USERS, 200, R, body=_BY_CUSTOM_ID),
    _key_use("key.verify", "/v1/verify", "{rsa_certificate}", "SHA256withRSA", message=MESSAGE,
             signature="{rsa_signature}"),
    _key_use("key.encrypt", "/v1/encrypt", "{rsa_certificate}", "RSAES_OAEP_SHA_256", plaintext="hello"),
    _key_use("key.decrypt", "/v1/decrypt", "{rsa_certificate}", "RSAES_OAEP_SHA_256",
             ciphertext="{rsa_ciphertext}"),
    # certificate authorities (SPEC §1.2): operators manage, the account reads
    _row("ca.create", "POST", "/v1/cas", MANAGERS, 201, body=_ECC_ROOT),
    _row("ca.list", "GET", "/v1/cas", EVERYONE, 200),
    _row("ca.get", "GET", "/v1/cas/{intermediate_ca}", EVERYONE, 200),
    _row("ca.revoke_serial", "POST", "/v1/cas/{intermediate_ca}/revoke", MANAGERS, 200,
         body={"serial_number": "{fresh_issued_serial}"}),
    # users, grants, access keys, accounts (SPEC §2.1): admins; own keys for everyone; the system admin
    _row("user.create", "POST", "/v1/users", ADMINS, 201, body={"name": "{new_name}", "role": "auditor"}),
    _row("user.list", "GET", "/v1/users", ADMINS, 200),
    _row("user.update", "PATCH", "/v1/users/{fresh_user}", ADMINS, 200, body={"role": "auditor"}),
    _row("user.delete", "DELETE", "/v1/users/{fresh_user}", ADMINS, 204),
    _row("grant.add", "PUT", "/v1/users/{fresh_signer}/grants/{fresh_repository}", ADMINS, 204),
    _row("grant.remove", "DELETE", "/v1/users/{fresh_signer}/grants/{fresh_repository}", ADMINS, 204,
         build=_existing_grant),
    _row("access_key.create_own", "POST", "/v1/access-keys", EVERYONE, 201, body={}),
    _row("access_key.create_for_another_user", "POST", "/v1/access-keys", ADMINS, 201,
         body={"user_id": "{fresh_user}"}),
    _row("access_key.list", "GET", "/v1/access-keys", EVERYONE, 200),
    _row("access_key.revoke_own", "DELETE", "/v1/access-keys/{own_key}", EVERYONE, 204),
    _row("access_key.revoke_another_users", "DELETE", "/v1/access-keys/{other_key}", ADMINS, 204),
    _row("account.create", "POST", "/v1/accounts", SYSTEM_ADMIN, 201,
         body={"name": "{new_name}", "admin_name": "{new_name}"}),
    _row("account.list", "GET", "/v1/accounts", SYSTEM_ADMIN, 200),
    # audit and quota (SPEC §1.4, §2.1)
    _row("audit.list", "GET", "/v1/audit-events", AUDITORS, 200),
    _row("audit.verify", "GET", "/v1/audit-events/verify", AUDITORS, 200),
    _row("audit.export", "GET", "/v1/audit-events/export", AUDITORS, 200),
    _row("quota.get", "GET", "/v1/quota", EVERYONE, 200),
    _row("quota.set", "PUT", "/v1/quota", ADMINS, 200, body={"app": {"total": None}}),
    # expiry monitoring and notifications (issue 9, not in SPEC: the rights the routes document)
    _row("channel.create", "POST", "/v1/notification-channels", ADMINS, 201, body=_HOOK),
    _row("channel.list", "GET", "/v1/notification-channels", ADMINS, 200),
    _row("channel.get", "GET", "/v1/notification-channels/{fresh_channel}", ADMINS, 200),
    _row("channel.delete", "DELETE", "/v1/notification-channels/{fresh_channel}", ADMINS, 204),
    _row("channel.test", "POST", "/v1/notification-channels/{fresh_channel}/test", ADMINS, 200),
    _row("channel.deliveries", "GET", "/v1/notification-channels/{fresh_channel}/deliveries", ADMINS, 200),
    _row("expiry.thresholds_get", "GET", "/v1/expiry/thresholds", EVERYONE, 200),
    _row("expiry.thresholds_set", "PUT", "/v1/expiry/thresholds", ADMINS, 200, body={"days": [30, 7]}),
    _row("expiry.repository_thresholds_get", "GET", "/v1/repositories/{uploaded}/expiry-thresholds", EVERYONE,
         200, R),
    _row("expiry.repository_thresholds_set", "PUT", "/v1/repositories/{fresh_repository}/expiry-thresholds",
         MANAGERS, 200, R, body={"days": [10]}),
    _row("expiry.report", "GET", "/v1/expiry", EVERYONE, 200),
    _row("expiry.scan", "POST", "/v1/expiry/scan", ADMINS, 200),
)
# fmt: on

# Routes outside the matrix, each with the reason. Everything else the app serves must have a row.
EXCLUDED: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public liveness probe (SPEC §2.1)",
    ("GET", "/readyz"): "public readiness probe (SPEC §2.1)",
    ("GET", "/metrics"): "Prometheus scrape endpoint, unauthenticated like the probes (SPEC §2.1)",
    ("GET", "/crl/{ca_id}.crl"): "public CRL, DER (SPEC §1.2)",
    ("GET", "/crl/{ca_id}.pem"): "public CRL, PEM (SPEC §1.2)",
    ("GET", "/ocsp/{ca_id}/{encoded:path}"): "public OCSP responder, GET (SPEC §1.2)",
    ("POST", "/ocsp/{ca_id}"): "public OCSP responder, POST (SPEC §1.2)",
    ("GET", "/openapi.json"): "public API description (SPEC §2.1)",
    ("GET", "/docs"): "public API docs (SPEC §2.1)",
    ("GET", "/docs/oauth2-redirect"): "part of the public API docs",
    ("GET", "/redoc"): "public API docs",
    ("POST", "/"): "Alibaba RPC API: ACS3-HMAC-SHA256 signatures, covered by tests/api/acs",
    ("GET", "/"): "redirect of browsers to the console",
}
EXCLUDED_PREFIXES: dict[str, str] = {
    "/console": "web console: session cookie and CSRF, not bearer keys; covered by tests/console",
}


def app_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app routes, included routers unfolded; HEAD is left out (it is
    GET without a body) and a mount is listed with method ``*``."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            # FastAPI ≥ 0.120 keeps included routers as a node of their own: unfold it.
            nested = getattr(route, "effective_candidates", None)
            if callable(nested):
                walk(nested())
                continue
            methods = getattr(route, "methods", None) or {"*"}
            found.update((method, route.path) for method in methods if method != "HEAD")

    walk(list(app.routes))
    return found


def is_excluded(operation: tuple[str, str]) -> bool:
    return operation in EXCLUDED or any(operation[1].startswith(p) for p in EXCLUDED_PREFIXES)
