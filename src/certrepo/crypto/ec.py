"""ECDSA on the NIST curves P-256, P-384 and P-521 (FIPS 186-5), with DER signatures (RFC 3279 §2.2.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certrepo.crypto.keys import algorithm_mismatch
from certrepo.crypto.messages import Message, hash_input

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["SUPPORTED_CURVES", "EcdsaSignature", "require_ec_key"]

# The curves certrepo names (KeyAlgorithm ECC_256/384/521). Any SHA-2 hash goes with any of them, as
# X.509 and CMS allow; SHA-384 with P-384 and SHA-512 with P-521 match their security levels.
SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def require_ec_key(algorithm_name: str, key: object) -> None:
    """Raise AlgorithmMismatch unless ``key`` is an EC key (public or private) on P-256, P-384 or P-521."""
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        raise algorithm_mismatch(algorithm_name, "an EC key", key)
    if key.curve.name not in SUPPORTED_CURVES:
        raise algorithm_mismatch(algorithm_name, "an EC key on P-256, P-384 or P-521", key)


class EcdsaSignature:
    """ECDSA with a SHA-2 hash (``SHA256withECDSA`` …); signatures are DER ``SEQUENCE {r, s}``."""

    def __init__(self, name: str, hash_algorithm: hashes.HashAlgorithm) -> None:
        self.name = name
        self.hash_algorithm = hash_algorithm
        self.digest_size: int | None = hash_algorithm.digest_size

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an EC key on a supported curve."""
        require_ec_key(self.name, public_key)

    def sign(
        self,
        private_key: object,
        message: Message,
        *,
        certificate: x509.Certificate | None = None,
        chain: Sequence[x509.Certificate] = (),
        signing_time: datetime | None = None,
    ) -> bytes:
        """Sign ``message``. Raises AlgorithmMismatch, InvalidInput (digest size)."""
        self.check_key(private_key)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        data, algorithm = hash_input(message, self.name, self.hash_algorithm)
        return private_key.sign(data, ec.ECDSA(algorithm))

    def verify(
        self,
        public_key: object,
        message: Message,
        signature: bytes,
        *,
        certificate: x509.Certificate | None = None,
    ) -> bool:
        """Whether the DER ``signature`` is valid; False for a bad or malformed one. Raises AlgorithmMismatch."""
        self.check_key(public_key)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        data, algorithm = hash_input(message, self.name, self.hash_algorithm)
        try:
            # cryptography parses the DER strictly: BER variants and trailing bytes are refused.
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        except (InvalidSignature, ValueError):
            return False
        return True
