"""What both Wycheproof suites (crypto registry and REST service) read from the vector files the same way."""

from __future__ import annotations

import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["Case", "Group", "other_salt_length"]

Case = dict[str, Any]
Group = dict[str, Any]


def other_salt_length(case: Case, group: Group, public_key: object, data: bytes, signature: bytes) -> int | None:
    """N when the case is a genuine PSS signature that differs from the group only by salt length N."""
    found = re.fullmatch(r"s_len changed to (\d+)", case["comment"])
    if case["result"] != "invalid" or found is None:
        return None
    salt_length = int(found.group(1))
    hash_algorithm = {"SHA-256": hashes.SHA256(), "SHA-384": hashes.SHA384(), "SHA-512": hashes.SHA512()}[
        group["sha"]
    ]
    assert isinstance(public_key, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=salt_length)
    try:
        public_key.verify(signature, data, pss, hash_algorithm)  # checked with the exact salt length
    except InvalidSignature:
        return None
    return salt_length
