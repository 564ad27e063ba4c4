"""Chain ordering and validation of uploaded certificates, and chain verification for mTLS callers.

Validation is the libraries' work: pyhanko-certvalidator runs the RFC 5280 §6 algorithm (signatures,
validity, basicConstraints, pathLen, keyCertSign, name constraints), cryptography's verifier answers the
web-PKI server/client questions. This module orders certificates by names and key identifiers, picks
the trust anchor, translates the libraries' verdicts into messages that name the certificate, and checks
the few properties of a trust anchor that RFC 5280 leaves to the application (its validity period, that
it may issue certificates, that a self-signed top really is). Nothing is ever fetched: revocation is
soft-fail with no CRL or OCSP data and fetching is disabled (SPEC §4: URLs in certificates are not
followed).

Weak algorithms: a signature made with SHA-1 or MD5 on any certificate of a chain is refused
(ChainInvalid), as browsers and RFC 9155-era policy do. The one exception is the self-signature of a root:
it protects nothing (a root is trusted because it was chosen, not because of its signature), and many
roots still in service are SHA-1 self-signed. RSA keys below 2048 bits may not sign certificates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator._state import ValProcState
from pyhanko_certvalidator.authority import CertTrustAnchor, TrustQualifiers, derive_quals_from_cert
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    ValidationError,
)
from pyhanko_certvalidator.name_trees import PKIXSubtrees, default_permitted_subtrees
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import PKIXValidationParams
from pyhanko_certvalidator.util import ConsList
from pyhanko_certvalidator.validate import intl_validate_path, validate_usage

from certrepo.domain.errors import CertificateExpired, ChainIncomplete, ChainInvalid, InvalidInput
from certrepo.pki.facts import (
    authority_key_id,
    basic_constraints,
    describe_certificate,
    is_ca,
    is_issued_by,
    is_self_signed,
    signature_algorithm_name,
    signature_hash_name,
    subject_key_id,
)
from certrepo.pki.sm2 import SIGNATURE_VALIDATOR

__all__ = [
    "MAX_CHAIN_CERTIFICATES",
    "ChainVerdict",
    "OrderedChain",
    "order_chain",
    "validate_ca_upload",
    "validate_upload_chain",
    "verify_chain",
]

# Real chains have 2-5 certificates; ordering is quadratic in signature checks, so bound the work.
MAX_CHAIN_CERTIFICATES = 16

_T = TypeVar("_T")
_USAGES = {"server": "server_auth", "client": "client_auth", "any": None}
_WEAK_HASHES = frozenset({"sha1", "md5"})
# Curves cryptography's web-PKI verifier accepts; anything else (and Ed25519) goes to pyhanko.
_WEBPKI_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_PYHANKO_PREFIX = "The path could not be validated because "
# What asn1crypto and pyhanko raise on input they cannot parse or do not implement: pyhanko raises
# AttributeError for an unknown digest OID in RSA-PSS parameters and asserts that a signature algorithm
# fits the issuer's key type (an Ed448 signature under an Ed25519 key fails an assert).
_UNPROCESSABLE: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    NotImplementedError,
    AssertionError,
    InternalError,  # cryptography: OpenSSL refused a malformed key while verifying
)
_CRYPTOGRAPHY_CERT = re.compile(r"<Certificate\(subject=<Name\((.*?)\)>, \.\.\.\)>")


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


@dataclass(frozen=True)
class ChainVerdict:
    """Answer of verify_chain: the validated chain (leaf first) or the reasons it is not valid."""

    valid: bool
    chain: tuple[x509.Certificate, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class _Failure:
    index: int  # pyhanko's position in the path: 0 is the trust anchor, the leaf is last
    error: ValidationError


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
    _require_aware(now, "now")
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
    failure = _validate_path(path, now)
    leaf = path[0]
    if failure is not None and isinstance(failure.error, ExpiredError) and failure.index == len(path) - 1:
        expired = f"{labels[leaf]} expired on {_when(leaf.not_valid_after_utc)}"
        if not allow_expired_leaf:
            raise CertificateExpired(expired)
        warnings.append(
            f"end-entity certificate {describe_certificate(leaf)} expired on "
            f"{_when(leaf.not_valid_after_utc)}"
        )
        # Every issuer passed at ``now`` (pyhanko checks top-down); re-check the leaf with its lapse excused.
        lapse = now - leaf.not_valid_after_utc + dt.timedelta(seconds=1)
        failure = _validate_path(path, now, tolerance=lapse)
    if failure is not None:
        raise _chain_error(failure, list(reversed(path)), labels.__getitem__)
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
    _require_aware(now, "now")
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
    paths, failures = _guarded(lambda: _run(_find_valid_paths(_context(now, roots, others), _to_asn1(cert))))
    if paths:
        return int(paths[0].pkix_len)
    if not failures:
        raise ChainIncomplete(_missing_issuer(cert, pool, labels))
    path, failure = failures[0]
    raise _chain_error(failure, [_from_asn1(c) for c in path], labels.__getitem__)


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


# --- verification for mTLS callers ----------------------------------------------------------------------


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
    _require_aware(at, "at")
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
    leaf = _to_asn1(certificate)
    try:
        paths, failures = _guarded(
            lambda: _run(_find_valid_paths(_context(at, list(roots), list(intermediates)), leaf))
        )
    except ChainInvalid as exc:
        return ChainVerdict(valid=False, chain=(), errors=(exc.message,))
    if not paths:
        if not failures:
            reason = f"no chain from {describe_certificate(certificate)} to a trusted root"
            return ChainVerdict(valid=False, chain=(), errors=(reason,))
        reasons = [
            str(
                _chain_error(
                    failure, [_from_asn1(c) for c in path], lambda c: labels.get(c, describe_certificate(c))
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
    chain = tuple(_from_asn1(c) for c in reversed(list(paths[0].iter_certs(include_root=True))))
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


# --- pyhanko glue -----------------------------------------------------------------------------------------


def _validate_path(
    path: list[x509.Certificate], now: dt.datetime, *, tolerance: dt.timedelta | None = None
) -> _Failure | None:
    """Validate the exact path ``path`` (leaf first, anchor last) with pyhanko."""

    def work() -> _Failure | None:
        anchor = _trust_anchor(path[-1])
        asn1_path = [_to_asn1(cert) for cert in path[:-1]]
        validation_path = ValidationPath(anchor, interm=list(reversed(asn1_path[1:])), leaf=asn1_path[0])
        return _run(_validate_one(_context(now, [anchor], [], tolerance=tolerance), validation_path))

    return _guarded(work)


def _guarded(work: Callable[[], _T]) -> _T:
    """Run pyhanko work; its parser's failures on malformed certificates become ChainInvalid."""
    try:
        return work()
    except _UNPROCESSABLE as exc:
        raise ChainInvalid(
            "a certificate of the chain cannot be processed (malformed extension or unsupported algorithm)"
        ) from exc


