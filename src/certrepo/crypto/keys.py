"""The key types crypto operations accept: loading stored keys, naming their family, a cache of loaded keys.

RSA, EC (P-256/384/521) and Ed25519 keys are cryptography objects; SM2 keys are the value types of
``crypto/sm2.py`` (cryptography has no SM2 curve). Everything here works without gmssl-pyx.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeAlias

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certrepo.crypto.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    load_sm2_private_key,
    load_sm2_public_key,
    sm2_public_key_from_spki,
)
from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import AlgorithmMismatch, InvalidInput, Unsupported

__all__ = [
    "KeyCache",
    "PrivateKey",
    "PublicKey",
    "algorithm_mismatch",
    "describe_key",
    "describe_key_with_article",
    "key_algorithm",
    "key_family",
    "load_public_key",
    "load_stored_private_key",
    "public_key_of_certificate",
]

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | SM2PublicKey
PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | SM2PrivateKey
)

_RSA_SIZES = {2048: KeyAlgorithm.RSA_2048, 3072: KeyAlgorithm.RSA_3072, 4096: KeyAlgorithm.RSA_4096}
_EC_CURVES = {
    "secp256r1": (KeyAlgorithm.ECC_256, "P-256"),
    "secp384r1": (KeyAlgorithm.ECC_384, "P-384"),
    "secp521r1": (KeyAlgorithm.ECC_521, "P-521"),
}


def key_family(key: object) -> str:
    """``RSA``, ``EC``, ``ED25519`` or ``SM2`` (``KeyAlgorithm.family`` values), public or private key.

    Raises Unsupported for any other key type.
    """
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "EC"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(key, SM2PublicKey | SM2PrivateKey):
        return "SM2"
    raise Unsupported(f"{describe_key(key)} keys are not supported (RSA, EC, Ed25519 or SM2 only)")


def key_algorithm(public_key: object) -> KeyAlgorithm:
    """The product's name for the key's type and size (``RSA_2048`` … ``SM2_256``). Raises Unsupported."""
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and public_key.key_size in _RSA_SIZES:
        return _RSA_SIZES[public_key.key_size]
    if (
        isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey)
        and public_key.curve.name in _EC_CURVES
    ):
        return _EC_CURVES[public_key.curve.name][0]
    family = key_family(public_key)  # Unsupported for a foreign key type
    if family == "ED25519":
        return KeyAlgorithm.ED25519
    if family == "SM2":
        return KeyAlgorithm.SM2_256
    raise Unsupported(
        f"{describe_key(public_key)} keys are not supported; key algorithms: {', '.join(KeyAlgorithm)}"
    )


def describe_key(key: object) -> str:
    """A short name for messages: ``RSA 2048-bit``, ``EC P-256``, ``Ed25519``, ``SM2``."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"EC {_EC_CURVES.get(key.curve.name, (None, key.curve.name))[1]}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, SM2PublicKey | SM2PrivateKey):
        return "SM2"
    return type(key).__name__.lstrip("_").replace("PublicKey", "").replace("PrivateKey", "") or "unknown"


def describe_key_with_article(key: object) -> str:
    """``an RSA 2048-bit key``, ``an EC P-256 key``, ``a DSA key``: the object of a sentence."""
    name = describe_key(key)
    # The indefinite article follows the sound: letters like R, S, E, F, H, L, M, N, X start with a vowel.
    article = "an" if name[:1].upper() in "AEFHILMNORSX" else "a"
    return f"{article} {name} key"


def algorithm_mismatch(algorithm_name: str, needs: str, key: object) -> AlgorithmMismatch:
    """The error for an algorithm used with a key it does not fit (the caller raises it)."""
    return AlgorithmMismatch(
        f"{algorithm_name} needs {needs}; this certificate has {describe_key_with_article(key)}",
        details={"algorithm": algorithm_name, "key": describe_key(key)},
    )


def load_stored_private_key(der: bytes) -> PrivateKey:
    """Load a stored private key (DER PKCS#8, as the keystore returns it). Raises InvalidInput, Unsupported."""
    try:
        # Skipping RSA key validation is safe here and only here: every stored key was validated
        # once, when it was uploaded or generated, and the check costs ~50 ms per RSA key load.
        key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except UnsupportedAlgorithm:
        # cryptography has no SM2 curve; the SM2 loader refuses any other curve with Unsupported.
        return load_sm2_private_key(der)
    except (ValueError, TypeError):
        raise InvalidInput("the stored private key is not an unencrypted DER PKCS#8 key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise Unsupported(f"{describe_key(key)} keys are not supported (RSA, EC, Ed25519 or SM2 only)")
    return key


def load_public_key(data: bytes) -> PublicKey:
    """Load a public key from a PEM or DER SubjectPublicKeyInfo. Raises InvalidInput, Unsupported."""
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm:
        return load_sm2_public_key(data)
    except ValueError:
        raise InvalidInput("the public key is not a PEM or DER SubjectPublicKeyInfo") from None
    return _supported_public_key(key)


def public_key_of_certificate(certificate: x509.Certificate) -> PublicKey:
    """The certificate's public key, SM2 included. Raises Unsupported for other key types."""
    try:
        return _supported_public_key(certificate.public_key())
    except UnsupportedAlgorithm:
        # Reading the SubjectPublicKeyInfo ourselves is the only way to an SM2 key.
        parsed = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        return sm2_public_key_from_spki(parsed["tbs_certificate"]["subject_public_key_info"].dump())


def _supported_public_key(key: object) -> PublicKey:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise Unsupported(f"{describe_key(key)} keys are not supported (RSA, EC, Ed25519 or SM2 only)")
    return key


class KeyCache:
    """A bounded, thread-safe LRU of loaded private keys, so a call need not unwrap and parse its key.

    The cache key must change whenever the stored key does (e.g. ``"{key_id}:{blob_version}"``), and a
    service looks the certificate up in the database before using the cache: a key destroyed by a
    reset on another node is then never reached through a stale entry. ``max_entries=0`` disables it.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self._max_entries = max_entries
        self._keys: OrderedDict[str, PrivateKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cache_key: str) -> PrivateKey | None:
        """The cached key, or None; a hit becomes the most recently used entry."""
        with self._lock:
            key = self._keys.get(cache_key)
            if key is not None:
                self._keys.move_to_end(cache_key)
            return key

    def put(self, cache_key: str, key: PrivateKey) -> None:
        """Cache ``key``, evicting the least recently used entry beyond ``max_entries``."""
        if self._max_entries == 0:
            return
        with self._lock:
            self._keys[cache_key] = key
            self._keys.move_to_end(cache_key)
            while len(self._keys) > self._max_entries:
                self._keys.popitem(last=False)

    def get_or_load(self, cache_key: str, load: Callable[[], PrivateKey]) -> PrivateKey:
        """The cached key, else ``load()`` (called outside the lock) cached and returned."""
        key = self.get(cache_key)
        if key is not None:
            return key
        # Loading decrypts and parses: done without the lock so other keys are not held up. Two
        # threads may load the same key at once; both results are equal, the second put wins.
        key = load()
        self.put(cache_key, key)
        return key

    def discard(self, cache_key: str) -> None:
        """Forget one entry (its key was reset, deleted or rewrapped)."""
        with self._lock:
            self._keys.pop(cache_key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._keys.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyCache(entries={len(self)}, max_entries={self._max_entries})"
