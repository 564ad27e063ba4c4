"""Console passwords are hashed with Argon2id at a cost that resists offline guessing."""

from __future__ import annotations

from argon2 import Type

from certrepo.services import auth


def test_production_hashing_is_argon2id_with_owasp_minimums() -> None:
    hasher = auth.PasswordHasher()  # what auth._hasher is built as outside the test session
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2
    assert auth.hash_password("correct horse battery").startswith("$argon2id$")