def _context(
    moment: dt.datetime,
    roots: Sequence[x509.Certificate | CertTrustAnchor],
    others: Sequence[x509.Certificate],
    *,
    tolerance: dt.timedelta | None = None,
) -> ValidationContext:
    anchors = [root if isinstance(root, CertTrustAnchor) else _trust_anchor(root) for root in roots]
    return ValidationContext(
        trust_roots=anchors,
        other_certs=[_to_asn1(cert) for cert in others],
        moment=moment,
        allow_fetching=False,  # never follow a URL found in a certificate
        signature_validator=SIGNATURE_VALIDATOR,  # pyhanko's, plus SM3withSM2 (pki/sm2.py)
        revocation_mode="soft-fail",  # no revocation data is handed in; absence is not a failure
        time_tolerance=tolerance if tolerance is not None else dt.timedelta(seconds=1),
    )


def _trust_anchor(cert: x509.Certificate) -> CertTrustAnchor:
    # RFC 5280 trusts an anchor by fiat; we still want its validity period, pathLen and name constraints
    # enforced, but not its certificatePolicies turned into an explicit-policy requirement.
    asn1_cert = _to_asn1(cert)
    derived = derive_quals_from_cert(asn1_cert)
    params = derived.standard_parameters
    if params is not None:
        params = PKIXValidationParams(
            initial_permitted_subtrees=_with_defaults(params.initial_permitted_subtrees),
            initial_excluded_subtrees=params.initial_excluded_subtrees,
        )
    qualifiers = TrustQualifiers(
        standard_parameters=params,
        max_path_length=derived.max_path_length,
        max_aa_path_length=derived.max_path_length,  # pyhanko needs both when one is set
        valid_from=derived.valid_from,
        valid_until=derived.valid_until,
    )
    return CertTrustAnchor(asn1_cert, quals=qualifiers)


def _with_defaults(permitted: PKIXSubtrees | None) -> PKIXSubtrees | None:
    # pyhanko reads a permitted set that lacks a name type as "nothing of that type is permitted";
    # RFC 5280 §4.2.1.10 constrains only the types the extension names.
    if permitted is None:
        return None
    return {**default_permitted_subtrees(), **{kind: trees for kind, trees in permitted.items() if trees}}


async def _validate_one(context: ValidationContext, path: ValidationPath) -> _Failure | None:
    # intl_validate_path is pyhanko's validate_path with the processing state passed in, so that a
    # failure tells which certificate of the path it is about (the public errors do not).
    state = ValProcState(cert_path_stack=ConsList.sing(path))
    try:
        await intl_validate_path(context, path, proc_state=state)
    except ValidationError as exc:
        return _Failure(index=state.index, error=exc)
    except _UNPROCESSABLE as exc:
        # asn1crypto meeting an extension it cannot decode, a digest or algorithm pyhanko does not know.
        return _Failure(index=state.index, error=ValidationError(f"cannot be processed ({exc})"))
    return None


