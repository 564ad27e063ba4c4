"""Envelope encryption (SPEC §4): AES-256-GCM data key per secret, wrapped by a versioned master key.

The master keyring lives in a file (``master.key``, mode 0600) holding every version still needed. Rotation
(`certrepo keys rotate-master`) appends a version and rewraps each data key; a running server that meets a
version it does not know reloads the file, so rotation needs no downtime. EnvelopeSealer is the part every
keystore shares (the data key and its AES-256-GCM encryption, in software); keystore/pkcs11.py wraps the data
key inside an HSM instead.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .base import SealedSecret

__all__ = ["EnvelopeKeystore", "EnvelopeSealer", "KeystoreError", "MasterKeyFile", "MasterKeyring"]

_KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAP_AAD = b"certrepo:data-key"


class KeystoreError(Exception):
    """A sealed secret cannot be opened: altered data or a missing master key version. A server fault."""


@dataclass(frozen=True)
class MasterKeyring:
    current: int
    keys: dict[int, bytes]

    def __repr__(self) -> str:
        return f"MasterKeyring(current={self.current}, versions={sorted(self.keys)})"

    def rotated(self) -> MasterKeyring:
        version = max(self.keys) + 1
        return MasterKeyring(current=version, keys={**self.keys, version: os.urandom(_KEY_BYTES)})

    def dumps(self) -> bytes:
        body = {
            "current": self.current,
            "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(self.keys.items())},
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def loads(cls, raw: bytes) -> MasterKeyring:
        body = json.loads(raw)
        keys = {int(v): base64.b64decode(k) for v, k in body["keys"].items()}
        if body["current"] not in keys or any(len(k) != _KEY_BYTES for k in keys.values()):
            raise KeystoreError("master key file is malformed")
        return cls(current=int(body["current"]), keys=keys)

    @classmethod
    def generate(cls) -> MasterKeyring:
        return cls(current=1, keys={1: os.urandom(_KEY_BYTES)})


class MasterKeyFile:
    """The keyring on disk. Writes are atomic (temp file + rename) and mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> MasterKeyring:
        return MasterKeyring.loads(self.path.read_bytes())

    def write(self, keyring: MasterKeyring) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(keyring.dumps())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


class EnvelopeSealer(ABC):
    """The software half every keystore shares: a fresh AES-256-GCM data key per secret, ``purpose`` bound
    as associated data. Subclasses only wrap and unwrap the 32-byte data key under a master key version
    (in memory for EnvelopeKeystore, inside the HSM for Pkcs11Keystore)."""

    WRAP_AAD: ClassVar[bytes] = _WRAP_AAD  # associated data of every wrapped data key
    NONCE_BYTES: ClassVar[int] = _NONCE_BYTES

    @property
    @abstractmethod
    def current_version(self) -> int: ...

    @abstractmethod
    def _wrap(self, data_key: bytes, version: int) -> tuple[bytes, bytes]:
        """(nonce, wrapped data key) under master key ``version``; raises KeystoreError."""

    @abstractmethod
    def _unwrap(self, sealed: SealedSecret) -> bytes:
        """The data key of ``sealed``; raises KeystoreError (failed authentication, unknown version)."""

    def seal(self, plaintext: bytes, *, purpose: str) -> SealedSecret:
        """Encrypt under a fresh data key wrapped by the current master key; raises KeystoreError."""
        version = self.current_version
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, purpose.encode())
        wrap_nonce, wrapped = self._wrap(data_key, version)
        return SealedSecret(ciphertext, nonce, wrapped, wrap_nonce, version)

    def open(self, sealed: SealedSecret, *, purpose: str) -> bytes:
        """Decrypt; raises KeystoreError if the secret was altered or its master key is unknown."""
        data_key = self._unwrap(sealed)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, purpose.encode())
        except InvalidTag as exc:
            raise KeystoreError("a stored secret failed authentication (altered or misfiled)") from exc

    def rewrap(self, sealed: SealedSecret) -> SealedSecret:
        """Re-wrap the data key under the current master key, the ciphertext unchanged; raises KeystoreError."""
        data_key = self._unwrap(sealed)
        version = self.current_version
        wrap_nonce, wrapped = self._wrap(data_key, version)
        return SealedSecret(sealed.ciphertext, sealed.nonce, wrapped, wrap_nonce, version)


class EnvelopeKeystore(EnvelopeSealer):
    """Keystore backed by a MasterKeyFile."""

    def __init__(self, key_file: MasterKeyFile) -> None:
        self._file = key_file
        self._lock = threading.Lock()
        self._keyring = key_file.read()

    @property
    def current_version(self) -> int:
        return self._keyring.current

    def reload(self) -> None:
        with self._lock:
            self._keyring = self._file.read()

    def add_master_version(self) -> int:
        """Rotate: append a new master key version to the file and make it current."""
        with self._lock:
            keyring = self._file.read().rotated()
            self._file.write(keyring)
            self._keyring = keyring
        return keyring.current

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for ``label`` (e.g. console session signing), the same on every node that
        shares the key file; it changes when the master key rotates."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"certrepo:{label}".encode())
        return hkdf.derive(self._master(self._keyring.current))

    def _master(self, version: int) -> bytes:
        key = self._keyring.keys.get(version)
        if key is None:
            self.reload()  # rotated by another process since we started
            key = self._keyring.keys.get(version)
        if key is None:
            raise KeystoreError(f"master key version {version} is not in the key file")
        return key

    def _wrap(self, data_key: bytes, version: int) -> tuple[bytes, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce, AESGCM(self._master(version)).encrypt(nonce, data_key, _WRAP_AAD)

    def _unwrap(self, sealed: SealedSecret) -> bytes:
        master = self._master(sealed.master_version)
        try:
            return AESGCM(master).decrypt(sealed.wrap_nonce, sealed.wrapped_key, _WRAP_AAD)
        except InvalidTag as exc:
            raise KeystoreError("a wrapped data key failed authentication") from exc
