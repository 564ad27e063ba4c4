"""Interoperability with the real OpenSSL 3 CLI: each direction of every scheme, CMS included."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from asn1crypto import pem
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certrepo.crypto.keys import PrivateKey, public_key_of_certificate
from certrepo.crypto.messages import Message
from certrepo.crypto.registry import encryption_algorithm, signature_algorithm
from certrepo.crypto.sm2 import SM2PrivateKey, SM2PublicKey, sm3_message_digest
from certrepo.domain.errors import Unsupported

if TYPE_CHECKING:
    from datetime import datetime

    from .conftest import KeyRing, OpenSSL, Pki

CONTENT = "interop — 互操作 test message\n".encode()


def _private_pem(key: PrivateKey) -> bytes:
    if isinstance(key, SM2PrivateKey):
        return bytes(pem.armor("PRIVATE KEY", key.private_bytes_der()))
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: PrivateKey) -> bytes:
    public_key = key.public_key()
    if isinstance(public_key, SM2PublicKey):
        return bytes(pem.armor("PUBLIC KEY", public_key.public_bytes_der()))
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# algorithm, key, openssl digest, extra -sigopt options
DGST_CASES = [
    ("SHA256withRSA", "rsa2048", "sha256", ()),
    ("SHA384withRSA", "rsa3072", "sha384", ()),
    ("SHA512withRSA", "rsa2048", "sha512", ()),
    ("SHA256withRSA/PSS", "rsa2048", "sha256", ("rsa_padding_mode:pss",)),
    ("SHA384withRSA/PSS", "rsa3072", "sha384", ("rsa_padding_mode:pss",)),
    ("SHA512withRSA/PSS", "rsa2048", "sha512", ("rsa_padding_mode:pss",)),
    ("SHA256withECDSA", "p256", "sha256", ()),
    ("SHA384withECDSA", "p384", "sha384", ()),
    ("SHA512withECDSA", "p521", "sha512", ()),
]
DGST_IDS = [case[0] for case in DGST_CASES]


def _sigopts(options: tuple[str, ...]) -> list[str]:
    return [arg for option in options for arg in ("-sigopt", option)]


@pytest.mark.parametrize("message_type", ["content", "digest"])
@pytest.mark.parametrize(("name", "key_name", "digest", "sigopts"), DGST_CASES, ids=DGST_IDS)
def test_our_signature_verifies_with_openssl_dgst(
    openssl: OpenSSL, key_ring: KeyRing, name: str, key_name: str, digest: str, sigopts: tuple[str, ...],
    message_type: str,
) -> None:  # fmt: skip
    key = key_ring[key_name]
    message = (
        Message(CONTENT)
        if message_type == "content"
        else Message(hashlib.new(digest, CONTENT).digest(), True)
    )
    signature = signature_algorithm(name).sign(key, message)
    openssl.ok(
        "dgst", f"-{digest}", "-verify", openssl.path("pub.pem", _public_pem(key)), *_sigopts(sigopts),
        "-signature", openssl.path("sig.bin", signature), openssl.path("msg.bin", CONTENT),
    )  # fmt: skip


@pytest.mark.parametrize(("name", "key_name", "digest", "sigopts"), DGST_CASES, ids=DGST_IDS)
def test_openssl_dgst_signature_verifies_with_us(
    openssl: OpenSSL, key_ring: KeyRing, name: str, key_name: str, digest: str, sigopts: tuple[str, ...]
) -> None:
    key = key_ring[key_name]
    # OpenSSL's default PSS salt is the maximal length; we verify any salt length.
    openssl.ok(
        "dgst", f"-{digest}", "-sign", openssl.path("key.pem", _private_pem(key)), *_sigopts(sigopts),
        "-out", "sig.bin", openssl.path("msg.bin", CONTENT),
    )  # fmt: skip
    signature = openssl.path("sig.bin").read_bytes()
    assert signature_algorithm(name).verify(key.public_key(), Message(CONTENT), signature) is True


def test_openssl_refuses_our_signature_of_another_message(openssl: OpenSSL, key_ring: KeyRing) -> None:
    # Shows the interop checks above can fail.
    key = key_ring["p256"]
    signature = signature_algorithm("SHA256withECDSA").sign(key, Message(CONTENT + b"!"))
    result = openssl.run(
        "dgst", "-sha256", "-verify", openssl.path("pub.pem", _public_pem(key)),
        "-signature", openssl.path("sig.bin", signature), openssl.path("msg.bin", CONTENT),
    )  # fmt: skip
    assert result.returncode != 0


def test_our_ed25519_signature_verifies_with_openssl_pkeyutl(openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["ed25519"]
    signature = signature_algorithm("Ed25519").sign(key, Message(CONTENT))
    openssl.ok(
        "pkeyutl", "-verify", "-pubin", "-inkey", openssl.path("pub.pem", _public_pem(key)), "-rawin",
        "-in", openssl.path("msg.bin", CONTENT), "-sigfile", openssl.path("sig.bin", signature),
    )  # fmt: skip


def test_openssl_ed25519_signature_verifies_with_us(openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["ed25519"]
    signature = openssl.ok(
        "pkeyutl", "-sign", "-inkey", openssl.path("key.pem", _private_pem(key)), "-rawin",
        "-in", openssl.path("msg.bin", CONTENT),
    )  # fmt: skip
    assert signature_algorithm("Ed25519").verify(key.public_key(), Message(CONTENT), signature) is True


OAEP_CASES = [("RSAES_OAEP_SHA_1", "sha1"), ("RSAES_OAEP_SHA_256", "sha256")]


def _oaep_options(digest: str) -> list[str]:
    options = ("rsa_padding_mode:oaep", f"rsa_oaep_md:{digest}", f"rsa_mgf1_md:{digest}")
    return [arg for option in options for arg in ("-pkeyopt", option)]


@pytest.mark.parametrize("key_name", ["rsa2048", "rsa3072"])
@pytest.mark.parametrize(("name", "digest"), OAEP_CASES, ids=[c[0] for c in OAEP_CASES])
def test_our_oaep_ciphertext_decrypts_with_openssl(
    openssl: OpenSSL, key_ring: KeyRing, name: str, digest: str, key_name: str
) -> None:
    key = key_ring[key_name]
    algorithm = encryption_algorithm(name)
    plaintext = b"\x5a" * algorithm.max_plaintext_bytes(key.public_key())  # the largest one, to be strict
    ciphertext = algorithm.encrypt(key.public_key(), plaintext)
    decrypted = openssl.ok(
        "pkeyutl", "-decrypt", "-inkey", openssl.path("key.pem", _private_pem(key)), *_oaep_options(digest),
        "-in", openssl.path("ct.bin", ciphertext),
    )  # fmt: skip
    assert decrypted == plaintext


@pytest.mark.parametrize(("name", "digest"), OAEP_CASES, ids=[c[0] for c in OAEP_CASES])
def test_openssl_oaep_ciphertext_decrypts_with_us(
    openssl: OpenSSL, key_ring: KeyRing, name: str, digest: str
) -> None:
    key = key_ring["rsa2048"]
    ciphertext = openssl.ok(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", openssl.path("pub.pem", _public_pem(key)), *_oaep_options(digest),
        "-in", openssl.path("pt.bin", b"approval granted"),
    )  # fmt: skip
    assert encryption_algorithm(name).decrypt(key, ciphertext) == b"approval granted"


# --- CMS ----------------------------------------------------------------------------------------------

CMS_SIGNERS = [
    ("SHA256withRSA/P7", "rsa2048"),
    ("SHA256withECDSA/P7", "p256"),
    ("SHA256withECDSA/P7", "p384"),
]
CMS_IDS = ["rsa", "ec-p256", "ec-p384"]


def _cms_verify(openssl: OpenSSL, pki: Pki, signature: bytes, content: bytes, attime: str) -> int:
    return openssl.run(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", openssl.path("sig.p7s", signature),
        "-content", openssl.path("msg.bin", content),
        "-CAfile", openssl.path("root.pem", pki.root.public_bytes(serialization.Encoding.PEM)),
        "-attime", attime, "-out", openssl.path("out.bin"),
    ).returncode  # fmt: skip


@pytest.mark.parametrize("message_type", ["content", "digest"])
@pytest.mark.parametrize(("name", "key_name"), CMS_SIGNERS, ids=CMS_IDS)
def test_our_cms_signature_passes_openssl_cms_verify_with_the_chain(
    openssl: OpenSSL, key_ring: KeyRing, pki: Pki, now: datetime, attime: str, name: str, key_name: str,
    message_type: str,
) -> None:  # fmt: skip
    message = (
        Message(CONTENT) if message_type == "content" else Message(hashlib.sha256(CONTENT).digest(), True)
    )
    signature = signature_algorithm(name).sign(
        key_ring[key_name], message, certificate=pki.leaf(key_name), chain=[pki.root], signing_time=now
    )
    assert _cms_verify(openssl, pki, signature, CONTENT, attime) == 0


def test_openssl_cms_verify_refuses_our_signature_for_other_content(
    openssl: OpenSSL, key_ring: KeyRing, pki: Pki, now: datetime, attime: str
) -> None:
    signature = signature_algorithm("SHA256withRSA/P7").sign(
        key_ring["rsa2048"],
        Message(CONTENT),
        certificate=pki.leaf("rsa2048"),
        chain=[pki.root],
        signing_time=now,
    )
    assert _cms_verify(openssl, pki, signature, CONTENT + b"!", attime) != 0


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "embedded"])
@pytest.mark.parametrize(("name", "key_name"), CMS_SIGNERS, ids=CMS_IDS)
def test_openssl_cms_signature_verifies_with_us(
    openssl: OpenSSL, key_ring: KeyRing, pki: Pki, name: str, key_name: str, detached: bool
) -> None:
    key = key_ring[key_name]
    openssl.ok(
        "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-in", openssl.path("msg.bin", CONTENT),
        "-signer", openssl.path("leaf.pem", pki.leaf(key_name).public_bytes(serialization.Encoding.PEM)),
        "-inkey", openssl.path("key.pem", _private_pem(key)), *([] if detached else ["-nodetach"]),
        "-out", "sig.p7s",
    )  # fmt: skip
    signature = openssl.path("sig.p7s").read_bytes()
    algorithm = signature_algorithm(name)
    assert (
        algorithm.verify(key.public_key(), Message(CONTENT), signature, certificate=pki.leaf(key_name))
        is True
    )
    assert algorithm.verify(key.public_key(), Message(CONTENT + b"!"), signature) is False


def test_openssl_cms_signature_without_signed_attributes_verifies_with_us(
    openssl: OpenSSL, key_ring: KeyRing, pki: Pki
) -> None:
    key = key_ring["rsa2048"]
    openssl.ok(
        "cms", "-sign", "-binary", "-noattr", "-outform", "DER", "-md", "sha256",
        "-in", openssl.path("msg.bin", CONTENT),
        "-signer", openssl.path("leaf.pem", pki.leaf("rsa2048").public_bytes(serialization.Encoding.PEM)),
        "-inkey", openssl.path("key.pem", _private_pem(key)), "-out", "sig.p7s",
    )  # fmt: skip
    signature = openssl.path("sig.p7s").read_bytes()
    assert (
        signature_algorithm("SHA256withRSA/P7").verify(key.public_key(), Message(CONTENT), signature) is True
    )


# --- SM2 ----------------------------------------------------------------------------------------------

SM2_SIGN_OPTIONS = ("-digest", "sm3", "-pkeyopt", "distid:1234567812345678")


@pytest.fixture
def sm2_openssl(openssl: OpenSSL, require_sm2: None, skip_or_fail_missing: Callable[[str], None]) -> OpenSSL:
    """OpenSSL with SM2 (3.0 has it unless built with no-sm2), and gmssl-pyx on our side."""
    if not openssl.supports_sm2():
        skip_or_fail_missing("this OpenSSL has no SM2 (`openssl genpkey -algorithm SM2` fails)")
    return openssl


@pytest.mark.parametrize("message_type", ["content", "digest"])
def test_our_sm2_signature_verifies_with_openssl(
    sm2_openssl: OpenSSL, key_ring: KeyRing, message_type: str
) -> None:
    key = key_ring["sm2"]
    public_key = key.public_key()
    assert isinstance(public_key, SM2PublicKey)
    e = sm3_message_digest(public_key, CONTENT)
    message = Message(CONTENT) if message_type == "content" else Message(e, is_digest=True)
    signature = signature_algorithm("SM3withSM2").sign(key, message)
    sm2_openssl.ok(
        "pkeyutl", "-verify", "-pubin", "-inkey", sm2_openssl.path("pub.pem", _public_pem(key)), "-rawin",
        *SM2_SIGN_OPTIONS, "-in", sm2_openssl.path("msg.bin", CONTENT),
        "-sigfile", sm2_openssl.path("sig.bin", signature),
    )  # fmt: skip


def test_openssl_sm2_signature_verifies_with_us(sm2_openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["sm2"]
    signature = sm2_openssl.ok(
        "pkeyutl", "-sign", "-inkey", sm2_openssl.path("key.pem", _private_pem(key)), "-rawin", *SM2_SIGN_OPTIONS,
        "-in", sm2_openssl.path("msg.bin", CONTENT),
    )  # fmt: skip
    assert signature_algorithm("SM3withSM2").verify(key.public_key(), Message(CONTENT), signature) is True


def test_openssl_sm2_signature_of_a_digest_verifies_with_us_as_digest(
    sm2_openssl: OpenSSL, key_ring: KeyRing
) -> None:
    key = key_ring["sm2"]
    public_key = key.public_key()
    assert isinstance(public_key, SM2PublicKey)
    e = sm3_message_digest(public_key, CONTENT)
    # Without -rawin, pkeyutl signs its input as the digest e itself.
    signature = sm2_openssl.ok(
        "pkeyutl", "-sign", "-inkey", sm2_openssl.path("key.pem", _private_pem(key)),
        "-in", sm2_openssl.path("e.bin", e),
    )  # fmt: skip
    assert signature_algorithm("SM3withSM2").verify(public_key, Message(e, is_digest=True), signature) is True


def test_our_sm2pke_ciphertext_decrypts_with_openssl(sm2_openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["sm2"]
    plaintext = b"\xa5" * 255
    ciphertext = encryption_algorithm("SM2PKE").encrypt(key.public_key(), plaintext)
    decrypted = sm2_openssl.ok(
        "pkeyutl", "-decrypt", "-inkey", sm2_openssl.path("key.pem", _private_pem(key)),
        "-in", sm2_openssl.path("ct.bin", ciphertext),
    )  # fmt: skip
    assert decrypted == plaintext


def test_openssl_sm2pke_ciphertext_decrypts_with_us(sm2_openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["sm2"]
    ciphertext = sm2_openssl.ok(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", sm2_openssl.path("pub.pem", _public_pem(key)),
        "-in", sm2_openssl.path("pt.bin", b"approval granted"),
    )  # fmt: skip
    assert encryption_algorithm("SM2PKE").decrypt(key, ciphertext) == b"approval granted"


def test_openssl_sm2pke_ciphertext_of_more_than_255_bytes_is_unsupported_here(
    sm2_openssl: OpenSSL, key_ring: KeyRing
) -> None:
    key = key_ring["sm2"]
    ciphertext = sm2_openssl.ok(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", sm2_openssl.path("pub.pem", _public_pem(key)),
        "-in", sm2_openssl.path("pt.bin", b"x" * 300),
    )  # fmt: skip
    with pytest.raises(Unsupported, match="more than 255"):
        encryption_algorithm("SM2PKE").decrypt(key, ciphertext)


def test_sm2_key_of_an_openssl_certificate_is_read(sm2_openssl: OpenSSL, key_ring: KeyRing) -> None:
    key = key_ring["sm2"]
    sm2_openssl.ok(
        "req", "-new", "-x509", "-key", sm2_openssl.path("key.pem", _private_pem(key)), "-sm3",
        "-sigopt", "distid:1234567812345678", "-subj", "/CN=sm2 signer", "-days", "1", "-out", "cert.pem",
    )  # fmt: skip
    certificate = x509.load_pem_x509_certificate(sm2_openssl.path("cert.pem").read_bytes())
    assert public_key_of_certificate(certificate) == key.public_key()
