"""Public revocation services, no authentication: CRLs (RFC 5280 §4.2.1.13) and OCSP (RFC 6960).

Relying parties fetch these from the URLs in the certificates, so they answer anyone, and keep
answering for certificates of repositories that were reset.
"""

from __future__ import annotations

import base64
import binascii
import textwrap

from fastapi import APIRouter, Request, Response

from certrepo.pki.ocsp import MAX_OCSP_REQUEST_BYTES, ocsp_error_response
from certrepo.services import revocation

from .deps import IdPath, ServicesDep
from .errors import error_responses

__all__ = ["router"]

router = APIRouter(tags=["revocation (public)"])

_CRL_TYPE = "application/pkix-crl"
_OCSP_RESPONSE_TYPE = "application/ocsp-response"
# Responses are re-fetched often and cheap to make; caches may hold them briefly (RFC 5019 §6).
_CACHE = {"Cache-Control": "public, max-age=60, no-transform"}


@router.get(
    "/crl/{ca_id}.crl",
    response_class=Response,
    responses={**error_responses(404), 200: {"content": {_CRL_TYPE: {}}, "description": "DER CRL"}},
)
async def crl_der(ca_id: IdPath, services: ServicesDep) -> Response:
    """The CA's current CRL, DER."""
    record = await revocation.current_crl(services, ca_id)
    return Response(record.der, media_type=_CRL_TYPE, headers=_CACHE)


@router.get(
    "/crl/{ca_id}.pem",
    response_class=Response,
    responses={
        **error_responses(404),
        200: {"content": {"application/x-pem-file": {}}, "description": "PEM CRL"},
    },
)
async def crl_pem(ca_id: IdPath, services: ServicesDep) -> Response:
    """The CA's current CRL, PEM (``-----BEGIN X509 CRL-----``)."""
    record = await revocation.current_crl(services, ca_id)
    body = "\n".join(textwrap.wrap(base64.b64encode(record.der).decode("ascii"), 64))
    pem = f"-----BEGIN X509 CRL-----\n{body}\n-----END X509 CRL-----\n"
    return Response(pem, media_type="application/x-pem-file", headers=_CACHE)


def _ocsp(der: bytes) -> Response:
    return Response(der, media_type=_OCSP_RESPONSE_TYPE, headers=_CACHE)


@router.get(
    "/ocsp/{ca_id}/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {_OCSP_RESPONSE_TYPE: {}}, "description": "DER OCSP response"}},
)
async def ocsp_get(ca_id: IdPath, encoded: str, services: ServicesDep) -> Response:
    """OCSP over GET: the path ends with the base64 (URL-encoded) DER request (RFC 6960 Appendix A.1)."""
    if len(encoded) > MAX_OCSP_REQUEST_BYTES * 2:
        return _ocsp(ocsp_error_response("malformedRequest"))
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return _ocsp(ocsp_error_response("malformedRequest"))
    return _ocsp(await revocation.ocsp_response(services, ca_id, der))


@router.post(
    "/ocsp/{ca_id}",
    response_class=Response,
    responses={200: {"content": {_OCSP_RESPONSE_TYPE: {}}, "description": "DER OCSP response"}},
    openapi_extra={"requestBody": {"content": {"application/ocsp-request": {}}, "required": True}},
)
async def ocsp_post(ca_id: IdPath, request: Request, services: ServicesDep) -> Response:
    """OCSP over POST: the body is the DER request (``application/ocsp-request``)."""
    der = bytearray()
    async for chunk in request.stream():
        der += chunk
        if len(der) > MAX_OCSP_REQUEST_BYTES:
            return _ocsp(ocsp_error_response("malformedRequest"))
    return Response(
        await revocation.ocsp_response(services, ca_id, bytes(der)), media_type=_OCSP_RESPONSE_TYPE
    )
