"""Sign and verify: every algorithm × suitable key × message type, misfits, tampering, malformed input."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from certrepo.crypto.keys import describe_key
from certrepo.crypto.messages import Message, decode_message
from certrepo.crypto.registry import SIGNATURE_ALGORITHMS, SignatureAlgorithm, signature_algorithm
from certrepo.crypto.sm2 import SM2PublicKey, sm3_message_digest
from certrepo.domain.errors import AlgorithmMismatch, InvalidInput, Unsupported

if TYPE_CHECKING:
    from datetime import datetime

    from .conftest import KeyRing, Pki

SUITABLE_KEYS: dict[str, tuple[str, ...]] = {
    "SHA256withRSA": ("rsa2048", "rsa3072"),
    "SHA384withRSA": ("rsa2048", "rsa3072"),
    "SHA512withRSA": ("rsa2048", "rsa3072"),
    "SHA256withRSA/PSS": ("rsa2048", "rsa3072"),
    "SHA384withRSA/PSS": ("rsa2048", "rsa3072"),
    "SHA512withRSA/PSS": ("rsa2048", "rsa3072"),
    "SHA256withECDSA": ("p256", "p384", "p521"),
    "SHA384withECDSA": ("p256", "p384", "p521"),
    "SHA512withECDSA": ("p256", "p384", "p521"),
    "SHA256withRSA/P7": ("rsa2048", "rsa3072"),
    "SHA256withECDSA/P7": ("p256", "p384", "p521"),
    "Ed25519": ("ed25519",),
    "SM3withSM2": ("sm2",),
}
# One key of each family; every algorithm refuses the families it does not name.
FAMILY_KEYS = ("rsa2048", "p256", "ed25519", "sm2")
# A second key of the same family, for "signed by someone else" checks.
OTHER_KEY = {"rsa2048": "rsa3072", "rsa3072": "rsa2048", "p256": "p256_other", "p384": "p256", "p521": "p256",
             "ed25519": "ed25519_other", "sm2": "sm2_other"}  # fmt: skip

PAIRS = [(name, key) for name, keys in SUITABLE_KEYS.items() for key in keys]
MISFITS = [(name, key) for name, keys in SUITABLE_KEYS.items() for key in FAMILY_KEYS if key not in keys]
FIRST_PAIRS = [(name, keys[0]) for name, keys in SUITABLE_KEYS.items()]

CONTENT = "certrepo signs this: 合同 №42".encode()


def test_the_tables_cover_every_registered_algorithm() -> None:
    assert set(SUITABLE_KEYS) == set(SIGNATURE_ALGORITHMS)


def _digest(algorithm_name: str, public_key: object, content: bytes) -> bytes:
    if algorithm_name == "SM3withSM2":
        assert isinstance(public_key, SM2PublicKey)
        return sm3_message_digest(public_key, content)
    return hashlib.new(algorithm_name[: algorithm_name.index("with")].lower(), content).digest()


def _wire_message(message_type: str, algorithm_name: str, public_key: object) -> Message:
    if message_type == "RAW":
        return decode_message(CONTENT.decode(), "RAW")
    if message_type == "BASE64":
        return decode_message(base64.b64encode(CONTENT).decode(), "BASE64")
    return decode_message(base64.b64encode(_digest(algorithm_name, public_key, CONTENT)).decode(), "DIGEST")


Signer = Callable[[SignatureAlgorithm, str, Message], bytes]


@pytest.fixture
def sign(key_ring: KeyRing, pki: Pki, now: datetime) -> Signer:
    """Sign as a service would: CMS algorithms get the certificate, its chain and the signing time."""

    def run(algorithm: SignatureAlgorithm, key_name: str, message: Message) -> bytes:
        if algorithm.name.endswith("/P7"):
            return algorithm.sign(
                key_ring[key_name],
                message,
                certificate=pki.leaf(key_name),
                chain=[pki.root],
                signing_time=now,
            )
        return algorithm.sign(key_ring[key_name], message)

    return run


# Ed25519 cannot sign a digest: test_ed25519_refuses_a_digest_message checks the refusal.
ROUND_TRIPS = [
    (name, key, message_type)
    for name, key in PAIRS
    for message_type in ("RAW", "BASE64", "DIGEST")
    if not (name == "Ed25519" and message_type == "DIGEST")
]


@pytest.mark.parametrize(
    ("name", "key_name", "message_type"), ROUND_TRIPS, ids=["-".join(t) for t in ROUND_TRIPS]
)
def test_signature_verifies_with_the_same_message(
    key_ring: KeyRing,
    sign: Signer,
    needs_sm2: Callable[..., None],
    name: str,
    key_name: str,
    message_type: str,
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    public_key = key_ring[key_name].public_key()
    message = _wire_message(message_type, name, public_key)
    assert algorithm.verify(public_key, message, sign(algorithm, key_name, message)) is True


DIGEST_PAIRS = [p for p in PAIRS if p[0] != "Ed25519"]


@pytest.mark.parametrize(("name", "key_name"), DIGEST_PAIRS, ids=[f"{n}-{k}" for n, k in DIGEST_PAIRS])
def test_signature_of_a_digest_verifies_against_the_content(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    public_key = key_ring[key_name].public_key()
    signature = sign(algorithm, key_name, _wire_message("DIGEST", name, public_key))
    assert algorithm.verify(public_key, Message(CONTENT), signature) is True


@pytest.mark.parametrize(("name", "key_name"), FIRST_PAIRS, ids=[p[0] for p in FIRST_PAIRS])
def test_signature_does_not_verify_another_message(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    signature = sign(algorithm, key_name, Message(CONTENT))
    assert algorithm.verify(key_ring[key_name].public_key(), Message(CONTENT + b"!"), signature) is False


@pytest.mark.parametrize(("name", "key_name"), FIRST_PAIRS, ids=[p[0] for p in FIRST_PAIRS])
def test_signature_does_not_verify_under_another_key(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    signature = sign(algorithm, key_name, Message(CONTENT))
    assert algorithm.verify(key_ring[OTHER_KEY[key_name]].public_key(), Message(CONTENT), signature) is False


# First and last byte: the encoding and the signature value. (The middle of a CMS signature may be in
# its certificate set, which the signature does not cover; test_cms tampers the signed parts.)
@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize(("name", "key_name"), FIRST_PAIRS, ids=[p[0] for p in FIRST_PAIRS])
def test_tampered_signature_does_not_verify(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str, position: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    signature = bytearray(sign(algorithm, key_name, Message(CONTENT)))
    index = 0 if position == "first" else len(signature) - 1
    signature[index] ^= 0x01
    assert algorithm.verify(key_ring[key_name].public_key(), Message(CONTENT), bytes(signature)) is False


MALFORMED = {
    "empty": b"",
    "one-byte": b"\x00",
    "empty-sequence": b"\x30\x00",
    "text": b"this is not a signature at all" * 4,
    "all-ones": b"\xff" * 512,
}


@pytest.mark.parametrize("malformed", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize(("name", "key_name"), FIRST_PAIRS, ids=[p[0] for p in FIRST_PAIRS])
def test_malformed_signature_is_false_not_an_error(
    key_ring: KeyRing, needs_sm2: Callable[..., None], name: str, key_name: str, malformed: bytes
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    assert algorithm.verify(key_ring[key_name].public_key(), Message(CONTENT), malformed) is False


@pytest.mark.parametrize(("name", "key_name"), FIRST_PAIRS, ids=[p[0] for p in FIRST_PAIRS])
def test_signature_with_trailing_bytes_does_not_verify(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    signature = sign(algorithm, key_name, Message(CONTENT)) + b"\x00"
    assert algorithm.verify(key_ring[key_name].public_key(), Message(CONTENT), signature) is False


@pytest.mark.parametrize(("name", "key_name"), MISFITS, ids=[f"{n}-{k}" for n, k in MISFITS])
def test_algorithm_refuses_a_key_of_another_family(key_ring: KeyRing, name: str, key_name: str) -> None:
    algorithm = signature_algorithm(name)
    key = key_ring[key_name]
    expected = f"{name} needs an? .*; this certificate has an? {describe_key(key)} key"
    with pytest.raises(AlgorithmMismatch, match=expected):
        algorithm.check_key(key.public_key())
    with pytest.raises(AlgorithmMismatch):
        algorithm.sign(key, Message(CONTENT))
    with pytest.raises(AlgorithmMismatch):
        algorithm.verify(key.public_key(), Message(CONTENT), b"\x00" * 64)


def test_pss_on_an_ec_key_says_so_in_words(key_ring: KeyRing) -> None:
    with pytest.raises(AlgorithmMismatch) as caught:
        signature_algorithm("SHA256withRSA/PSS").check_key(key_ring["p256"].public_key())
    assert caught.value.message == "SHA256withRSA/PSS needs an RSA key; this certificate has an EC P-256 key"


def test_pss_with_sha512_refuses_an_rsa_key_too_small_for_a_digest_length_salt(key_ring: KeyRing) -> None:
    with pytest.raises(AlgorithmMismatch, match="at least 1034 bits.*RSA 1024-bit"):
        signature_algorithm("SHA512withRSA/PSS").check_key(key_ring["rsa1024"].public_key())


def test_ecdsa_refuses_a_curve_other_than_the_nist_ones(key_ring: KeyRing) -> None:
    with pytest.raises(AlgorithmMismatch, match="P-256, P-384 or P-521.*secp256k1"):
        signature_algorithm("SHA256withECDSA").check_key(key_ring["secp256k1"].public_key())


DIGEST_ALGORITHMS = [(name, keys[0]) for name, keys in SUITABLE_KEYS.items() if name != "Ed25519"]


@pytest.mark.parametrize(("name", "key_name"), DIGEST_ALGORITHMS, ids=[p[0] for p in DIGEST_ALGORITHMS])
def test_digest_of_the_wrong_length_is_invalid_input_naming_both_lengths(
    key_ring: KeyRing, sign: Signer, needs_sm2: Callable[..., None], name: str, key_name: str
) -> None:
    needs_sm2(name)
    algorithm = signature_algorithm(name)
    wrong = Message(bytes(20), is_digest=True)
    expected = f"expects a {algorithm.digest_size}-byte .* digest.*has 20 bytes"
    with pytest.raises(InvalidInput, match=expected):
        sign(algorithm, key_name, wrong)
    with pytest.raises(InvalidInput, match=expected):
        algorithm.verify(key_ring[key_name].public_key(), wrong, b"\x00" * 64)


@pytest.mark.parametrize("operation", ["sign", "verify"])
def test_ed25519_refuses_a_digest_message(key_ring: KeyRing, operation: str) -> None:
    algorithm = signature_algorithm("Ed25519")
    digest = Message(hashlib.sha512(CONTENT).digest(), is_digest=True)
    with pytest.raises(Unsupported, match="not a digest"):
        if operation == "sign":
            algorithm.sign(key_ring["ed25519"], digest)
        else:
            algorithm.verify(key_ring["ed25519"].public_key(), digest, bytes(64))


# --- scheme details -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [256, 384, 512])
def test_pss_signature_uses_a_salt_as_long_as_the_digest(key_ring: KeyRing, bits: int) -> None:
    hash_algorithm = {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}[bits]
    key = key_ring["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = signature_algorithm(f"SHA{bits}withRSA/PSS").sign(key, Message(CONTENT))
    exact = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
    key.public_key().verify(signature, CONTENT, exact, hash_algorithm)  # raises if the salt differs
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            signature, CONTENT, padding.PSS(padding.MGF1(hash_algorithm), 0), hash_algorithm
        )


def test_pss_verify_accepts_a_maximal_salt_as_openssl_makes_by_default(key_ring: KeyRing) -> None:
    key = key_ring["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    signature = key.sign(CONTENT, pss, hashes.SHA256())
    assert (
        signature_algorithm("SHA256withRSA/PSS").verify(key.public_key(), Message(CONTENT), signature) is True
    )


def test_ecdsa_signature_is_der(key_ring: KeyRing) -> None:
    signature = signature_algorithm("SHA384withECDSA").sign(key_ring["p384"], Message(CONTENT))
    r, s = decode_dss_signature(signature)
    assert encode_dss_signature(r, s) == signature


def test_ecdsa_refuses_a_raw_r_s_signature(key_ring: KeyRing) -> None:
    key = key_ring["p256"]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.sign(CONTENT, ec.ECDSA(hashes.SHA256())))
    p1363 = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert signature_algorithm("SHA256withECDSA").verify(key.public_key(), Message(CONTENT), p1363) is False


def test_pkcs1_signature_is_deterministic_and_matches_cryptography(key_ring: KeyRing) -> None:
    key = key_ring["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    expected = key.sign(CONTENT, padding.PKCS1v15(), hashes.SHA512())
    assert signature_algorithm("SHA512withRSA").sign(key, Message(CONTENT)) == expected
