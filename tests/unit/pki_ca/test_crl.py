from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography import x509

from certrepo.domain.enums import RevocationReason
from certrepo.domain.errors import InvalidInput, KeyMismatch
from certrepo.pki.crl import RevokedEntry, build_crl, crl_der, crl_pem, reason_flag
from certrepo.pki.issue import new_serial

from .conftest import NOW, Ca, Hierarchy

NEXT = NOW + dt.timedelta(days=7)


def _crl(ca: Ca, entries: list[RevokedEntry], *, number: int = 1) -> x509.CertificateRevocationList:
    return build_crl(
        ca_cert=ca.cert, ca_key=ca.key, entries=entries, crl_number=number, this_update=NOW, next_update=NEXT
    )


def test_crl_is_signed_by_the_ca_and_names_it_as_issuer(ec_pki: Hierarchy) -> None:
    crl = _crl(ec_pki.intermediate, [])

    assert crl.is_signature_valid(ec_pki.intermediate.cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ec_pki.intermediate.cert.subject
    assert (crl.last_update_utc, crl.next_update_utc) == (NOW, NEXT)


def test_crl_carries_the_crl_number_and_the_cas_key_identifier(rsa_pki: Hierarchy) -> None:
    crl = _crl(rsa_pki.intermediate, [], number=41)

    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 41
    ski = rsa_pki.intermediate.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_each_entry_lists_serial_date_and_reason(ec_pki: Hierarchy) -> None:
    revoked_at = NOW - dt.timedelta(hours=3)
    crl = _crl(ec_pki.intermediate, [RevokedEntry(77, revoked_at, RevocationReason.KEY_COMPROMISE)])

    entry = crl.get_revoked_certificate_by_serial_number(77)

    assert entry is not None
    assert entry.revocation_date_utc == revoked_at
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )


def test_the_reason_code_is_omitted_for_unspecified(ec_pki: Hierarchy) -> None:
    crl = _crl(ec_pki.intermediate, [RevokedEntry(5, NOW, RevocationReason.UNSPECIFIED)])

    entry = crl.get_revoked_certificate_by_serial_number(5)

    assert entry is not None
    assert len(entry.extensions) == 0


@pytest.mark.parametrize(
    "reason",
    [
        r
        for r in RevocationReason
        if r not in (RevocationReason.UNSPECIFIED, RevocationReason.REMOVE_FROM_CRL)
    ],
)
def test_every_full_crl_reason_is_encoded(ed25519_pki: Hierarchy, reason: RevocationReason) -> None:
    crl = _crl(ed25519_pki.intermediate, [RevokedEntry(9, NOW, reason)])

    entry = crl.get_revoked_certificate_by_serial_number(9)

    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is reason_flag(reason)


def test_remove_from_crl_is_refused_in_a_full_crl(ec_pki: Hierarchy) -> None:
    with pytest.raises(InvalidInput, match="remove_from_crl is only meaningful in delta CRLs"):
        _crl(ec_pki.intermediate, [RevokedEntry(5, NOW, RevocationReason.REMOVE_FROM_CRL)])


def test_a_serial_listed_twice_is_refused(ec_pki: Hierarchy) -> None:
    entries = [
        RevokedEntry(0xABC, NOW, RevocationReason.SUPERSEDED),
        RevokedEntry(0xABC, NOW, RevocationReason.UNSPECIFIED),
    ]

    with pytest.raises(InvalidInput, match="revoked entry 2: serial abc is listed twice"):
        _crl(ec_pki.intermediate, entries)


@pytest.mark.parametrize("offset", [dt.timedelta(0), dt.timedelta(hours=-1)], ids=["equal", "before"])
def test_next_update_must_follow_this_update(ec_pki: Hierarchy, offset: dt.timedelta) -> None:
    with pytest.raises(InvalidInput, match="nextUpdate .* must be later than thisUpdate"):
        build_crl(
            ca_cert=ec_pki.intermediate.cert,
            ca_key=ec_pki.intermediate.key,
            entries=[],
            crl_number=1,
            this_update=NOW,
            next_update=NOW + offset,
        )


@pytest.mark.parametrize("number", [-1, 1 << 160], ids=["negative", "over 20 octets"])
def test_a_bad_crl_number_is_refused(ec_pki: Hierarchy, number: int) -> None:
    with pytest.raises(InvalidInput, match="CRL number"):
        _crl(ec_pki.intermediate, [], number=number)


def test_a_crl_signed_with_another_key_is_refused(ec_pki: Hierarchy) -> None:
    with pytest.raises(KeyMismatch, match="does not belong to the CA"):
        _crl(Ca(ec_pki.intermediate.cert, ec_pki.root.key), [])


def test_pem_and_der_encode_the_same_crl(ec_pki: Hierarchy) -> None:
    crl = _crl(ec_pki.intermediate, [RevokedEntry(3, NOW, RevocationReason.SUPERSEDED)])

    assert crl_pem(crl).startswith(b"-----BEGIN X509 CRL-----")
    assert x509.load_der_x509_crl(crl_der(crl)) == x509.load_pem_x509_crl(crl_pem(crl))


def test_ten_thousand_entries_build_into_one_crl(ec_pki: Hierarchy) -> None:
    serials = {new_serial(os.urandom) for _ in range(10_000)}
    entries = [RevokedEntry(s, NOW, RevocationReason.KEY_COMPROMISE) for s in serials]

    crl = _crl(ec_pki.intermediate, entries)

    assert len(crl) == len(serials)
    assert crl.is_signature_valid(ec_pki.intermediate.cert.public_key())  # type: ignore[arg-type]
