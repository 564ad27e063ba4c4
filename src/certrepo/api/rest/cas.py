"""/v1/cas (create, import, list, show, revoke by serial), issuance into a repository, revocation."""

from __future__ import annotations

from fastapi import APIRouter

from certrepo.domain.enums import CaType
from certrepo.pki.issue import San
from certrepo.services import cas as ca_service
from certrepo.services import issuance, revocation

from .deps import CallDep, IdPath, PageDep, ServicesDep
from .errors import error_responses
from .schemas import (
    CaCreate,
    CaIn,
    CaOut,
    CertificateOut,
    IssuedOut,
    IssueIn,
    ListOf,
    RevokedSerialOut,
    RevokeIn,
    SerialRevokeIn,
)

__all__ = ["router"]

router = APIRouter(tags=["certificate authorities"])


@router.post("/v1/cas", status_code=201, responses=error_responses(403, 404, 409))
async def create_ca(body: CaIn, services: ServicesDep, call: CallDep) -> CaOut:
    """Create a root (self-signed) or an intermediate CA with a new key, or import a CA with its key
    (``type: imported``; its chain must reach a root)."""
    if isinstance(body, CaCreate):
        spec = ca_service.CaSpec(
            type=CaType(body.type),
            common_name=body.common_name,
            key_algorithm=body.key_algorithm,
            parent_id=body.parent_id,
            validity_days=body.days,
            path_len=body.path_len,
            organization=body.organization,
            country=body.country,
        )
        ca = await ca_service.create_ca(services, call, spec)
    else:
        imported = ca_service.CaImport(
            certificate=body.certificate,
            private_key=body.private_key,
            chain=body.chain,
            password=body.password,
        )
        ca = await ca_service.import_ca(services, call, imported)
    return CaOut.of(ca, base_url=services.base_url)


@router.get("/v1/cas", responses=error_responses(403))
async def list_cas(services: ServicesDep, call: CallDep, page: PageDep) -> ListOf[CaOut]:
    """CAs of the account, oldest first, with the repository each intermediate is bound to."""
    result = await ca_service.list_cas(services, call, page=page)
    return ListOf.of(result, [CaOut.of(ca, base_url=services.base_url) for ca in result.items])


@router.get("/v1/cas/{ca_id}", responses=error_responses(403, 404))
async def get_ca(ca_id: IdPath, services: ServicesDep, call: CallDep) -> CaOut:
    """One CA."""
    return CaOut.of(await ca_service.get_ca(services, call, ca_id), base_url=services.base_url)


@router.post("/v1/cas/{ca_id}/revoke", responses=error_responses(403, 404, 409))
async def revoke_serial(
    ca_id: IdPath, body: SerialRevokeIn, services: ServicesDep, call: CallDep
) -> RevokedSerialOut:
    """Revoke what the CA issued by serial number (also certificates of a repository reset since)."""
    record = await revocation.revoke_serial(services, call, ca_id, body.serial_number, reason=body.reason)
    return RevokedSerialOut.of(record)


@router.post(
    "/v1/repositories/{repository_id}/issue", status_code=201, responses=error_responses(403, 404, 409)
)
async def issue_certificate(
    repository_id: IdPath, body: IssueIn, services: ServicesDep, call: CallDep
) -> IssuedOut:
    """Issue a certificate from the repository's CA, for a CSR or a generated key (returned once as
    ``private_key`` when ``exportable``)."""
    request = issuance.IssueRequest(
        usage=body.usage,
        csr=body.csr,
        key_algorithm=body.key_algorithm,
        common_name=body.common_name,
        organization=body.organization,
        organizational_unit=body.organizational_unit,
        country=body.country,
        state=body.state,
        locality=body.locality,
        sans=tuple(San(s.type, s.value) for s in body.sans),
        validity_days=body.days,
        not_before=body.not_before,
        not_after=body.not_after,
        exportable=body.exportable,
        name=body.name,
        custom_identifier=body.custom_identifier,
    )
    issued = await issuance.issue_certificate(services, call, repository_id, request)
    shown = CertificateOut.of(issued.certificate, now=services.clock(), include=frozenset({"pem", "chain"}))
    key = issued.private_key_pem.reveal().decode() if issued.private_key_pem is not None else None
    return IssuedOut(**shown.model_dump(), private_key=key)


@router.post("/v1/certificates/{identifier}/revoke", responses=error_responses(403, 404, 409))
async def revoke_certificate(
    identifier: str, body: RevokeIn, services: ServicesDep, call: CallDep
) -> CertificateOut:
    """Revoke a certificate with an RFC 5280 reason; one this service issued goes on its CA's CRL and
    OCSP answers at once."""
    revoked = await revocation.revoke_certificate(services, call, identifier, reason=body.reason)
    return CertificateOut.of(revoked, now=services.clock())
