from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import Unsupported
from certrepo.pki.keygen import KeyPool, PrivateKey, generate_private_key, key_family, signature_hash_for

# Real RSA keys for the slow sizes are made by the pool tests' fake generator instead.
_CHEAP = [
    (KeyAlgorithm.RSA_2048, rsa.RSAPrivateKey, 2048),
    (KeyAlgorithm.ECC_256, ec.EllipticCurvePrivateKey, 256),
    (KeyAlgorithm.ECC_384, ec.EllipticCurvePrivateKey, 384),
    (KeyAlgorithm.ECC_521, ec.EllipticCurvePrivateKey, 521),
    (KeyAlgorithm.ED25519, ed25519.Ed25519PrivateKey, None),
]


@pytest.mark.parametrize(("algorithm", "key_type", "bits"), _CHEAP, ids=[a.value for a, _, _ in _CHEAP])
def test_generated_key_has_the_requested_type_and_size(
    algorithm: KeyAlgorithm, key_type: type, bits: int | None
) -> None:
    key = generate_private_key(algorithm)

    assert isinstance(key, key_type)
    if bits is not None:
        assert not isinstance(key, ed25519.Ed25519PrivateKey)
        size = key.key_size if isinstance(key, rsa.RSAPrivateKey) else key.curve.key_size
        assert size == bits


@pytest.mark.parametrize(
    ("algorithm", "bits"), [(KeyAlgorithm.RSA_3072, 3072), (KeyAlgorithm.RSA_4096, 4096)]
)
def test_large_rsa_keys_have_the_requested_size_and_exponent_65537(
    algorithm: KeyAlgorithm, bits: int
) -> None:
    key = generate_private_key(algorithm)

    assert isinstance(key, rsa.RSAPrivateKey)
    assert (key.key_size, key.public_key().public_numbers().e) == (bits, 65537)


def test_key_family_names_the_families_of_key_algorithm() -> None:
    for algorithm in (KeyAlgorithm.RSA_2048, KeyAlgorithm.ECC_384, KeyAlgorithm.ED25519):
        key = generate_private_key(algorithm)
        assert key_family(key.public_key()) == algorithm.family


def test_key_family_refuses_an_unsupported_key_type() -> None:
    with pytest.raises(Unsupported, match="X25519"):
        key_family(x25519.X25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (KeyAlgorithm.ECC_256, hashes.SHA256),
        (KeyAlgorithm.ECC_384, hashes.SHA384),
        (KeyAlgorithm.ECC_521, hashes.SHA512),
        (KeyAlgorithm.RSA_2048, hashes.SHA256),
    ],
    ids=lambda v: getattr(v, "value", getattr(v, "name", "")),
)
def test_signature_hash_matches_the_key(algorithm: KeyAlgorithm, expected: type) -> None:
    assert isinstance(signature_hash_for(generate_private_key(algorithm)), expected)


def test_ed25519_signs_without_a_separate_hash() -> None:
    assert signature_hash_for(generate_private_key(KeyAlgorithm.ED25519)) is None


# --- KeyPool ------------------------------------------------------------------------------------------


class _CountingGenerator:
    """A fast stand-in for generate_private_key that records what it made (Ed25519 keys, any label)."""

    def __init__(self) -> None:
        self.made: list[tuple[KeyAlgorithm, PrivateKey]] = []
        self._lock = threading.Lock()

    def __call__(self, algorithm: KeyAlgorithm) -> PrivateKey:
        key = ed25519.Ed25519PrivateKey.generate()
        with self._lock:
            self.made.append((algorithm, key))
        return key


def test_a_new_pool_starts_no_thread_and_holds_no_keys() -> None:
    before = threading.active_count()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 3}, generate=_CountingGenerator())

    assert (threading.active_count(), pool.available(KeyAlgorithm.RSA_2048)) == (before, 0)


def test_take_from_an_empty_pool_generates_the_key_inline() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 3}, generate=generator)

    key = pool.take(KeyAlgorithm.RSA_2048)

    assert generator.made == [(KeyAlgorithm.RSA_2048, key)]


def test_take_hands_out_pooled_keys_once_each() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 2}, generate=generator)
    pool.fill_once()
    pool.fill_once()
    pooled = [key for _, key in generator.made]

    taken = [pool.take(KeyAlgorithm.RSA_2048), pool.take(KeyAlgorithm.RSA_2048)]

    assert taken == pooled
    assert pool.available(KeyAlgorithm.RSA_2048) == 0


