"""Repositories: the list with its Create Repository panel, rename in place, Reset, Enable, Delete, and a
repository's own page. Every change goes through services.repositories, as the REST API's do."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.enums import CertificateStatus, DataSource, RepositoryStatus
from certrepo.domain.errors import RepositoryDisabled, RepositoryNotReset
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.services import certificates
from certrepo.services import repositories as service
from certrepo.services.cas_read import bindable_intermediates, list_cas

from .forms import (
    FormValues,
    binding_from_form,
    checkbox,
    optional_certificate_status,
    optional_data_source,
    optional_days,
    optional_status,
    optional_text,
    page_number,
)
from .rendering import render_fragment, render_page
from .tryout import tryout_panel
from .web import ConsoleContext, ConsoleRoute, is_htmx, redirect, render_dialog, signed_in

__all__ = ["repository_view", "router"]

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 20
_UPLOADABLE = (DataSource.UPLOADED, DataSource.UPLOADED_CA, DataSource.COMPLIANT)
_ISSUING = (DataSource.PRIVATE, DataSource.COMPLIANT)
_DETAIL_PATH = re.compile(r"^/console/repositories/(\d+)$")


# --- reading ----------------------------------------------------------------------------------------


async def _list_values(ctx: ConsoleContext, query: FormValues) -> dict[str, Any]:
    where = service.RepositoryFilter(
        name=optional_text(query, "name", max_length=64),
        data_source=optional_data_source(query),
        status=optional_status(query),
    )
    page = Page(page_number(query), PAGE_SIZE)
    result = await service.list_repositories(ctx.services, ctx.call, page=page, where=where)
    if not result.items and page.number > 1:  # the last item of the last page went away
        page = Page(1, PAGE_SIZE)
        result = await service.list_repositories(ctx.services, ctx.call, page=page, where=where)
    pages = max(1, -(-result.total // PAGE_SIZE))
    filters = {
        k: v
        for k, v in (("name", where.name), ("data_source", where.data_source), ("status", where.status))
        if v
    }
    return {
        "result": result,
        "pages": pages,
        "where": where,
        "filters": filters,
        "sources": list(DataSource),
        "statuses": list(RepositoryStatus),
    }


async def _choices(ctx: ConsoleContext, repository_id: int | None = None) -> dict[str, Any]:
    """What the data-source fields offer: free intermediates and enabled uploaded-CA repositories."""
    cas = bindable_intermediates(await list_cas(ctx.services, ctx.call), repository_id=repository_id)
    trust = await service.list_repositories(
        ctx.services,
        ctx.call,
        page=Page(1, 500),
        where=service.RepositoryFilter(data_source=DataSource.UPLOADED_CA, status=RepositoryStatus.ENABLED),
    )
    return {"cas": cas, "trust_repositories": [r for r in trust.items if r.id != repository_id]}


async def _detail_values(
    ctx: ConsoleContext, repository: Repository, query: FormValues | None = None, *, tryout: str | None = None
) -> dict[str, Any]:
    """The repository, its CA and trust repository, and a page of its certificates."""
    query = query if query is not None else {}
    assert repository.id is not None
    ca = None
    if repository.ca_id is not None:
        ca = next((c for c in await list_cas(ctx.services, ctx.call) if c.id == repository.ca_id), None)
    trust = None
    if repository.trust_repository_id is not None:
        trust = await service.get_repository(ctx.services, ctx.call, repository.trust_repository_id)
    where = certificates.CertificateFilter(
        keyword=optional_text(query, "keyword", max_length=256),
        status=optional_certificate_status(query),
        expiring_within_days=optional_days(query, "expiring_within_days"),
    )
    page = Page(page_number(query), PAGE_SIZE)
    listed = await certificates.list_certificates(
        ctx.services, ctx.call, repository.id, page=page, where=where
    )
    filters = {
        k: v
        for k, v in (
            ("keyword", where.keyword),
            ("status", where.status),
            ("expiring_within_days", where.expiring_within_days),
        )
        if v
    }
    return {
        "repository": repository,
        "ca": ca,
        "trust": trust,
        "result": listed,
        "filters": filters,
        "pages": max(1, -(-listed.total // PAGE_SIZE)),
        "now": ctx.services.clock(),
        "certificate_statuses": list(CertificateStatus),
        **await _tools(ctx, repository, tryout),
        # What a change just produced, shown once above the list (set by repository_view's callers).
        "issued": None,
        "warnings": (),
        "verify_result": None,
        "tryout_result": None,
    }


async def _tools(ctx: ConsoleContext, repository: Repository, tryout: str | None) -> dict[str, Any]:
    """Which of upload, issue, verify-chain, CA bundle and the key-use try-out this repository offers
    to this user (the services decide again when used)."""
    source, enabled, manage = repository.data_source, repository.is_enabled, ctx.can("manage")
    holds_cas = enabled and source in (DataSource.UPLOADED_CA, DataSource.PRIVATE)
    uses_keys = enabled and ctx.can("use_keys") and source is not DataSource.UPLOADED_CA
    return {
        "can_upload": manage and enabled and source in _UPLOADABLE,
        "can_issue": manage and enabled and source in _ISSUING and repository.ca_id is not None,
        "can_verify": holds_cas,
        "tryout": await tryout_panel(ctx, repository, selected=tryout) if uses_keys else None,
    }


async def repository_view(
    ctx: ConsoleContext,
    repository_id: int,
    *,
    notice: str | None = None,
    tryout: str | None = None,
    **shown: Any,
) -> Response:
    """The repository page after a change or a try-out, with what it produced (``shown``) and the
    try-out's certificate preselected: the #main fragment for htmx (keeping the search and page the
    person is on), else the whole page."""
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    query: FormValues = {}
    current = urlsplit(ctx.request.headers.get("HX-Current-URL", ""))
    if current.path == f"/console/repositories/{repository_id}":
        query = QueryParams(parse_qsl(current.query))
    values = {**await _detail_values(ctx, repository, query, tryout=tryout), **shown}
    if is_htmx(ctx.request):
        response = render_fragment(
            ctx.request, "repository/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, notice=notice, **values
        )
        if current.path != f"/console/repositories/{repository_id}":
            response.headers["HX-Replace-Url"] = f"/console/repositories/{repository_id}"
        return response
    return await render_page(ctx, "repository/page.html", active="repositories", notice=notice, **values)


@router.get("/repositories")
async def repositories_page(request: Request) -> Response:
    """The repositories table with search and filters."""
    ctx = await signed_in(request)
    values = await _list_values(ctx, request.query_params)
    if is_htmx(request):
        return render_fragment(request, "repositories/_main.html", ctx=ctx, notice=None, **values)
    return await render_page(ctx, "repositories/page.html", active="repositories", notice=None, **values)


async def _dialog(ctx: ConsoleContext, fragment: str, title: str, **values: Any) -> Response:
    return await render_dialog(ctx, fragment, title, active="repositories", **values)


@router.get("/repositories/new")
async def create_dialog(request: Request) -> Response:
    """The Create Repository panel."""
    ctx = await signed_in(request)
    return await _dialog(ctx, "repositories/_create.html", "Create Repository", **await _choices(ctx))


@router.get("/repositories/{repository_id}")
async def repository_page(request: Request, repository_id: int) -> Response:
    """One repository: its details and certificates."""
    ctx = await signed_in(request)
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    query = request.query_params
    values = await _detail_values(ctx, repository, query, tryout=query.get("tryout"))
    if is_htmx(request):
        return render_fragment(
            request, "repository/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, notice=None, **values
        )
    return await render_page(ctx, "repository/page.html", active="repositories", notice=None, **values)


@router.get("/repositories/{repository_id}/reset")
async def reset_dialog(request: Request, repository_id: int) -> Response:
    """The reset confirmation, with its risk checkbox."""
    ctx = await signed_in(request)
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    if not repository.is_enabled:
        raise RepositoryDisabled(f"repository {repository.name} is already reset")
    return await _dialog(ctx, "repositories/_reset.html", "Reset repository", repository=repository)


@router.get("/repositories/{repository_id}/enable")
async def enable_dialog(request: Request, repository_id: int) -> Response:
    """The Enable panel: choose a data source again (reset repositories only)."""
    ctx = await signed_in(request)
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    if repository.is_enabled:
        raise RepositoryNotReset(
            f"repository {repository.name} is enabled; only a reset repository can be enabled"
        )
    return await _dialog(
        ctx,
        "repositories/_enable.html",
        "Enable repository",
        repository=repository,
        **await _choices(ctx, repository_id),
    )


@router.get("/repositories/{repository_id}/delete")
async def delete_dialog(request: Request, repository_id: int) -> Response:
    """The delete confirmation (reset repositories only)."""
    ctx = await signed_in(request)
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    repository.ensure_deletable()
    return await _dialog(ctx, "repositories/_delete.html", "Delete repository", repository=repository)


# --- changing ---------------------------------------------------------------------------------------


async def _after_change(ctx: ConsoleContext, notice: str, *, gone_id: int | None = None) -> Response:
    """Redraw the page the person is on (htmx says which in HX-Current-URL) with a notice; a plain
    form post is redirected (post/redirect/get)."""
    if not is_htmx(ctx.request):
        return redirect("/console/repositories")
    current = urlsplit(ctx.request.headers.get("HX-Current-URL", ""))
    detail = _DETAIL_PATH.match(current.path)
    if detail and int(detail.group(1)) != gone_id:
        repository = await service.get_repository(ctx.services, ctx.call, int(detail.group(1)))
        values = await _detail_values(ctx, repository, QueryParams(parse_qsl(current.query)))
        return render_fragment(
            ctx.request, "repository/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, notice=notice, **values
        )
    query: FormValues = (
        QueryParams(parse_qsl(current.query)) if current.path == "/console/repositories" else {}
    )
    values = await _list_values(ctx, query)
    response = render_fragment(ctx.request, "repositories/_main.html", ctx=ctx, notice=notice, **values)
    if current.path != "/console/repositories":  # e.g. deleted from its own page: the address follows
        response.headers["HX-Replace-Url"] = "/console/repositories"
    return response


@router.post("/repositories")
async def create_repository(request: Request) -> Response:
    """Create a repository from the panel: Repository Name and Data Source."""
    ctx = await signed_in(request)
    form = await request.form()
    # Empty means "use the instance id"; the domain judges the rest (length, control characters).
    name = optional_text(form, "name", max_length=4096)
    created = await service.create_repository(
        ctx.services, ctx.call, name=name, binding=binding_from_form(form)
    )
    return await _after_change(ctx, f"Repository “{created.name}” created ({created.instance_id}).")


@router.post("/repositories/{repository_id}/rename")
async def rename_repository(request: Request, repository_id: int) -> Response:
    """Save a name edited in place."""
    ctx = await signed_in(request)
    form = await request.form()
    name = form.get("name")
    renamed = await service.rename_repository(
        ctx.services, ctx.call, repository_id, name if isinstance(name, str) else ""
    )
    return await _after_change(ctx, f"Repository renamed to “{renamed.name}”.")


@router.post("/repositories/{repository_id}/reset")
async def reset_repository(request: Request, repository_id: int) -> Response:
    """Reset; the service refuses unless the risk checkbox was ticked."""
    ctx = await signed_in(request)
    form = await request.form()
    reset = await service.reset_repository(
        ctx.services, ctx.call, repository_id, acknowledge_risk=checkbox(form, "acknowledge_risk")
    )
    return await _after_change(
        ctx, f"Repository “{reset.name}” was reset. Enable it with a data source, or delete it."
    )


@router.post("/repositories/{repository_id}/enable")
async def enable_repository(request: Request, repository_id: int) -> Response:
    """Enable a reset repository with the chosen data source."""
    ctx = await signed_in(request)
    form = await request.form()
    enabled = await service.enable_repository(
        ctx.services, ctx.call, repository_id, binding=binding_from_form(form)
    )
    return await _after_change(ctx, f"Repository “{enabled.name}” enabled.")


@router.post("/repositories/{repository_id}/delete")
async def delete_repository(request: Request, repository_id: int) -> Response:
    """Delete a reset repository."""
    ctx = await signed_in(request)
    repository = await service.get_repository(ctx.services, ctx.call, repository_id)
    await service.delete_repository(ctx.services, ctx.call, repository_id)
    return await _after_change(ctx, f"Repository “{repository.name}” deleted.", gone_id=repository_id)
