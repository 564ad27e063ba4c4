"""/v1/repositories/{id}/certificates (and /batch), /v1/certificates/{identifier}, ca-bundle, verify-chain."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from certrepo.domain.enums import CertificateStatus
from certrepo.domain.errors import CertrepoError
from certrepo.services import certificates as service

from .deps import CallDep, IdPath, PageDep, ServicesDep
from .errors import error_responses, product_error_response, server_fault_body, validation_error_body
from .schemas import (
    CertificateBatchItemOut,
    CertificateBatchUpload,
    CertificateBatchUploaded,
    CertificateOut,
    CertificateUpload,
    CertificateUploaded,
    KeyExportIn,
    KeyExportOut,
    ListOf,
    VerifyChainIn,
    VerifyChainOut,
)

router = APIRouter(tags=["certificates"])


@router.post(
    "/v1/repositories/{repository_id}/certificates",
    status_code=201,
    responses=error_responses(403, 404, 409, 413),
)
async def upload_certificate(
    repository_id: IdPath, body: CertificateUpload, services: ServicesDep, call: CallDep
) -> CertificateUploaded:
    """Upload a certificate (with key and chain) after strict checks; an uploaded_ca upload may add
    several CA certificates."""
    upload = service.Upload(**body.model_dump())
    result = await service.upload_certificate(services, call, repository_id, upload)
    now = services.clock()
    return CertificateUploaded(
        items=[CertificateOut.of(c, now=now, warnings=result.warnings) for c in result.certificates]
    )


@router.post(
    "/v1/repositories/{repository_id}/certificates/batch",
    responses=error_responses(403, 404, 409, 413),
)
async def upload_certificates(
    repository_id: IdPath, body: CertificateBatchUpload, services: ServicesDep, call: CallDep
) -> CertificateBatchUploaded:
    """Upload up to 100 certificates in one request, as if each item (the body of a single upload) were
    uploaded in turn: each answer, in order, is the item's status with what was stored or the error body
    its single upload would get (a duplicate of an earlier item too). A refused item stores nothing and
    refuses no other; the stored ones are committed together. What concerns the repository (not found,
    reset, private) refuses the whole request; more than 100 items: 413."""
    service.check_batch_size(len(body.items))
    request_id = call.request_id or ""
    answers: list[CertificateBatchItemOut | None] = []
    uploads: list[service.Upload] = []
    for raw in body.items:
        try:
            upload = CertificateUpload.model_validate(raw)
        except ValidationError as exc:
            answers.append(_refused(400, validation_error_body(exc.errors(), request_id)))
            continue
        answers.append(None)  # answered by the service, in this order
        uploads.append(service.Upload(**upload.model_dump()))
    outcomes = iter(await service.upload_certificates(services, call, repository_id, uploads))
    now = services.clock()
    return CertificateBatchUploaded(
        items=[a if a is not None else _batch_answer(next(outcomes), request_id, now) for a in answers]
    )


def _refused(status: int, error: dict[str, Any]) -> CertificateBatchItemOut:
    return CertificateBatchItemOut(status=status, error=error)


def _batch_answer(outcome: service.UploadOutcome, request_id: str, now: datetime) -> CertificateBatchItemOut:
    """One item's answer, as its single upload would have it."""
    if isinstance(outcome, service.UploadResult):
        stored = [CertificateOut.of(c, now=now, warnings=outcome.warnings) for c in outcome.certificates]
        return CertificateBatchItemOut(status=201, certificates=stored)
    if isinstance(outcome, CertrepoError):
        status, error, _ = product_error_response(outcome, request_id)
        return _refused(status, error)
    try:  # a fault: logged with its trace and answered as a single upload's 500 would be
        raise outcome
    except Exception:  # noqa: BLE001 - re-raised here only so that the log carries its traceback
        return _refused(500, server_fault_body(request_id))


@router.get("/v1/repositories/{repository_id}/certificates", responses=error_responses(403, 404))
async def list_certificates(
    repository_id: IdPath,
    services: ServicesDep,
    call: CallDep,
    page: PageDep,
    keyword: Annotated[str | None, Query(max_length=256)] = None,
    status: CertificateStatus | None = None,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=36500)] = None,
    expired: bool | None = None,
) -> ListOf[CertificateOut]:
    """Search a repository's certificates (keyword over CN, SANs, name, serial, fingerprints)."""
    where = service.CertificateFilter(
        keyword=keyword, status=status, expiring_within_days=expiring_within_days, expired=expired
    )
    result = await service.list_certificates(services, call, repository_id, page=page, where=where)
    now = services.clock()
    return ListOf.of(result, [CertificateOut.of(c, now=now) for c in result.items])


@router.get("/v1/certificates/{identifier}", responses=error_responses(403, 404))
async def get_certificate(
    identifier: str,
    services: ServicesDep,
    call: CallDep,
    include: Annotated[str | None, Query(max_length=32, description="pem,chain")] = None,
) -> CertificateOut:
    """One certificate; ``include=pem,chain`` adds the PEM and its chain (issuer first)."""
    wanted = frozenset(p.strip() for p in (include or "").split(",") if p.strip())
    certificate = await service.get_certificate(services, call, identifier)
    return CertificateOut.of(certificate, now=services.clock(), include=wanted)


@router.delete("/v1/certificates/{identifier}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_certificate(identifier: str, services: ServicesDep, call: CallDep) -> Response:
    """Remove a certificate; its private key is destroyed."""
    await service.delete_certificate(services, call, identifier)
    return Response(status_code=204)


@router.post("/v1/certificates/{identifier}/export-key", responses=error_responses(403, 404))
async def export_key(identifier: str, body: KeyExportIn, services: ServicesDep, call: CallDep) -> KeyExportOut:
    """Export the private key of an exportable certificate (PKCS#8 PEM, or PKCS#12 with a password)."""
    exported = await service.export_private_key(
        services, call, identifier, format=body.format, password=body.password
    )
    text = exported.data.decode() if exported.format == "pkcs8" else base64.b64encode(exported.data).decode()
    return KeyExportOut(format=exported.format, private_key=text)


@router.get(
    "/v1/repositories/{repository_id}/ca-bundle",
    response_class=Response,
    responses={**error_responses(403, 404, 409), 200: {"content": {"application/x-pem-file": {}}}},
)
async def ca_bundle(repository_id: IdPath, services: ServicesDep, call: CallDep) -> Response:
    """PEM of the repository's CA certificates (uploaded_ca, private)."""
    pem = await service.ca_bundle(services, call, repository_id)
    return Response(pem, media_type="application/x-pem-file")


@router.post("/v1/repositories/{repository_id}/verify-chain", responses=error_responses(403, 404, 409))
async def verify_chain(
    repository_id: IdPath, body: VerifyChainIn, services: ServicesDep, call: CallDep
) -> VerifyChainOut:
    """Validate a certificate (+ intermediates) against the repository's roots at a time, for a
    hostname and usage; answers valid, the chain used, and the reasons when invalid."""
    verdict = await service.verify_chain_in_repository(
        services,
        call,
        repository_id,
        certificate=body.certificate,
        intermediates=body.intermediates,
        at=body.time,
        hostname=body.hostname,
        usage=body.usage,
    )
    chain = [c.public_bytes(serialization.Encoding.PEM).decode() for c in verdict.chain]
    return VerifyChainOut(valid=verdict.valid, chain=chain or None, errors=list(verdict.errors) or None)
