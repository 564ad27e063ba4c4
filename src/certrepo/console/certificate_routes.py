"""A certificate's own page: details, SANs, fingerprints, chain; downloads; key export; revoke with an
RFC 5280 reason; delete with a confirmation."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import RevocationReason
from certrepo.services import certificates as service
from certrepo.services import repositories as repository_service
from certrepo.services.cas import get_ca
from certrepo.services.revocation import revoke_certificate

from .fields import EXPORT_FIELDS, REVOKE_FIELDS, expect_fields
from .forms import optional_text
from .rendering import render_fragment, render_page
from .repository_routes import repository_view
from .tryout import certificate_tryout
from .web import ConsoleContext, ConsoleRoute, is_htmx, redirect, render_dialog, signed_in

__all__ = ["REVOCATION_REASONS", "certificate_view", "pem_download", "router"]

router = APIRouter(route_class=ConsoleRoute)

# RFC 5280 §5.3.1 reasons offered for a revocation (removeFromCRL belongs to delta CRLs only).
REVOCATION_REASONS: tuple[tuple[str, str], ...] = (
    (RevocationReason.UNSPECIFIED.value, "Unspecified"),
    (RevocationReason.KEY_COMPROMISE.value, "Key compromise"),
    (RevocationReason.CA_COMPROMISE.value, "CA compromise"),
    (RevocationReason.AFFILIATION_CHANGED.value, "Affiliation changed"),
    (RevocationReason.SUPERSEDED.value, "Superseded"),
    (RevocationReason.CESSATION_OF_OPERATION.value, "Cessation of operation"),
    (RevocationReason.CERTIFICATE_HOLD.value, "Certificate hold"),
    (RevocationReason.PRIVILEGE_WITHDRAWN.value, "Privilege withdrawn"),
    (RevocationReason.AA_COMPROMISE.value, "AA compromise"),
)
_REASON_LABELS = dict(REVOCATION_REASONS)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ChainLink:
    subject: str
    issuer: str
    not_after: datetime


def _chain(certificate: Certificate) -> tuple[ChainLink, ...]:
    if not certificate.chain_pem:
        return ()
    return tuple(
        ChainLink(c.subject.rfc4514_string(), c.issuer.rfc4514_string(), c.not_valid_after_utc)
        for c in x509.load_pem_x509_certificates(certificate.chain_pem.encode())
    )


def _file_stem(certificate: Certificate) -> str:
    stem = _UNSAFE_FILENAME.sub("_", certificate.common_name or certificate.name or "").strip("._")
    return stem[:64] or certificate.identifier


def pem_download(text: str | bytes, filename: str, media_type: str = "application/x-pem-file") -> Response:
    """A file to save (never shown inline: it is not a page of this console)."""
    return Response(
        text, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


async def _values(ctx: ConsoleContext, certificate: Certificate) -> dict[str, Any]:
    repository = await repository_service.get_repository(ctx.services, ctx.call, certificate.repository_id)
    issuing_ca = None
    if certificate.issuing_ca_id is not None:
        issuing_ca = await get_ca(ctx.services, ctx.call, certificate.issuing_ca_id)
    usable = repository.is_enabled
    return {
        "certificate": certificate,
        "repository": repository,
        "issuing_ca": issuing_ca,
        "chain": _chain(certificate),
        "now": ctx.services.clock(),
        "reason_label": _REASON_LABELS.get(certificate.revocation_reason or "", None),
        "can_change": usable and ctx.can("manage"),
        "can_export": ctx.can("export_keys") and certificate.has_private_key and certificate.exportable,
        "tryout": certificate_tryout(certificate) if usable and ctx.can("use_keys") else None,
        "tryout_result": None,
        "exported": None,
    }


async def certificate_view(
    ctx: ConsoleContext, identifier: str, *, notice: str | None = None, **shown: Any
) -> Response:
    """The certificate page (the #main fragment for htmx), with what a change or a try-out produced."""
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    values: dict[str, Any] = {**await _values(ctx, certificate), "notice": notice, **shown}
    if is_htmx(ctx.request):
        return render_fragment(
            ctx.request, "certificate/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, **values
        )
    return await render_page(ctx, "certificate/page.html", active="repositories", **values)


@router.get("/certificates/{identifier}")
async def certificate_page(request: Request, identifier: str) -> Response:
    """One certificate: details, SANs, fingerprints, chain, and what can be done with it."""
    return await certificate_view(await signed_in(request), identifier)


# --- downloads ----------------------------------------------------------------------------------------


@router.get("/certificates/{identifier}/certificate.pem")
async def download_certificate(request: Request, identifier: str) -> Response:
    """The certificate in PEM."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    return pem_download(certificate.pem, f"{_file_stem(certificate)}.pem")


@router.get("/certificates/{identifier}/chain.pem")
async def download_chain(request: Request, identifier: str) -> Response:
    """Its issuers in PEM, the issuer first."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    return pem_download(certificate.chain_pem, f"{_file_stem(certificate)}.chain.pem")


@router.get("/certificates/{identifier}/fullchain.pem")
async def download_full_chain(request: Request, identifier: str) -> Response:
    """The certificate followed by its issuers (what a TLS server is configured with)."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    return pem_download(certificate.pem + certificate.chain_pem, f"{_file_stem(certificate)}.fullchain.pem")


@router.get("/repositories/{repository_id}/ca-bundle.pem")
async def download_ca_bundle(request: Request, repository_id: int) -> Response:
    """The CA certificates of an uploaded CA or private repository (an mTLS trust bundle)."""
    ctx = await signed_in(request)
    bundle = await service.ca_bundle(ctx.services, ctx.call, repository_id)
    return pem_download(bundle, f"repository-{repository_id}-ca-bundle.pem")


@router.post("/certificates/{identifier}/export-key")
async def export_key(request: Request, identifier: str) -> Response:
    """The private key of an exportable certificate: PKCS#8 PEM (encrypted with a password when one is
    given) or PKCS#12 with the chain. Shown once in the panel (htmx), or saved as a file."""
    ctx = await signed_in(request)
    expect_fields(request, EXPORT_FIELDS)
    form = await request.form()
    password = form.get("password")
    exported = await service.export_private_key(
        ctx.services,
        ctx.call,
        identifier,
        format=optional_text(form, "format", max_length=16) or "pkcs8",
        password=password if isinstance(password, str) and password else None,
    )
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    stem = _file_stem(certificate)
    if exported.format == "pkcs12":
        filename, text, binary = f"{stem}.p12", base64.b64encode(exported.data).decode(), True
    else:
        filename, text, binary = f"{stem}.key.pem", exported.data.decode(), False
    if not is_htmx(request):
        media = "application/x-pkcs12" if binary else "application/x-pem-file"
        return pem_download(exported.data, filename, media)
    return render_fragment(
        request, "certificate/_exported.html", key_text=text, key_file=filename, key_base64=binary
    )


