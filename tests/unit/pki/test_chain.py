"""Chain ordering, validation of uploaded chains and CA uploads, and verify_chain for mTLS callers."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from certrepo.domain.errors import (
    CertificateExpired,
    ChainIncomplete,
    ChainInvalid,
    InvalidInput,
)
from certrepo.pki.chain import (
    MAX_CHAIN_CERTIFICATES,
    OrderedChain,
    order_chain,
    validate_ca_upload,
    validate_upload_chain,
)
from certrepo.pki.verify import verify_chain

if TYPE_CHECKING:
    from pki.conftest import Issued, Pki

Chain = tuple["Issued", "Issued", "Issued"]
DAY = dt.timedelta(days=1)


def ordered(*issued: Issued) -> OrderedChain:
    return order_chain([item.cert for item in issued])


# --- ordering -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("permutation", list(itertools.permutations(range(3))), ids=str)
def test_certificates_in_any_order_are_ordered_leaf_first(
    ec_chain: Chain, permutation: tuple[int, ...]
) -> None:
    given = [ec_chain[i].cert for i in permutation]
    result = order_chain(given)
    assert result.leaf == ec_chain[2].cert
    assert result.issuers == (ec_chain[1].cert, ec_chain[0].cert)
    assert result.is_complete


def test_duplicates_are_tolerated(ec_chain: Chain) -> None:
    root, intermediate, leaf = ec_chain
    result = order_chain([leaf.cert, intermediate.cert, intermediate.cert, root.cert, leaf.cert])
    assert result.certificates == (leaf.cert, intermediate.cert, root.cert)


def test_certificate_outside_the_chain_is_refused_naming_it(pki: Pki, ec_chain: Chain) -> None:
    root, intermediate, leaf = ec_chain
    other = pki.issue("Other", pki.issue("Elsewhere", ca=True))
    with pytest.raises(ChainInvalid, match=r"certificate 3 \(CN=Other\) is not part of the chain of CN=leaf"):
        order_chain([leaf.cert, intermediate.cert, other.cert, root.cert])


def test_missing_intermediate_is_incomplete_naming_the_missing_subject(ec_chain: Chain) -> None:
    root, _, leaf = ec_chain
    with pytest.raises(
        ChainIncomplete, match="no issuer for CN=leaf: missing certificate with subject CN=Intermediate"
    ):
        order_chain([leaf.cert, root.cert])


def test_given_leaf_is_used_even_when_it_is_not_first(ec_chain: Chain) -> None:
    root, intermediate, leaf = ec_chain
    result = order_chain([root.cert, intermediate.cert], leaf=leaf.cert)
    assert result.certificates == (leaf.cert, intermediate.cert, root.cert)


def test_chain_that_stops_below_the_root_is_not_complete(ec_chain: Chain) -> None:
    result = ordered(ec_chain[2], ec_chain[1])
    assert result.top == ec_chain[1].cert
    assert not result.is_complete


def test_overlong_chain_is_refused(pki: Pki) -> None:
    issued = [pki.issue("Root", ca=True)]
    for level in range(MAX_CHAIN_CERTIFICATES):
        issued.append(pki.issue(f"Level {level}", issued[-1], ca=True))
    with pytest.raises(InvalidInput, match=f"longer than the {MAX_CHAIN_CERTIFICATES} accepted"):
        order_chain([item.cert for item in issued])


def test_no_certificate_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no certificate"):
        order_chain([])


# --- uploaded chains: the good ones ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa", "pss", "ed25519"])
def test_complete_chains_of_every_key_type_validate_without_warnings(
    pki: Pki, kind: str, now: dt.datetime
) -> None:
    root, intermediate, leaf = pki.chain(kind)
    assert validate_upload_chain(ordered(leaf, root, intermediate), now=now) == ()


def test_chain_stopping_below_the_root_validates_with_a_warning(ec_chain: Chain, now: dt.datetime) -> None:
    warnings = validate_upload_chain(ordered(ec_chain[2], ec_chain[1]), now=now)
    assert len(warnings) == 1 and "CN=Intermediate" in warnings[0] and "not self-signed" in warnings[0]


def test_lone_self_signed_certificate_validates(pki: Pki, now: dt.datetime) -> None:
    assert validate_upload_chain(ordered(pki.issue("selfie")), now=now) == ()


def test_sha1_self_signature_of_a_root_is_tolerated(pki: Pki, rsa_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, leaf = rsa_chain
    legacy_root = pki.resign_weak(root, root.key)
    assert validate_upload_chain(ordered(leaf, intermediate, legacy_root), now=now) == ()


# --- uploaded chains: each broken kind ------------------------------------------------------------------


def test_expired_intermediate_is_refused_naming_position_subject_and_date(
    pki: Pki, ec_chain: Chain, now: dt.datetime
) -> None:
    root = ec_chain[0]
    intermediate = pki.issue("Intermediate", root, ca=True, not_before=now - 90 * DAY, not_after=now - DAY)
    leaf = pki.issue("leaf", intermediate)
    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=Intermediate\) expired on 2025-05-31"):
        validate_upload_chain(ordered(leaf, intermediate, root), now=now)


def test_not_yet_valid_intermediate_is_refused(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    root = ec_chain[0]
    intermediate = pki.issue("Intermediate", root, ca=True, not_before=now + DAY)
    leaf = pki.issue("leaf", intermediate)
    with pytest.raises(
        ChainInvalid, match=r"certificate 2 \(CN=Intermediate\) is not valid before 2025-06-02"
    ):
        validate_upload_chain(ordered(leaf, intermediate, root), now=now)


def test_expired_root_is_refused(pki: Pki, now: dt.datetime) -> None:
    root = pki.issue("Root", ca=True, not_before=now - 90 * DAY, not_after=now - DAY)
    leaf = pki.issue("leaf", root, not_after=now + DAY)
    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=Root\) expired on"):
        validate_upload_chain(ordered(leaf, root), now=now)


def expired_leaf(pki: Pki, chain: Chain) -> Issued:
    return pki.issue("leaf", chain[1], not_before=pki.now - 30 * DAY, not_after=pki.now - 2 * DAY)


def test_expired_leaf_is_refused_as_expired(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    leaf = expired_leaf(pki, ec_chain)
    with pytest.raises(CertificateExpired, match=r"certificate 1 \(CN=leaf\) expired on 2025-05-30"):
        validate_upload_chain(ordered(leaf, ec_chain[1], ec_chain[0]), now=now)


def test_expired_leaf_is_a_warning_when_allowed(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    leaf = expired_leaf(pki, ec_chain)
    warnings = validate_upload_chain(
        ordered(leaf, ec_chain[1], ec_chain[0]), now=now, allow_expired_leaf=True
    )
    assert warnings == ("end-entity certificate CN=leaf expired on 2025-05-30 12:00:00 UTC",)


def test_allowed_expired_leaf_must_still_be_signed_by_its_issuer(
    pki: Pki, ec_chain: Chain, now: dt.datetime
) -> None:
    root, intermediate, _ = ec_chain
    forged_issuer = pki.issue("Intermediate", root, ca=True)  # same name, another key
    leaf = pki.issue("leaf", forged_issuer, not_before=now - 30 * DAY, not_after=now - DAY)
    with pytest.raises(ChainInvalid, match=r"certificate 1 \(CN=leaf\).*signature does not verify"):
        validate_upload_chain(
            OrderedChain(leaf.cert, (intermediate.cert, root.cert)), now=now, allow_expired_leaf=True
        )


def test_lone_expired_leaf_is_refused_as_expired(pki: Pki, now: dt.datetime) -> None:
    lone = pki.issue("lonely", not_before=now - 30 * DAY, not_after=now - DAY)
    with pytest.raises(CertificateExpired, match=r"CN=lonely\) expired on"):
        validate_upload_chain(ordered(lone), now=now)


@pytest.mark.parametrize(
    ("options", "detail"),
    [
        pytest.param({"ca": False}, "is not a CA (basicConstraints CA:FALSE)", id="ca-false"),
        pytest.param({"basic_constraints": False}, "is not a CA (no basicConstraints extension)", id="no-bc"),
        pytest.param(
            {"ca": True, "key_usage": {"key_cert_sign": False}},
            "is not allowed to sign certificates (keyUsage lacks keyCertSign)",
            id="no-keycertsign",
        ),
    ],
)
def test_intermediate_that_may_not_issue_is_refused(
    pki: Pki, ec_chain: Chain, options: dict[str, object], detail: str, now: dt.datetime
) -> None:
    root = ec_chain[0]
    intermediate = pki.issue("X", root, **options)
    leaf = pki.issue("leaf", intermediate)
    with pytest.raises(ChainInvalid, match=rf"certificate 2 \(CN=X\) {re.escape(detail)}"):
        validate_upload_chain(ordered(leaf, intermediate, root), now=now)


def test_top_of_an_incomplete_chain_must_be_a_ca(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    not_ca = pki.issue("X", ec_chain[0], ca=False)
    leaf = pki.issue("leaf", not_ca)
    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=X\) is not a CA"):
        validate_upload_chain(ordered(leaf, not_ca), now=now)


def test_path_length_constraint_is_enforced(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    root = ec_chain[0]
    constrained = pki.issue("Constrained", root, ca=True, path_length=0)
    below = pki.issue("Below", constrained, ca=True)
    leaf = pki.issue("leaf", below)
    with pytest.raises(
        ChainInvalid, match=r"certificate 2 \(CN=Below\) exceeds .* \(CN=Constrained\) \(pathLen:0\)"
    ):
        validate_upload_chain(ordered(leaf, below, constrained, root), now=now)


def test_path_length_of_the_top_certificate_is_enforced(pki: Pki, now: dt.datetime) -> None:
    root = pki.issue("Root", ca=True, path_length=0)
    intermediate = pki.issue("Intermediate", root, ca=True)
    leaf = pki.issue("leaf", intermediate)
    with pytest.raises(ChainInvalid, match=r"CN=Intermediate\) exceeds .*CN=Root\) \(pathLen:0\)"):
        validate_upload_chain(ordered(leaf, intermediate, root), now=now)


@pytest.mark.parametrize("constrained_level", ["root", "intermediate"])
def test_name_constraints_are_enforced(pki: Pki, constrained_level: str, now: dt.datetime) -> None:
    root_nc = ["example.com"] if constrained_level == "root" else []
    inter_nc = ["example.com"] if constrained_level == "intermediate" else []
    root = pki.issue("Root", ca=True, permitted_dns=root_nc)
    intermediate = pki.issue("Intermediate", root, ca=True, permitted_dns=inter_nc)
    good = pki.issue("good", intermediate, dns=["www.example.com"])
    evil = pki.issue("evil", intermediate, dns=["evil.test"])
    assert validate_upload_chain(ordered(good, intermediate, root), now=now) == ()
    with pytest.raises(
        ChainInvalid, match=r"certificate 1 \(CN=evil\) violates the name constraints.*evil\.test"
    ):
        validate_upload_chain(ordered(evil, intermediate, root), now=now)


def test_signature_by_another_key_is_refused(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, _ = ec_chain
    impostor = pki.issue("Intermediate", root, ca=True)
    leaf = pki.issue("leaf", impostor)
    with pytest.raises(
        ChainInvalid, match=r"certificate 1 \(CN=leaf\): signature does not verify.*CN=Intermediate"
    ):
        validate_upload_chain(OrderedChain(leaf.cert, (intermediate.cert, root.cert)), now=now)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_sha1_signed_intermediate_is_refused_naming_the_weak_algorithm(
    pki: Pki, kind: str, now: dt.datetime
) -> None:
    root, intermediate, leaf = pki.chain(kind)
    weak = pki.resign_weak(intermediate, root.key)
    name = "SHA1withRSA" if kind == "rsa" else "SHA1withECDSA"
    with pytest.raises(
        ChainInvalid, match=rf"certificate 2 \(CN=Intermediate\) is signed with the weak algorithm {name}"
    ):
        validate_upload_chain(ordered(leaf, weak, root), now=now)


def test_sha1_signed_top_of_an_incomplete_chain_is_refused(
    pki: Pki, rsa_chain: Chain, now: dt.datetime
) -> None:
    root, intermediate, leaf = rsa_chain
    weak = pki.resign_weak(intermediate, root.key)
    with pytest.raises(ChainInvalid, match="weak algorithm SHA1withRSA"):
        validate_upload_chain(ordered(leaf, weak), now=now)


def test_small_rsa_issuer_key_is_refused(pki: Pki, now: dt.datetime) -> None:
    root = pki.issue("Weak Root", key=pki.rsa_1024, ca=True)
    leaf = pki.issue("leaf", root)
    with pytest.raises(ChainInvalid, match=r"certificate 1 \(CN=leaf\).*1024"):
        validate_upload_chain(ordered(leaf, root), now=now)


def test_broken_self_signature_of_the_top_is_refused(pki: Pki, now: dt.datetime) -> None:
    root = pki.issue("Root", key=pki.rsa_keys[0], ca=True)
    leaf = pki.issue("leaf", root)
    tampered = pki.tamper_signature(root)
    with pytest.raises(
        ChainInvalid, match=r"certificate 2 \(CN=Root\) is self-signed but its signature does not verify"
    ):
        validate_upload_chain(OrderedChain(leaf.cert, (tampered.cert,)), now=now)


# --- uploaded chains checked against a trust list -------------------------------------------------------


def test_chain_is_completed_from_trusted_certificates(ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, leaf = ec_chain
    assert validate_upload_chain(ordered(leaf, intermediate), now=now, trusted=[root.cert]) == ()


def test_chain_to_an_untrusted_root_is_incomplete(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    other_root = pki.issue("Other Root", ca=True)
    with pytest.raises(ChainIncomplete, match="CN=Root is a self-signed root that is not trusted"):
        validate_upload_chain(ordered(*reversed(ec_chain)), now=now, trusted=[other_root.cert])


def test_chain_missing_an_issuer_of_the_trust_list_is_incomplete(
    pki: Pki, ec_chain: Chain, now: dt.datetime
) -> None:
    other_root = pki.issue("Other Root", ca=True)
    with pytest.raises(
        ChainIncomplete, match=r"no trusted certificate issued CN=Intermediate \(issuer CN=Root\)"
    ):
        validate_upload_chain(ordered(ec_chain[2], ec_chain[1]), now=now, trusted=[other_root.cert])


# --- CA uploads -----------------------------------------------------------------------------------------


def test_ca_upload_is_returned_roots_first(ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, _ = ec_chain
    result = validate_ca_upload([intermediate.cert, root.cert], repository_certificates=[], now=now)
    assert result == (root.cert, intermediate.cert)


def test_ca_upload_may_chain_through_repository_certificates(
    pki: Pki, ec_chain: Chain, now: dt.datetime
) -> None:
    root, intermediate, _ = ec_chain
    sub = pki.issue("Sub", intermediate, ca=True)
    result = validate_ca_upload([sub.cert], repository_certificates=[root.cert, intermediate.cert], now=now)
    assert result == (sub.cert,)


def test_ca_upload_without_its_root_is_incomplete_naming_the_missing_subject(
    ec_chain: Chain, now: dt.datetime
) -> None:
    with pytest.raises(
        ChainIncomplete, match="no issuer for CN=Intermediate: missing certificate with subject CN=Root"
    ):
        validate_ca_upload([ec_chain[1].cert], repository_certificates=[], now=now)


def test_ca_upload_of_a_leaf_is_refused_naming_it(ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, leaf = ec_chain
    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=leaf\) is not a CA"):
        validate_ca_upload([intermediate.cert, leaf.cert], repository_certificates=[root.cert], now=now)


def test_ca_upload_of_an_expired_intermediate_is_refused(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    old = pki.issue("Old", ec_chain[0], ca=True, not_before=now - 90 * DAY, not_after=now - DAY)
    with pytest.raises(ChainInvalid, match=r"certificate 1 \(CN=Old\) expired on"):
        validate_ca_upload([old.cert], repository_certificates=[ec_chain[0].cert], now=now)


def test_ca_upload_of_an_expired_root_is_refused(pki: Pki, now: dt.datetime) -> None:
    root = pki.issue("Old Root", ca=True, not_before=now - 90 * DAY, not_after=now - DAY)
    with pytest.raises(ChainInvalid, match=r"certificate 1 \(CN=Old Root\) expired on"):
        validate_ca_upload([root.cert], repository_certificates=[], now=now)


def test_ca_upload_signed_by_an_impostor_is_refused(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    impostor = pki.issue("Root", ca=True)  # same name as the repository's root, another key
    sub = pki.issue("Sub", impostor, ca=True)
    with pytest.raises((ChainIncomplete, ChainInvalid), match="CN=Sub"):
        validate_ca_upload([sub.cert], repository_certificates=[ec_chain[0].cert], now=now)


# --- verify_chain ---------------------------------------------------------------------------------------


def cryptography_accepts(leaf: Issued, chain: Chain, usage: str, hostname: str | None, at: object) -> bool:
    store = verification.Store([chain[0].cert])
    builder = verification.PolicyBuilder().store(store).time(at)  # type: ignore[arg-type]
    try:
        if usage == "server":
            assert hostname is not None
            builder.build_server_verifier(x509.DNSName(hostname)).verify(leaf.cert, [chain[1].cert])
        else:
            builder.build_client_verifier().verify(leaf.cert, [chain[1].cert])
    except verification.VerificationError:
        return False
    return True


@pytest.mark.parametrize(
    ("usage", "leaf_options", "hostname", "days"),
    [
        pytest.param("server", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "leaf.example", 0, id="server-ok"),
        pytest.param(
            "server", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "other.example", 0, id="server-host"
        ),
        pytest.param(
            "server", {"eku": [ExtendedKeyUsageOID.CLIENT_AUTH]}, "leaf.example", 0, id="client-cert"
        ),
        pytest.param("server", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "leaf.example", 400, id="expired"),
        pytest.param("client", {"eku": [ExtendedKeyUsageOID.CLIENT_AUTH]}, None, 0, id="client-ok"),
        pytest.param("client", {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, None, 0, id="server-cert"),
        pytest.param("client", {}, None, 0, id="client-no-eku"),
    ],
)
def test_server_and_client_verdicts_agree_with_cryptographys_verifier(
    pki: Pki,
    ec_chain: Chain,
    usage: str,
    leaf_options: dict[str, object],
    hostname: str | None,
    days: int,
    now: dt.datetime,
) -> None:
    leaf = pki.issue("leaf", ec_chain[1], dns=["leaf.example"], **leaf_options)
    at = now + days * DAY
    verdict = verify_chain(
        leaf.cert,
        intermediates=[ec_chain[1].cert],
        roots=[ec_chain[0].cert],
        at=at,
        hostname=hostname,
        usage=usage,
    )
    assert verdict.valid == cryptography_accepts(leaf, ec_chain, usage, hostname, at)
    assert bool(verdict.errors) != verdict.valid


def test_valid_verdict_carries_the_chain_leaf_first(ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, leaf = ec_chain
    verdict = verify_chain(
        leaf.cert, intermediates=[intermediate.cert], roots=[root.cert], at=now, usage="any"
    )
    assert verdict.valid and verdict.chain == (leaf.cert, intermediate.cert, root.cert)


def test_hostname_mismatch_is_invalid_for_any_usage(ec_chain: Chain, now: dt.datetime) -> None:
    root, intermediate, leaf = ec_chain
    verdict = verify_chain(
        leaf.cert, intermediates=[intermediate.cert], roots=[root.cert], at=now, hostname="x.test"
    )
    assert not verdict.valid and "x.test" in verdict.errors[0]


def test_client_certificate_is_invalid_for_server_usage(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    client = pki.issue("client", ec_chain[1], eku=[ExtendedKeyUsageOID.CLIENT_AUTH], dns=["c.example"])
    verdict = verify_chain(
        client.cert,
        intermediates=[ec_chain[1].cert],
        roots=[ec_chain[0].cert],
        at=now,
        hostname="c.example",
        usage="server",
    )
    assert not verdict.valid and "EKU" in verdict.errors[0]


def test_past_time_validates_a_chain_that_has_since_expired(
    pki: Pki, ec_chain: Chain, now: dt.datetime
) -> None:
    leaf = expired_leaf(pki, ec_chain)
    intermediates, roots = [ec_chain[1].cert], [ec_chain[0].cert]
    assert not verify_chain(leaf.cert, intermediates=intermediates, roots=roots, at=now).valid
    assert verify_chain(leaf.cert, intermediates=intermediates, roots=roots, at=now - 10 * DAY).valid


def test_expired_certificate_reason_names_it(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    leaf = expired_leaf(pki, ec_chain)
    verdict = verify_chain(leaf.cert, intermediates=[ec_chain[1].cert], roots=[ec_chain[0].cert], at=now)
    assert verdict.errors == ("the certificate (CN=leaf) expired on 2025-05-30 12:00:00 UTC",)


@pytest.mark.parametrize(("usage", "hostname"), [("server", "leaf.example"), ("client", None), ("any", None)])
def test_ed25519_chains_are_verified(pki: Pki, usage: str, hostname: str | None, now: dt.datetime) -> None:
    root, intermediate, leaf = pki.chain("ed25519")
    verdict = verify_chain(
        leaf.cert,
        intermediates=[intermediate.cert],
        roots=[root.cert],
        at=now,
        hostname=hostname,
        usage=usage,
    )
    assert verdict.valid, verdict.errors


def test_ed25519_server_certificate_for_another_host_is_invalid(pki: Pki, now: dt.datetime) -> None:
    root, intermediate, leaf = pki.chain("ed25519")
    verdict = verify_chain(
        leaf.cert,
        intermediates=[intermediate.cert],
        roots=[root.cert],
        at=now,
        hostname="x.example",
        usage="server",
    )
    assert not verdict.valid


def test_chain_to_another_root_is_invalid(pki: Pki, ec_chain: Chain, now: dt.datetime) -> None:
    verdict = verify_chain(
        ec_chain[2].cert,
        intermediates=[ec_chain[1].cert],
        roots=[pki.issue("Elsewhere", ca=True).cert],
        at=now,
    )
    assert not verdict.valid and "CN=leaf" in verdict.errors[0]


def test_no_roots_is_an_invalid_verdict(ec_chain: Chain, now: dt.datetime) -> None:
    verdict = verify_chain(ec_chain[2].cert, intermediates=[], roots=[], at=now)
    assert not verdict.valid and verdict.errors == ("no trusted root certificate given",)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"usage": "email"}, "usage must be one of", id="usage"),
        pytest.param({"hostname": "bad host!"}, "not a valid DNS name", id="hostname"),
        pytest.param({"at": dt.datetime(2025, 6, 1)}, "timezone-aware", id="naive-time"),
    ],
)
def test_bad_arguments_are_invalid_input(
    ec_chain: Chain, arguments: dict[str, object], message: str, now: dt.datetime
) -> None:
    options: dict[str, object] = {"intermediates": [], "roots": [ec_chain[0].cert], "at": now, **arguments}
    with pytest.raises(InvalidInput, match=message):
        verify_chain(ec_chain[2].cert, **options)  # type: ignore[arg-type]


async def test_validation_works_when_called_from_a_running_event_loop(
    ec_chain: Chain, now: dt.datetime
) -> None:
    # Services are async: pyhanko's coroutines must then run on a loop of their own, not nest.
    root, intermediate, leaf = ec_chain
    assert validate_upload_chain(ordered(leaf, intermediate, root), now=now) == ()
    assert verify_chain(leaf.cert, intermediates=[intermediate.cert], roots=[root.cert], at=now).valid
