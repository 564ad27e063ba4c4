"""Ed25519 (RFC 8032 PureEdDSA): the message itself is signed, so DIGEST messages are refused."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from certrepo.crypto.base import KeyedSignature
from certrepo.crypto.keys import algorithm_mismatch
from certrepo.crypto.messages import Message
from certrepo.domain.errors import Unsupported

__all__ = ["Ed25519Signature"]


class Ed25519Signature(KeyedSignature[ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey]):
    """``Ed25519``: 64-byte signatures over the whole message; DIGEST messages raise Unsupported."""

    digest_size: int | None = None
    _private_key_type = ed25519.Ed25519PrivateKey
    _public_key_type = ed25519.Ed25519PublicKey

    def __init__(self, name: str = "Ed25519") -> None:
        self.name = name

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an Ed25519 key."""
        if not isinstance(public_key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
            raise algorithm_mismatch(self.name, "an Ed25519 key", public_key)

    def _sign(self, private_key: ed25519.Ed25519PrivateKey, message: Message) -> bytes:
        self._refuse_digest(message)
        return private_key.sign(message.data)

    def _verify(self, public_key: ed25519.Ed25519PublicKey, message: Message, signature: bytes) -> bool:
        self._refuse_digest(message)
        try:
            public_key.verify(signature, message.data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _refuse_digest(self, message: Message) -> None:
        # PureEdDSA hashes the message twice with the key's prefix; a digest alone cannot be signed.
        # (Ed25519ph would sign a SHA-512 prehash, but it is a different algorithm few verifiers know.)
        if message.is_digest:
            raise Unsupported(f"{self.name} signs the message itself, not a digest; send it as RAW or BASE64")
