"""`certrepo expiry …` and `certrepo notify …` speak to the REST API as documented (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from certrepo.cli import main
from certrepo.cli.client import Client, ClientConfig
from certrepo.cli.commands import expiry, notify
from certrepo.cli.output import State


class Api:
    """Canned answers by (method, path); remembers every request."""

    def __init__(self, answers: dict[tuple[str, str], Callable[[httpx.Request], Any]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answers[(request.method, request.url.path)](request))


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(State, "json", False)  # the flag is process-wide; leave it as found
    yield


def _run(monkeypatch: pytest.MonkeyPatch, api: Api, *args: str) -> Any:
    def client() -> Client:
        return Client(
            ClientConfig("http://certrepo.test", "CRKEY", "secret"), transport=httpx.MockTransport(api)
        )

    monkeypatch.setattr(expiry, "client", client)
    monkeypatch.setattr(notify, "client", client)
    return CliRunner().invoke(main.app, list(args))


def _item(n: int) -> dict[str, Any]:
    return {
        "identifier": f"id{n}",
        "kind": "certificate",
        "common_name": f"c{n}",
        "repository_id": 1,
        "repository_name": "shop",
        "not_after": "2030-01-01T00:00:00Z",
        "days_left": n,
        "expired": False,
    }


def test_expiry_report_json_reads_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = {1: [_item(n) for n in range(500)], 2: [_item(500)]}
    api = Api(
        {
            ("GET", "/v1/expiry"): lambda r: {
                "items": pages[int(r.url.params["page"])],
                "total": 501,
                "page": int(r.url.params["page"]),
                "page_size": 500,
            }
        }
    )
    result = _run(monkeypatch, api, "expiry", "report", "--within", "10", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 501
    assert [r.url.params["within_days"] for r in api.requests] == ["10", "10"]


def test_expiry_scan_posts_to_the_scan_endpoint_and_says_what_it_did(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = {"ran": True, "targets": 3, "renewed": 1, "notices_sent": 2, "notices_failed": 0, "buckets": {}}
    api = Api({("POST", "/v1/expiry/scan"): lambda _r: answer})
    result = _run(monkeypatch, api, "expiry", "scan")
    assert result.exit_code == 0 and "2 notices sent" in result.output


def test_notify_add_webhook_prints_the_secret_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def created(request: httpx.Request) -> dict[str, Any]:
        body = json.loads(request.content)
        return {
            "id": 3,
            "kind": body["kind"],
            "name": body["name"],
            "url": body["url"],
            "secret": "s3cr3t-value",
        }

    api = Api({("POST", "/v1/notification-channels"): created})
    result = _run(monkeypatch, api, "notify", "add-webhook", "ops", "https://hooks.example/certrepo")
    assert result.exit_code == 0 and "s3cr3t-value" in result.output
    assert json.loads(api.requests[0].content) == {
        "name": "ops",
        "kind": "webhook",
        "url": "https://hooks.example/certrepo",
    }


def test_notify_thresholds_sets_a_repository_override(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(
        {
            ("PUT", "/v1/repositories/7/expiry-thresholds"): lambda r: {
                "days": json.loads(r.content)["days"],
                "source": "repository",
                "repository_id": 7,
            }
        }
    )
    result = _run(monkeypatch, api, "notify", "thresholds", "--repository", "7", "--set", "21,3")
    assert result.exit_code == 0 and "21, 3 days (repository)" in result.output


def test_notify_test_exits_non_zero_when_not_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = {"ok": False, "status_code": 500, "attempts": [{"error": "HTTP 500", "status_code": 500}]}
    api = Api({("POST", "/v1/notification-channels/3/test"): lambda _r: failed})
    result = _run(monkeypatch, api, "notify", "test", "3")
    assert result.exit_code == 1 and "not delivered" in result.output
