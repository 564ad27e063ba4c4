"""CMS (PKCS#7) detached signatures: structure, signing time, signer checks, and what verify refuses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.serialization import Encoding

from certrepo.crypto.messages import Message
from certrepo.crypto.registry import signature_algorithm
from certrepo.domain.errors import KeyMismatch, MissingParameter

if TYPE_CHECKING:
    from .conftest import KeyRing, Pki

CONTENT = b"%PDF-1.7 a contract to sign"
SIGNERS = [("SHA256withRSA/P7", "rsa2048"), ("SHA256withECDSA/P7", "p256")]
SIGNER_IDS = ["rsa", "ec"]


def _sign(key_ring: KeyRing, pki: Pki, name: str, key_name: str, when: datetime, message: Message) -> bytes:
    return signature_algorithm(name).sign(
        key_ring[key_name], message, certificate=pki.leaf(key_name), chain=[pki.root], signing_time=when
    )


def _signed_data(signature: bytes) -> cms.SignedData:
    content_info = cms.ContentInfo.load(signature, strict=True)
    assert content_info["content_type"].native == "signed_data"
    return content_info["content"]


def _attribute(signed_data: cms.SignedData, name: str) -> object:
    attrs = signed_data["signer_infos"][0]["signed_attrs"]
    return next(a["values"][0].native for a in attrs if a["type"].native == name)


@pytest.mark.parametrize(("name", "key_name"), SIGNERS, ids=SIGNER_IDS)
def test_cms_signature_is_detached_with_signer_certificate_and_chain(
    key_ring: KeyRing, pki: Pki, now: datetime, name: str, key_name: str
) -> None:
    signed_data = _signed_data(_sign(key_ring, pki, name, key_name, now, Message(CONTENT)))
    certificates = {c.chosen.dump() for c in signed_data["certificates"]}
    assert signed_data["encap_content_info"]["content"].native is None
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert certificates == {
        pki.leaf(key_name).public_bytes(Encoding.DER),
        pki.root.public_bytes(Encoding.DER),
    }


@pytest.mark.parametrize(("name", "key_name"), SIGNERS, ids=SIGNER_IDS)
def test_cms_signed_attributes_carry_the_given_signing_time_and_the_digest(
    key_ring: KeyRing, pki: Pki, now: datetime, name: str, key_name: str
) -> None:
    signed_data = _signed_data(_sign(key_ring, pki, name, key_name, now, Message(CONTENT)))
    assert _attribute(signed_data, "signing_time") == now
    assert _attribute(signed_data, "message_digest") == hashlib.sha256(CONTENT).digest()
    assert _attribute(signed_data, "content_type") == "data"


def test_cms_signing_certificate_v2_hashes_the_signer_certificate(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    signed_data = _signed_data(_sign(key_ring, pki, "SHA256withRSA/P7", "rsa2048", now, Message(CONTENT)))
    ess = _attribute(signed_data, "signing_certificate_v2")
    assert isinstance(ess, dict)
    expected = hashlib.sha256(pki.leaf("rsa2048").public_bytes(Encoding.DER)).digest()
    assert ess["certs"][0]["cert_hash"] == expected


def test_cms_signing_time_from_2050_on_is_generalized_time(key_ring: KeyRing, pki: Pki) -> None:
    when = datetime(2051, 2, 3, 4, 5, 6, tzinfo=UTC)
    signed_data = _signed_data(_sign(key_ring, pki, "SHA256withECDSA/P7", "p256", when, Message(CONTENT)))
    attrs = signed_data["signer_infos"][0]["signed_attrs"]
    time = next(a["values"][0] for a in attrs if a["type"].native == "signing_time")
    assert (time.name, time.native) == ("generalized_time", when)


def test_cms_signature_of_a_digest_equals_the_one_of_the_content_for_rsa(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    # PKCS#1 v1.5 is deterministic: the same signed attributes give the very same bytes.
    of_content = _sign(key_ring, pki, "SHA256withRSA/P7", "rsa2048", now, Message(CONTENT))
    digest = Message(hashlib.sha256(CONTENT).digest(), is_digest=True)
    assert _sign(key_ring, pki, "SHA256withRSA/P7", "rsa2048", now, digest) == of_content


def test_cms_signing_without_a_certificate_is_missing_parameter(key_ring: KeyRing, now: datetime) -> None:
    with pytest.raises(MissingParameter, match="signer certificate"):
        signature_algorithm("SHA256withRSA/P7").sign(key_ring["rsa2048"], Message(CONTENT), signing_time=now)


def test_cms_signing_with_a_certificate_of_another_key_is_key_mismatch(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    with pytest.raises(KeyMismatch):
        signature_algorithm("SHA256withRSA/P7").sign(
            key_ring["rsa2048"], Message(CONTENT), certificate=pki.leaf("rsa3072"), signing_time=now
        )


@pytest.mark.parametrize("when", [None, datetime(2025, 1, 1)], ids=["missing", "naive"])
def test_cms_signing_needs_an_aware_signing_time(key_ring: KeyRing, pki: Pki, when: datetime | None) -> None:
    with pytest.raises(ValueError, match="signing_time"):
        signature_algorithm("SHA256withRSA/P7").sign(
            key_ring["rsa2048"], Message(CONTENT), certificate=pki.leaf("rsa2048"), signing_time=when
        )


@pytest.mark.parametrize(("name", "key_name"), SIGNERS, ids=SIGNER_IDS)
def test_cms_verify_with_the_signer_certificate_is_true(
    key_ring: KeyRing, pki: Pki, now: datetime, name: str, key_name: str
) -> None:
    signature = _sign(key_ring, pki, name, key_name, now, Message(CONTENT))
    public_key = key_ring[key_name].public_key()
    assert signature_algorithm(name).verify(
        public_key, Message(CONTENT), signature, certificate=pki.leaf(key_name)
    )


def test_cms_verify_naming_another_certificate_is_false(key_ring: KeyRing, pki: Pki, now: datetime) -> None:
    signature = _sign(key_ring, pki, "SHA256withRSA/P7", "rsa2048", now, Message(CONTENT))
    algorithm = signature_algorithm("SHA256withRSA/P7")
    public_key = key_ring["rsa2048"].public_key()
    assert not algorithm.verify(public_key, Message(CONTENT), signature, certificate=pki.leaf("rsa3072"))


def test_cms_with_altered_signed_attributes_does_not_verify(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    signature = _sign(key_ring, pki, "SHA256withECDSA/P7", "p256", now, Message(CONTENT))
    # The signing time is covered by the signature: move it by a year, keep the encoding's length.
    altered = signature.replace(
        now.strftime("%y%m%d").encode(), now.replace(year=2026).strftime("%y%m%d").encode()
    )
    assert altered != signature
    algorithm = signature_algorithm("SHA256withECDSA/P7")
    assert algorithm.verify(key_ring["p256"].public_key(), Message(CONTENT), altered) is False


def test_cms_that_is_not_signed_data_does_not_verify(key_ring: KeyRing) -> None:
    data_only = cms.ContentInfo({"content_type": "data", "content": CONTENT}).dump()
    algorithm = signature_algorithm("SHA256withRSA/P7")
    assert algorithm.verify(key_ring["rsa2048"].public_key(), Message(CONTENT), data_only) is False


def test_cms_verify_refuses_a_digest_algorithm_other_than_the_named_one(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    signature = _sign(key_ring, pki, "SHA256withRSA/P7", "rsa2048", now, Message(CONTENT))
    content_info = cms.ContentInfo.load(signature)
    content_info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "sha384"}
    relabelled = content_info.dump(force=True)
    algorithm = signature_algorithm("SHA256withRSA/P7")
    assert algorithm.verify(key_ring["rsa2048"].public_key(), Message(CONTENT), relabelled) is False


def test_cms_digest_algorithm_identifiers_have_absent_parameters(
    key_ring: KeyRing, pki: Pki, now: datetime
) -> None:
    # RFC 5754 §2: generated SHA-2 AlgorithmIdentifiers have no parameters (not even NULL).
    signature = _sign(key_ring, pki, "SHA256withECDSA/P7", "p256", now, Message(CONTENT))
    signed_data = _signed_data(signature)
    identifiers = [signed_data["digest_algorithms"][0], signed_data["signer_infos"][0]["digest_algorithm"]]
    assert [identifier.dump() for identifier in identifiers] == [
        bytes.fromhex("300b0609608648016503040201")
    ] * 2
