"""The expiry scan against a real database (SQLite and PostgreSQL), a real webhook receiver and a real SMTP
server on loopback, with a controllable clock: thresholds fire once each and in order, nothing twice after
a restart or with two nodes, renewed and deleted certificates fall silent, failures are retried and logged."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import World
from tests.factories import build, ec_key, pem
from tests.support.rows import insert_ca

from certrepo.app import build_services
from certrepo.domain.enums import DataSource
from certrepo.domain.notifications import EmailConfig, NoticeStatus, WebhookConfig
from certrepo.domain.paging import Page
from certrepo.domain.repository import Binding
from certrepo.domain.secrets import Secret
from certrepo.notify.scheduler import expiry_schedule
from certrepo.notify.transports import HttpSmtpTransport
from certrepo.services import certificates, expiry, notifications, repositories
from certrepo.services.context import Services
from certrepo.services.notifications import NOTIFIER_KEY, Notifier, store_of

# Cross-node behaviour runs on SQLite and PostgreSQL; the rest on SQLite only, to keep the suite fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Receiver:
    """A webhook endpoint on loopback: checks each signature with the secret of its path's channel."""

    def __init__(self) -> None:
        self.secrets: dict[str, bytes] = {}
        self.statuses: list[int] = []  # answers to give, in order; 200 once used up
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = (
                    "sha256="
                    + hmac.new(receiver.secrets.get(self.path, b""), body, hashlib.sha256).hexdigest()
                )
                receiver.received.append(
                    {
                        "path": self.path,
                        "body": json.loads(body),
                        "signature_valid": hmac.compare_digest(
                            expected, self.headers["X-Certrepo-Signature"]
                        ),
                        "delivery": self.headers["X-Certrepo-Delivery"],
                    }
                )
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the serving loop to look, 0.5 s by default.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def stages(self, path: str | None = None) -> list[tuple[str, int]]:
        return [
            (r["body"]["certificate"]["identifier"], r["body"]["threshold_days"])
            for r in self.received
            if path is None or r["path"] == path
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@dataclasses.dataclass
class Recorded:
    sleeps: list[float] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)


def _node(
    base: Services, clock: FakeClock, recorded: Recorded, transport: HttpSmtpTransport | None = None
) -> Services:
    async def sleep(seconds: float) -> None:
        recorded.sleeps.append(seconds)

    notifier = Notifier(
        transport=transport or HttpSmtpTransport(),
        sleep=sleep,
        on_delivery_failed=lambda kind: recorded.failed.append(kind.value),
    )
    return dataclasses.replace(base, clock=clock, extras={**base.extras, NOTIFIER_KEY: notifier})


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def node(world: World, clock: FakeClock, recorded: Recorded) -> Services:
    return _node(world.services, clock, recorded)


@pytest.fixture
async def other_engine(world: World) -> AsyncIterator[Services]:
    """A second server process on the same database (its own engine and pool)."""
    services, _ = build_services(world.settings)
    try:
        yield services
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def _repository(
    node: Services, world: World, name: str = "shop", source: DataSource = DataSource.UPLOADED
) -> int:
    created = await repositories.create_repository(node, world.admin_call, name=name, binding=Binding(source))
    assert created.id is not None
    return created.id


async def _upload(
    node: Services,
    world: World,
    repository_id: int,
    clock: FakeClock,
    *,
    days_left: int,
    cn: str = "www.example.com",
    ca: bool = False,
) -> str:
    """A self-signed certificate valid since yesterday that expires ``days_left`` days from the clock."""
    cert = build(
        cn,
        ec_key(),
        ca=ca,
        sans=None if ca else [cn],
        not_before=clock.now - dt.timedelta(days=1),
        days=days_left + 1,
    )
    result = await certificates.upload_certificate(
        node, world.admin_call, repository_id, certificates.Upload(certificate=pem(cert))
    )
    return result.certificates[0].identifier


async def _webhook(
    node: Services, world: World, receiver: Receiver, path: str = "/hook", name: str = "ops"
) -> int:
    created = await notifications.create_channel(
        node, world.admin_call, name=name, config=WebhookConfig(receiver.url(path))
    )
    assert created.secret is not None
    receiver.secrets[path] = created.secret.reveal()
    return created.channel.id


async def _scan(node: Services, node_id: str = "n1") -> expiry.ScanReport:
    return await expiry.scan_expiry(node, node_id=node_id)


# --- thresholds -------------------------------------------------------------------------------------