# --- revoke and delete ----------------------------------------------------------------------------------


async def _dialog(ctx: ConsoleContext, fragment: str, title: str, certificate: Certificate) -> Response:
    return await render_dialog(
        ctx, fragment, title, active="repositories", certificate=certificate, reasons=REVOCATION_REASONS
    )


@router.get("/certificates/{identifier}/revoke")
async def revoke_dialog(request: Request, identifier: str) -> Response:
    """The revoke confirmation, with the RFC 5280 reason."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    return await _dialog(ctx, "certificate/_revoke.html", "Revoke certificate", certificate)


@router.post("/certificates/{identifier}/revoke")
async def revoke(request: Request, identifier: str) -> Response:
    """Revoke: a certificate issued here is on its CA's CRL and OCSP answers from now on."""
    ctx = await signed_in(request)
    expect_fields(request, REVOKE_FIELDS)
    form = await request.form()
    revoked = await revoke_certificate(
        ctx.services, ctx.call, identifier, reason=optional_text(form, "reason", max_length=64)
    )
    if not is_htmx(request):
        return redirect(f"/console/certificates/{identifier}")
    reason = _REASON_LABELS.get(revoked.revocation_reason or "", "unspecified")
    where = " It is on its CA's CRL and OCSP answers now." if revoked.issuing_ca_id is not None else ""
    return await certificate_view(ctx, identifier, notice=f"Certificate revoked ({reason.lower()}).{where}")


@router.get("/certificates/{identifier}/delete")
async def delete_dialog(request: Request, identifier: str) -> Response:
    """The delete confirmation."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    return await _dialog(ctx, "certificate/_delete.html", "Delete certificate", certificate)


@router.post("/certificates/{identifier}/delete")
async def delete(request: Request, identifier: str) -> Response:
    """Delete the certificate and destroy its key; back to its repository."""
    ctx = await signed_in(request)
    certificate = await service.get_certificate(ctx.services, ctx.call, identifier)
    await service.delete_certificate(ctx.services, ctx.call, identifier)
    if not is_htmx(request):
        return redirect(f"/console/repositories/{certificate.repository_id}")
    name = certificate.common_name or certificate.identifier
    key = " and its private key destroyed" if certificate.has_private_key else ""
    return await repository_view(ctx, certificate.repository_id, notice=f"Certificate “{name}” deleted{key}.")
