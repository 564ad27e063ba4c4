"""The one lookup from an algorithm name (SPEC §2.1, Alibaba's names plus ours) to the object doing it.

Names are matched exactly, else case-insensitively (``sha256withrsa``); nothing is imported from a
string. SM3withSM2 and SM2PKE are always listed: without gmssl-pyx they answer ``Unsupported`` when
used, so a name never silently changes meaning with the installation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeVar

from cryptography.hazmat.primitives import hashes

from certrepo.crypto.cms import CmsSignature
from certrepo.crypto.ec import EcdsaSignature
from certrepo.crypto.eddsa import Ed25519Signature
from certrepo.crypto.messages import Message
from certrepo.crypto.rsa import RsaOaepEncryption, RsaPkcs1Signature, RsaPssSignature
from certrepo.crypto.sm2 import Sm2Encryption, Sm2Signature
from certrepo.domain.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography import x509

_T = TypeVar("_T")

__all__ = [
    "ENCRYPTION_ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "EncryptionAlgorithm",
    "SignatureAlgorithm",
    "encryption_algorithm",
    "signature_algorithm",
]


class SignatureAlgorithm(Protocol):
    """A named signature scheme. Keys are cryptography key objects or the SM2 value types."""

    name: str
    digest_size: int | None  # bytes a DIGEST message must have; None when digests cannot be signed

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless the key fits this algorithm."""
        ...

    def sign(
        self,
        private_key: object,
        message: Message,
        *,
        certificate: x509.Certificate | None = None,
        chain: Sequence[x509.Certificate] = (),
        signing_time: datetime | None = None,
    ) -> bytes:
        """The signature of ``message``. Raises AlgorithmMismatch, InvalidInput, Unsupported."""
        ...

    def verify(
        self,
        public_key: object,
        message: Message,
        signature: bytes,
        *,
        certificate: x509.Certificate | None = None,
    ) -> bool:
        """Whether ``signature`` is valid; a bad or malformed one is False, never an error."""
        ...


class EncryptionAlgorithm(Protocol):
    """A named public-key encryption scheme."""

    name: str

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless the key fits this algorithm."""
        ...

    def max_plaintext_bytes(self, public_key: object) -> int:
        """The largest plaintext one call can encrypt with this key."""
        ...

    def encrypt(self, public_key: object, plaintext: bytes) -> bytes:
        """The ciphertext. Raises AlgorithmMismatch, MessageTooLarge."""
        ...

    def decrypt(self, private_key: object, ciphertext: bytes) -> bytes:
        """The plaintext. Raises AlgorithmMismatch, InvalidInput (one message for every failure)."""
        ...


def _signature_algorithms() -> tuple[SignatureAlgorithm, ...]:
    sha256, sha384, sha512 = hashes.SHA256(), hashes.SHA384(), hashes.SHA512()
    return (
        RsaPkcs1Signature("SHA256withRSA", sha256),
        RsaPkcs1Signature("SHA384withRSA", sha384),
        RsaPkcs1Signature("SHA512withRSA", sha512),
        RsaPssSignature("SHA256withRSA/PSS", sha256),
        RsaPssSignature("SHA384withRSA/PSS", sha384),
        RsaPssSignature("SHA512withRSA/PSS", sha512),
        EcdsaSignature("SHA256withECDSA", sha256),
        EcdsaSignature("SHA384withECDSA", sha384),
        EcdsaSignature("SHA512withECDSA", sha512),
        CmsSignature("SHA256withRSA/P7", sha256, "RSA"),
        CmsSignature("SHA256withECDSA/P7", sha256, "EC"),
        Ed25519Signature("Ed25519"),
        Sm2Signature("SM3withSM2"),
    )


def _encryption_algorithms() -> tuple[EncryptionAlgorithm, ...]:
    return (
        RsaOaepEncryption("RSAES_OAEP_SHA_1", hashes.SHA1()),
        RsaOaepEncryption("RSAES_OAEP_SHA_256", hashes.SHA256()),
        Sm2Encryption("SM2PKE"),
    )


# The algorithm objects are immutable and hold no keys, so one shared instance per name suffices.
SIGNATURE_ALGORITHMS: Mapping[str, SignatureAlgorithm] = MappingProxyType(
    {a.name: a for a in _signature_algorithms()}
)
ENCRYPTION_ALGORITHMS: Mapping[str, EncryptionAlgorithm] = MappingProxyType(
    {a.name: a for a in _encryption_algorithms()}
)


def signature_algorithm(name: str) -> SignatureAlgorithm:
    """The signature algorithm called ``name``. Raises InvalidInput listing the supported names."""
    return _lookup(name, SIGNATURE_ALGORITHMS, "signature", ENCRYPTION_ALGORITHMS, "an encryption")


def encryption_algorithm(name: str) -> EncryptionAlgorithm:
    """The encryption algorithm called ``name``. Raises InvalidInput listing the supported names."""
    return _lookup(name, ENCRYPTION_ALGORITHMS, "encryption", SIGNATURE_ALGORITHMS, "a signature")


def _lookup(
    name: str, table: Mapping[str, _T], kind: str, other: Mapping[str, object], other_kind: str
) -> _T:
    if name in table:
        return table[name]
    folded = {key.casefold(): value for key, value in table.items()}
    if name.strip().casefold() in folded:
        return folded[name.strip().casefold()]
    supported = ", ".join(table)
    if name.strip().casefold() in {key.casefold() for key in other}:
        message = f"{name} is {other_kind} algorithm, not a {kind} algorithm; {kind} algorithms: {supported}"
    else:
        message = f"algorithm {name!r} is not a supported {kind} algorithm; supported: {supported}"
    raise InvalidInput(message, details={"field": "algorithm", "supported": list(table)})