async def test_each_threshold_fires_once_in_order_then_one_final_notice(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    identifier = await _upload(node, world, await _repository(node, world), clock, days_left=33)
    await _webhook(node, world, receiver)
    for _ in range(36):  # one scan a day, from 33 days before expiry to 2 days after
        await _scan(node)
        clock.advance(days=1)
    assert receiver.stages() == [
        (identifier, 30),
        (identifier, 14),
        (identifier, 7),
        (identifier, 1),
        (identifier, 0),
    ]
    assert [r["body"]["event"] for r in receiver.received][-2:] == [
        "certificate.expiring",
        "certificate.expired",
    ]
    assert all(r["signature_valid"] for r in receiver.received)


@sqlite_only
async def test_a_late_scan_sends_only_the_most_urgent_stage(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    identifier = await _upload(node, world, await _repository(node, world), clock, days_left=5)
    await _webhook(node, world, receiver)
    await _scan(node)
    clock.advance(days=1)
    await _scan(node)
    assert receiver.stages() == [(identifier, 7)]


@sqlite_only
async def test_a_repository_override_replaces_the_account_thresholds(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    await expiry.set_account_thresholds(node, world.admin_call, [10])
    plain, strict = await _repository(node, world, "plain"), await _repository(node, world, "strict")
    await expiry.set_repository_thresholds(node, world.admin_call, strict, [3])
    in_plain = await _upload(node, world, plain, clock, days_left=9, cn="a.example.com")
    in_strict = await _upload(node, world, strict, clock, days_left=9, cn="b.example.com")
    await _webhook(node, world, receiver)
    await _scan(node)
    clock.advance(days=6)
    await _scan(node)
    assert receiver.stages() == [(in_plain, 10), (in_strict, 3)]


# --- exactly once -----------------------------------------------------------------------------------


async def test_a_restarted_node_sends_nothing_twice(
    world: World, other_engine: Services, receiver: Receiver, clock: FakeClock, recorded: Recorded
) -> None:
    before = _node(world.services, clock, recorded)
    identifier = await _upload(before, world, await _repository(before, world), clock, days_left=20)
    await _webhook(before, world, receiver)
    await _scan(before, "before-restart")
    after = _node(other_engine, clock, recorded)  # new process: new engine, new node id, nothing in memory
    await _scan(after, "after-restart")
    clock.advance(days=7)
    await _scan(after, "after-restart")
    await _scan(after, "after-restart")
    assert receiver.stages() == [(identifier, 30), (identifier, 14)]


async def test_two_nodes_scanning_at_once_notify_each_threshold_once_per_channel(
    world: World, other_engine: Services, receiver: Receiver, clock: FakeClock, recorded: Recorded
) -> None:
    first, second = _node(world.services, clock, recorded), _node(other_engine, clock, recorded)
    repository_id = await _repository(first, world)
    expected_stage = {3: 7, 10: 14, 20: 30, 29: 30}
    ids = {
        await _upload(first, world, repository_id, clock, days_left=days, cn=f"c{days}.example.com"): stage
        for days, stage in expected_stage.items()
    }
    await _webhook(first, world, receiver, "/a", "a")
    await _webhook(first, world, receiver, "/b", "b")
    for _ in range(3):
        reports = await asyncio.gather(*[_scan(n, f"node-{i}") for i, n in enumerate([first, second] * 3)])
        assert sum(r.ran for r in reports) >= 1
    for path in ("/a", "/b"):
        assert sorted(receiver.stages(path)) == sorted(ids.items())


async def test_the_notified_key_admits_one_claim_whatever_node_inserts_it(
    world: World, other_engine: Services, receiver: Receiver, clock: FakeClock, recorded: Recorded
) -> None:
    first, second = _node(world.services, clock, recorded), _node(other_engine, clock, recorded)
    identifier = await _upload(first, world, await _repository(first, world), clock, days_left=10)
    channel_id = await _webhook(first, world, receiver)
    async with first.uow(read_only=True) as uow:
        [target] = [t for t in await store_of(uow).monitored(not_after_to=clock.now + dt.timedelta(days=30))]
    assert target.target_id == identifier

    async def claim(services: Services, holder: str) -> int | None:
        async with services.uow() as uow:
            notice_id = await store_of(uow).claim_notice(
                channel_id=channel_id, target=target, threshold_days=14, holder=holder, now=clock.now
            )
            await uow.commit()
        return notice_id

    claims = await asyncio.gather(*[claim(n, f"h{i}") for i, n in enumerate([first, second] * 5)])
    assert len([c for c in claims if c is not None]) == 1, claims


@sqlite_only
async def test_only_one_node_holds_the_scan_lease_until_it_expires(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    await _upload(node, world, await _repository(node, world), clock, days_left=10)
    await _webhook(node, world, receiver)
    async with node.uow() as uow:
        assert await store_of(uow).acquire_lease(
            expiry.SCAN_LEASE, holder="busy-node", now=clock.now, until=clock.now + dt.timedelta(minutes=15)
        )
        await uow.commit()
    assert (await _scan(node)).ran is False and receiver.received == []
    clock.advance(minutes=16)
    assert (await _scan(node)).ran is True and len(receiver.received) == 1


@sqlite_only
async def test_a_claim_left_pending_by_a_dead_node_is_sent_once_after_the_lease(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    identifier = await _upload(node, world, await _repository(node, world), clock, days_left=10)
    channel_id = await _webhook(node, world, receiver)
    async with node.uow() as uow:
        [target] = await store_of(uow).monitored(not_after_to=clock.now + dt.timedelta(days=30))
        await store_of(uow).claim_notice(
            channel_id=channel_id, target=target, threshold_days=14, holder="dead", now=clock.now
        )
        await uow.commit()
    await _scan(node)
    assert receiver.received == []  # the claim may still be in flight
    clock.advance(seconds=expiry.DEFAULT_LEASE_SECONDS + 1)
    await _scan(node)
    await _scan(node)
    assert receiver.stages() == [(identifier, 14)]


# --- renewed, deleted, CAs --------------------------------------------------------------------------


@sqlite_only
async def test_a_renewed_certificate_stops_its_notices(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    repository_id = await _repository(node, world)
    old = await _upload(node, world, repository_id, clock, days_left=20)
    await _webhook(node, world, receiver)
    await _scan(node)
    await _upload(node, world, repository_id, clock, days_left=400)  # same subject and SANs, new key
    clock.advance(days=7)
    report = await _scan(node)
    assert receiver.stages() == [(old, 30)] and report.renewed == 1
    assert old not in [
        i.target.target_id for i in await expiry.expiry_report(node, world.admin_call, within_days=30)
    ]


@sqlite_only
async def test_a_deleted_certificate_stops_its_notices(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    identifier = await _upload(node, world, await _repository(node, world), clock, days_left=20)
    await _webhook(node, world, receiver)
    await _scan(node)
    await certificates.delete_certificate(node, world.admin_call, identifier)
    clock.advance(days=30)
    await _scan(node)
    assert receiver.stages() == [(identifier, 30)]


@sqlite_only
async def test_a_ca_certificate_of_a_trust_store_is_monitored(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    repository_id = await _repository(node, world, "trust", DataSource.UPLOADED_CA)
    identifier = await _upload(node, world, repository_id, clock, days_left=5, cn="Short Root", ca=True)
    await _webhook(node, world, receiver)
    await _scan(node)
    [received] = receiver.received
    assert received["body"]["certificate"]["identifier"] == identifier
    assert received["body"]["certificate"]["is_ca"] is True and received["body"]["threshold_days"] == 7


@sqlite_only
async def test_the_intermediate_ca_bound_to_a_repository_is_monitored(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    ca_id = await insert_ca(world.services.extras["engine"], account_id=world.admin.account.id)  # type: ignore[arg-type]
    created = await repositories.create_repository(
        node, world.admin_call, name="issuing", binding=Binding(DataSource.PRIVATE, ca_id=ca_id)
    )
    await _webhook(node, world, receiver)
    async with node.uow(read_only=True) as uow:
        ca = await uow.cas.get(ca_id)
    assert ca is not None
    clock.now = ca.not_after - dt.timedelta(days=6)
    await _scan(node)
    [received] = receiver.received
    assert (received["body"]["certificate"]["kind"], received["body"]["certificate"]["identifier"]) == (
        "ca",
        str(ca_id),
    )
    assert received["body"]["repository"] == {"id": created.id, "name": "issuing"}
    assert received["body"]["threshold_days"] == 7


# --- failures and the delivery log ------------------------------------------------------------------


@sqlite_only
async def test_a_failing_receiver_is_retried_with_backoff_then_recorded_as_failed(
    node: Services, world: World, receiver: Receiver, clock: FakeClock, recorded: Recorded
) -> None:
    await _upload(node, world, await _repository(node, world), clock, days_left=10)
    channel_id = await _webhook(node, world, receiver)
    receiver.statuses = [500] * 10
    report = await _scan(node)
    await _scan(node)  # a failed stage is not retried by the next scan: it is on record
    assert report.notices_failed == 1 and recorded.failed == ["webhook"]
    assert recorded.sleeps == [2.0, 4.0, 8.0]
    assert len(receiver.received) == 4 and len({r["delivery"] for r in receiver.received}) == 1
    log = await notifications.list_deliveries(node, world.admin_call, channel_id, page=Page())
    assert [(d.attempt, d.status_code, d.ok) for d in reversed(log.items)] == [
        (n, 500, False) for n in (1, 2, 3, 4)
    ]
    async with node.uow(read_only=True) as uow:
        [notice] = await store_of(uow).notices_for([channel_id], [log.items[0].target_id or ""])
    assert notice.status is NoticeStatus.FAILED


@sqlite_only
async def test_a_receiver_that_recovers_gets_the_notice_on_a_later_attempt(
    node: Services, world: World, receiver: Receiver, clock: FakeClock, recorded: Recorded
) -> None:
    await _upload(node, world, await _repository(node, world), clock, days_left=10)
    channel_id = await _webhook(node, world, receiver)
    receiver.statuses = [503, 429]
    report = await _scan(node)
    log = await notifications.list_deliveries(node, world.admin_call, channel_id, page=Page())
    assert report.notices_sent == 1 and recorded.sleeps == [2.0, 4.0] and recorded.failed == []
    assert [(d.status_code, d.ok) for d in reversed(log.items)] == [(503, False), (429, False), (200, True)]


# --- email ------------------------------------------------------------------------------------------


def _tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts it (and nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "smtp.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "smtp.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "smtp.pem", tmp_path / "smtp.key")
    client = ssl.create_default_context(cadata=cert.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def __call__(self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@sqlite_only
async def test_email_over_starttls_names_the_certificate_repository_and_date(
    world: World, clock: FakeClock, recorded: Recorded, tmp_path: Path
) -> None:
    from aiosmtpd.controller import Controller

    server_tls, client_tls = _tls_pair(tmp_path)
    mailbox = _Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=mailbox,
    )
    controller.start()
    try:
        node = _node(world.services, clock, recorded, HttpSmtpTransport(tls_context=client_tls))
        identifier = await _upload(
            node, world, await _repository(node, world, "billing"), clock, days_left=6, cn="pay.example.com"
        )
        config = EmailConfig(
            host="127.0.0.1",
            port=controller.port,
            from_address="certrepo@example.com",
            to_addresses=("ops@example.com",),
            starttls=True,
            username="mailer",
        )
        await notifications.create_channel(
            node, world.admin_call, name="mail", config=config, smtp_password=Secret(b"s3cret-pw")
        )
        report = await _scan(node)
    finally:
        controller.stop()
    assert report.notices_sent == 1 and mailbox.logins == [(b"mailer", b"s3cret-pw")]
    [raw] = mailbox.messages
    mail = message_from_bytes(raw, policy=policy.default)
    date = (clock.now + dt.timedelta(days=6)).strftime("%Y-%m-%d")
    assert "pay.example.com" in mail["Subject"] and "billing" in mail["Subject"] and date in mail["Subject"]
    body = mail.get_content()  # type: ignore[attr-defined]
    assert identifier in body and "billing" in body and date in body and mail["To"] == "ops@example.com"


# --- the schedule inside `certrepo serve` -----------------------------------------------------------


@sqlite_only
async def test_the_schedule_scans_after_a_short_delay_then_every_interval(
    node: Services, world: World, receiver: Receiver, clock: FakeClock
) -> None:
    await _upload(node, world, await _repository(node, world), clock, days_left=10)
    await _webhook(node, world, receiver)
    waits: list[float] = []
    third_wait = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(days=4.5)  # 5.5 days left at the first scan, 1 at the second
        if len(waits) == 3:
            third_wait.set()
            await asyncio.Event().wait()  # parked until the lifespan ends

    async with expiry_schedule(node, interval_seconds=3600, sleep=sleep):
        await asyncio.wait_for(third_wait.wait(), timeout=10)
    assert waits == [30.0, 3600, 3600]
    assert [stage for _, stage in receiver.stages()] == [7, 1]
