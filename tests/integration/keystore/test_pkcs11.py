"""The PKCS#11 keystore against SoftHSM2: master keys that never leave the token, rotation, several nodes.

SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised in a process, and sees only the tokens
that exist then: the module fixture creates every token this file uses in its own token directory before the
first connect, and sets SOFTHSM2_CONF for this process and the "other node" subprocesses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, MechanismFlag
from pkcs11.exceptions import AttributeSensitive, PKCS11Error
from pydantic import SecretStr
from tests.conftest import skip_or_fail

from certrepo.app import build_services, prepare_storage
from certrepo.config import Settings
from certrepo.domain.secrets import Secret
from certrepo.keystore.base import SealedSecret
from certrepo.keystore.envelope import KeystoreError
from certrepo.keystore.pkcs11 import MASTER_LABEL, Pkcs11Keystore
from certrepo.services.accounts import bootstrap
from certrepo.services.auth import authenticate_bearer
from certrepo.services.keys import rotate_master_key

_MODULES = (Path("/usr/lib/softhsm/libsofthsm2.so"), Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"))
PIN = "4711-user"  # throwaway tokens in a temp dir
SO_PIN = "4711-security-officer"
TOKENS = ("certrepo-a", "certrepo-nodes", "certrepo-services", "certrepo-cold", "certrepo-tampered")


@dataclass(frozen=True)
class Hsm:
    module: Path

    def connect(self, token: str, pin: str = PIN) -> Pkcs11Keystore:
        return Pkcs11Keystore.connect(self.module, token, Secret(pin.encode()))

    def session(self, token: str) -> pkcs11.Session:
        """A second session of this process: it shares the keystore's login (login is per application)."""
        return pkcs11.lib(str(self.module)).get_token(token_label=token).open(rw=True)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    util = shutil.which("softhsm2-util")
    module = next((path for path in _MODULES if path.exists()), None)
    if util is None or module is None:
        skip_or_fail("SoftHSM2 (softhsm2-util, libsofthsm2.so) is not installed: apt-get install softhsm2")
    assert util is not None and module is not None
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    for label in TOKENS:
        command = [util, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        yield Hsm(module)


# --- another node: a separate process with its own module, session and login ------------------------------

_NODE = """
import dataclasses, json, sys
from pathlib import Path
from certrepo.domain.secrets import Secret
from certrepo.keystore.base import SealedSecret
from certrepo.keystore.pkcs11 import Pkcs11Keystore

job = json.load(sys.stdin)
keystore = Pkcs11Keystore.connect(Path(job["module"]), job["token"], Secret(job["pin"].encode()))
dump = lambda s: {k: v.hex() if isinstance(v, bytes) else v for k, v in dataclasses.asdict(s).items()}
sealed = SealedSecret(**{k: bytes.fromhex(v) if isinstance(v, str) else v for k, v in job["sealed"].items()})
out = {"opened": keystore.open(sealed, purpose="p").hex(), "derived": keystore.derive_key("console").hex()}
if job["rotate"]:
    out["version"] = keystore.add_master_version()
    out["rewrapped"] = dump(keystore.rewrap(sealed))
    out["sealed"] = dump(keystore.seal(b"sealed by node b", purpose="p"))
json.dump(out, sys.stdout)
"""


def _dump(sealed: SealedSecret) -> dict[str, Any]:
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in dataclasses.asdict(sealed).items()}


def _load(raw: dict[str, Any]) -> SealedSecret:
    ciphertext, nonce, wrapped_key, wrap_nonce = (
        bytes.fromhex(raw[name]) for name in ("ciphertext", "nonce", "wrapped_key", "wrap_nonce")
    )
    return SealedSecret(ciphertext, nonce, wrapped_key, wrap_nonce, int(raw["master_version"]))


