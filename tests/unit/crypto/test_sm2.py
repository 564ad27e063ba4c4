"""SM2 keys (PKCS#8, SEC1, SPKI), their safety properties, and SM2 without the optional gmssl-pyx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from asn1crypto import keys, pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certrepo.crypto import sm2
from certrepo.crypto.messages import Message
from certrepo.crypto.registry import encryption_algorithm, signature_algorithm
from certrepo.crypto.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    generate_sm2_private_key,
    load_sm2_private_key,
    load_sm2_public_key,
    sm2_keys_match,
)
from certrepo.domain.errors import InvalidInput, KeyMismatch, Unsupported

if TYPE_CHECKING:
    from .conftest import Sm2Pem


def _der(pem_bytes: bytes) -> bytes:
    return bytes(next(pem.unarmor(pem_bytes, multiple=True))[2])


@pytest.mark.parametrize("encoding", ["pkcs8-pem", "pkcs8-der", "sec1-pem", "sec1-der"])
def test_sm2_private_key_loads_from_every_openssl_encoding(sm2_pem: type[Sm2Pem], encoding: str) -> None:
    source = sm2_pem.pkcs8 if encoding.startswith("pkcs8") else sm2_pem.sec1
    data = source if encoding.endswith("pem") else _der(source)
    key = load_sm2_private_key(data)
    assert key.public_key() == load_sm2_public_key(sm2_pem.spki)


def test_sm2_private_key_writes_the_same_pkcs8_as_openssl(sm2_pem: type[Sm2Pem]) -> None:
    assert load_sm2_private_key(sm2_pem.sec1).private_bytes_der() == _der(sm2_pem.pkcs8)


def test_sm2_public_key_writes_the_same_spki_as_openssl(sm2_pem: type[Sm2Pem]) -> None:
    assert load_sm2_public_key(sm2_pem.spki).public_bytes_der() == _der(sm2_pem.spki)


def test_sec1_key_without_its_public_point_needs_the_public_key(sm2_pem: type[Sm2Pem]) -> None:
    with pytest.raises(InvalidInput, match="carries no public key"):
        load_sm2_private_key(sm2_pem.sec1_no_public)


def test_sec1_key_without_its_public_point_loads_with_the_certificate_key(sm2_pem: type[Sm2Pem]) -> None:
    public_key = load_sm2_public_key(sm2_pem.spki)
    assert load_sm2_private_key(sm2_pem.sec1_no_public, public_key=public_key).public_key() == public_key


def test_sm2_private_key_with_another_public_key_is_key_mismatch(sm2_pem: type[Sm2Pem]) -> None:
    other = load_sm2_private_key(sm2_pem.other_pkcs8).public_key()
    with pytest.raises(KeyMismatch):
        load_sm2_private_key(sm2_pem.pkcs8, public_key=other)


def test_sm2_private_key_repr_hides_the_scalar(sm2_pem: type[Sm2Pem]) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)
    scalar = keys.PrivateKeyInfo.load(_der(sm2_pem.pkcs8))["private_key"].parsed["private_key"].native
    assert "private=***" in repr(key) and f"{scalar:064x}" not in repr(key).lower() and str(key) == repr(key)


def test_ec_key_on_another_curve_is_not_taken_for_sm2() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    der = p256.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(Unsupported, match="not a supported key type"):
        load_sm2_private_key(der)


@pytest.mark.parametrize("data", [b"", b"\x30\x00", b"garbage" * 10], ids=["empty", "empty-seq", "garbage"])
def test_malformed_sm2_private_key_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        load_sm2_private_key(data)


def test_encrypted_pem_is_refused_with_a_clear_message() -> None:
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"
    with pytest.raises(InvalidInput, match="encrypted"):
        load_sm2_private_key(encrypted)


def test_point_off_the_curve_is_refused(sm2_pem: type[Sm2Pem]) -> None:
    point = bytearray(load_sm2_public_key(sm2_pem.spki).point)
    point[-1] ^= 1
    with pytest.raises(InvalidInput, match="not a point on the SM2 curve"):
        SM2PublicKey(bytes(point))


@pytest.mark.parametrize("scalar", [bytes(32), b"\xff" * 32], ids=["zero", "above-order"])
def test_scalar_out_of_range_is_refused(sm2_pem: type[Sm2Pem], scalar: bytes) -> None:
    with pytest.raises(InvalidInput, match="out of range"):
        SM2PrivateKey(scalar, load_sm2_public_key(sm2_pem.spki))


def test_compressed_public_point_decompresses_to_the_same_key(sm2_pem: type[Sm2Pem]) -> None:
    public_key = load_sm2_public_key(sm2_pem.spki)
    y_parity = public_key.point[-1] & 1
    compressed = bytes([2 + y_parity]) + public_key.point[:32]
    assert sm2._point_from_encoded(compressed) == public_key


def test_generated_sm2_key_pairs_match(require_sm2: None) -> None:
    key = generate_sm2_private_key()
    assert sm2_keys_match(key, key.public_key()) is True


def test_keys_of_different_pairs_do_not_match(require_sm2: None, sm2_pem: type[Sm2Pem]) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)
    other = load_sm2_private_key(sm2_pem.other_pkcs8)
    assert sm2_keys_match(key, other.public_key()) is False


def test_sm2_signature_with_another_distinguishing_id_does_not_verify(
    require_sm2: None, sm2_pem: type[Sm2Pem]
) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)
    signature = sm2.Sm2Signature("SM3withSM2", distinguishing_id=b"alice@example.com").sign(
        key, Message(b"m")
    )
    assert signature_algorithm("SM3withSM2").verify(key.public_key(), Message(b"m"), signature) is False


def test_sm2_signature_in_non_canonical_der_is_refused(require_sm2: None, sm2_pem: type[Sm2Pem]) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)
    algorithm = signature_algorithm("SM3withSM2")
    signature = algorithm.sign(key, Message(b"m"))
    # The same SEQUENCE with a long-form length: BER, not DER.
    ber = b"\x30\x81" + signature[1:2] + signature[2:]
    assert algorithm.verify(key.public_key(), Message(b"m"), signature) is True
    assert algorithm.verify(key.public_key(), Message(b"m"), ber) is False


def test_sm2pke_ciphertext_larger_than_the_library_handles_is_unsupported(
    require_sm2: None, sm2_pem: type[Sm2Pem]
) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)
    ciphertext = sm2._Sm2Ciphertext({"x": 1, "y": 2, "hash": bytes(32), "ciphertext": bytes(300)}).dump()
    with pytest.raises(Unsupported, match="more than 255"):
        encryption_algorithm("SM2PKE").decrypt(key, ciphertext)


# --- without gmssl-pyx --------------------------------------------------------------------------------


@pytest.fixture
def without_gmssl(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import gmssl_pyx` raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "gmssl_pyx", None)


def test_without_gmssl_sm2_is_reported_unavailable(without_gmssl: None) -> None:
    assert sm2.is_sm2_available() is False


@pytest.mark.parametrize(
    "operation",
    [
        lambda key: signature_algorithm("SM3withSM2").sign(key, Message(b"m")),
        lambda key: signature_algorithm("SM3withSM2").verify(key.public_key(), Message(b"m"), b"\x30\x00"),
        lambda key: encryption_algorithm("SM2PKE").encrypt(key.public_key(), b"m"),
        lambda key: encryption_algorithm("SM2PKE").decrypt(key, b"\x30\x00"),
    ],
    ids=["sign", "verify", "encrypt", "decrypt"],
)
def test_without_gmssl_sm2_operations_are_unsupported(
    without_gmssl: None, sm2_pem: type[Sm2Pem], operation: Callable[[SM2PrivateKey], object]
) -> None:
    key = load_sm2_private_key(sm2_pem.pkcs8)  # keys still load: only the operations need gmssl-pyx
    with pytest.raises(Unsupported, match="gmssl-pyx"):
        operation(key)


def test_crypto_package_imports_without_gmssl() -> None:
    code = (
        "import sys; sys.modules['gmssl_pyx'] = None\n"
        "import certrepo.crypto.registry, certrepo.crypto.keys\n"
        "assert 'gmssl_pyx' not in {k for k, v in sys.modules.items() if v is not None}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
