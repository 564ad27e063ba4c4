"""Private CA issuance in a repository: CreateWHClientCertificate and RevokeWHClientCertificate (reference
§4.10-4.11). Issuance and revocation are services/issuance.py's and services/revocation.py's.

ParentIdentifier is a ListCert ``CertType=CA`` identifier, ``ca-{id}``: the certificate is issued into the
repository that intermediate is bound to. The parameters map onto the service's request: ``Algorithm``
(``ECC_512`` is Alibaba's name of P-521) chooses the generated key and is ignored with a ``Csr`` (the CSR's
key decides, and the service checks its family against the CA's); ``SanType`` + comma-separated
``SanValue`` become SANs; validity is ``Days``, else ``BeforeTime`` + ``AfterTime`` (seconds), else
``Months`` + ``Years`` (added, counted in calendar days from today); one of them is required.
``Immediately`` chooses what comes back: 0 the identifier, 1 also the certificate, 2 also the chain
(``CertificateChain`` = the issuers, intermediate first; ``ParentX509Certificate`` and
``RootX509Certificate`` its two ends). A generated key stays in the repository (no key is returned).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime
from typing import Final

from certrepo.domain.enums import CertificateSource, IssueUsage, KeyAlgorithm
from certrepo.domain.errors import CertificateNotFound, InvalidInput, MissingParameter
from certrepo.pki.issue import San
from certrepo.services import cas, certificates, issuance, revocation

from .actions_context import ActionContext, Handler, refuse_ca_handle, resolve_certificate_identifier
from .shapes_certificates import ca_id_of, split_pem

__all__ = ["HANDLERS", "PARAMETERS"]

# Alibaba's names (and certrepo's) of the key to generate.
_ALGORITHMS: Final = {
    "RSA_2048": KeyAlgorithm.RSA_2048,
    "RSA_3072": KeyAlgorithm.RSA_3072,
    "RSA_4096": KeyAlgorithm.RSA_4096,
    "ECC_256": KeyAlgorithm.ECC_256,
    "ECC_384": KeyAlgorithm.ECC_384,
    "ECC_512": KeyAlgorithm.ECC_521,
    "ECC_521": KeyAlgorithm.ECC_521,
    "SM2_256": KeyAlgorithm.SM2_256,
    "ED25519": KeyAlgorithm.ED25519,
}
_TOO_WEAK: Final = ("RSA_1024",)
_SAN_TYPES: Final = {1: "email", 2: "dns", 6: "uri", 7: "ip"}
_USAGES: Final = {u.value: u for u in (IssueUsage.CLIENT, IssueUsage.SERVER)}
_RETURN_IDENTIFIER, _RETURN_CERTIFICATE, _RETURN_CHAIN = 0, 1, 2
_MAX_MONTHS: Final = 12 * 100


# --- CreateWHClientCertificate ----------------------------------------------------------------------


async def _issuing_repository(ctx: ActionContext, parent: str) -> int:
    """The repository bound to the CA that ParentIdentifier names. Raises CertificateNotFound,
    CaNotFound, InvalidInput."""
    ca_id = ca_id_of(parent)
    if ca_id is None:
        raise CertificateNotFound(
            f"ParentIdentifier {parent[:64]!r} names no CA: ListCert with CertType=CA lists the CAs of a "
            "private repository (ca-{id})",
            details={"parameter": "ParentIdentifier"},
        )
    ca = await cas.get_ca(ctx.services, ctx.call, ca_id)
    if ca.bound_repository_id is None:
        raise InvalidInput(
            f"the parameter ParentIdentifier names the CA {parent} ({ca.common_name}), which is bound to no "
            "repository (a root never is; a reset releases an intermediate): name the intermediate of a "
            "private repository",
            details={"parameter": "ParentIdentifier"},
        )
    return ca.bound_repository_id


def _key_algorithm(ctx: ActionContext) -> KeyAlgorithm | None:
    name = ctx.params.enum("Algorithm", [*_ALGORITHMS, *_TOO_WEAK])
    if name in _TOO_WEAK:
        raise InvalidInput(
            f"the parameter Algorithm {name} is too weak to issue; use RSA_2048 or longer, or an ECC curve",
            details={"parameter": "Algorithm"},
        )
    return _ALGORITHMS[name] if name else None


def _sans(ctx: ActionContext) -> tuple[San, ...]:
    san_type = ctx.params.int("SanType")
    values = ctx.params.str("SanValue") or ""
    if san_type is None and not values:
        return ()
    if san_type is None:
        raise MissingParameter(
            "the parameter SanType is required with SanValue (1 email, 2 DNS, 6 URI, 7 IP)",
            details={"parameter": "SanType"},
        )
    if san_type not in _SAN_TYPES:
        raise InvalidInput(
            f"the parameter SanType must be 1 (email), 2 (DNS), 6 (URI) or 7 (IP), got {san_type}",
            details={"parameter": "SanType"},
        )
    parts = [v.strip() for v in values.split(",") if v.strip()]
    if not parts:
        raise MissingParameter(
            "the parameter SanValue is required with SanType", details={"parameter": "SanValue"}
        )
    return tuple(San(_SAN_TYPES[san_type], v) for v in parts)


def _months_later(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _validity(ctx: ActionContext, now: datetime) -> tuple[int | None, datetime | None, datetime | None]:
    """(days, not_before, not_after): Days wins, then the BeforeTime/AfterTime pair, then Months+Years."""
    days = ctx.params.int("Days")
    if days is not None:
        return days, None, None
    before, after = ctx.params.timestamp_s("BeforeTime"), ctx.params.timestamp_s("AfterTime")
    if before is not None or after is not None:
        if before is None or after is None:
            missing = "AfterTime" if after is None else "BeforeTime"
            raise MissingParameter(
                f"the parameter {missing} is required: BeforeTime and AfterTime come as a pair",
                details={"parameter": missing},
            )
        return None, before, after
    months = (ctx.params.int("Months", min=0, max=_MAX_MONTHS) or 0) + 12 * (
        ctx.params.int("Years", min=0, max=_MAX_MONTHS // 12) or 0
    )
    if months:
        today = now.date()
        return (_months_later(today, months) - today).days, None, None
    raise MissingParameter(
        "the validity is required: Days, or BeforeTime and AfterTime (seconds), or Months / Years",
        details={"parameter": "Days"},
    )


async def create_wh_client_certificate(ctx: ActionContext) -> dict[str, object]:
    """CreateWHClientCertificate: ParentIdentifier (ca-{id}), Csr | Algorithm, subject fields, SanType +
    SanValue, validity, Immediately; (ext) Usage client|server."""
    parent = ctx.params.str("ParentIdentifier", required=True)
    assert parent is not None
    repository_id = await _issuing_repository(ctx, parent)
    immediately = ctx.params.int("Immediately", min=0, max=2) or _RETURN_IDENTIFIER
    csr = ctx.params.str("Csr") or None
    algorithm = _key_algorithm(ctx)
    days, not_before, not_after = _validity(ctx, ctx.services.clock())
    usage = ctx.params.enum("Usage", _USAGES) or IssueUsage.CLIENT.value
    request = issuance.IssueRequest(
        usage=_USAGES[usage],
        csr=csr,
        key_algorithm=None if csr else algorithm,
        common_name=ctx.params.str("CommonName") or None,
        organization=ctx.params.str("Organization") or None,
        organizational_unit=ctx.params.str("OrganizationUnit") or None,
        country=ctx.params.str("Country") or None,
        state=ctx.params.str("State") or None,
        locality=ctx.params.str("Locality") or None,
        sans=_sans(ctx),
        validity_days=days,
        not_before=not_before,
        not_after=not_after,
    )
    issued = (await issuance.issue_certificate(ctx.services, ctx.call, repository_id, request)).certificate
    body: dict[str, object] = {"Identifier": issued.identifier, "CertId": issued.number}
    if immediately >= _RETURN_CERTIFICATE:
        body["X509Certificate"] = issued.pem
    if immediately >= _RETURN_CHAIN:
        issuers = split_pem(issued.chain_pem)
        body["CertificateChain"] = "".join(issuers)
        body["ParentX509Certificate"] = issuers[0] if issuers else ""
        body["RootX509Certificate"] = issuers[-1] if issuers else ""
    return body


# --- RevokeWHClientCertificate ----------------------------------------------------------------------


async def revoke_wh_client_certificate(ctx: ActionContext) -> dict[str, object]:
    """RevokeWHClientCertificate: Identifier (a certificate issued here, client or server); (ext) Reason,
    an RFC 5280 reason name such as key_compromise. Its CA's CRL and OCSP say so at once."""
    handle = ctx.params.str("Identifier", required=True)
    assert handle is not None
    refuse_ca_handle("Identifier", handle)
    identifier = await resolve_certificate_identifier(ctx, handle)
    certificate = await certificates.get_certificate(ctx.services, ctx.call, identifier)
    if certificate.source is not CertificateSource.ISSUED:
        raise InvalidInput(
            f"certificate {handle} was uploaded, not issued by a CA of this service: "
            "RevokeWHClientCertificate revokes issued certificates (DeletePCACert removes uploaded ones)",
            details={"parameter": "Identifier"},
        )
    reason = ctx.params.str("Reason") or None
    revoked = await revocation.revoke_certificate(
        ctx.services, ctx.call, identifier, reason=reason.strip().lower() if reason else None
    )
    assert revoked.revocation_reason is not None
    return {"Identifier": revoked.identifier, "Status": "REVOKE", "Reason": revoked.revocation_reason.value}


HANDLERS: Final[Mapping[str, Handler]] = {
    "CreateWHClientCertificate": create_wh_client_certificate,
    "RevokeWHClientCertificate": revoke_wh_client_certificate,
}

PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = {
    "CreateWHClientCertificate": {
        "csr": "Csr",
        "key_algorithm": "Algorithm",
        "common_name": "CommonName",
        "days": "Days",
        "not_before": "BeforeTime",
        "not_after": "AfterTime",
        "usage": "Usage",
        "sans": "SanValue",
    },
    "RevokeWHClientCertificate": {"identifier": "Identifier", "reason": "Reason"},
}
