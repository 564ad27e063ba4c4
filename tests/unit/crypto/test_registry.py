"""The algorithm registry: the names of SPEC §2.1, lookups, and errors for unknown names."""

from __future__ import annotations

import pytest

from certrepo.crypto.registry import (
    ENCRYPTION_ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    encryption_algorithm,
    signature_algorithm,
)
from certrepo.domain.errors import InvalidInput

SPEC_SIGNATURE_NAMES = {
    "SHA256withRSA", "SHA384withRSA", "SHA512withRSA",
    "SHA256withRSA/PSS", "SHA384withRSA/PSS", "SHA512withRSA/PSS",
    "SHA256withECDSA", "SHA384withECDSA", "SHA512withECDSA",
    "SHA256withRSA/P7", "SHA256withECDSA/P7", "Ed25519", "SM3withSM2",
}  # fmt: skip
SPEC_ENCRYPTION_NAMES = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}


def test_registry_offers_exactly_the_signature_algorithms_of_the_spec() -> None:
    assert set(SIGNATURE_ALGORITHMS) == SPEC_SIGNATURE_NAMES


def test_registry_offers_exactly_the_encryption_algorithms_of_the_spec() -> None:
    assert set(ENCRYPTION_ALGORITHMS) == SPEC_ENCRYPTION_NAMES


@pytest.mark.parametrize("name", sorted(SPEC_SIGNATURE_NAMES))
def test_signature_algorithm_is_found_under_its_own_name(name: str) -> None:
    assert signature_algorithm(name).name == name


@pytest.mark.parametrize("name", sorted(SPEC_ENCRYPTION_NAMES))
def test_encryption_algorithm_is_found_under_its_own_name(name: str) -> None:
    assert encryption_algorithm(name).name == name


def test_lookup_falls_back_to_a_case_insensitive_match() -> None:
    assert signature_algorithm("sha256withrsa/pss").name == "SHA256withRSA/PSS"


def test_unknown_signature_algorithm_is_invalid_input_listing_the_supported_names() -> None:
    with pytest.raises(InvalidInput) as caught:
        signature_algorithm("SHA1withRSA")
    assert all(name in caught.value.message for name in SPEC_SIGNATURE_NAMES)
    assert caught.value.details["field"] == "algorithm"


def test_unknown_encryption_algorithm_is_invalid_input_listing_the_supported_names() -> None:
    with pytest.raises(InvalidInput) as caught:
        encryption_algorithm("RSAES_PKCS1_V1_5")
    assert all(name in caught.value.message for name in SPEC_ENCRYPTION_NAMES)


def test_an_encryption_name_asked_for_signing_says_what_it_is() -> None:
    with pytest.raises(InvalidInput, match="RSAES_OAEP_SHA_256 is an encryption algorithm"):
        signature_algorithm("RSAES_OAEP_SHA_256")


def test_a_signature_name_asked_for_encryption_says_what_it_is() -> None:
    with pytest.raises(InvalidInput, match="SHA256withRSA is a signature algorithm"):
        encryption_algorithm("SHA256withRSA")


@pytest.mark.parametrize(
    ("name", "digest_size"),
    [("SHA256withRSA", 32), ("SHA384withECDSA", 48), ("SHA512withRSA/PSS", 64), ("SHA256withRSA/P7", 32),
     ("SM3withSM2", 32), ("Ed25519", None)],
)  # fmt: skip
def test_digest_size_is_the_hash_length_or_none_for_ed25519(name: str, digest_size: int | None) -> None:
    assert signature_algorithm(name).digest_size == digest_size
