"""Expiry notifications over REST (issue 9): channels, test-send, delivery log, thresholds, the report across
repositories, the on-demand scan and its metrics. The webhook receiver is a real HTTP server on loopback."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import World
from tests.factories import build, ec_key, pem

from certrepo.store.tables import key_material

# The storage paths run on both databases in tests/integration/store/test_expiry_scan.py; SQLite suffices here.
pytestmark = [
    pytest.mark.usefixtures("world"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


class Receiver:
    def __init__(self) -> None:
        self.secret = b""
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, Any], bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                receiver.received.append(
                    (json.loads(body), hmac.compare_digest(expected, self.headers["X-Certrepo-Signature"]))
                )
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certrepo"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


async def _webhook(api: httpx.AsyncClient, receiver: Receiver, name: str = "ops") -> dict[str, Any]:
    response = await api.post(
        "/v1/notification-channels", json={"name": name, "kind": "webhook", "url": receiver.url}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secret = created["secret"].encode()
    return created


@pytest.fixture
async def operator(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    user = (await api.post("/v1/users", json={"name": "olga", "role": "operator"})).json()
    key = (await api.post("/v1/access-keys", json={"user_id": user["id"]})).json()
    async with httpx.AsyncClient(
        transport=api._transport,
        base_url=api.base_url,
        headers={"Authorization": f"Bearer {key['id']}:{key['secret']}"},
    ) as client:
        yield client


async def _repository(api: httpx.AsyncClient, name: str = "shop") -> int:
    response = await api.post("/v1/repositories", json={"data_source": "uploaded", "name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _upload(api: httpx.AsyncClient, repository_id: int, *, days_left: int, cn: str) -> str:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = build(cn, ec_key(), sans=[cn], not_before=start, days=days_left + 1)
    response = await api.post(
        f"/v1/repositories/{repository_id}/certificates", json={"certificate": pem(cert)}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["items"][0]["identifier"])


def _metric(text: str, name: str, labels: str) -> float:
    found = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- channels ---------------------------------------------------------------------------------------


async def test_a_webhook_secret_is_shown_once_and_sealed_in_the_keystore(
    api: httpx.AsyncClient, receiver: Receiver, world: World
) -> None:
    created = await _webhook(api, receiver)
    listed = (await api.get("/v1/notification-channels")).json()
    shown = (await api.get(f"/v1/notification-channels/{created['id']}")).json()
    assert len(created["secret"]) >= 40 and created["url"] == receiver.url and created["has_secret"] is True
    assert [c["id"] for c in listed] == [created["id"]] and all("secret" not in c for c in [*listed, shown])
    async with world.services.extras["engine"].connect() as connection:  # type: ignore[attr-defined]
        rows = (
            await connection.execute(
                select(key_material.c.ciphertext).where(key_material.c.purpose == "webhook-secret")
            )
        ).all()
    assert len(rows) == 1 and created["secret"].encode() not in rows[0][0]


async def test_a_deleted_channel_is_gone_with_its_secret(
    api: httpx.AsyncClient, receiver: Receiver, world: World
) -> None:
    created = await _webhook(api, receiver)
    assert (await api.delete(f"/v1/notification-channels/{created['id']}")).status_code == 204
    assert (await api.get(f"/v1/notification-channels/{created['id']}")).status_code == 404
    async with world.services.extras["engine"].connect() as connection:  # type: ignore[attr-defined]
        rows = (
            await connection.execute(
                select(key_material.c.id).where(key_material.c.purpose == "webhook-secret")
            )
        ).all()
    assert rows == []


async def test_a_test_send_reaches_the_receiver_signed_and_is_logged(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await _webhook(api, receiver)
    response = await api.post(f"/v1/notification-channels/{created['id']}/test")
    log = (await api.get(f"/v1/notification-channels/{created['id']}/deliveries")).json()
    assert (
        response.status_code == 200
        and response.json()["ok"] is True
        and response.json()["status_code"] == 200
    )
    [(body, signature_valid)] = receiver.received
    assert body["event"] == "test" and signature_valid
    assert [(d["event"], d["status_code"], d["ok"]) for d in log["items"]] == [("test", 200, True)]


async def test_a_failed_test_send_is_reported_logged_and_counted(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await _webhook(api, receiver)
    before = _metric(
        (await api.get("/metrics")).text, "certrepo_notification_deliveries_failed_total", 'kind="webhook"'
    )
    receiver.statuses = [500]
    response = await api.post(f"/v1/notification-channels/{created['id']}/test")
    after = _metric(
        (await api.get("/metrics")).text, "certrepo_notification_deliveries_failed_total", 'kind="webhook"'
    )
    assert response.json()["ok"] is False and response.json()["status_code"] == 500
    assert after == before + 1


async def test_an_email_channel_keeps_its_password_out_of_every_answer(api: httpx.AsyncClient) -> None:
    body = {
        "name": "mail",
        "kind": "email",
        "email": {
            "host": "smtp.example.com",
            "username": "mailer",
            "password": "p4ss-w0rd!",
            "from_address": "certrepo@example.com",
            "to": ["ops@example.com"],
        },
    }
    created = await api.post("/v1/notification-channels", json=body)
    listed = await api.get("/v1/notification-channels")
    assert created.status_code == 201 and created.json()["secret"] is None
    assert created.json()["email"]["port"] == 587 and created.json()["email"]["starttls"] is True
    assert "p4ss-w0rd!" not in created.text + listed.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "a", "kind": "webhook"}, "MissingParameter"),
        ({"name": "a", "kind": "webhook", "url": "https://u:p@hooks.example/"}, "InvalidParameter"),
        (
            {
                "name": "a",
                "kind": "email",
                "email": {"host": "h", "from_address": "a@b.c", "to": ["x@y.z\r\nBcc: q@r.s"]},
            },
            "InvalidParameter",
        ),
        ({"name": "a", "kind": "sms", "url": "https://hooks.example/"}, "InvalidParameter"),
    ],
    ids=["webhook-without-url", "credentials-in-url", "header-injection", "unknown-kind"],
)
async def test_a_bad_channel_is_a_client_error(
    api: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await api.post("/v1/notification-channels", json=body)
    assert response.status_code == 400 and response.json()["code"] == code, response.text
    assert (await api.get("/v1/notification-channels")).json() == []


async def test_a_channel_name_is_unique_in_the_account(api: httpx.AsyncClient, receiver: Receiver) -> None:
    await _webhook(api, receiver)
    again = await api.post(
        "/v1/notification-channels", json={"name": "ops", "kind": "webhook", "url": receiver.url}
    )
    assert again.status_code == 409 and "ops" in again.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/notification-channels"), ("POST", "/v1/expiry/scan")],
    ids=["create-channel", "scan"],
)
async def test_an_operator_does_not_administer_notifications(
    operator: httpx.AsyncClient, method: str, path: str
) -> None:
    body = (
        {"name": "x", "kind": "webhook", "url": "https://hooks.example/"}
        if "channels" in path
        else {"days": [5]}
    )
    response = await operator.request(method, path, json=body if method != "GET" else None)
    assert response.status_code == 403 and response.json()["code"] == "Forbidden"


# --- thresholds -------------------------------------------------------------------------------------


async def test_thresholds_default_then_account_then_repository_override(
    api: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    repository_id = await _repository(api)
    path = f"/v1/repositories/{repository_id}/expiry-thresholds"
    assert (await api.get("/v1/expiry/thresholds")).json() == {
        "days": [30, 14, 7, 1],
        "source": "default",
        "repository_id": None,
    }
    assert (await api.put("/v1/expiry/thresholds", json={"days": [7, 60]})).json()["days"] == [60, 7]
    assert (await api.get(path)).json() == {
        "days": [60, 7],
        "source": "account",
        "repository_id": repository_id,
    }
    overridden = await operator.put(path, json={"days": [2]})  # operators manage repositories
    assert overridden.json() == {"days": [2], "source": "repository", "repository_id": repository_id}
    assert (await api.put(path, json={"days": None})).json()["source"] == "account"
    assert (await api.put("/v1/expiry/thresholds", json={"days": None})).json()["source"] == "default"


async def test_unusable_thresholds_are_a_client_error(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/expiry/thresholds", json={"days": [30, 0]})
    assert response.status_code == 400 and "threshold 0" in response.json()["message"], response.text


async def test_thresholds_of_an_unknown_repository_are_not_found(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/repositories/4242/expiry-thresholds", json={"days": [3]})).status_code == 404


# --- report and scan --------------------------------------------------------------------------------


async def test_the_report_lists_what_expires_across_repositories_soonest_first(
    api: httpx.AsyncClient,
) -> None:
    shop, billing = await _repository(api, "shop"), await _repository(api, "billing")
    soon = await _upload(api, billing, days_left=3, cn="soon.example.com")
    later = await _upload(api, shop, days_left=20, cn="later.example.com")
    await _upload(api, shop, days_left=200, cn="far.example.com")
    report = (await api.get("/v1/expiry", params={"within_days": 30})).json()
    assert [(i["identifier"], i["repository_name"], i["days_left"]) for i in report["items"]] == [
        (soon, "billing", 2),
        (later, "shop", 19),
    ]
    assert report["total"] == 2 and not any(i["expired"] for i in report["items"])
    assert (await api.get("/v1/expiry", params={"within_days": 1})).json()["total"] == 0


async def test_an_on_demand_scan_notifies_once_and_updates_the_metrics(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    repository_id = await _repository(api)
    identifier = await _upload(api, repository_id, days_left=5, cn="pay.example.com")
    await _upload(api, repository_id, days_left=200, cn="far.example.com")
    await _webhook(api, receiver)
    first = (await api.post("/v1/expiry/scan")).json()
    second = (await api.post("/v1/expiry/scan")).json()
    metrics = (await api.get("/metrics")).text
    assert (first["ran"], first["notices_sent"], second["notices_sent"]) == (True, 1, 0)
    [(body, signature_valid)] = receiver.received
    assert body["certificate"]["identifier"] == identifier and body["threshold_days"] == 7 and signature_valid
    assert _metric(metrics, "certrepo_certificates_expiring", 'within="7d"') == 1
    assert _metric(metrics, "certrepo_certificates_expiring", 'within="later"') == 1
    events = (await api.get("/v1/audit-events", params={"action": "expiry.scan"})).json()
    assert events["total"] == 2
