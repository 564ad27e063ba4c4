"""PKCS#11 keystore (SPEC §5): the master key versions live in an HSM and never leave it.

What the token holds, one pair per master version N (the highest N present is current)::

    certrepo-master-vN   AES-256, sensitive, not extractable, encrypt/decrypt only: wraps data keys
    certrepo-derive-vN   256-bit generic secret, sensitive, not extractable, sign only: derive_key (HMAC)

The data key per secret and its AES-256-GCM encryption stay in software (EnvelopeSealer, shared with the file
keystore); only the 32-byte data key goes into the HSM, to be wrapped with CKM_AES_GCM (random 96-bit IV,
fixed associated data). Rotation generates pair N+1 in the token, derive key first, so that a master key is
never visible without its partner; services.keys.rotate_master_key then rewraps every data key. A running
node that meets a version it has not seen re-reads the token, as EnvelopeKeystore re-reads its file.

PKCS#11 state is per process: C_Initialize reads the module's configuration once, and a login belongs to
the application, not to a session (a second C_Login fails with CKR_USER_ALREADY_LOGGED_IN). So every keystore
of a process shares one logged-in session per token, serialised by a lock. A process must not fork after
connecting (uvicorn spawns its workers, and each worker connects for itself).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from pathlib import Path
from typing import Any, cast

import pkcs11
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import (
    MultipleTokensReturned,
    NoSuchToken,
    PinIncorrect,
    PinLocked,
    PKCS11Error,
    UserAlreadyLoggedIn,
)
from pkcs11.types import DecryptMixin, EncryptMixin, Object, Session, SignMixin

from ..domain.secrets import Secret
from .base import SealedSecret
from .envelope import EnvelopeSealer, KeystoreError

__all__ = ["MASTER_LABEL", "Pkcs11Keystore"]

MASTER_LABEL = "certrepo-master-v{}"
_DERIVE_LABEL = "certrepo-derive-v{}"
_MASTER_RE = re.compile(r"certrepo-master-v([1-9][0-9]{0,8})")
_KEY_BITS = 256
_DATA_KEY_BYTES = 32


class _TokenSession:
    """The one logged-in session of a token in this process; the lock serialises every call on it."""

    def __init__(self, session: Session, pin_digest: bytes) -> None:
        self.session = session
        self.pin_digest = pin_digest
        self.lock = threading.RLock()


_sessions: dict[tuple[str, str], _TokenSession] = {}
_sessions_lock = threading.Lock()


def _token_session(module_path: Path, token_label: str, pin: Secret) -> _TokenSession:
    """The process's session of the token, logging in on first use; raises KeystoreError."""
    # Only a digest is kept, to refuse a later caller with another PIN (the token cannot be asked again
    # while logged in).
    digest = hashlib.sha256(pin.reveal()).digest()
    with _sessions_lock:
        shared = _sessions.get((str(module_path), token_label))
        if shared is None:
            shared = _TokenSession(_login(module_path, token_label, pin), digest)
            _sessions[(str(module_path), token_label)] = shared
        elif not hmac.compare_digest(shared.pin_digest, digest):
            raise KeystoreError(_pin_refused(token_label))
    return shared


def _pin_refused(token_label: str) -> str:
    return f"PKCS#11 token {token_label!r} refused the PIN: CERTREPO_PKCS11_PIN is wrong"


def _login(module_path: Path, token_label: str, pin: Secret) -> Session:
    """Load the module, find the token by label and log in as its user; raises KeystoreError."""
    try:
        lib = pkcs11.lib(str(module_path))
    except PKCS11Error as exc:  # the message is the loader's (file missing, not a PKCS#11 module)
        raise KeystoreError(f"cannot load the PKCS#11 module (CERTREPO_PKCS11_MODULE): {exc}") from exc
    try:
        token = lib.get_token(token_label=token_label)
    except NoSuchToken as exc:
        raise KeystoreError(
            f"no PKCS#11 token labelled {token_label!r} in {module_path} (CERTREPO_PKCS11_TOKEN_LABEL)"
        ) from exc
    except MultipleTokensReturned as exc:
        raise KeystoreError(f"several PKCS#11 tokens are labelled {token_label!r} in {module_path}") from exc
    try:
        return token.open(rw=True, user_pin=pin.reveal().decode())
    except PinIncorrect as exc:
        raise KeystoreError(_pin_refused(token_label)) from exc
    except PinLocked as exc:
        raise KeystoreError(f"PKCS#11 token {token_label!r} is locked: unlock its user PIN") from exc
    except UserAlreadyLoggedIn as exc:
        raise KeystoreError(
            f"PKCS#11 token {token_label!r} is already logged in by another component of this process"
        ) from exc
    except PKCS11Error as exc:
        raise KeystoreError(f"cannot log in to PKCS#11 token {token_label!r}: {type(exc).__name__}") from exc


