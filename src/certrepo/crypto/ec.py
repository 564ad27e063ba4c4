"""ECDSA on the NIST curves P-256, P-384 and P-521 (FIPS 186-5), with DER signatures (RFC 3279 §2.2.3)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from certrepo.crypto.base import HashArgument, HashedSignature
from certrepo.crypto.keys import algorithm_mismatch

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


class EcdsaSignature(HashedSignature[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]):
    """ECDSA with a SHA-2 hash (``SHA256withECDSA`` …); signatures are DER ``SEQUENCE {r, s}``."""

    _private_key_type = ec.EllipticCurvePrivateKey
    _public_key_type = ec.EllipticCurvePublicKey

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an EC key on a supported curve."""
        require_ec_key(self.name, public_key)

    def _sign_data(
        self, private_key: ec.EllipticCurvePrivateKey, data: bytes, algorithm: HashArgument
    ) -> bytes:
        return private_key.sign(data, ec.ECDSA(algorithm))

    def _verify_data(
        self, public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, algorithm: HashArgument
    ) -> None:
        # cryptography parses the DER strictly: BER variants and trailing bytes are refused.
        public_key.verify(signature, data, ec.ECDSA(algorithm))
