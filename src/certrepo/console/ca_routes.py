"""Certificate authorities: the list (type, key, validity, parent, bound repository, CRL and OCSP), the
Create CA panel (root, or intermediate under a parent) and the Import CA panel (certificate + key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.ca import CertificateAuthority, crl_url_of, ocsp_url_of
from certrepo.domain.enums import CaType, KeyAlgorithm
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.services import cas as ca_service
from certrepo.services import repositories as repository_service
from certrepo.services.cas_read import list_cas

from .certificate_forms import ca_import_from_form, ca_spec_from_form
from .certificate_routes import pem_download
from .fields import CA_CREATE_FIELDS, CA_IMPORT_FIELDS, expect_fields
from .intake_routes import KEY_ALGORITHM_LABELS
from .rendering import render_fragment, render_page
from .web import ConsoleContext, ConsoleRoute, is_htmx, redirect, render_dialog, signed_in

__all__ = ["CA_KEY_ALGORITHMS", "CaRow", "router"]

router = APIRouter(route_class=ConsoleRoute)

# SPEC §1.2: RSA 2048/3072/4096, ECDSA P-256/P-384 (SM2 CAs are not supported yet).
CA_KEY_ALGORITHMS = (
    KeyAlgorithm.ECC_256,
    KeyAlgorithm.ECC_384,
    KeyAlgorithm.RSA_2048,
    KeyAlgorithm.RSA_3072,
    KeyAlgorithm.RSA_4096,
)


@dataclass(frozen=True)
class CaRow:
    """A CA as the list shows it, with its parent, its repository and its public revocation URLs."""

    ca: CertificateAuthority
    parent: CertificateAuthority | None
    repository: Repository | None
    crl_url: str
    crl_pem_url: str
    ocsp_url: str


async def _rows(ctx: ConsoleContext) -> list[CaRow]:
    cas = await list_cas(ctx.services, ctx.call)
    by_id = {ca.id: ca for ca in cas}
    repositories = await repository_service.list_repositories(ctx.services, ctx.call, page=Page(1, 500))
    repository_by_id = {r.id: r for r in repositories.items}
    base = ctx.services.base_url
    return [
        CaRow(
            ca,
            by_id.get(ca.parent_id) if ca.parent_id else None,
            repository_by_id.get(ca.bound_repository_id) if ca.bound_repository_id else None,
            crl_url_of(base, ca.id),
            crl_url_of(base, ca.id).removesuffix(".crl") + ".pem",
            ocsp_url_of(base, ca.id),
        )
        for ca in cas
    ]


async def _cas_view(ctx: ConsoleContext, *, notice: str | None = None) -> Response:
    values: dict[str, Any] = {"rows": await _rows(ctx), "now": ctx.services.clock(), "notice": notice}
    if is_htmx(ctx.request):
        return render_fragment(ctx.request, "cas/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, **values)
    return await render_page(ctx, "cas/page.html", active="cas", **values)


@router.get("/cas")
async def cas_page(request: Request) -> Response:
    """The CAs of the account, oldest first."""
    return await _cas_view(await signed_in(request))


async def _dialog(ctx: ConsoleContext, fragment: str, title: str, **values: Any) -> Response:
    return await render_dialog(ctx, fragment, title, active="cas", **values)


@router.get("/cas/new")
async def create_dialog(request: Request) -> Response:
    """The Create CA panel: a root, or an intermediate signed by a CA that holds its key."""
    ctx = await signed_in(request)
    now = ctx.services.clock()
    parents = [
        ca for ca in await list_cas(ctx.services, ctx.call) if ca.has_private_key and ca.not_after > now
    ]
    return await _dialog(
        ctx,
        "cas/_create.html",
        "Create CA",
        parents=parents,
        key_algorithms=CA_KEY_ALGORITHMS,
        key_algorithm_labels=KEY_ALGORITHM_LABELS,
        root_days=ca_service.DEFAULT_ROOT_DAYS,
        intermediate_days=ca_service.DEFAULT_INTERMEDIATE_DAYS,
    )


@router.get("/cas/import")
async def import_dialog(request: Request) -> Response:
    """The Import CA panel: a CA certificate with its private key (and its issuers)."""
    ctx = await signed_in(request)
    return await _dialog(ctx, "cas/_import.html", "Import CA")


@router.post("/cas")
async def create_ca(request: Request) -> Response:
    """Create a root or an intermediate CA with a new key sealed in the keystore."""
    ctx = await signed_in(request)
    expect_fields(request, CA_CREATE_FIELDS)
    spec = ca_spec_from_form(await request.form())
    created = await ca_service.create_ca(ctx.services, ctx.call, spec)
    if not is_htmx(request):
        return redirect("/console/cas")
    kind = "Root" if created.type is CaType.ROOT else "Intermediate"
    return await _cas_view(ctx, notice=f"{kind} CA “{created.common_name}” created (CA {created.id}).")


@router.post("/cas/import")
async def import_ca(request: Request) -> Response:
    """Import a CA certificate with its key; its chain must reach a root."""
    ctx = await signed_in(request)
    expect_fields(request, CA_IMPORT_FIELDS)
    imported = await ca_service.import_ca(
        ctx.services, ctx.call, await ca_import_from_form(await request.form())
    )
    if not is_htmx(request):
        return redirect("/console/cas")
    return await _cas_view(ctx, notice=f"CA “{imported.common_name}” imported (CA {imported.id}).")


@router.get("/cas/{ca_id}/certificate.pem")
async def download_ca_certificate(request: Request, ca_id: int) -> Response:
    """The CA certificate in PEM."""
    ctx = await signed_in(request)
    ca = await ca_service.get_ca(ctx.services, ctx.call, ca_id)
    return pem_download(ca.certificate_pem, f"ca-{ca.id}.pem")
