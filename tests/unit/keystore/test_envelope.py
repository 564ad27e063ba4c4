"""Envelope encryption: per-secret data keys under a versioned master key, rotation without downtime."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from certrepo.keystore.envelope import EnvelopeKeystore, KeystoreError, MasterKeyFile, MasterKeyring


@pytest.fixture
def key_file(tmp_path: Path) -> MasterKeyFile:
    file = MasterKeyFile(tmp_path / "master.key")
    file.write(MasterKeyring.generate())
    return file


def test_the_key_file_is_readable_by_its_owner_only(key_file: MasterKeyFile) -> None:
    assert stat.S_IMODE(key_file.path.stat().st_mode) == 0o600


def test_a_sealed_secret_opens_to_the_plaintext_and_hides_it(key_file: MasterKeyFile) -> None:
    keystore = EnvelopeKeystore(key_file)
    sealed = keystore.seal(b"top secret value", purpose="test")
    assert b"top secret value" not in sealed.ciphertext and len(sealed.nonce) == 12
    assert keystore.open(sealed, purpose="test") == b"top secret value"
    assert "top secret" not in repr(sealed)


def test_each_secret_gets_its_own_data_key(key_file: MasterKeyFile) -> None:
    keystore = EnvelopeKeystore(key_file)
    first, second = keystore.seal(b"same", purpose="p"), keystore.seal(b"same", purpose="p")
    assert first.wrapped_key != second.wrapped_key and first.ciphertext != second.ciphertext


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "wrapped_key", "wrap_nonce"])
def test_an_altered_secret_does_not_open(key_file: MasterKeyFile, field: str) -> None:
    keystore = EnvelopeKeystore(key_file)
    sealed = keystore.seal(b"value", purpose="p")
    raw = bytearray(getattr(sealed, field))
    raw[0] ^= 1
    with pytest.raises(KeystoreError):
        keystore.open(dataclasses.replace(sealed, **{field: bytes(raw)}), purpose="p")


def test_a_secret_sealed_for_one_purpose_does_not_open_for_another(key_file: MasterKeyFile) -> None:
    keystore = EnvelopeKeystore(key_file)
    sealed = keystore.seal(b"value", purpose="access-key-secret")
    with pytest.raises(KeystoreError):
        keystore.open(sealed, purpose="private-key")


def test_rotation_rewraps_and_a_running_keystore_follows_without_restart(key_file: MasterKeyFile) -> None:
    running = EnvelopeKeystore(key_file)  # a server that started before the rotation
    old = running.seal(b"value", purpose="p")
    rotator = EnvelopeKeystore(key_file)
    version = rotator.add_master_version()
    rewrapped = rotator.rewrap(old)
    assert version == 2 and rewrapped.master_version == 2 and rewrapped.ciphertext == old.ciphertext
    assert running.open(rewrapped, purpose="p") == b"value"  # reloads the file on the unknown version
    assert running.open(old, purpose="p") == b"value"  # old versions stay until pruned


def test_an_unknown_master_version_is_a_clear_error(key_file: MasterKeyFile) -> None:
    keystore = EnvelopeKeystore(key_file)
    sealed = dataclasses.replace(keystore.seal(b"v", purpose="p"), master_version=9)
    with pytest.raises(KeystoreError, match="version 9"):
        keystore.open(sealed, purpose="p")