def _other_node(hsm: Hsm, sealed: SealedSecret, *, rotate: bool = False) -> dict[str, Any]:
    job = {
        "module": str(hsm.module),
        "token": "certrepo-nodes",
        "pin": PIN,
        "sealed": _dump(sealed),
        "rotate": rotate,
    }
    done = subprocess.run(
        [sys.executable, "-c", _NODE],
        check=False,
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- one node ----------------------------------------------------------------------------------------------


def test_a_secret_sealed_through_the_hsm_opens_to_its_plaintext(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-a")
    sealed = keystore.seal(b"top secret value", purpose="p")
    assert b"top secret value" not in sealed.ciphertext + sealed.wrapped_key
    assert len(sealed.wrapped_key) == 32 + 16  # the data key and the GCM tag computed in the token
    assert keystore.open(sealed, purpose="p") == b"top secret value"


@pytest.mark.parametrize("label", ["certrepo-master-v1", "certrepo-derive-v1"], ids=["master", "derive"])
def test_a_key_in_the_token_cannot_be_read_out(hsm: Hsm, label: str) -> None:
    hsm.connect("certrepo-a")
    key = hsm.session("certrepo-a").get_key(label=label)
    with pytest.raises(AttributeSensitive):
        key[Attribute.VALUE]
    assert key[Attribute.NEVER_EXTRACTABLE] and not key[Attribute.EXTRACTABLE]


def test_a_key_in_the_token_cannot_be_made_extractable(hsm: Hsm) -> None:
    hsm.connect("certrepo-a")
    key = hsm.session("certrepo-a").get_key(label=MASTER_LABEL.format(1))
    with pytest.raises(PKCS11Error):
        key[Attribute.EXTRACTABLE] = True
    assert not key[Attribute.EXTRACTABLE]


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_key", "wrap_nonce"])
def test_an_altered_secret_is_refused(hsm: Hsm, field: str) -> None:
    keystore = hsm.connect("certrepo-a")
    sealed = keystore.seal(b"value", purpose="p")
    raw = bytearray(getattr(sealed, field))
    raw[-1] ^= 1
    with pytest.raises(KeystoreError, match="failed authentication"):
        keystore.open(dataclasses.replace(sealed, **{field: bytes(raw)}), purpose="p")


def test_a_secret_sealed_for_one_purpose_does_not_open_for_another(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-a")
    sealed = keystore.seal(b"value", purpose="access-key-secret")
    with pytest.raises(KeystoreError):
        keystore.open(sealed, purpose="private-key")


def test_an_unknown_master_version_is_a_clear_error(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-a")
    sealed = dataclasses.replace(keystore.seal(b"v", purpose="p"), master_version=99)
    with pytest.raises(KeystoreError, match="version 99 is not in PKCS#11 token 'certrepo-a'"):
        keystore.open(sealed, purpose="p")


def test_a_derived_key_is_stable_and_bound_to_its_label(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-a")
    first = keystore.derive_key("console-session")
    assert len(first) == 32 and first == hsm.connect("certrepo-a").derive_key("console-session")
    assert keystore.derive_key("another-purpose") != first


def test_a_master_key_that_could_leave_the_token_is_refused(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-tampered")
    hsm.session("certrepo-tampered").generate_key(
        KeyType.AES,
        256,
        label=MASTER_LABEL.format(keystore.current_version + 1),
        store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
    )
    with pytest.raises(KeystoreError, match="extractable or not sensitive"):
        keystore.reload()


# --- startup errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["certrepo-cold", "certrepo-a"],
    ids=["token-not-yet-logged-in", "token-logged-in-by-this-process"],
)
def test_a_wrong_pin_is_a_clear_startup_error(hsm: Hsm, tmp_path: Path, token: str) -> None:
    if token == "certrepo-a":
        hsm.connect(token)  # another keystore of the process holds the login: the PIN is still checked
    settings = Settings(
        data_dir=tmp_path,
        keystore="pkcs11",
        pkcs11_module=hsm.module,
        pkcs11_token_label=token,
        pkcs11_pin=SecretStr("wrong-pin-0000"),
    )
    with pytest.raises(
        KeystoreError, match=f"token '{token}' refused the PIN: CERTREPO_PKCS11_PIN"
    ) as caught:
        build_services(settings)
    assert "wrong-pin-0000" not in str(caught.value)


@pytest.mark.parametrize(
    ("module", "token", "message"),
    [
        (None, "no-such-token", "no PKCS#11 token labelled 'no-such-token'"),
        (Path("/nonexistent/libpkcs11.so"), "certrepo-a", "cannot load the PKCS#11 module"),
    ],
    ids=["unknown-token", "missing-module"],
)
def test_a_misconfigured_hsm_is_a_clear_startup_error(
    hsm: Hsm, module: Path | None, token: str, message: str
) -> None:
    with pytest.raises(KeystoreError, match=message):
        Pkcs11Keystore.connect(module or hsm.module, token, Secret(PIN.encode()))


# --- several nodes, rotation -------------------------------------------------------------------------------


def test_another_node_opens_what_this_one_sealed_and_derives_the_same_keys(hsm: Hsm) -> None:
    keystore = hsm.connect("certrepo-nodes")
    sealed = keystore.seal(b"shared across nodes", purpose="p")
    result = _other_node(hsm, sealed)
    assert bytes.fromhex(result["opened"]) == b"shared across nodes"
    assert bytes.fromhex(result["derived"]) == keystore.derive_key("console")


def test_a_running_node_follows_a_rotation_made_by_another_without_restart(hsm: Hsm) -> None:
    running = hsm.connect("certrepo-nodes")
    before = running.current_version
    old = running.seal(b"sealed before rotation", purpose="p")
    result = _other_node(hsm, old, rotate=True)
    rewrapped, new = _load(result["rewrapped"]), _load(result["sealed"])
    assert result["version"] == before + 1 == rewrapped.master_version == new.master_version
    assert rewrapped.ciphertext == old.ciphertext and rewrapped.wrapped_key != old.wrapped_key
    assert running.open(rewrapped, purpose="p") == b"sealed before rotation"  # re-reads the token
    assert running.open(new, purpose="p") == b"sealed by node b"
    assert running.open(old, purpose="p") == b"sealed before rotation"  # old versions stay in the token


async def test_rotation_adds_version_2_in_the_token_and_rewraps_every_data_key(
    hsm: Hsm, tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "certrepo.db")
    settings = Settings(
        data_dir=tmp_path,
        keystore="pkcs11",
        pkcs11_module=hsm.module,
        pkcs11_token_label="certrepo-services",
        pkcs11_pin=SecretStr(PIN),
    )
    prepare_storage(settings)
    services, keystore = build_services(settings)
    try:
        admin = await bootstrap(services)
        assert admin is not None and isinstance(keystore, Pkcs11Keystore) and keystore.current_version == 1
        async with services.uow(read_only=True) as uow:
            sealed_before = sum((await uow.key_material.count_by_version()).values())

        report = await rotate_master_key(services, keystore)

        assert report.new_version == 2 and report.rewrapped == sealed_before > 0
        async with services.uow(read_only=True) as uow:
            assert await uow.key_material.count_by_version() == {2: sealed_before}
        assert hsm.session("certrepo-services").get_key(label=MASTER_LABEL.format(2))
        key = admin.access_key
        principal = await authenticate_bearer(services, key.key.id, key.secret.reveal().decode())
        assert principal.user_id == admin.admin.id
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]
