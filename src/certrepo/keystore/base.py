"""The keystore Protocol: how services protect secrets at rest without knowing the mechanism."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Keystore", "SealedSecret"]


@dataclass(frozen=True)
class SealedSecret:
    """An encrypted secret as stored: ciphertext under a data key, the data key wrapped by a master key."""

    ciphertext: bytes
    nonce: bytes
    wrapped_key: bytes
    wrap_nonce: bytes
    master_version: int

    def __repr__(self) -> str:
        return f"SealedSecret(master_version={self.master_version}, {len(self.ciphertext)} bytes)"


class Keystore(Protocol):
    """Envelope encryption of secrets. ``purpose`` is bound into the ciphertext as associated data."""

    def seal(self, plaintext: bytes, *, purpose: str) -> SealedSecret:
        """Encrypt ``plaintext`` under a fresh data key wrapped by the current master key."""

    def open(self, sealed: SealedSecret, *, purpose: str) -> bytes:
        """Decrypt; raises KeystoreError if the secret was altered or its master key is unknown."""

    def rewrap(self, sealed: SealedSecret) -> SealedSecret:
        """Re-wrap the data key under the current master key; the ciphertext is unchanged."""

    @property
    def current_version(self) -> int: ...
