"""The compliant signing profile of SPEC §1.1, as one small check per rule.

A certificate enters a compliant repository only if every rule of ``COMPLIANT_RULES`` passes. Each
rule is a function of its own so that a refusal names the rule and the certificate; the trust rule
(``check_trusted_chain``) needs the chain and the trust repository's certificates, so the service runs it
after the others when the repository names a trust repository.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from certrepo.domain.errors import (
    CertificateExpired,
    ChainIncomplete,
    ChainInvalid,
    InvalidInput,
    NoPrivateKey,
)
from certrepo.pki.chain import OrderedChain, validate_upload_chain
from certrepo.pki.facts import certificate_key_algorithm, describe_certificate

__all__ = [
    "COMPLIANT_RULES",
    "DOCUMENT_SIGNING_EKUS",
    "ProfileRule",
    "check_compliant_profile",
    "check_has_private_key",
    "check_signing_extended_key_usage",
    "check_signing_key_algorithm",
    "check_signing_key_usage",
    "check_trusted_chain",
    "check_valid_now",
]

# RFC 9336 id-kp-documentSigning, RFC 5280 id-kp-emailProtection, Adobe Authentic Documents Trust.
DOCUMENT_SIGNING_EKUS: dict[ObjectIdentifier, str] = {
    ObjectIdentifier("1.3.6.1.5.5.7.3.36"): "documentSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ObjectIdentifier("1.2.840.113583.1.1.5"): "Adobe authentic documents",
}
_MIN_RSA_BITS = 2048
# Key algorithm names (facts.certificate_key_algorithm) other than RSA that the profile accepts.
# SM2_256 joins this set when the SM2 glue lands (SPEC §1.1 lists SM2).
_SIGNING_KEY_NAMES = frozenset({"ECC_256", "ECC_384", "ECC_521", "ED25519", "SM2_256"})  # SPEC §1.1


@dataclass(frozen=True)
class ProfileRule:
    """One rule of the compliant profile: its name (used in messages) and its check."""

    name: str
    description: str
    check: Callable[[x509.Certificate, bool, dt.datetime], None]


def check_signing_key_usage(cert: x509.Certificate) -> None:
    """keyUsage must include digitalSignature and nonRepudiation. Raises InvalidInput."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _refuse(cert, "key-usage", "has no keyUsage extension") from None
    missing = [
        label
        for label, present in (
            ("digitalSignature", usage.digital_signature),
            ("nonRepudiation (contentCommitment)", usage.content_commitment),
        )
        if not present
    ]
    if missing:
        raise _refuse(cert, "key-usage", f"keyUsage lacks {' and '.join(missing)}")


def check_signing_extended_key_usage(cert: x509.Certificate) -> None:
    """An extendedKeyUsage, if present, must allow document signing. Raises InvalidInput."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not any(oid in DOCUMENT_SIGNING_EKUS for oid in usages):
        present = ", ".join(getattr(oid, "_name", oid.dotted_string) for oid in usages) or "nothing"
        wanted = ", ".join(DOCUMENT_SIGNING_EKUS.values())
        raise _refuse(cert, "extended-key-usage", f"extendedKeyUsage allows {present}, not one of {wanted}")


def check_signing_key_algorithm(cert: x509.Certificate) -> None:
    """Key must be RSA >= 2048, ECDSA P-256/384/521 or Ed25519. Raises InvalidInput."""
    try:
        name, size = certificate_key_algorithm(cert)
    except InvalidInput as exc:
        raise _refuse(cert, "key-algorithm", exc.message) from exc
    if name.startswith("RSA_"):
        if size < _MIN_RSA_BITS:
            raise _refuse(cert, "key-algorithm", f"RSA key of {size} bits is below {_MIN_RSA_BITS}")
        return
    if name not in _SIGNING_KEY_NAMES:
        raise _refuse(cert, "key-algorithm", f"key algorithm {name} is not accepted for signing")


def check_valid_now(cert: x509.Certificate, now: dt.datetime) -> None:
    """The certificate must be within its validity period. Raises CertificateExpired or InvalidInput."""
    if now > cert.not_valid_after_utc:
        detail = f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
        raise _refuse(cert, "valid-now", detail, CertificateExpired)
    if now < cert.not_valid_before_utc:
        raise _refuse(
            cert, "valid-now", f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
        )


def check_has_private_key(cert: x509.Certificate, has_private_key: bool) -> None:
    """A compliant certificate is stored with its private key. Raises NoPrivateKey."""
    if not has_private_key:
        raise _refuse(cert, "private-key", "was uploaded without its private key", NoPrivateKey)


def check_trusted_chain(
    chain: OrderedChain, *, trusted: Sequence[x509.Certificate], now: dt.datetime
) -> None:
    """The chain must validate to a certificate of the trust repository. Raises ChainInvalid."""
    try:
        validate_upload_chain(chain, now=now, trusted=trusted)
    except (ChainIncomplete, ChainInvalid, CertificateExpired) as exc:
        raise _refuse(chain.leaf, "trusted-chain", exc.message, ChainInvalid) from exc


COMPLIANT_RULES: tuple[ProfileRule, ...] = (
    ProfileRule(
        "key-usage",
        "keyUsage includes digitalSignature and nonRepudiation",
        lambda cert, _key, _now: check_signing_key_usage(cert),
    ),
    ProfileRule(
        "extended-key-usage",
        "extendedKeyUsage, if present, includes documentSigning, emailProtection or Adobe documents",
        lambda cert, _key, _now: check_signing_extended_key_usage(cert),
    ),
    ProfileRule(
        "key-algorithm",
        "RSA >= 2048, ECDSA P-256/384/521 or Ed25519",
        lambda cert, _key, _now: check_signing_key_algorithm(cert),
    ),
    ProfileRule(
        "valid-now", "within its validity period", lambda cert, _key, now: check_valid_now(cert, now)
    ),
    ProfileRule(
        "private-key",
        "uploaded with its private key",
        lambda cert, has_key, _now: check_has_private_key(cert, has_key),
    ),
)


def check_compliant_profile(cert: x509.Certificate, *, has_private_key: bool, now: dt.datetime) -> None:
    """Run every rule of COMPLIANT_RULES in order; the first failure is raised (an InvalidInput)."""
    for rule in COMPLIANT_RULES:
        rule.check(cert, has_private_key, now)


def _refuse(
    cert: x509.Certificate, rule: str, detail: str, error: type[InvalidInput] = InvalidInput
) -> InvalidInput:
    return error(f"certificate {describe_certificate(cert)} fails compliant rule '{rule}': {detail}")
