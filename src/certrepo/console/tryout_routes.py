"""The tools of a repository page: verify a chain against its roots, and try its keys (Sign, Verify,
Encrypt, Decrypt). Their answers are results shown in the panel, not changes of the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.errors import CertificateNotFound
from certrepo.services import certificates

from .certificate_forms import key_use_from_form, verify_from_form
from .certificate_routes import certificate_view
from .fields import TRYOUT_FIELDS, VERIFY_FIELDS, expect_fields
from .forms import optional_text
from .rendering import render_fragment
from .repository_routes import repository_view
from .tryout import certificate_tryout, run_key_use
from .web import ConsoleRoute, is_htmx, signed_in

__all__ = ["ChainShown", "VerifyShown", "router"]

router = APIRouter(route_class=ConsoleRoute)


@dataclass(frozen=True)
class ChainShown:
    subject: str
    not_after: datetime


@dataclass(frozen=True)
class VerifyShown:
    """A verify-chain answer as the panel shows it."""

    valid: bool
    chain: tuple[ChainShown, ...]
    errors: tuple[str, ...]
    hostname: str | None
    usage: str
    at: datetime


def _shown(cert: x509.Certificate) -> ChainShown:
    return ChainShown(cert.subject.rfc4514_string() or "(empty subject)", cert.not_valid_after_utc)


@router.post("/repositories/{repository_id}/verify-chain")
async def verify_chain(request: Request, repository_id: int) -> Response:
    """Validate a certificate (+ intermediates) against the repository's roots, for a host name and
    usage, at a time: valid with the chain used, or the reasons it is not."""
    ctx = await signed_in(request)
    expect_fields(request, VERIFY_FIELDS)
    check = await verify_from_form(await request.form())
    at = check.at or ctx.services.clock()
    verdict = await certificates.verify_chain_in_repository(
        ctx.services,
        ctx.call,
        repository_id,
        certificate=check.certificate,
        intermediates=check.intermediates,
        at=at,
        hostname=check.hostname,
        usage=check.usage,
    )
    shown = VerifyShown(
        verdict.valid,
        tuple(_shown(c) for c in verdict.chain),
        verdict.errors,
        check.hostname,
        check.usage,
        at,
    )
    if is_htmx(request):
        return render_fragment(request, "repository/_verify_result.html", verify_result=shown)
    return await repository_view(ctx, repository_id, verify_result=shown)


@router.get("/repositories/{repository_id}/tryout-algorithms")
async def tryout_algorithms(request: Request, repository_id: int) -> Response:
    """The algorithm selector for the chosen certificate: only what fits its key."""
    ctx = await signed_in(request)
    identifier = optional_text(request.query_params, "identifier", max_length=128) or ""
    certificate = await certificates.get_certificate(ctx.services, ctx.call, identifier)
    if certificate.repository_id != repository_id:
        raise CertificateNotFound(
            f"certificate {identifier} is not in repository {repository_id}", details={"field": "identifier"}
        )
    return render_fragment(
        request, "repository/_tryout_algorithms.html", t=certificate_tryout(certificate), tryout_result=None
    )


@router.post("/repositories/{repository_id}/tryout")
async def tryout(request: Request, repository_id: int) -> Response:
    """Run one key operation as the API would (quota, audit, QPS limit) and show its result."""
    ctx = await signed_in(request)
    expect_fields(request, TRYOUT_FIELDS)
    form = await request.form()
    use = key_use_from_form(form)
    result = await run_key_use(ctx, repository_id, use)
    if is_htmx(request):
        return render_fragment(request, "repository/_tryout_result.html", tryout_result=result)
    if form.get("return_to") == "certificate":
        return await certificate_view(ctx, use.identifier, tryout_result=result)
    return await repository_view(ctx, repository_id, tryout=use.identifier, tryout_result=result)
