"""Key families and names, loading stored keys (SM2 included), and the cache of loaded keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, x25519

from certrepo.crypto.keys import (
    KeyCache,
    PrivateKey,
    describe_key,
    key_algorithm,
    key_family,
    load_public_key,
    load_stored_private_key,
    public_key_of_certificate,
)
from certrepo.crypto.sm2 import SM2PrivateKey, load_sm2_public_key
from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import InvalidInput, Unsupported

if TYPE_CHECKING:
    from .conftest import KeyRing, Pki, Sm2Pem

KEY_FACTS = [
    # key name, family, KeyAlgorithm, description
    ("rsa2048", "RSA", KeyAlgorithm.RSA_2048, "RSA 2048-bit"),
    ("rsa3072", "RSA", KeyAlgorithm.RSA_3072, "RSA 3072-bit"),
    ("p256", "EC", KeyAlgorithm.ECC_256, "EC P-256"),
    ("p384", "EC", KeyAlgorithm.ECC_384, "EC P-384"),
    ("p521", "EC", KeyAlgorithm.ECC_521, "EC P-521"),
    ("ed25519", "ED25519", KeyAlgorithm.ED25519, "Ed25519"),
    ("sm2", "SM2", KeyAlgorithm.SM2_256, "SM2"),
]
KEY_IDS = [fact[0] for fact in KEY_FACTS]


@pytest.mark.parametrize(("key_name", "family", "algorithm", "description"), KEY_FACTS, ids=KEY_IDS)
def test_public_key_has_its_family_algorithm_and_description(
    key_ring: KeyRing, key_name: str, family: str, algorithm: KeyAlgorithm, description: str
) -> None:
    public_key = key_ring[key_name].public_key()
    assert (key_family(public_key), key_algorithm(public_key), describe_key(public_key)) == (
        family,
        algorithm,
        description,
    )


@pytest.mark.parametrize(("key_name", "family", "algorithm", "description"), KEY_FACTS, ids=KEY_IDS)
def test_key_family_of_a_private_key_is_that_of_its_public_key(
    key_ring: KeyRing, key_name: str, family: str, algorithm: KeyAlgorithm, description: str
) -> None:
    assert key_family(key_ring[key_name]) == family


@pytest.mark.parametrize(
    "make_key",
    [lambda: dsa.generate_private_key(2048), x25519.X25519PrivateKey.generate],
    ids=["dsa", "x25519"],
)
def test_foreign_key_types_are_unsupported(make_key: Callable[[], object]) -> None:
    with pytest.raises(Unsupported, match="RSA, EC, Ed25519 or SM2 only"):
        key_family(make_key())


@pytest.mark.parametrize("key_name", ["rsa1024", "secp256k1"])
def test_key_of_a_size_or_curve_without_a_product_name_is_unsupported(
    key_ring: KeyRing, key_name: str
) -> None:
    with pytest.raises(Unsupported, match="not supported"):
        key_algorithm(key_ring[key_name].public_key())


def _pkcs8(key: object) -> bytes:
    if isinstance(key, SM2PrivateKey):
        return key.private_bytes_der()
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("key_name", KEY_IDS)
def test_stored_private_key_loads_back_to_the_same_key(key_ring: KeyRing, key_name: str) -> None:
    key = key_ring[key_name]
    loaded = load_stored_private_key(_pkcs8(key))
    assert type(loaded.public_key()) is type(key.public_key())
    assert _pkcs8(loaded) == _pkcs8(key)


def test_stored_key_that_is_not_pkcs8_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not an unencrypted DER PKCS#8"):
        load_stored_private_key(b"\x30\x03\x02\x01\x00")


def test_encrypted_stored_key_is_invalid_input(key_ring: KeyRing) -> None:
    encrypted = key_ring["p256"].private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    with pytest.raises(InvalidInput):
        load_stored_private_key(encrypted)


def test_stored_dsa_key_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        load_stored_private_key(_pkcs8(dsa.generate_private_key(2048)))


@pytest.mark.parametrize(
    "encoding", [serialization.Encoding.PEM, serialization.Encoding.DER], ids=["pem", "der"]
)
def test_public_key_loads_from_pem_or_der(key_ring: KeyRing, encoding: serialization.Encoding) -> None:
    public_key = key_ring["p384"].public_key()
    data = public_key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[union-attr]
    assert load_public_key(data) == public_key


@pytest.mark.parametrize("pem", [True, False], ids=["pem", "der"])
def test_sm2_public_key_loads_through_the_same_function(sm2_pem: type[Sm2Pem], pem: bool) -> None:
    data = sm2_pem.spki if pem else load_sm2_public_key(sm2_pem.spki).public_bytes_der()
    assert load_public_key(data) == load_sm2_public_key(sm2_pem.spki)


def test_garbage_public_key_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        load_public_key(b"not a key")


def test_public_key_of_a_certificate_is_its_key(key_ring: KeyRing, pki: Pki) -> None:
    assert public_key_of_certificate(pki.leaf("rsa2048")) == key_ring["rsa2048"].public_key()


# --- KeyCache ---------------------------------------------------------------------------------------


@pytest.fixture
def some_keys(key_ring: KeyRing) -> list[PrivateKey]:
    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]


def test_cache_returns_what_was_put(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache(max_entries=2)
    cache.put("a", some_keys[0])
    assert cache.get("a") is some_keys[0]


def test_cache_miss_is_none() -> None:
    assert KeyCache().get("absent") is None


def test_cache_evicts_the_least_recently_used_entry(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache(max_entries=2)
    cache.put("a", some_keys[0])
    cache.put("b", some_keys[1])
    cache.get("a")  # "b" is now the least recently used
    cache.put("c", some_keys[2])
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (some_keys[0], None, some_keys[2])


def test_cache_loads_a_key_once_and_then_serves_it(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache()
    calls: list[str] = []

    def load() -> PrivateKey:
        calls.append("load")
        return some_keys[0]

    results = [cache.get_or_load("k", load) for _ in range(3)]
    assert results == [some_keys[0]] * 3 and calls == ["load"]


def test_cache_of_size_zero_keeps_nothing(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache(max_entries=0)
    cache.put("a", some_keys[0])
    assert len(cache) == 0


def test_discarded_entry_is_gone(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache()
    cache.put("a", some_keys[0])
    cache.discard("a")
    assert cache.get("a") is None


def test_clear_forgets_every_entry(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache()
    for i, key in enumerate(some_keys):
        cache.put(str(i), key)
    cache.clear()
    assert len(cache) == 0


def test_negative_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        KeyCache(max_entries=-1)


def _identity(key: PrivateKey) -> PrivateKey:
    return key


def test_cache_stays_bounded_and_consistent_under_concurrent_use(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache(max_entries=8)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(500):
                name = f"k{(n * 7 + i) % 20}"
                expected = some_keys[int(name[1:]) % 3]
                assert cache.get_or_load(name, partial(_identity, expected)) is expected
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) <= 8


def test_cache_repr_shows_counts_not_keys(some_keys: list[PrivateKey]) -> None:
    cache = KeyCache(max_entries=4)
    cache.put("secret-id", some_keys[0])
    assert repr(cache) == "KeyCache(entries=1, max_entries=4)"