def test_fill_once_tops_up_the_emptiest_algorithm_and_stops_when_full() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 2, KeyAlgorithm.RSA_4096: 1}, generate=generator)

    filled = [pool.fill_once() for _ in range(4)]

    assert filled == [KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_4096, KeyAlgorithm.RSA_2048, None]


def test_an_algorithm_without_a_size_is_never_pooled() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 1, KeyAlgorithm.ECC_256: 0}, generate=generator)
    pool.fill_once()

    pool.take(KeyAlgorithm.ECC_256)

    assert [algorithm for algorithm, _ in generator.made] == [KeyAlgorithm.RSA_2048, KeyAlgorithm.ECC_256]


def test_the_filler_thread_fills_the_pool_and_refills_after_a_take() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 3, KeyAlgorithm.ECC_384: 2}, generate=generator)
    pool.start()
    try:
        assert pool.wait_full(timeout_seconds=10)
        pool.take(KeyAlgorithm.RSA_2048)
        assert pool.wait_full(timeout_seconds=10)
        assert (pool.available(KeyAlgorithm.RSA_2048), pool.available(KeyAlgorithm.ECC_384)) == (3, 2)
        assert len(generator.made) == 6
    finally:
        pool.stop(timeout_seconds=10)


def test_stop_ends_the_filler_thread_and_drops_the_pooled_keys() -> None:
    pool = KeyPool({KeyAlgorithm.RSA_2048: 2}, generate=_CountingGenerator())
    pool.start()
    assert pool.wait_full(timeout_seconds=10)

    pool.stop(timeout_seconds=10)

    assert pool.available(KeyAlgorithm.RSA_2048) == 0
    assert not any(t.name == "certrepo-keypool" for t in threading.enumerate())


def test_starting_a_running_pool_twice_is_refused() -> None:
    pool = KeyPool({KeyAlgorithm.RSA_2048: 1}, generate=_CountingGenerator())
    pool.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            pool.start()
    finally:
        pool.stop(timeout_seconds=10)


def test_a_failing_generator_is_recorded_and_take_still_works_inline() -> None:
    calls = []

    def failing(algorithm: KeyAlgorithm) -> PrivateKey:
        calls.append(algorithm)
        if len(calls) == 1:
            raise OSError("entropy source gone")
        return ed25519.Ed25519PrivateKey.generate()

    pool = KeyPool({KeyAlgorithm.RSA_2048: 1}, generate=failing)
    pool.start()
    try:
        assert pool.wait_full(timeout_seconds=10)  # returns once the failure is recorded
        assert isinstance(pool.failure, OSError)
        assert isinstance(pool.take(KeyAlgorithm.RSA_2048), ed25519.Ed25519PrivateKey)
    finally:
        pool.stop(timeout_seconds=10)


@pytest.mark.parametrize(
    ("sizes", "error", "message"),
    [
        ({KeyAlgorithm.RSA_2048: -1}, ValueError, "must be >= 0"),
    ],
    ids=["negative size"],
)
def test_pool_sizes_are_validated(
    sizes: dict[KeyAlgorithm, int], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        KeyPool(sizes, generate=_CountingGenerator())


def test_concurrent_takes_never_hand_out_the_same_key_twice() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 50}, generate=generator)
    for _ in range(50):
        pool.fill_once()
    taken: list[PrivateKey] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            key = pool.take(KeyAlgorithm.RSA_2048)
            with lock:
                taken.append(key)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(key) for key in taken}) == 100


def test_an_on_demand_pool_keeps_an_algorithm_ready_only_after_its_first_take() -> None:
    generator = _CountingGenerator()
    pool = KeyPool({KeyAlgorithm.RSA_2048: 2, KeyAlgorithm.RSA_4096: 1}, generate=generator, on_demand=True)
    assert pool.fill_once() is None  # nothing wanted yet: nothing generated
    assert generator.made == []
    pool.take(KeyAlgorithm.RSA_2048)  # generated inline, and from now on kept ready
    while pool.fill_once() is not None:
        pass
    assert pool.available(KeyAlgorithm.RSA_2048) == 2
    assert pool.available(KeyAlgorithm.RSA_4096) == 0