class Pkcs11Keystore(EnvelopeSealer):
    """Keystore whose master keys are non-extractable AES keys in a PKCS#11 token."""

    def __init__(self, token: _TokenSession, token_label: str) -> None:
        self._token = token
        self._label = token_label
        self._masters: dict[int, Object] = {}
        self._derived: dict[tuple[int, str], bytes] = {}

    @classmethod
    def connect(cls, module_path: Path, token_label: str, pin: Secret) -> Pkcs11Keystore:
        """Log in to the token and read its master versions; an empty token gets version 1 (first start).
        Raises KeystoreError: module not loadable, no such token, wrong PIN, a malformed or
        extractable master key."""
        keystore = cls(_token_session(module_path, token_label, pin), token_label)
        keystore.reload()
        if not keystore._masters:
            keystore.add_master_version()
        return keystore

    @property
    def current_version(self) -> int:
        if not self._masters:
            raise KeystoreError(f"PKCS#11 token {self._label!r} holds no certrepo master key")
        return max(self._masters)

    def reload(self) -> None:
        """Re-read the master versions from the token (another node may have rotated); raises KeystoreError."""
        with self._token.lock:
            self._masters = self._find_masters()

    def add_master_version(self) -> int:
        """Rotate: generate master key version N+1 (and its derive key) in the token and make it current.
        Raises KeystoreError if the token cannot generate keys."""
        with self._token.lock:
            masters = self._find_masters()
            version = max(masters, default=0) + 1
            try:
                # A derive key left by an interrupted rotation is reused: no master key refers to it yet.
                if not self._find(_DERIVE_LABEL.format(version), KeyType.GENERIC_SECRET):
                    self._generate(KeyType.GENERIC_SECRET, _DERIVE_LABEL.format(version), MechanismFlag.SIGN)
                masters[version] = self._generate(
                    KeyType.AES, MASTER_LABEL.format(version), MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
                )
            except PKCS11Error as exc:
                raise KeystoreError(
                    f"PKCS#11 token {self._label!r} could not generate master key version {version}: "
                    f"{type(exc).__name__}"
                ) from exc
            self._masters = masters
        return version

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for ``label`` (e.g. console session signing): HMAC-SHA256 of the label computed in
        the token under the current derive key, so the same on every node; it changes with rotation.
        Raises KeystoreError if the derive key is missing or the token refuses."""
        version = self.current_version
        cached = self._derived.get((version, label))
        if cached is not None:
            return cached
        name = _DERIVE_LABEL.format(version)
        with self._token.lock:
            found = self._find(name, KeyType.GENERIC_SECRET)
            if len(found) != 1:
                raise KeystoreError(f"PKCS#11 token {self._label!r} has {len(found)} keys labelled {name}")
            try:
                signer = cast(SignMixin, found[0])
                derived = signer.sign(f"certrepo:{label}".encode(), mechanism=Mechanism.SHA256_HMAC)
            except PKCS11Error as exc:
                raise KeystoreError(
                    f"{name} cannot sign in token {self._label!r}: {type(exc).__name__}"
                ) from exc
        self._derived[(version, label)] = derived
        return derived

    def _wrap(self, data_key: bytes, version: int) -> tuple[bytes, bytes]:
        nonce = os.urandom(self.NONCE_BYTES)
        with self._token.lock:
            key = cast(EncryptMixin, self._master(version))
            try:
                wrapped = key.encrypt(data_key, mechanism=Mechanism.AES_GCM, mechanism_param=self._gcm(nonce))
            except PKCS11Error as exc:
                raise KeystoreError(
                    f"the HSM could not wrap a data key under master key version {version}: {type(exc).__name__}"
                ) from exc
        return nonce, cast(bytes, wrapped)

    def _unwrap(self, sealed: SealedSecret) -> bytes:
        with self._token.lock:
            key = cast(DecryptMixin, self._master(sealed.master_version))
            try:
                data_key = cast(
                    bytes,
                    key.decrypt(
                        sealed.wrapped_key,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=self._gcm(sealed.wrap_nonce),
                    ),
                )
            except PKCS11Error as exc:
                # Tokens report a GCM tag mismatch differently (SoftHSM2: CKR_GENERAL_ERROR; others
                # CKR_ENCRYPTED_DATA_INVALID), so every refusal is an authentication failure here.
                raise KeystoreError(
                    f"a wrapped data key failed authentication in the HSM (master key version "
                    f"{sealed.master_version}, {type(exc).__name__})"
                ) from exc
        if len(data_key) != _DATA_KEY_BYTES:
            raise KeystoreError(
                f"a wrapped data key under master key version {sealed.master_version} is malformed"
            )
        return data_key

    def _gcm(self, nonce: bytes) -> GCMParams:
        return GCMParams(nonce, self.WRAP_AAD)

    def _master(self, version: int) -> Object:
        key = self._masters.get(version)
        if key is None:
            self.reload()  # rotated by another node since we last looked
            key = self._masters.get(version)
        if key is None:
            raise KeystoreError(f"master key version {version} is not in PKCS#11 token {self._label!r}")
        return key

    def _find(self, label: str, key_type: KeyType) -> list[Object]:
        attrs = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: key_type,
            Attribute.LABEL: label,
        }
        return list(self._token.session.get_objects(attrs))

    def _find_masters(self) -> dict[int, Object]:
        """Every certrepo master key in the token by version; raises KeystoreError on a duplicate version
        or a key that could leave the token (imported by hand, say)."""
        attrs = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        try:
            found: dict[int, Object] = {}
            for key in self._token.session.get_objects(attrs):
                label = key[Attribute.LABEL]
                match = _MASTER_RE.fullmatch(label)
                if match is None:
                    continue  # another application's key
                version = int(match.group(1))
                if version in found:
                    raise KeystoreError(f"PKCS#11 token {self._label!r} has two keys labelled {label}")
                if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
                    raise KeystoreError(
                        f"{label} in PKCS#11 token {self._label!r} is extractable or not sensitive; "
                        "certrepo only uses master keys that cannot leave the token"
                    )
                found[version] = key
        except PKCS11Error as exc:
            raise KeystoreError(
                f"cannot list the keys of PKCS#11 token {self._label!r}: {type(exc).__name__}"
            ) from exc
        return found

    def _generate(self, key_type: KeyType, label: str, capabilities: MechanismFlag) -> Object:
        """A persistent, private, sensitive, non-extractable secret key that can do only ``capabilities``."""
        template: dict[Attribute, Any] = {
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.MODIFIABLE: False,
        }
        key = self._token.session.generate_key(
            key_type, _KEY_BITS, label=label, store=True, capabilities=capabilities, template=template
        )
        return cast(Object, key)
