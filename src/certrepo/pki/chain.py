"""Chain ordering and validation of uploaded certificates (verify-chain for callers is pki/verify.py).

Validation is the libraries' work: pyhanko-certvalidator runs the RFC 5280 §6 algorithm (signatures,
validity, basicConstraints, pathLen, keyCertSign, name constraints; set up in pki/paths.py). This module
orders certificates by names and key identifiers, picks the trust anchor, and checks the few properties of a trust anchor that RFC 5280 leaves to the application (its validity period, that
it may issue certificates, that a self-signed top really is). Nothing is ever fetched: revocation is
soft-fail with no CRL or OCSP data and fetching is disabled (SPEC §4: URLs in certificates are not
followed).

Weak algorithms: a signature made with SHA-1 or MD5 on any certificate of a chain is refused
(ChainInvalid), as browsers and RFC 9155-era policy do. The one exception is the self-signature of a root:
it protects nothing (a root is trusted because it was chosen, not because of its signature), and many
roots still in service are SHA-1 self-signed. RSA keys below 2048 bits may not sign certificates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from pyhanko_certvalidator.errors import ExpiredError

from certrepo.domain.errors import CertificateExpired, ChainIncomplete, ChainInvalid, InvalidInput
from certrepo.pki.facts import (
    authority_key_id,
    describe_certificate,
    is_ca,
    is_issued_by,
    is_self_signed,
    signature_algorithm_name,
    signature_hash_name,
    subject_key_id,
)
from certrepo.pki.paths import (
    WEAK_HASHES,
    basic_constraints_label,
    chain_error,
    find_valid_paths,
    from_asn1,
    guarded,
    require_aware,
    run_sync,
    to_asn1,
    validate_path,
    validation_context,
    when,
)

__all__ = [
    "MAX_CHAIN_CERTIFICATES",
    "OrderedChain",
    "order_chain",
    "validate_ca_upload",
    "validate_upload_chain",
]

# Real chains have 2-5 certificates; ordering is quadratic in signature checks, so bound the work.
MAX_CHAIN_CERTIFICATES = 16


@dataclass(frozen=True)
class OrderedChain:
    """A leaf and its issuers, the leaf's issuer first and the top of the chain last."""

    leaf: x509.Certificate
    issuers: tuple[x509.Certificate, ...]

    @property
    def top(self) -> x509.Certificate:
        return self.issuers[-1] if self.issuers else self.leaf

    @property
    def is_complete(self) -> bool:
        """True when the chain ends in a self-signed root."""
        return is_self_signed(self.top)

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        return (self.leaf, *self.issuers)


# --- ordering -----------------------------------------------------------------------------------------


def order_chain(certs: Sequence[x509.Certificate], *, leaf: x509.Certificate | None = None) -> OrderedChain:
    """Order certificates given in any order into leaf + issuers. Duplicates are dropped.

    Raises InvalidInput (no certificate, too many), ChainIncomplete (a CA is given but an intermediate
    between it and the chain is missing), ChainInvalid (a certificate outside the leaf's chain).
    """
    numbered = _unique_numbered(certs)
    if len(numbered) > MAX_CHAIN_CERTIFICATES:
        raise InvalidInput(
            f"a chain of {len(numbered)} certificates is longer than the {MAX_CHAIN_CERTIFICATES} accepted"
        )
    if leaf is None:
        if not numbered:
            raise InvalidInput("no certificate given")
        leaf = _pick_leaf([cert for _, cert in numbered])
    remaining = [(number, cert) for number, cert in numbered if cert != leaf]
    issuers = _walk_up(leaf, [cert for _, cert in remaining])
    strays = [(number, cert) for number, cert in remaining if cert not in issuers]
    if strays:
        number, stray = strays[0]
        top = issuers[-1] if issuers else leaf
        if any(is_ca(cert) for _, cert in strays) and not is_self_signed(top):
            # A CA that does not connect is most likely above a gap: name the missing link.
            raise ChainIncomplete(
                f"no issuer for {describe_certificate(top)}: missing certificate with subject "
                f"{top.issuer.rfc4514_string()} (certificate {number} ({describe_certificate(stray)}) "
                "does not connect to the chain)"
            )
        raise ChainInvalid(
            f"certificate {number} ({describe_certificate(stray)}) is not part of the chain of "
            f"{describe_certificate(leaf)}"
        )
    return OrderedChain(leaf=leaf, issuers=tuple(issuers))


