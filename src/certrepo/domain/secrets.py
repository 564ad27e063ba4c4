"""A value type for secrets whose repr never shows the value (logs, tracebacks, audit)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SealedSecret", "Secret"]


class Secret:
    """Wraps secret bytes; ``repr``/``str`` print a placeholder, ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


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
