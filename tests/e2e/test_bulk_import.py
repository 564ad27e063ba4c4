"""`certrepo cert import DIR` against a real `certrepo serve` (the module's `served` server): pairs keys with
certificates, imports PEM, DER and PKCS#12, reports each refusal with its reason, leaves nothing behind for a
refused item, re-runs cleanly, and lists every file it could not get to the server (a kill of the server in the
middle of an import, and the resumed run: tests/system/test_crash_safety.py). Files travel in batches
(`--workers` certificates in flight); how batches are cut is checked against a stand-in server."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certrepo.cli.client import Client, ClientConfig
from certrepo.cli.commands import bulk_import
from tests.e2e.conftest import Served, run_certrepo
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem
from tests.support.server import free_port

PASSWORD = "import-pass"


@pytest.fixture
def repository(served: Served) -> int:
    """A fresh `uploaded` repository on the module's server."""
    with httpx.Client(base_url=served.base_url, headers={"Authorization": served.bearer}, timeout=30) as http:
        created = http.post("/v1/repositories", json={"data_source": "uploaded"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Import")


def _leaf(chain: Chain, host: str, **kw: Any) -> tuple[Any, Any]:
    key = ec_key()
    return build(host, key, issuer=(chain.intermediate, chain.intermediate_key), sans=[host], **kw), key


def _write_pair(folder: Path, stem: str, cert: Any, key: Any) -> None:
    (folder / f"{stem}.pem").write_text(pem(cert))
    (folder / f"{stem}.key").write_text(key_pem(key))


def _import(served: Served, folder: Path, repository: int, *options: str) -> tuple[int, dict[str, Any]]:
    """`certrepo --json cert import FOLDER --repository ID`: its exit code and its JSON summary."""
    done = served.cli(
        "--json",
        "cert",
        "import",
        str(folder),
        "--repository",
        str(repository),
        "--password",
        PASSWORD,
        *options,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def _certificates(served: Served, repository: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=served.base_url, headers={"Authorization": served.bearer}, timeout=30) as http:
        listed = http.get(f"/v1/repositories/{repository}/certificates", params={"page_size": 500})
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


def _key_rows(served: Served) -> int:
    with sqlite3.connect(served.database) as connection:
        return int(connection.execute("SELECT count(*) FROM key_material").fetchone()[0])


def test_pem_pairs_der_and_pkcs12_are_imported_each_with_its_key(
    served: Served, repository: int, chain: Chain, tmp_path: Path
) -> None:
    for i in range(4):
        _write_pair(tmp_path, f"site{i}", *_leaf(chain, f"site{i}.import.example"))
    der_cert, _ = _leaf(chain, "der.import.example")
    (tmp_path / "der.cer").write_bytes(der_cert.public_bytes(serialization.Encoding.DER))
    p12_cert, p12_key = _leaf(chain, "p12.import.example")
    (tmp_path / "bundle.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"p12", p12_key, p12_cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())
        )
    )
    code, summary = _import(served, tmp_path, repository)
    assert (code, summary["imported"], summary["refused"], summary["unpaired_keys"]) == (0, 6, {}, [])
    stored = {c["common_name"]: c["has_private_key"] for c in _certificates(served, repository)}
    assert stored == {
        **{f"site{i}.import.example": True for i in range(4)},
        "der.import.example": False,
        "p12.import.example": True,
    }


def test_refusals_name_the_file_and_the_reason_and_leave_nothing_behind(
    served: Served, repository: int, chain: Chain, tmp_path: Path
) -> None:
    _write_pair(tmp_path, "good", *_leaf(chain, "good.import.example"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    _write_pair(tmp_path, "expired", *_leaf(chain, "expired.import.example", not_before=long_ago, days=30))
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    (tmp_path / "lonely.key").write_text(key_pem(ec_key()))
    keys_before = _key_rows(served)
    code, summary = _import(served, tmp_path, repository)
    assert code == 1 and summary["imported"] == 1
    assert set(summary["refused"]) == {str(tmp_path / "expired.pem"), str(tmp_path / "notes.txt")}
    assert summary["refused"][str(tmp_path / "expired.pem")].startswith("CertificateExpired")
    assert summary["unpaired_keys"] == [str(tmp_path / "lonely.key")]
    assert [c["common_name"] for c in _certificates(served, repository)] == ["good.import.example"]
    assert _key_rows(served) == keys_before + 1  # the refused item's key was never stored


def test_a_second_run_reports_everything_as_already_present(
    served: Served, repository: int, chain: Chain, tmp_path: Path
) -> None:
    for i in range(3):
        _write_pair(tmp_path, f"again{i}", *_leaf(chain, f"again{i}.import.example"))
    first = _import(served, tmp_path, repository)
    second = _import(served, tmp_path, repository)
    assert (first[0], first[1]["imported"]) == (0, 3)
    assert (second[0], second[1]["imported"], len(second[1]["already_present"])) == (0, 0, 3)
    assert len(_certificates(served, repository)) == 3


def test_an_import_that_reaches_no_server_lists_every_file_as_not_sent_and_exits_2(
    served: Served, repository: int, chain: Chain, tmp_path: Path
) -> None:
    for i in range(3):
        _write_pair(tmp_path, f"nowhere{i}", *_leaf(chain, f"nowhere{i}.import.example"))
    nobody = {**served.env, "CERTREPO_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    command = ["--json", "--data-dir", str(served.data_dir), "cert", "import", str(tmp_path)]
    done = run_certrepo(*command, "--repository", str(repository), env=nobody)
    summary = json.loads(done.stdout)
    assert (done.returncode, summary["imported"], summary["refused"]) == (2, 0, {})
    assert sorted(summary["unreachable"]) == [str(tmp_path / f"nowhere{i}.pem") for i in range(3)]
    assert all(reason.startswith("not sent") for reason in summary["unreachable"].values()), summary
    assert _certificates(served, repository) == []


def test_big_batches_answer_each_file_as_small_ones_do(
    served: Served, repository: int, chain: Chain, tmp_path: Path
) -> None:
    """250 certificates in flight: batches of 62 on four requests, refusals among them."""
    for i in range(130):
        _write_pair(tmp_path, f"many{i:03}", *_leaf(chain, f"many{i:03}.import.example"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    _write_pair(tmp_path, "many-expired", *_leaf(chain, "expired.many.example", not_before=long_ago, days=30))
    (tmp_path / "many-notes.txt").write_text("not a certificate\n")
    code, summary = _import(served, tmp_path, repository, "--workers", "250")
    assert (code, summary["imported"], sorted(summary["refused"])) == (
        1,
        130,
        [str(tmp_path / "many-expired.pem"), str(tmp_path / "many-notes.txt")],
    )
    again = _import(served, tmp_path, repository, "--workers", "250")[1]
    assert (again["imported"], len(again["already_present"])) == (0, 130)
    assert len(_certificates(served, repository)) == 130


@dataclass
class _StandIn:
    """A stand-in server: a batch over ``limit_bytes`` gets 413 (as a smaller CERTREPO_MAX_BODY_BYTES would
    answer), any other gets 201 for each item; it records the sizes it took and how often it refused."""

    limit_bytes: int
    taken: list[int] = field(default_factory=list)
    refused: int = 0

    def client(self) -> Client:
        return Client(
            ClientConfig("http://stand-in", "id", "secret"), transport=httpx.MockTransport(self._answer)
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if len(request.content) > self.limit_bytes:
            self.refused += 1
            return httpx.Response(
                413, json={"code": "MessageTooLarge", "message": "too large", "request_id": "r"}
            )
        self.taken.append(len(request.content))
        items = json.loads(request.content)["items"]
        return httpx.Response(
            200,
            json={
                "items": [
                    {"status": 201, "certificates": [{"identifier": f"c{len(self.taken)}-{i}"}]}
                    for i, _ in enumerate(items)
                ]
            },
        )


def _folder_of_pairs(chain: Chain, folder: Path, count: int) -> Path:
    for i in range(count):
        _write_pair(folder, f"split{i:02}", *_leaf(chain, f"split{i:02}.import.example"))
    return folder


def test_a_batch_over_the_servers_body_limit_is_halved_until_it_passes(chain: Chain, tmp_path: Path) -> None:
    server = _StandIn(limit_bytes=6_000)  # ~5 pairs
    summary = bulk_import.import_folder(
        server.client(), _folder_of_pairs(chain, tmp_path, 40), repository_id=1, password=None, workers=400,
        exportable=False,
    )  # fmt: skip
    assert (len(summary.imported), summary.refused, summary.unreachable) == (40, {}, {})
    assert server.refused > 0 and max(server.taken) <= server.limit_bytes


def test_batches_are_cut_to_the_body_budget_before_they_are_sent(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_import, "BATCH_BODY_BYTES", 5_000)
    server = _StandIn(limit_bytes=6_000)
    summary = bulk_import.import_folder(
        server.client(), _folder_of_pairs(chain, tmp_path, 40), repository_id=1, password=None, workers=400,
        exportable=False,
    )  # fmt: skip
    assert (len(summary.imported), server.refused) == (40, 0)
    assert len(server.taken) >= 8
