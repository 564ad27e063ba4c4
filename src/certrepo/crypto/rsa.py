"""RSA: PKCS#1 v1.5 and PSS signatures (RFC 8017 §8), RSAES-OAEP encryption (RFC 8017 §7.1)."""

from __future__ import annotations

import math

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from certrepo.crypto.base import HashArgument, HashedSignature
from certrepo.crypto.keys import algorithm_mismatch
from certrepo.domain.errors import InvalidInput, MessageTooLarge

__all__ = ["RsaOaepEncryption", "RsaPkcs1Signature", "RsaPssSignature", "require_rsa_key"]

_DECRYPT_FAILED = "ciphertext could not be decrypted with this key"


def require_rsa_key(algorithm_name: str, key: object, *, min_bits: int = 0) -> None:
    """Raise AlgorithmMismatch unless ``key`` is an RSA key (public or private) of ``min_bits`` or more."""
    if not isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        raise algorithm_mismatch(algorithm_name, "an RSA key", key)
    if key.key_size < min_bits:
        raise algorithm_mismatch(algorithm_name, f"an RSA key of at least {min_bits} bits", key)


class RsaPkcs1Signature(HashedSignature[rsa.RSAPrivateKey, rsa.RSAPublicKey]):
    """RSASSA-PKCS1-v1_5 with a SHA-2 hash (``SHA256withRSA`` …): deterministic signatures."""

    _private_key_type = rsa.RSAPrivateKey
    _public_key_type = rsa.RSAPublicKey

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an RSA key."""
        require_rsa_key(self.name, public_key)

    def _sign_data(self, private_key: rsa.RSAPrivateKey, data: bytes, algorithm: HashArgument) -> bytes:
        return private_key.sign(data, padding.PKCS1v15(), algorithm)

    def _verify_data(
        self, public_key: rsa.RSAPublicKey, signature: bytes, data: bytes, algorithm: HashArgument
    ) -> None:
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)


class RsaPssSignature(HashedSignature[rsa.RSAPrivateKey, rsa.RSAPublicKey]):
    """RSASSA-PSS with MGF1 over the same hash (``SHA256withRSA/PSS`` …).

    We sign with salt length = digest length (RFC 8017 §9.1 recommends it; it is what Java's
    ``SHA256withRSA/PSS`` and ``openssl -sigopt rsa_pss_saltlen:digest`` use). We verify with any salt
    length (PSS.AUTO), so that OpenSSL's default signatures (salt of maximal length) verify too.
    """

    _private_key_type = rsa.RSAPrivateKey
    _public_key_type = rsa.RSAPublicKey

    def __init__(self, name: str, hash_algorithm: hashes.HashAlgorithm) -> None:
        super().__init__(name, hash_algorithm)
        # RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, with sLen = hLen and emLen = ceil((modBits - 1) / 8).
        self._min_bits = 8 * (2 * hash_algorithm.digest_size + 1) + 2

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an RSA key large enough for this hash."""
        require_rsa_key(self.name, public_key, min_bits=self._min_bits)

    def _sign_data(self, private_key: rsa.RSAPrivateKey, data: bytes, algorithm: HashArgument) -> bytes:
        pss = padding.PSS(mgf=padding.MGF1(self.hash_algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
        return private_key.sign(data, pss, algorithm)

    def _verify_data(
        self, public_key: rsa.RSAPublicKey, signature: bytes, data: bytes, algorithm: HashArgument
    ) -> None:
        pss = padding.PSS(mgf=padding.MGF1(self.hash_algorithm), salt_length=padding.PSS.AUTO)
        public_key.verify(signature, data, pss, algorithm)


class RsaOaepEncryption:
    """RSAES-OAEP with MGF1 over the same hash and an empty label (``RSAES_OAEP_SHA_256`` …)."""

    def __init__(self, name: str, hash_algorithm: hashes.HashAlgorithm) -> None:
        self.name = name
        self.hash_algorithm = hash_algorithm
        # RFC 8017 §7.1.1: mLen <= k - 2hLen - 2; a key with room for at least one byte has k >= 2hLen + 3.
        self._min_bits = 8 * (2 * hash_algorithm.digest_size + 2) + 1

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an RSA key large enough for this hash."""
        require_rsa_key(self.name, public_key, min_bits=self._min_bits)

    def max_plaintext_bytes(self, public_key: object) -> int:
        """k - 2·hLen - 2 (RFC 8017 §7.1.1): 214 B (SHA-1) or 190 B (SHA-256) for RSA-2048."""
        self.check_key(public_key)
        assert isinstance(public_key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
        return math.ceil(public_key.key_size / 8) - 2 * self.hash_algorithm.digest_size - 2

    def encrypt(self, public_key: object, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext``. Raises AlgorithmMismatch, MessageTooLarge."""
        limit = self.max_plaintext_bytes(public_key)
        assert isinstance(public_key, rsa.RSAPublicKey)
        if len(plaintext) > limit:
            raise MessageTooLarge(
                f"{self.name} encrypts at most {limit} bytes with an RSA {public_key.key_size}-bit key;"
                f" this plaintext has {len(plaintext)} bytes",
                details={"limit_bytes": limit, "size_bytes": len(plaintext)},
            )
        return public_key.encrypt(plaintext, self._padding())

    def decrypt(self, private_key: object, ciphertext: bytes) -> bytes:
        """Decrypt ``ciphertext``. Raises AlgorithmMismatch, InvalidInput (one message for every failure)."""
        self.check_key(private_key)
        assert isinstance(private_key, rsa.RSAPrivateKey)
        try:
            return private_key.decrypt(ciphertext, self._padding())
        except ValueError:
            # One message whatever failed (length, padding, label): details would be a padding oracle.
            raise InvalidInput(_DECRYPT_FAILED) from None

    def _padding(self) -> padding.OAEP:
        return padding.OAEP(mgf=padding.MGF1(self.hash_algorithm), algorithm=self.hash_algorithm, label=None)