def _unique_numbered(certs: Sequence[x509.Certificate]) -> list[tuple[int, x509.Certificate]]:
    seen: set[x509.Certificate] = set()
    numbered = []
    for number, cert in enumerate(certs, start=1):
        if cert not in seen:
            seen.add(cert)
            numbered.append((number, cert))
    return numbered


def _pick_leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    # The leaf issued none of the others; among several such, the one whose chain uses most of the upload.
    candidates = [c for c in certs if not any(_may_have_issued(c, other) for other in certs if other != c)]
    candidates = candidates or certs  # a cycle of cross-signatures: start from the first given
    return max(candidates, key=lambda c: len(_walk_up(c, [o for o in certs if o != c])))


def _walk_up(start: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    """Issuers of ``start`` found in ``pool`` by name and key identifier, nearest first."""
    issuers: list[x509.Certificate] = []
    current = start
    while not is_self_signed(current):
        candidates = [c for c in pool if c not in issuers and c != start and _may_have_issued(c, current)]
        if not candidates:
            break
        current = _best_issuer(current, candidates)
        issuers.append(current)
    return issuers


def _may_have_issued(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    if issuer == cert or issuer.subject != cert.issuer:
        return False
    wanted, offered = authority_key_id(cert), subject_key_id(issuer)
    return wanted is None or offered is None or wanted == offered


def _best_issuer(cert: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate:
    # Several CAs may share a name (renewal, cross-signing): prefer one whose key verifies the signature.
    return next((candidate for candidate in candidates if is_issued_by(cert, candidate)), candidates[0])


# --- uploaded chains ------------------------------------------------------------------------------------


def validate_upload_chain(
    chain: OrderedChain,
    *,
    now: dt.datetime,
    allow_expired_leaf: bool = False,
    trusted: Sequence[x509.Certificate] = (),
) -> tuple[str, ...]:
    """Validate an uploaded chain at ``now``; its top is the trust anchor unless ``trusted`` is given.

    With ``trusted``, the chain (extended with trusted issuers) must end in a trusted certificate.
    Returns warnings. Raises CertificateExpired (expired leaf, unless allowed), ChainInvalid (a check
    fails, naming the certificate), ChainIncomplete (``trusted`` given and not reached).
    """
    require_aware(now, "now")
    path = _extend_with_trusted(chain, trusted) if trusted else list(chain.certificates)
    labels = _chain_labels(chain, path)
    top = path[-1]
    _check_anchor(top, labels[top], issues_certificates=len(path) > 1)
    if len(path) == 1:
        return _check_lone_certificate(top, labels[top], now, allow_expired_leaf)
    warnings: list[str] = []
    if not is_self_signed(top):
        warnings.append(
            f"the chain ends at {labels[top]}, which is not self-signed: it was validated with that "
            f"certificate as trust anchor (its issuer {top.issuer.rfc4514_string()} was not uploaded)"
        )
    failure = validate_path(path, now)
    leaf = path[0]
    if failure is not None and isinstance(failure.error, ExpiredError) and failure.index == len(path) - 1:
        expired = f"{labels[leaf]} expired on {when(leaf.not_valid_after_utc)}"
        if not allow_expired_leaf:
            raise CertificateExpired(expired)
        warnings.append(
            f"end-entity certificate {describe_certificate(leaf)} expired on {when(leaf.not_valid_after_utc)}"
        )
        # Every issuer passed at ``now`` (pyhanko checks top-down); re-check the leaf with its lapse excused.
        lapse = now - leaf.not_valid_after_utc + dt.timedelta(seconds=1)
        failure = validate_path(path, now, tolerance=lapse)
    if failure is not None:
        raise chain_error(failure, list(reversed(path)), labels.__getitem__)
    return tuple(warnings)


def validate_ca_upload(
    certs: Sequence[x509.Certificate],
    *,
    repository_certificates: Sequence[x509.Certificate],
    now: dt.datetime,
) -> tuple[x509.Certificate, ...]:
    """Validate CA certificates uploaded to an ``uploaded_ca`` repository; return them roots first.

    Each must be a CA and chain to a self-signed root in the upload or the repository. Raises
    ChainInvalid (not a CA, a failed check), ChainIncomplete (missing issuer, named), InvalidInput (none).
    """
    require_aware(now, "now")
    numbered = _unique_numbered(certs)
    if not numbered:
        raise InvalidInput("no certificate given")
    labels: dict[x509.Certificate, str] = {
        cert: f"repository certificate {describe_certificate(cert)}" for cert in repository_certificates
    }
    labels.update({cert: f"certificate {number} ({describe_certificate(cert)})" for number, cert in numbered})
    for number, cert in numbered:
        _check_can_issue(cert, labels[cert])
    pool = list(labels)
    roots = [cert for cert in pool if is_self_signed(cert)]
    depths: dict[x509.Certificate, int] = {}
    for _, cert in numbered:
        if cert in roots:
            _check_anchor(cert, labels[cert], issues_certificates=True)
            _check_validity(cert, labels[cert], now)
            depths[cert] = 0
        else:
            depths[cert] = _validate_ca_path(cert, pool, roots, labels, now)
    return tuple(cert for _, cert in sorted(numbered, key=lambda item: (depths[item[1]], item[0])))


def _validate_ca_path(
    cert: x509.Certificate,
    pool: list[x509.Certificate],
    roots: list[x509.Certificate],
    labels: dict[x509.Certificate, str],
    now: dt.datetime,
) -> int:
    others = [c for c in pool if c not in roots]
    paths, failures = guarded(
        lambda: run_sync(find_valid_paths(validation_context(now, roots, others), to_asn1(cert)))
    )
    if paths:
        return int(paths[0].pkix_len)
    if not failures:
        raise ChainIncomplete(_missing_issuer(cert, pool, labels))
    path, failure = failures[0]
    raise chain_error(failure, [from_asn1(c) for c in path], labels.__getitem__)


def _missing_issuer(
    cert: x509.Certificate, pool: list[x509.Certificate], labels: dict[x509.Certificate, str]
) -> str:
    top = ([cert, *_walk_up(cert, pool)])[-1]
    if is_self_signed(top):
        root = labels.get(top, describe_certificate(top))
        return f"no valid path from {labels[cert]} to the self-signed root {root}"
    return (
        f"no issuer for {describe_certificate(top)}: missing certificate with subject "
        f"{top.issuer.rfc4514_string()}"
    )


def _check_anchor(cert: x509.Certificate, name: str, *, issues_certificates: bool) -> None:
    """What pyhanko takes on trust about the top of a path."""
    if cert.subject == cert.issuer and authority_key_id(cert) in (None, subject_key_id(cert)):
        if not is_self_signed(cert):
            raise ChainInvalid(f"{name} is self-signed but its signature does not verify")
    elif signature_hash_name(cert) in WEAK_HASHES:
        raise ChainInvalid(f"{name} is signed with the weak algorithm {signature_algorithm_name(cert)}")
    if issues_certificates:
        _check_can_issue(cert, name)


def _check_can_issue(cert: x509.Certificate, name: str) -> None:
    if not is_ca(cert):
        raise ChainInvalid(f"{name} is not a CA ({basic_constraints_label(cert)})")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise ChainInvalid(f"{name} is not allowed to sign certificates (keyUsage lacks keyCertSign)")


def _check_lone_certificate(
    cert: x509.Certificate, name: str, now: dt.datetime, allow_expired: bool
) -> tuple[str, ...]:
    if allow_expired and now > cert.not_valid_after_utc:
        warning = f"end-entity certificate {describe_certificate(cert)} expired on "
        return (warning + when(cert.not_valid_after_utc),)
    _check_validity(cert, name, now, expired_error=CertificateExpired)
    return ()


def _check_validity(
    cert: x509.Certificate, name: str, now: dt.datetime, *, expired_error: type[InvalidInput] = ChainInvalid
) -> None:
    """Validity of a certificate no path covers (a lone certificate, an uploaded root)."""
    if now < cert.not_valid_before_utc:
        raise ChainInvalid(f"{name} is not valid before {when(cert.not_valid_before_utc)}")
    if now > cert.not_valid_after_utc:
        raise expired_error(f"{name} expired on {when(cert.not_valid_after_utc)}")


def _extend_with_trusted(chain: OrderedChain, trusted: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    path = list(chain.certificates)
    path += _walk_up(path[-1], [cert for cert in trusted if cert not in path])
    if path[-1] not in trusted:
        top = path[-1]
        reason = (
            f"{describe_certificate(top)} is a self-signed root that is not trusted"
            if is_self_signed(top)
            else f"no trusted certificate issued {describe_certificate(top)} "
            f"(issuer {top.issuer.rfc4514_string()})"
        )
        raise ChainIncomplete(
            f"the chain of {describe_certificate(chain.leaf)} does not reach a trusted root: {reason}"
        )
    return path


def _chain_labels(chain: OrderedChain, path: list[x509.Certificate]) -> dict[x509.Certificate, str]:
    labels = {cert: f"trusted certificate {describe_certificate(cert)}" for cert in path}
    for number, cert in enumerate(chain.certificates, start=1):
        labels[cert] = f"certificate {number} ({describe_certificate(cert)})"
    return labels
