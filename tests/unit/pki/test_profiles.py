"""The compliant signing profile (SPEC §1.1): one test per rule, each naming the rule and the certificate."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from certrepo.domain.errors import CertificateExpired, ChainInvalid, InvalidInput, NoPrivateKey
from certrepo.pki.chain import order_chain
from certrepo.pki.profiles import (
    COMPLIANT_RULES,
    check_compliant_profile,
    check_signing_extended_key_usage,
    check_signing_key_algorithm,
    check_signing_key_usage,
    check_trusted_chain,
    check_valid_now,
)

if TYPE_CHECKING:
    from pki.conftest import Issued, Pki

DAY = dt.timedelta(days=1)
SIGNING_USAGE = {"digital_signature": True, "content_commitment": True}
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ADOBE_AUTHENTIC_DOCUMENTS = ObjectIdentifier("1.2.840.113583.1.1.5")


def signer(pki: Pki, issuer: Issued | None = None, **options: object) -> Issued:
    arguments: dict[str, object] = {"key_usage": SIGNING_USAGE, "eku": [DOCUMENT_SIGNING], **options}
    return pki.issue("Signer", issuer, **arguments)


def test_rules_are_listed_by_name_in_order() -> None:
    names = [rule.name for rule in COMPLIANT_RULES]
    assert names == ["key-usage", "extended-key-usage", "key-algorithm", "valid-now", "private-key"]


def test_compliant_certificate_passes_every_rule(pki: Pki, now: dt.datetime) -> None:
    check_compliant_profile(signer(pki).cert, has_private_key=True, now=now)


@pytest.mark.parametrize(
    ("key_usage", "missing"),
    [
        pytest.param({"digital_signature": True}, "nonRepudiation", id="no-non-repudiation"),
        pytest.param(
            {"digital_signature": False, "content_commitment": True},
            "digitalSignature",
            id="no-digital-signature",
        ),
    ],
)
def test_key_usage_rule_requires_both_signing_bits(
    pki: Pki, key_usage: dict[str, bool], missing: str
) -> None:
    cert = pki.issue("Signer", key_usage=key_usage).cert
    with pytest.raises(
        InvalidInput, match=rf"CN=Signer fails compliant rule 'key-usage': keyUsage lacks {missing}"
    ):
        check_signing_key_usage(cert)


@pytest.mark.parametrize(
    "eku",
    [
        pytest.param(None, id="absent"),
        pytest.param([DOCUMENT_SIGNING], id="document-signing"),
        pytest.param([ExtendedKeyUsageOID.EMAIL_PROTECTION], id="email-protection"),
        pytest.param([ADOBE_AUTHENTIC_DOCUMENTS, ExtendedKeyUsageOID.CLIENT_AUTH], id="adobe-among-others"),
    ],
)
def test_extended_key_usage_rule_accepts_document_signing_purposes(
    pki: Pki, eku: list[ObjectIdentifier] | None
) -> None:
    check_signing_extended_key_usage(signer(pki, eku=eku).cert)


def test_extended_key_usage_rule_refuses_tls_only_certificates(pki: Pki) -> None:
    cert = signer(pki, eku=[ExtendedKeyUsageOID.SERVER_AUTH]).cert
    with pytest.raises(
        InvalidInput, match=r"CN=Signer fails compliant rule 'extended-key-usage'.*serverAuth"
    ):
        check_signing_extended_key_usage(cert)


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda p: p.rsa_keys[0], id="rsa-2048"),
        pytest.param(lambda p: p.ec_key(ec.SECP256R1()), id="p256"),
        pytest.param(lambda p: p.ec_key(ec.SECP384R1()), id="p384"),
        pytest.param(lambda p: p.ec_key(ec.SECP521R1()), id="p521"),
        pytest.param(lambda p: p.ed_key(), id="ed25519"),
    ],
)
def test_key_algorithm_rule_accepts_strong_keys(pki: Pki, make_key: object) -> None:
    check_signing_key_algorithm(signer(pki, key=make_key(pki)).cert)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make_key", "detail"),
    [
        pytest.param(lambda p: p.rsa_1024, "RSA key of 1024 bits is below 2048", id="rsa-1024"),
        pytest.param(lambda p: p.ec_key(ec.SECP256K1()), "secp256k1", id="secp256k1"),
    ],
)
def test_key_algorithm_rule_refuses_weak_or_unknown_keys(pki: Pki, make_key: object, detail: str) -> None:
    cert = signer(pki, key=make_key(pki)).cert  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=rf"CN=Signer fails compliant rule 'key-algorithm': .*{detail}"):
        check_signing_key_algorithm(cert)


def test_valid_now_rule_refuses_an_expired_certificate_as_expired(pki: Pki, now: dt.datetime) -> None:
    cert = signer(pki, not_before=now - 30 * DAY, not_after=now - DAY).cert
    with pytest.raises(CertificateExpired, match="CN=Signer fails compliant rule 'valid-now': expired on"):
        check_valid_now(cert, now)


def test_valid_now_rule_refuses_a_certificate_not_yet_valid(pki: Pki, now: dt.datetime) -> None:
    cert = signer(pki, not_before=now + DAY).cert
    with pytest.raises(InvalidInput, match="CN=Signer fails compliant rule 'valid-now': is not valid before"):
        check_valid_now(cert, now)


def test_private_key_rule_refuses_a_certificate_without_its_key(pki: Pki, now: dt.datetime) -> None:
    with pytest.raises(NoPrivateKey, match="CN=Signer fails compliant rule 'private-key'"):
        check_compliant_profile(signer(pki).cert, has_private_key=False, now=now)


def test_profile_stops_at_the_first_failing_rule(pki: Pki, now: dt.datetime) -> None:
    # Fails key-usage and valid-now and private-key: only the first is reported.
    cert = pki.issue("Signer", not_after=now - DAY, not_before=now - 9 * DAY).cert
    with pytest.raises(InvalidInput, match="'key-usage'"):
        check_compliant_profile(cert, has_private_key=False, now=now)


def test_trusted_chain_rule_accepts_a_chain_to_a_trusted_root(
    pki: Pki, ec_chain: tuple[Issued, ...], now: dt.datetime
) -> None:
    root, intermediate, _ = ec_chain
    leaf = signer(pki, intermediate)
    check_trusted_chain(order_chain([leaf.cert, intermediate.cert]), trusted=[root.cert], now=now)


def test_trusted_chain_rule_refuses_a_chain_to_another_root(
    pki: Pki, ec_chain: tuple[Issued, ...], now: dt.datetime
) -> None:
    root, intermediate, _ = ec_chain
    leaf = signer(pki, intermediate)
    stranger = pki.issue("Stranger Root", ca=True)
    with pytest.raises(ChainInvalid, match="CN=Signer fails compliant rule 'trusted-chain'"):
        check_trusted_chain(
            order_chain([leaf.cert, intermediate.cert, root.cert]), trusted=[stranger.cert], now=now
        )
