"""The sign/verify flow the signature algorithms share; each algorithm supplies only what differs.

``KeyedSignature`` checks the key and narrows it to the algorithm's private or public key type, then
calls the algorithm's ``_sign`` / ``_verify``. ``HashedSignature`` adds the SHA-2 input handling of
cryptography's RSA and EC keys (content or DIGEST via ``hash_input``) and answers False for a bad or
malformed signature; RSA and ECDSA then supply the primitive call alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from certrepo.crypto.messages import Message, hash_input

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["HashArgument", "HashedSignature", "KeyedSignature"]

# What cryptography's RSA and EC sign/verify take as the hash: Prehashed when the input is a DIGEST.
HashArgument = hashes.HashAlgorithm | Prehashed

PrivateKeyT = TypeVar("PrivateKeyT")
PublicKeyT = TypeVar("PublicKeyT")


class KeyedSignature(Generic[PrivateKeyT, PublicKeyT]):
    """A signature algorithm over one private and one public key type (the SignatureAlgorithm protocol).

    Subclasses set ``name``, ``digest_size``, the two key types, and implement ``check_key``, ``_sign``
    and ``_verify``.
    """

    name: str
    digest_size: int | None
    _private_key_type: type[PrivateKeyT]
    _public_key_type: type[PublicKeyT]

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` fits this algorithm."""
        raise NotImplementedError

    def sign(
        self,
        private_key: object,
        message: Message,
        *,
        certificate: x509.Certificate | None = None,
        chain: Sequence[x509.Certificate] = (),
        signing_time: datetime | None = None,
    ) -> bytes:
        """Sign ``message``. Raises AlgorithmMismatch, InvalidInput (digest size), Unsupported."""
        self.check_key(private_key)
        assert isinstance(private_key, self._private_key_type)
        return self._sign(private_key, message)

    def verify(
        self,
        public_key: object,
        message: Message,
        signature: bytes,
        *,
        certificate: x509.Certificate | None = None,
    ) -> bool:
        """Whether ``signature`` is valid; False for a bad or malformed one.

        Raises AlgorithmMismatch, InvalidInput (digest size), Unsupported.
        """
        self.check_key(public_key)
        assert isinstance(public_key, self._public_key_type)
        return self._verify(public_key, message, signature)

    def _sign(self, private_key: PrivateKeyT, message: Message) -> bytes:
        raise NotImplementedError

    def _verify(self, public_key: PublicKeyT, message: Message, signature: bytes) -> bool:
        raise NotImplementedError


class HashedSignature(KeyedSignature[PrivateKeyT, PublicKeyT]):
    """A signature with a SHA-2 hash on a cryptography key; subclasses supply the primitive call."""

    def __init__(self, name: str, hash_algorithm: hashes.HashAlgorithm) -> None:
        self.name = name
        self.hash_algorithm = hash_algorithm
        self.digest_size: int | None = hash_algorithm.digest_size

    def _sign(self, private_key: PrivateKeyT, message: Message) -> bytes:
        data, algorithm = hash_input(message, self.name, self.hash_algorithm)
        return self._sign_data(private_key, data, algorithm)

    def _verify(self, public_key: PublicKeyT, message: Message, signature: bytes) -> bool:
        # Outside the try: a DIGEST of the wrong size is an error, not a bad signature.
        data, algorithm = hash_input(message, self.name, self.hash_algorithm)
        try:
            self._verify_data(public_key, signature, data, algorithm)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _sign_data(self, private_key: PrivateKeyT, data: bytes, algorithm: HashArgument) -> bytes:
        raise NotImplementedError

    def _verify_data(
        self,
        public_key: PublicKeyT,
        signature: bytes,
        data: bytes,
        algorithm: HashArgument,
    ) -> None:
        """Return if ``signature`` is valid; raise InvalidSignature (or ValueError) otherwise."""
        raise NotImplementedError
