"""Identifier formats. Randomness comes in as an argument so that rules stay deterministic in tests."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

__all__ = [
    "INSTANCE_ID_PATTERN",
    "RandomBytes",
    "is_instance_id",
    "new_access_key_id",
    "new_certificate_identifier",
    "new_instance_id",
]

RandomBytes = Callable[[int], bytes]

INSTANCE_ID_PATTERN = re.compile(r"^cas-wh-[a-z2-7]{10}$")


def _base32(raw: bytes, length: int) -> str:
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")[:length]


def new_instance_id(random_bytes: RandomBytes) -> str:
    """A repository instance id: ``cas-wh-`` + 10 lowercase base32 characters (50 bits)."""
    return "cas-wh-" + _base32(random_bytes(7), 10)


def is_instance_id(value: str) -> bool:
    return bool(INSTANCE_ID_PATTERN.match(value))


def new_certificate_identifier(random_bytes: RandomBytes) -> str:
    """An opaque, URL-safe certificate identifier (128 bits, hex like Alibaba's examples)."""
    return random_bytes(16).hex()


def new_access_key_id(random_bytes: RandomBytes) -> str:
    """``CR`` + 22 uppercase base32 characters: recognisable in logs, never a secret."""
    return "CR" + _base32(random_bytes(14), 22).upper()
