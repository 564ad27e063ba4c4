"""Certificates into a repository: the Upload panel (uploaded, uploaded CA and compliant repositories)
and the Issue panel (private repositories, and compliant ones bound to a document-signing CA)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.enums import DataSource, IssueUsage, KeyAlgorithm
from certrepo.domain.errors import CaNotFound, InvalidInput
from certrepo.domain.repository import Repository
from certrepo.services import certificates, issuance
from certrepo.services import repositories as repository_service
from certrepo.services.cas_read import list_cas

from .certificate_forms import issue_request_from_form, upload_from_form
from .fields import ISSUE_FIELDS, UPLOAD_FIELDS, expect_fields
from .repository_routes import repository_view
from .web import ConsoleContext, ConsoleRoute, is_htmx, redirect, render_dialog, signed_in

__all__ = ["KEY_ALGORITHM_LABELS", "router"]

router = APIRouter(route_class=ConsoleRoute)

KEY_ALGORITHM_LABELS = {
    "RSA_2048": "RSA 2048",
    "RSA_3072": "RSA 3072",
    "RSA_4096": "RSA 4096",
    "ECC_256": "ECDSA P-256",
    "ECC_384": "ECDSA P-384",
    "ECC_521": "ECDSA P-521",
    "ED25519": "Ed25519",
    "SM2_256": "SM2",
}
_USAGE_LABELS = {
    "server": ("Server", "TLS server authentication: web and API servers (DNS names or IPs as SANs)."),
    "client": ("Client", "TLS client authentication: services and devices calling with mTLS."),
    "document_signing": ("Document signing", "Electronic signatures and contracts (non-repudiation)."),
}
_UPLOADABLE = (DataSource.UPLOADED, DataSource.UPLOADED_CA, DataSource.COMPLIANT)


async def _dialog(ctx: ConsoleContext, fragment: str, title: str, **values: Any) -> Response:
    return await render_dialog(ctx, fragment, title, active="repositories", **values)


async def _usable(ctx: ConsoleContext, repository_id: int) -> Repository:
    repository = await repository_service.get_repository(ctx.services, ctx.call, repository_id)
    repository.ensure_usable()
    return repository


# --- upload -----------------------------------------------------------------------------------------


@router.get("/repositories/{repository_id}/upload")
async def upload_dialog(request: Request, repository_id: int) -> Response:
    """The Upload panel: certificate (file or paste), key, chain, password, exportable."""
    ctx = await signed_in(request)
    repository = await _usable(ctx, repository_id)
    if repository.data_source not in _UPLOADABLE:
        raise InvalidInput(
            f"repository {repository.name} holds certificates issued by its CA: issue one instead of uploading"
        )
    return await _dialog(ctx, "repository/_upload.html", "Upload certificate", repository=repository)


@router.post("/repositories/{repository_id}/upload")
async def upload(request: Request, repository_id: int) -> Response:
    """Upload after every check of the data source; a refusal is shown next to the field it concerns."""
    ctx = await signed_in(request)
    expect_fields(request, UPLOAD_FIELDS)
    form = await request.form()
    stored = await certificates.upload_certificate(
        ctx.services, ctx.call, repository_id, await upload_from_form(form)
    )
    if not is_htmx(request):
        return redirect(f"/console/repositories/{repository_id}")
    first = stored.certificates[0]
    what = first.common_name or first.identifier
    notice = (
        f"Certificate “{what}” uploaded ({first.identifier})."
        if len(stored.certificates) == 1
        else f"{len(stored.certificates)} CA certificates uploaded."
    )
    return await repository_view(ctx, repository_id, notice=notice, warnings=stored.warnings)


# --- issue ------------------------------------------------------------------------------------------


def _issue_options(repository: Repository, ca_key_algorithm: str) -> dict[str, Any]:
    family = KeyAlgorithm(ca_key_algorithm).family
    compliant = repository.data_source is DataSource.COMPLIANT
    usages = [IssueUsage.DOCUMENT_SIGNING] if compliant else [IssueUsage.SERVER, IssueUsage.CLIENT]
    return {
        "compliant": compliant,
        "usages": usages,
        "usage_labels": _USAGE_LABELS,
        "key_algorithms": [a for a in KeyAlgorithm if a.family == family and a is not KeyAlgorithm.SM2_256],
        "key_algorithm_labels": KEY_ALGORITHM_LABELS,
        "ca_family": family,
        "default_days": issuance.DEFAULT_VALIDITY_DAYS,
    }


@router.get("/repositories/{repository_id}/issue")
async def issue_dialog(request: Request, repository_id: int) -> Response:
    """The Issue panel: CSR or generated key, profile, subject, SANs, validity."""
    ctx = await signed_in(request)
    repository = await _usable(ctx, repository_id)
    if repository.data_source not in (DataSource.PRIVATE, DataSource.COMPLIANT) or repository.ca_id is None:
        raise InvalidInput(
            f"repository {repository.name} has no intermediate CA: certificates are issued into private "
            "repositories and compliant ones bound to a CA"
        )
    ca = next((c for c in await list_cas(ctx.services, ctx.call) if c.id == repository.ca_id), None)
    if ca is None:
        raise CaNotFound(f"CA {repository.ca_id} of repository {repository.name} does not exist")
    return await _dialog(
        ctx,
        "repository/_issue.html",
        "Issue certificate",
        repository=repository,
        ca=ca,
        **_issue_options(repository, ca.key_algorithm),
    )


@router.post("/repositories/{repository_id}/issue")
async def issue(request: Request, repository_id: int) -> Response:
    """Issue from the repository's CA. A generated exportable key is in this answer, and in no other."""
    ctx = await signed_in(request)
    expect_fields(request, ISSUE_FIELDS)
    form = await request.form()
    issued = await issuance.issue_certificate(
        ctx.services, ctx.call, repository_id, await issue_request_from_form(form)
    )
    certificate = issued.certificate
    shown = {
        "certificate": certificate,
        "private_key": issued.private_key_pem.reveal().decode() if issued.private_key_pem else None,
        "key_generated": certificate.has_private_key,
    }
    notice = f"Certificate “{certificate.common_name or certificate.identifier}” issued."
    return await repository_view(ctx, repository_id, notice=notice, issued=shown)
