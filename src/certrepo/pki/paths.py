"""Path validation with pyhanko-certvalidator, and the messages for its verdicts.

pyhanko runs the RFC 5280 §6 algorithm (signatures, validity, basicConstraints, pathLen, keyCertSign, name
constraints); this module sets it up the way certrepo needs it (no fetching, soft-fail revocation, trust
anchors whose own constraints still count, SM3withSM2 signatures through pki/sm2.py), runs it from
synchronous code, and turns its failures into messages that name the certificate. pki/chain.py (uploads)
and pki/verify.py (verify-chain) both build on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InternalError
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator._state import ValProcState
from pyhanko_certvalidator.authority import CertTrustAnchor, TrustQualifiers, derive_quals_from_cert
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    NotYetValidError,
    PathBuildingError,
    ValidationError,
)
from pyhanko_certvalidator.name_trees import PKIXSubtrees, default_permitted_subtrees
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import PKIXValidationParams
from pyhanko_certvalidator.util import ConsList
from pyhanko_certvalidator.validate import intl_validate_path

from certrepo.domain.errors import ChainInvalid, InvalidInput
from certrepo.pki.facts import basic_constraints, signature_algorithm_name, signature_hash_name
from certrepo.pki.sm2 import SIGNATURE_VALIDATOR

__all__ = [
    "WEAK_HASHES",
    "PathFailure",
    "basic_constraints_label",
    "chain_error",
    "find_valid_paths",
    "from_asn1",
    "guarded",
    "require_aware",
    "run_sync",
    "to_asn1",
    "validate_path",
    "validation_context",
    "when",
]

_T = TypeVar("_T")
WEAK_HASHES = frozenset({"sha1", "md5"})
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


@dataclass(frozen=True)
class PathFailure:
    index: int  # pyhanko's position in the path: 0 is the trust anchor, the leaf is last
    error: ValidationError


def validate_path(
    path: list[x509.Certificate], now: dt.datetime, *, tolerance: dt.timedelta | None = None
) -> PathFailure | None:
    """Validate the exact path ``path`` (leaf first, anchor last) with pyhanko."""

    def work() -> PathFailure | None:
        anchor = _trust_anchor(path[-1])
        asn1_path = [to_asn1(cert) for cert in path[:-1]]
        validation_path = ValidationPath(anchor, interm=list(reversed(asn1_path[1:])), leaf=asn1_path[0])
        return run_sync(
            _validate_one(validation_context(now, [anchor], [], tolerance=tolerance), validation_path)
        )

    return guarded(work)


def guarded(work: Callable[[], _T]) -> _T:
    """Run pyhanko work; its parser's failures on malformed certificates become ChainInvalid."""
    try:
        return work()
    except _UNPROCESSABLE as exc:
        raise ChainInvalid(
            "a certificate of the chain cannot be processed (malformed extension or unsupported algorithm)"
        ) from exc


def validation_context(
    moment: dt.datetime,
    roots: Sequence[x509.Certificate | CertTrustAnchor],
    others: Sequence[x509.Certificate],
    *,
    tolerance: dt.timedelta | None = None,
) -> ValidationContext:
    anchors = [root if isinstance(root, CertTrustAnchor) else _trust_anchor(root) for root in roots]
    return ValidationContext(
        trust_roots=anchors,
        other_certs=[to_asn1(cert) for cert in others],
        moment=moment,
        allow_fetching=False,  # never follow a URL found in a certificate
        signature_validator=SIGNATURE_VALIDATOR,  # pyhanko's, plus SM3withSM2 (pki/sm2.py)
        revocation_mode="soft-fail",  # no revocation data is handed in; absence is not a failure
        time_tolerance=tolerance if tolerance is not None else dt.timedelta(seconds=1),
    )


def _trust_anchor(cert: x509.Certificate) -> CertTrustAnchor:
    # RFC 5280 trusts an anchor by fiat; we still want its validity period, pathLen and name constraints
    # enforced, but not its certificatePolicies turned into an explicit-policy requirement.
    asn1_cert = to_asn1(cert)
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


async def _validate_one(context: ValidationContext, path: ValidationPath) -> PathFailure | None:
    # intl_validate_path is pyhanko's validate_path with the processing state passed in, so that a
    # failure tells which certificate of the path it is about (the public errors do not).
    state = ValProcState(cert_path_stack=ConsList.sing(path))
    try:
        await intl_validate_path(context, path, proc_state=state)
    except ValidationError as exc:
        return PathFailure(index=state.index, error=exc)
    except _UNPROCESSABLE as exc:
        # asn1crypto meeting an extension it cannot decode, a digest or algorithm pyhanko does not know.
        return PathFailure(index=state.index, error=ValidationError(f"cannot be processed ({exc})"))
    return None


async def find_valid_paths(
    context: ValidationContext, leaf: asn1_x509.Certificate
) -> tuple[list[ValidationPath], list[tuple[list[asn1_x509.Certificate], PathFailure]]]:
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


def run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a pyhanko coroutine to completion from synchronous code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from async code (a service): asyncio.run cannot nest, so give the coroutine its own loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- messages ---------------------------------------------------------------------------------------------


def chain_error(
    failure: PathFailure, path: list[x509.Certificate], label: Callable[[x509.Certificate], str]
) -> ChainInvalid:
    """Translate a pyhanko failure; ``path`` runs from the anchor (index 0) to the leaf."""
    cert = path[failure.index]
    name = label(cert)
    error = failure.error
    text = error.failure_msg.removeprefix(_PYHANKO_PREFIX)
    if isinstance(error, ExpiredError):
        return ChainInvalid(f"{name} expired on {when(cert.not_valid_after_utc)}")
    if isinstance(error, NotYetValidError):
        return ChainInvalid(f"{name} is not valid before {when(cert.not_valid_before_utc)}")
    if isinstance(error, DisallowedAlgorithmError):
        if signature_hash_name(cert) in WEAK_HASHES:
            return ChainInvalid(f"{name} is signed with the weak algorithm {signature_algorithm_name(cert)}")
        return ChainInvalid(f"{name}: signature not accepted: {text}")
    if text.endswith("is not a CA"):
        return ChainInvalid(f"{name} is not a CA ({basic_constraints_label(cert)})")
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


def require_aware(moment: dt.datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime")


def when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _path_length(cert: x509.Certificate) -> int | None:
    constraints = basic_constraints(cert)
    return constraints.path_length if constraints is not None and constraints.ca else None


def basic_constraints_label(cert: x509.Certificate) -> str:
    return (
        "basicConstraints CA:FALSE"
        if basic_constraints(cert) is not None
        else "no basicConstraints extension"
    )


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())
