"""Private key generation for the private CA, and a small pool of pre-generated keys.

Keys made here live only in process memory: the caller hands a new key to the keystore, which stores it
encrypted (SPEC §4) before anything else sees it. Nothing here writes, logs or serialises a private key,
and the pool drops its keys on ``stop()`` (Python cannot wipe the memory of a key object; dropping the
last reference is the best it can do).

RSA generation is slow (about 16 RSA-2048 keys per second on the reference machine, far less for 4096),
so ``KeyPool`` keeps a few keys ready, filled by one background daemon thread. EC, Ed25519 and SM2 keys
take microseconds and need no pool, though one may be configured. SM2 keys are the value types of
``crypto/sm2.py`` (through ``pki/sm2.py``): cryptography has no SM2 curve; generating one needs gmssl-pyx.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import Unsupported
from certrepo.pki.sm2 import SM2PrivateKey, SM2PublicKey, generate_sm2_private_key

__all__ = [
    "DEFAULT_POOL_SIZES",
    "KeyPool",
    "PrivateKey",
    "PublicKey",
    "SignatureHash",
    "generate_private_key",
    "key_family",
    "signature_hash_for",
]

PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | SM2PrivateKey
)
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | SM2PublicKey
SignatureHash: TypeAlias = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

# RFC 4055 / NIST SP 800-131A: e = 65537 is the only public exponent anyone should generate.
_RSA_PUBLIC_EXPONENT = 65537

_RSA_BITS = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_EC_CURVES: dict[KeyAlgorithm, Callable[[], ec.EllipticCurve]] = {
    KeyAlgorithm.ECC_256: ec.SECP256R1,
    KeyAlgorithm.ECC_384: ec.SECP384R1,
    KeyAlgorithm.ECC_521: ec.SECP521R1,
}

# Only RSA is slow enough to be worth pooling by default (sizes are keys kept ready per algorithm).
DEFAULT_POOL_SIZES: Mapping[KeyAlgorithm, int] = {
    KeyAlgorithm.RSA_2048: 8,
    KeyAlgorithm.RSA_3072: 2,
    KeyAlgorithm.RSA_4096: 1,
}


def generate_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """Generate a new private key of ``algorithm``. Raises Unsupported (SM2 without gmssl-pyx)."""
    if algorithm in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS[algorithm])
    if algorithm in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[algorithm]())
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm is KeyAlgorithm.SM2_256:
        return generate_sm2_private_key()
    raise Unsupported(f"key algorithm {algorithm.value} is not supported for generated keys")


def key_family(public_key: object) -> str:
    """``RSA``, ``EC``, ``ED25519`` or ``SM2`` (the values of ``KeyAlgorithm.family``). Raises Unsupported."""
    if isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "EC"
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(public_key, SM2PublicKey | SM2PrivateKey):
        return "SM2"
    raise Unsupported(f"{_key_type_name(public_key)} keys are not supported (RSA, EC, Ed25519 or SM2 only)")


def signature_hash_for(private_key: PrivateKey) -> SignatureHash | None:
    """Hash a CA key signs with: SHA-256 for RSA and P-256, SHA-384 for P-384, SHA-512 for P-521.

    Ed25519 hashes internally (None). Raises Unsupported for SM2 keys (SM3withSM2 is signed through
    ``pki/sm2.py``, not cryptography's builders) and other keys.
    """
    if isinstance(private_key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        # The hash matches the curve's security level, as RFC 5480 §4 recommends.
        if private_key.curve.key_size >= 521:
            return hashes.SHA512()
        if private_key.curve.key_size >= 384:
            return hashes.SHA384()
        return hashes.SHA256()
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return None
    raise Unsupported(f"{_key_type_name(private_key)} keys cannot sign certificates here")


def _key_type_name(key: object) -> str:
    return type(key).__name__.removeprefix("_").replace("PublicKey", "").replace("PrivateKey", "")


class KeyPool:
    """A bounded, thread-safe pool of pre-generated private keys, per algorithm.

    ``sizes`` says how many keys to keep ready per algorithm; an algorithm with no size (or 0) is never
    pooled. One daemon thread, started by ``start()`` and ended by ``stop()``, refills the pool;
    ``take()`` never waits for it: an empty pool generates the key inline. Constructing a pool starts
    nothing. The generator is injectable so that tests need not make real RSA keys.

    ``on_demand``: an algorithm is kept ready only after its first ``take()``. A server that never issues
    with generated RSA-4096 keys then never spends the seconds of CPU making them; every worker process
    of every node would otherwise pay them at start.
    """

    def __init__(
        self,
        sizes: Mapping[KeyAlgorithm, int] = DEFAULT_POOL_SIZES,
        *,
        generate: Callable[[KeyAlgorithm], PrivateKey] = generate_private_key,
        on_demand: bool = False,
    ) -> None:
        for algorithm, size in sizes.items():
            if size < 0:
                raise ValueError(f"pool size for {algorithm.value} must be >= 0, got {size}")
        self._sizes = {algorithm: size for algorithm, size in sizes.items() if size > 0}
        self._generate = generate
        self._keys: dict[KeyAlgorithm, deque[PrivateKey]] = {a: deque() for a in self._sizes}
        self._wanted: set[KeyAlgorithm] = set() if on_demand else set(self._sizes)
        # One condition guards the pool; it wakes the filler (a key was taken, or stop) and anybody
        # waiting in wait_full (a key was added).
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.failure: Exception | None = None

    def take(self, algorithm: KeyAlgorithm) -> PrivateKey:
        """A fresh key of ``algorithm``, from the pool or generated now. Raises Unsupported (SM2 without
        gmssl-pyx).

        Each key is handed out once: it leaves the pool when taken.
        """
        with self._changed:
            if algorithm in self._sizes and algorithm not in self._wanted:
                self._wanted.add(algorithm)
                self._changed.notify_all()  # the filler starts on it
            ready = self._keys.get(algorithm)
            if ready:
                key = ready.popleft()
                self._changed.notify_all()
                return key
        return self._generate(algorithm)

    def available(self, algorithm: KeyAlgorithm) -> int:
        """How many keys of ``algorithm`` are ready now."""
        with self._changed:
            return len(self._keys.get(algorithm, ()))

    def start(self) -> None:
        """Start the filler thread (once). Raises RuntimeError when it is already running."""
        with self._changed:
            if self._thread is not None:
                raise RuntimeError("the key pool is already started")
            self._stopping = False
            self._thread = threading.Thread(target=self._fill_forever, name="certrepo-keypool", daemon=True)
            self._thread.start()

    def stop(self, timeout_seconds: float | None = None) -> None:
        """Stop the filler thread, wait for it (a key being generated is finished first), drop keys."""
        with self._changed:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._changed.notify_all()
        if thread is not None:
            thread.join(timeout_seconds)
        with self._changed:
            for ready in self._keys.values():
                ready.clear()

    def wait_full(self, timeout_seconds: float) -> bool:
        """Block until every pooled algorithm is full (or the filler failed); False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.failure is not None or self._is_full(), timeout_seconds
            )

    def fill_once(self) -> KeyAlgorithm | None:
        """Generate one key for the emptiest algorithm, if any needs one; returns that algorithm."""
        with self._changed:
            algorithm = self._most_needed()
        if algorithm is None:
            return None
        key = self._generate(algorithm)  # outside the lock: take() must not wait for a slow RSA key
        with self._changed:
            ready = self._keys[algorithm]
            if len(ready) < self._sizes[algorithm] and not self._stopping:
                ready.append(key)
            self._changed.notify_all()
        return algorithm

    def _fill_forever(self) -> None:
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._stopping or not self._is_full())
                    if self._stopping:
                        return
                self.fill_once()
        # A failing generator must not kill the filler unnoticed; take() still works inline.
        except Exception as exc:  # noqa: BLE001 - recorded in .failure and reported by wait_full
            with self._changed:
                self.failure = exc
                self._changed.notify_all()

    def _is_full(self) -> bool:
        return all(len(self._keys[a]) >= self._sizes[a] for a in self._wanted)

    def _most_needed(self) -> KeyAlgorithm | None:
        # The algorithm furthest below its size, relative to that size, so that a burst on one
        # algorithm does not starve the others.
        best: KeyAlgorithm | None = None
        best_fill = 1.0
        for algorithm, size in self._sizes.items():
            if algorithm not in self._wanted:
                continue
            fill = len(self._keys[algorithm]) / size
            if fill < best_fill:
                best, best_fill = algorithm, fill
        return best
