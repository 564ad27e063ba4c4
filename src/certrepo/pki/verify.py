"""verify-chain: is this certificate (with these intermediates) valid against these roots, now or at a given
time, for a host name and a usage? What an mTLS terminator or an approval workflow asks.

cryptography's web-PKI verifier answers the server/client questions where its profile fits (RSA and the
NIST curves); pyhanko-certvalidator (pki/paths.py) everything else (Ed25519, SM2, "any" usage). Never
raises for an invalid chain: the verdict carries the reasons.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from pyhanko_certvalidator.errors import InvalidCertificateError
from pyhanko_certvalidator.validate import validate_usage

from certrepo.domain.errors import ChainInvalid, InvalidInput
from certrepo.pki.facts import describe_certificate
from certrepo.pki.paths import (
    chain_error,
    find_valid_paths,
    from_asn1,
    guarded,
    require_aware,
    run_sync,
    to_asn1,
    validation_context,
)

__all__ = ["ChainVerdict", "verify_chain"]

_USAGES = {"server": "server_auth", "client": "client_auth", "any": None}
# Curves cryptography's web-PKI verifier accepts; anything else (and Ed25519) goes to pyhanko.
_WEBPKI_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_CRYPTOGRAPHY_CERT = re.compile(r"<Certificate\(subject=<Name\((.*?)\)>, \.\.\.\)>")


@dataclass(frozen=True)
class ChainVerdict:
    """Answer of verify_chain: the validated chain (leaf first) or the reasons it is not valid."""

    valid: bool
    chain: tuple[x509.Certificate, ...]
    errors: tuple[str, ...]


def verify_chain(
    certificate: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    hostname: str | None = None,
    usage: str = "any",
) -> ChainVerdict:
    """Verify ``certificate`` against ``roots`` at ``at``, for ``usage`` (server, client or any).

    Never raises for an invalid chain (valid=False with reasons). Raises InvalidInput for an unknown
    usage, a naive ``at`` or a malformed hostname.
    """
    if usage not in _USAGES:
        raise InvalidInput(f"usage must be one of server, client, any; got {usage!r}")
    require_aware(at, "at")
    subject = _parse_hostname(hostname) if hostname is not None else None
    if not roots:
        return ChainVerdict(valid=False, chain=(), errors=("no trusted root certificate given",))
    webpki_fits = usage != "any" and _fits_webpki([certificate, *intermediates, *roots])
    if webpki_fits and (usage == "client" or subject is not None):
        verdict = _verify_with_cryptography(certificate, intermediates, roots, at, usage, subject)
        hostname_checked = usage == "server"
    else:
        verdict = _verify_with_pyhanko(certificate, intermediates, roots, at, usage)
        hostname_checked = False
    if (
        verdict.valid
        and hostname is not None
        and not hostname_checked
        and not _hostname_matches(certificate, hostname)
    ):
        reason = f"{describe_certificate(certificate)} is not valid for the host name {hostname}"
        return ChainVerdict(valid=False, chain=(), errors=(reason,))
    return verdict


def _verify_with_cryptography(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    usage: str,
    subject: verification.Subject | None,
) -> ChainVerdict:
    builder = verification.PolicyBuilder().store(verification.Store(list(roots))).time(at)
    try:
        if usage == "server":
            assert subject is not None  # verify_chain routes server usage here only with a host name
            chain = builder.build_server_verifier(subject).verify(certificate, list(intermediates))
        else:
            chain = builder.build_client_verifier().verify(certificate, list(intermediates)).chain
    except (verification.VerificationError, ValueError) as exc:
        reason = _CRYPTOGRAPHY_CERT.sub(r"\1", str(exc)).removeprefix("validation failed: ")
        return ChainVerdict(valid=False, chain=(), errors=(reason,))
    return ChainVerdict(valid=True, chain=tuple(chain), errors=())


def _verify_with_pyhanko(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    usage: str,
) -> ChainVerdict:
    labels = {cert: f"root {describe_certificate(cert)}" for cert in roots}
    labels.update({cert: f"intermediate {describe_certificate(cert)}" for cert in intermediates})
    labels[certificate] = f"the certificate ({describe_certificate(certificate)})"
    leaf = to_asn1(certificate)
    try:
        paths, failures = guarded(
            lambda: run_sync(find_valid_paths(validation_context(at, list(roots), list(intermediates)), leaf))
        )
    except ChainInvalid as exc:
        return ChainVerdict(valid=False, chain=(), errors=(exc.message,))
    if not paths:
        if not failures:
            reason = f"no chain from {describe_certificate(certificate)} to a trusted root"
            return ChainVerdict(valid=False, chain=(), errors=(reason,))
        reasons = [
            str(
                chain_error(
                    failure, [from_asn1(c) for c in path], lambda c: labels.get(c, describe_certificate(c))
                )
            )
            for path, failure in failures
        ]
        return ChainVerdict(valid=False, chain=(), errors=tuple(dict.fromkeys(reasons)))
    purpose = _USAGES[usage]
    if purpose is not None:
        try:
            validate_usage(leaf, set(), {purpose}, True)
        except InvalidCertificateError:
            reason = (
                f"{describe_certificate(certificate)}: extendedKeyUsage does not allow {usage} authentication"
            )
            return ChainVerdict(valid=False, chain=(), errors=(reason,))
    chain = tuple(from_asn1(c) for c in reversed(list(paths[0].iter_certs(include_root=True))))
    return ChainVerdict(valid=True, chain=chain, errors=())


def _fits_webpki(certs: Sequence[x509.Certificate]) -> bool:
    """True when cryptography's web-PKI verifier handles every key in the set (it refuses EdDSA)."""
    for cert in certs:
        try:
            key = cert.public_key()
        except (UnsupportedAlgorithm, ValueError):
            return False
        if isinstance(key, rsa.RSAPublicKey):
            continue
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _WEBPKI_CURVES:
            continue
        return False
    return True


def _parse_hostname(hostname: str) -> verification.Subject:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    labels = hostname.rstrip(".").split(".")
    if not hostname or not all(
        re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", x) for x in labels
    ):
        raise InvalidInput(f"hostname {hostname!r} is not a valid DNS name or IP address")
    return x509.DNSName(hostname.rstrip(".").lower())


def _hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """RFC 6125 matching on subjectAltName only (no CN fallback): exact, or one leftmost ``*`` label."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        address = None
    if address is not None:
        return address in sans.get_values_for_type(x509.IPAddress)
    wanted = hostname.rstrip(".").lower()
    for name in sans.get_values_for_type(x509.DNSName):
        pattern = name.rstrip(".").lower()
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            first, rest = wanted.split(".", 1)
            if first and rest == pattern[2:]:
                return True
    return False