async def _find_valid_paths(
    context: ValidationContext, leaf: asn1_x509.Certificate
) -> tuple[list[ValidationPath], list[tuple[list[asn1_x509.Certificate], _Failure]]]:
    """pyhanko builds the candidate paths; returns the first valid one, or every failure."""
    try:
        candidates = await context.path_builder.async_build_paths(leaf)
    except PathBuildingError:
        return [], []
    failures = []
    for candidate in candidates:
        failure = await _validate_one(context, candidate)
        if failure is None:
            return [candidate], []
        failures.append((list(candidate.iter_certs(include_root=True)), failure))
    return [], failures


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a pyhanko coroutine to completion from synchronous code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from async code (a service): asyncio.run cannot nest, so give the coroutine its own loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- messages and single-certificate checks ---------------------------------------------------------------


def _chain_error(
    failure: _Failure, path: list[x509.Certificate], label: Callable[[x509.Certificate], str]
) -> ChainInvalid:
    """Translate a pyhanko failure; ``path`` runs from the anchor (index 0) to the leaf."""
    cert = path[failure.index]
    name = label(cert)
    error = failure.error
    text = error.failure_msg.removeprefix(_PYHANKO_PREFIX)
    if isinstance(error, ExpiredError):
        return ChainInvalid(f"{name} expired on {_when(cert.not_valid_after_utc)}")
    if isinstance(error, NotYetValidError):
        return ChainInvalid(f"{name} is not valid before {_when(cert.not_valid_before_utc)}")
    if isinstance(error, DisallowedAlgorithmError):
        if signature_hash_name(cert) in _WEAK_HASHES:
            return ChainInvalid(f"{name} is signed with the weak algorithm {signature_algorithm_name(cert)}")
        return ChainInvalid(f"{name}: signature not accepted: {text}")
    if text.endswith("is not a CA"):
        return ChainInvalid(f"{name} is not a CA ({_basic_constraints_label(cert)})")
    if "maximum path length" in text:
        return ChainInvalid(_path_length_message(failure.index, path, label))
    if "not allowed to sign certificates" in text:
        return ChainInvalid(f"{name} is not allowed to sign certificates (keyUsage lacks keyCertSign)")
    if "namespace" in text:
        reason = text.split(". ", 1)[1] if ". " in text else text
        return ChainInvalid(f"{name} violates the name constraints of its issuers: {reason}")
    if "signature" in text and "could not be verified" in text:
        return ChainInvalid(
            f"{name}: signature does not verify with the key of {label(path[failure.index - 1])}"
        )
    return ChainInvalid(f"{name}: {text}")


def _path_length_message(
    index: int, path: list[x509.Certificate], label: Callable[[x509.Certificate], str]
) -> str:
    # Find the issuer whose pathLen the path below it exceeds (only for the message: pyhanko decided).
    for upper in range(index - 1, -1, -1):
        limit = _path_length(path[upper])
        below = sum(1 for c in path[upper + 1 : index + 1] if c.subject != c.issuer)
        if limit is not None and below > limit:
            return (
                f"{label(path[index])} exceeds the path length constraint of {label(path[upper])} "
                f"(pathLen:{limit})"
            )
    return f"{label(path[index])} exceeds the maximum path length"


def _check_anchor(cert: x509.Certificate, name: str, *, issues_certificates: bool) -> None:
    """What pyhanko takes on trust about the top of a path."""
    if cert.subject == cert.issuer and authority_key_id(cert) in (None, subject_key_id(cert)):
        if not is_self_signed(cert):
            raise ChainInvalid(f"{name} is self-signed but its signature does not verify")
    elif signature_hash_name(cert) in _WEAK_HASHES:
        raise ChainInvalid(f"{name} is signed with the weak algorithm {signature_algorithm_name(cert)}")
    if issues_certificates:
        _check_can_issue(cert, name)


def _check_can_issue(cert: x509.Certificate, name: str) -> None:
    if not is_ca(cert):
        raise ChainInvalid(f"{name} is not a CA ({_basic_constraints_label(cert)})")
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
        return (warning + _when(cert.not_valid_after_utc),)
    _check_validity(cert, name, now, expired_error=CertificateExpired)
    return ()


def _check_validity(
    cert: x509.Certificate, name: str, now: dt.datetime, *, expired_error: type[InvalidInput] = ChainInvalid
) -> None:
    """Validity of a certificate no path covers (a lone certificate, an uploaded root)."""
    if now < cert.not_valid_before_utc:
        raise ChainInvalid(f"{name} is not valid before {_when(cert.not_valid_before_utc)}")
    if now > cert.not_valid_after_utc:
        raise expired_error(f"{name} expired on {_when(cert.not_valid_after_utc)}")


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


def _require_aware(moment: dt.datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime")


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _path_length(cert: x509.Certificate) -> int | None:
    constraints = basic_constraints(cert)
    return constraints.path_length if constraints is not None and constraints.ca else None


def _basic_constraints_label(cert: x509.Certificate) -> str:
    return (
        "basicConstraints CA:FALSE"
        if basic_constraints(cert) is not None
        else "no basicConstraints extension"
    )


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())
