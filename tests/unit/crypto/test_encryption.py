"""Encrypt and decrypt: OAEP and SM2PKE round trips, plaintext limits, misfit keys, undecryptable input."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from certrepo.crypto.registry import ENCRYPTION_ALGORITHMS, encryption_algorithm
from certrepo.domain.errors import AlgorithmMismatch, InvalidInput, MessageTooLarge

if TYPE_CHECKING:
    from .conftest import KeyRing

SUITABLE_KEYS = {
    "RSAES_OAEP_SHA_1": ("rsa2048", "rsa3072"),
    "RSAES_OAEP_SHA_256": ("rsa2048", "rsa3072"),
    "SM2PKE": ("sm2",),
}
PAIRS = [(name, key) for name, keys in SUITABLE_KEYS.items() for key in keys]
PAIR_IDS = [f"{name}-{key}" for name, key in PAIRS]
MISFITS = [(name, key) for name in SUITABLE_KEYS for key in ("rsa2048", "p256", "ed25519", "sm2")
           if key not in SUITABLE_KEYS[name]]  # fmt: skip

# SPEC §1.3: k - 2·hLen - 2 bytes (RFC 8017 §7.1.1); SM2PKE: what gmssl-pyx handles per call.
LIMITS = [
    ("RSAES_OAEP_SHA_1", "rsa2048", 214),
    ("RSAES_OAEP_SHA_256", "rsa2048", 190),
    ("RSAES_OAEP_SHA_1", "rsa3072", 342),
    ("RSAES_OAEP_SHA_256", "rsa3072", 318),
    ("SM2PKE", "sm2", 255),
]
LIMIT_IDS = [f"{name}-{key}" for name, key, _ in LIMITS]


def test_the_tables_cover_every_registered_algorithm() -> None:
    assert set(SUITABLE_KEYS) == set(ENCRYPTION_ALGORITHMS)


@pytest.mark.parametrize(
    "plaintext", [b"x", b"approval #1234: granted", bytes(range(100))], ids=["1B", "text", "bin"]
)
@pytest.mark.parametrize(("name", "key_name"), PAIRS, ids=PAIR_IDS)
def test_ciphertext_decrypts_to_the_plaintext(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str, plaintext: bytes
) -> None:
    needs_sm2(name)
    algorithm = encryption_algorithm(name)
    ciphertext = algorithm.encrypt(key_ring[key_name].public_key(), plaintext)
    assert algorithm.decrypt(key_ring[key_name], ciphertext) == plaintext


@pytest.mark.parametrize(("name", "key_name"), PAIRS, ids=PAIR_IDS)
def test_encryption_is_randomized(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    public_key = key_ring[key_name].public_key()
    algorithm = encryption_algorithm(name)
    assert algorithm.encrypt(public_key, b"same") != algorithm.encrypt(public_key, b"same")


@pytest.mark.parametrize(("name", "key_name", "limit"), LIMITS, ids=LIMIT_IDS)
def test_max_plaintext_bytes_is_the_documented_limit(
    key_ring: KeyRing, name: str, key_name: str, limit: int
) -> None:
    assert encryption_algorithm(name).max_plaintext_bytes(key_ring[key_name].public_key()) == limit


@pytest.mark.parametrize(("name", "key_name", "limit"), LIMITS, ids=LIMIT_IDS)
def test_plaintext_at_the_limit_round_trips(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str, limit: int
) -> None:
    needs_sm2(name)
    algorithm = encryption_algorithm(name)
    plaintext = b"\xa5" * limit
    assert algorithm.decrypt(
        key_ring[key_name], algorithm.encrypt(key_ring[key_name].public_key(), plaintext)
    ) == (plaintext)


@pytest.mark.parametrize(("name", "key_name", "limit"), LIMITS, ids=LIMIT_IDS)
def test_plaintext_over_the_limit_is_too_large_naming_limit_and_key(
    key_ring: KeyRing, name: str, key_name: str, limit: int
) -> None:
    key_words = {"rsa2048": "RSA 2048-bit", "rsa3072": "RSA 3072-bit", "sm2": "SM2 256-bit"}[key_name]
    with pytest.raises(MessageTooLarge, match=f"at most {limit} bytes with an {key_words} key") as caught:
        encryption_algorithm(name).encrypt(key_ring[key_name].public_key(), b"a" * (limit + 1))
    assert caught.value.details == {"limit_bytes": limit, "size_bytes": limit + 1}


def test_sm2pke_refuses_an_empty_plaintext(key_ring: KeyRing) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        encryption_algorithm("SM2PKE").encrypt(key_ring["sm2"].public_key(), b"")


def test_oaep_encrypts_an_empty_plaintext(key_ring: KeyRing) -> None:
    algorithm = encryption_algorithm("RSAES_OAEP_SHA_256")
    assert (
        algorithm.decrypt(key_ring["rsa2048"], algorithm.encrypt(key_ring["rsa2048"].public_key(), b""))
        == b""
    )


@pytest.mark.parametrize(("name", "key_name"), MISFITS, ids=[f"{n}-{k}" for n, k in MISFITS])
def test_encryption_algorithm_refuses_a_key_of_another_family(
    key_ring: KeyRing, name: str, key_name: str
) -> None:
    algorithm = encryption_algorithm(name)
    key = key_ring[key_name]
    with pytest.raises(AlgorithmMismatch, match=f"{name} needs an"):
        algorithm.check_key(key.public_key())
    with pytest.raises(AlgorithmMismatch):
        algorithm.max_plaintext_bytes(key.public_key())
    with pytest.raises(AlgorithmMismatch):
        algorithm.encrypt(key.public_key(), b"x")
    with pytest.raises(AlgorithmMismatch):
        algorithm.decrypt(key, b"x" * 256)


UNDECRYPTABLE = {"empty": b"", "short": b"\x01\x02\x03", "zeros-256": bytes(256), "ones-384": b"\xff" * 384}


@pytest.mark.parametrize("ciphertext", list(UNDECRYPTABLE.values()), ids=list(UNDECRYPTABLE))
@pytest.mark.parametrize(("name", "key_name"), PAIRS, ids=PAIR_IDS)
def test_undecryptable_ciphertext_is_invalid_input_with_one_message(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str, ciphertext: bytes
) -> None:
    needs_sm2(name)
    with pytest.raises(InvalidInput) as caught:
        encryption_algorithm(name).decrypt(key_ring[key_name], ciphertext)
    assert caught.value.message == "ciphertext could not be decrypted with this key"


OTHER_KEY = {"rsa2048": "rsa3072", "rsa3072": "rsa2048", "sm2": "sm2_other"}


@pytest.mark.parametrize(("name", "key_name"), PAIRS, ids=PAIR_IDS)
def test_ciphertext_for_another_key_is_invalid_input_with_the_same_message(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = encryption_algorithm(name)
    ciphertext = algorithm.encrypt(key_ring[OTHER_KEY[key_name]].public_key(), b"not for you")
    with pytest.raises(InvalidInput) as caught:
        algorithm.decrypt(key_ring[key_name], ciphertext)
    assert caught.value.message == "ciphertext could not be decrypted with this key"


def test_oaep_ciphertext_of_one_hash_does_not_decrypt_under_the_other(key_ring: KeyRing) -> None:
    ciphertext = encryption_algorithm("RSAES_OAEP_SHA_1").encrypt(key_ring["rsa2048"].public_key(), b"hello")
    with pytest.raises(InvalidInput):
        encryption_algorithm("RSAES_OAEP_SHA_256").decrypt(key_ring["rsa2048"], ciphertext)


def test_oaep_limit_scales_down_with_the_key_size(key_ring: KeyRing) -> None:
    # 128 - 2·32 - 2 = 62 bytes for RSA-1024 with SHA-256.
    assert (
        encryption_algorithm("RSAES_OAEP_SHA_256").max_plaintext_bytes(key_ring["rsa1024"].public_key()) == 62
    )
