"""The `certrepo` command end to end (issue 2): `init` once and idempotently, `serve`, the repository
lifecycle through `certrepo repo …` (tables and --json, credentials from client.json or the environment),
the README's curl example, and `certrepo audit verify` against a tampered database. SQLite only."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Served, clean_env, run_certrepo

INIT_KEYS = {"access_key_id", "access_key_secret", "admin_user", "admin_password", "url"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dump(database: Path) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


# --- init -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Initialised:
    data_dir: Path
    env: dict[str, str]
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    """One `certrepo init --data-dir D --json` on a new data dir (no server)."""
    data_dir, env = tmp_path_factory.mktemp("init") / "data", clean_env()
    return Initialised(data_dir, env, run_certrepo("init", "--data-dir", str(data_dir), "--json", env=env))


def test_init_prints_exactly_one_json_object_with_the_five_keys(initialised: Initialised) -> None:
    assert initialised.result.returncode == 0, initialised.result.stderr
    printed = json.loads(initialised.result.stdout)  # the whole output is one JSON document
    assert isinstance(printed, dict) and set(printed) == INIT_KEYS
    assert printed["admin_user"] == "admin" and printed["url"] == "http://127.0.0.1:8080"
    assert all(isinstance(v, str) and v for v in printed.values())


def test_init_keeps_its_secrets_in_files_only_the_owner_can_read(initialised: Initialised) -> None:
    data_dir, printed = initialised.data_dir, json.loads(initialised.result.stdout)
    assert _mode(data_dir / "master.key") == 0o600
    assert _mode(data_dir / "client.json") == 0o600
    assert _mode(data_dir) == 0o700
    client = json.loads((data_dir / "client.json").read_text())
    assert client == {k: printed[k] for k in ("url", "access_key_id", "access_key_secret")}
    assert printed["access_key_secret"].encode() not in (data_dir / "certrepo.db").read_bytes()


def _state(data_dir: Path) -> tuple[list[str], bytes, bytes]:
    return (
        _dump(data_dir / "certrepo.db"),
        (data_dir / "master.key").read_bytes(),
        (data_dir / "client.json").read_bytes(),
    )


def test_a_second_init_changes_nothing_and_says_so(initialised: Initialised) -> None:
    data_dir, env = initialised.data_dir, initialised.env
    before = _state(data_dir)
    second = run_certrepo("init", "--data-dir", str(data_dir), "--json", env=env)
    human = run_certrepo("init", "--data-dir", str(data_dir), env=env)
    assert second.returncode == 0 and human.returncode == 0, second.stderr + human.stderr
    assert "nothing changed" in json.loads(second.stdout)["message"]
    assert "access_key_secret" not in json.loads(second.stdout)
    assert "nothing changed" in human.stdout
    assert _state(data_dir) == before


def test_init_without_json_shows_the_credentials_once_for_people(tmp_path: Path) -> None:
    result = run_certrepo("init", "--data-dir", str(tmp_path / "data"), env=clean_env())
    assert result.returncode == 0, result.stderr
    client = json.loads((tmp_path / "data" / "client.json").read_text())
    assert client["access_key_id"] in result.stdout and client["access_key_secret"] in result.stdout
    assert "admin password" in result.stdout and "/console" in result.stdout


# --- the repository lifecycle through the CLI --------------------------------------------------------


def test_repo_create_then_show_with_json(served: Served) -> None:
    created = served.cli_json("repo", "create", "--data-source", "uploaded", "--name", "alpha")
    shown = served.cli_json("repo", "show", str(created["id"]))
    assert created["status"] == "enabled" and created["name"] == "alpha"
    assert shown == created


def test_repo_list_prints_a_table_for_people_and_json_for_scripts(served: Served) -> None:
    created = served.cli_json("repo", "create", "--data-source", "uploaded_ca", "--name", "table-me")
    table = served.cli("repo", "list", "--name", "table-me")
    listed = served.cli_json("repo", "list", "--name", "table-me")
    assert table.returncode == 0, table.stderr
    assert "instance_id" in table.stdout and "data_source" in table.stdout
    assert created["instance_id"] in table.stdout and "uploaded_ca" in table.stdout
    assert [r["id"] for r in listed] == [created["id"]]


def test_repo_show_without_json_prints_fields_for_people(served: Served) -> None:
    created = served.cli_json("repo", "create", "--data-source", "uploaded", "--name", "people")
    result = served.cli("repo", "show", str(created["id"]))
    assert result.returncode == 0, result.stderr
    assert f"instance_id: {created['instance_id']}" in result.stdout and "name: people" in result.stdout


def test_repo_rename_reset_enable_reset_delete(served: Served) -> None:
    rid = str(served.cli_json("repo", "create", "--data-source", "uploaded")["id"])
    assert served.cli_json("repo", "rename", rid, "billing")["name"] == "billing"
    reset = served.cli_json("repo", "reset", rid, "--i-understand-the-risks")
    assert reset["status"] == "reset" and reset["data_source"] is None
    enabled = served.cli_json("repo", "enable", rid, "--data-source", "uploaded_ca")
    assert enabled["status"] == "enabled" and enabled["data_source"] == "uploaded_ca"
    served.cli_json("repo", "reset", rid, "--i-understand-the-risks")
    assert served.cli_json("repo", "delete", rid) == {"deleted": int(rid)}
    gone = served.cli("repo", "show", rid)
    assert gone.returncode == 1 and "NotFound.Repository" in gone.stderr


def test_repo_reset_without_the_risk_flag_fails_clearly_and_changes_nothing(served: Served) -> None:
    rid = str(served.cli_json("repo", "create", "--data-source", "uploaded")["id"])
    result = served.cli("repo", "reset", rid)
    assert result.returncode != 0
    assert "ConfirmationRequired" in result.stderr and "--i-understand-the-risks" in result.stderr
    assert result.stdout == ""
    assert served.cli_json("repo", "show", rid)["status"] == "enabled"


def test_repo_delete_before_reset_fails_with_the_rule(served: Served) -> None:
    rid = str(served.cli_json("repo", "create", "--data-source", "uploaded")["id"])
    result = served.cli("repo", "delete", rid)
    assert result.returncode == 1 and "RepositoryNotReset" in result.stderr
    assert served.cli_json("repo", "show", rid)["status"] == "enabled"


def test_repo_rename_to_a_bad_name_says_what_is_wrong(served: Served) -> None:
    rid = str(served.cli_json("repo", "create", "--data-source", "uploaded")["id"])
    result = served.cli("repo", "rename", rid, "x" * 65)
    assert result.returncode == 1 and "InvalidParameter" in result.stderr and "65 characters" in result.stderr


# --- credentials ------------------------------------------------------------------------------------


def test_credentials_can_come_from_the_environment_alone(served: Served, tmp_path: Path) -> None:
    env = {
        **served.env,
        "CERTREPO_URL": served.base_url,
        "CERTREPO_ACCESS_KEY_ID": served.credentials["access_key_id"],
        "CERTREPO_ACCESS_KEY_SECRET": served.credentials["access_key_secret"],
    }
    # An empty working directory and no --data-dir: there is no client.json to fall back to.
    created = run_certrepo(
        "--json", "repo", "create", "--data-source", "uploaded", "--name", "env", env=env, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "env"


def test_environment_credentials_take_precedence_over_client_json(served: Served) -> None:
    env = {**served.env, "CERTREPO_ACCESS_KEY_SECRET": "not-the-secret"}
    result = run_certrepo("--data-dir", str(served.data_dir), "repo", "list", env=env)
    assert result.returncode == 1 and "SignatureDoesNotMatch" in result.stderr
    assert "not-the-secret" not in result.stderr


def test_without_any_credentials_the_cli_says_how_to_get_them(served: Served, tmp_path: Path) -> None:
    result = run_certrepo("repo", "list", env=served.env, cwd=tmp_path)
    assert result.returncode == 2
    assert "CERTREPO_ACCESS_KEY_ID" in result.stderr and "certrepo init" in result.stderr


def test_an_unreachable_server_is_a_clear_error(served: Served, tmp_path: Path) -> None:
    env = {**served.env, "CERTREPO_URL": "http://127.0.0.1:9"}
    result = run_certrepo("--data-dir", str(served.data_dir), "repo", "list", env=env)
    assert result.returncode == 2 and "cannot reach the server" in result.stderr


# --- the README's curl example ----------------------------------------------------------------------


def test_curl_creates_a_repository_with_the_printed_key(served: Served) -> None:
    key = f"{served.credentials['access_key_id']}:{served.credentials['access_key_secret']}"
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            f"{served.base_url}/v1/repositories",
            "-H",
            f"Authorization: Bearer {key}",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"name":"demo","data_source":"uploaded"}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["name"] == "demo" and created["status"] == "enabled"
    assert served.cli_json("repo", "show", str(created["id"]))["name"] == "demo"


# --- audit verify -----------------------------------------------------------------------------------


def test_audit_verify_says_the_chain_is_intact(served: Served) -> None:
    served.cli_json("repo", "create", "--data-source", "uploaded")
    result = served.cli("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


def _with_events(server: Served, count: int) -> None:
    for _ in range(count):
        server.cli_json("repo", "create", "--data-source", "uploaded")


def _execute(database: Path, sql: str) -> None:
    connection = sqlite3.connect(database)
    try:
        with connection:
            assert connection.execute(sql).rowcount == 1
    finally:
        connection.close()


def test_audit_verify_names_an_edited_event(fresh_server: Served) -> None:
    _with_events(fresh_server, 3)
    assert fresh_server.cli("audit", "verify").returncode == 0
    _execute(fresh_server.database, "UPDATE audit_events SET action='x' WHERE sequence=2")
    human = fresh_server.cli("audit", "verify")
    report = fresh_server.cli("--json", "audit", "verify")
    assert human.returncode == 1 and "broken" in human.stdout and "event 2" in human.stdout
    assert report.returncode == 1
    assert (
        json.loads(report.stdout)["intact"] is False
        and json.loads(report.stdout)["first_broken_sequence"] == 2
    )


def test_audit_verify_notices_a_deleted_last_event(fresh_server: Served) -> None:
    _with_events(fresh_server, 2)
    _execute(
        fresh_server.database,
        "DELETE FROM audit_events WHERE sequence=(SELECT MAX(sequence) FROM audit_events)",
    )
    result = fresh_server.cli("--json", "audit", "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["intact"] is False


@pytest.mark.parametrize("command", [["repo", "--help"], ["audit", "--help"], ["--help"]], ids=str)
def test_help_lists_the_commands(command: list[str]) -> None:
    result = run_certrepo(*command, env=clean_env())
    assert result.returncode == 0 and "Usage" in result.stdout


def test_serve_check_cluster_says_ready_on_a_sound_node_and_why_not_on_a_misconfigured_one(tmp_path: Path) -> None:
    data_dir, env = tmp_path / "data", clean_env()
    assert run_certrepo("init", "--json", "--data-dir", str(data_dir), env=env).returncode == 0
    sound = run_certrepo("--json", "serve", "--check-cluster", "--data-dir", str(data_dir), env=env)
    assert sound.returncode == 0, sound.stderr
    assert json.loads(sound.stdout)["ready"] is True
    # Another cluster's master key file on this node: stored secrets no longer open.
    other = tmp_path / "other"
    assert run_certrepo("init", "--json", "--data-dir", str(other), env=env).returncode == 0
    (data_dir / "master.key").write_bytes((other / "master.key").read_bytes())
    broken = run_certrepo("serve", "--check-cluster", "--data-dir", str(data_dir), env=env)
    assert broken.returncode == 1
    assert "master key cannot open stored secrets" in broken.stdout
