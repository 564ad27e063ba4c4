"""Audit log, access keys and users: the account side of the console, on services.audit and
services.accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.domain.access import Permission
from certrepo.domain.enums import Role
from certrepo.domain.paging import Page
from certrepo.services import accounts
from certrepo.services.audit import list_events

from .forms import optional_id, optional_text, page_number, required_role, required_text, since_date
from .rendering import render_fragment, render_page
from .web import ConsoleContext, ConsoleRoute, is_htmx, redirect, signed_in

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute)

AUDIT_PAGE_SIZE = 50
# Offered as suggestions in the action filter; any other action name can be typed.
KNOWN_ACTIONS = (
    "repository.create",
    "repository.rename",
    "repository.reset",
    "repository.enable",
    "repository.delete",
    "certificate.upload",
    "certificate.issue",
    "certificate.revoke",
    "certificate.delete",
    "certificate.export_key",
    "ca.create",
    "ca.import",
    "key.sign",
    "key.verify",
    "key.encrypt",
    "key.decrypt",
    "access_key.create",
    "access_key.revoke",
    "user.create",
    "user.update",
    "user.delete",
    "grant.add",
    "grant.remove",
    "quota.set",
    "account.create",
    "account.bootstrap",
)


# --- audit ------------------------------------------------------------------------------------------


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    """Audit events, newest first, filtered by action, repository and start date."""
    ctx = await signed_in(request)
    query = request.query_params
    action = optional_text(query, "action", max_length=64)
    repository_id = optional_id(query, "repository_id", "repository id")
    since = since_date(query)
    page = Page(page_number(query), AUDIT_PAGE_SIZE)
    result = await list_events(
        ctx.services, ctx.call, page=page, since=since, repository_id=repository_id, action=action
    )
    filters = {
        "action": action,
        "repository_id": repository_id,
        "since": since.date().isoformat() if since else None,
    }
    pages = max(1, -(-result.total // AUDIT_PAGE_SIZE))
    shown = {k: v for k, v in filters.items() if v is not None}
    return await render_page(
        ctx,
        "audit/page.html",
        active="audit",
        result=result,
        pages=pages,
        filters=shown,
        known_actions=KNOWN_ACTIONS,
    )


# --- access keys ------------------------------------------------------------------------------------


async def _keys_values(ctx: ConsoleContext) -> dict[str, Any]:
    keys = await accounts.list_access_keys(ctx.services, ctx.call)
    users = await accounts.list_users(ctx.services, ctx.call) if ctx.can("administer") else []
    return {"keys": keys, "users": users}


async def _keys_view(ctx: ConsoleContext, **shown: Any) -> Response:
    values: dict[str, Any] = {"notice": None, "created": None, **shown, **await _keys_values(ctx)}
    if is_htmx(ctx.request):
        return render_fragment(ctx.request, "keys/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, **values)
    return await render_page(ctx, "keys/page.html", active="keys", **values)


@router.get("/access-keys")
async def access_keys_page(request: Request) -> Response:
    """Own access keys (every key of the account for an admin); secrets are never listed."""
    return await _keys_view(await signed_in(request))


@router.post("/access-keys")
async def create_access_key(request: Request) -> Response:
    """A new key; the answer shows its secret, once."""
    ctx = await signed_in(request)
    form = await request.form()
    user_id = optional_id(form, "user_id", "user") if ctx.can("administer") else None
    created = await accounts.create_access_key(
        ctx.services,
        ctx.call,
        user_id=user_id,
        description=optional_text(form, "description", max_length=128),
    )
    shown = {"id": created.key.id, "user_name": created.user_name, "secret": created.secret.reveal().decode()}
    return await _keys_view(ctx, created=shown)


@router.get("/access-keys/{access_key_id}/revoke")
async def revoke_key_dialog(request: Request, access_key_id: str) -> Response:
    """The revoke confirmation."""
    ctx = await signed_in(request)
    values: dict[str, Any] = {"ctx": ctx, "csrf_token": ctx.csrf_token, "access_key_id": access_key_id}
    if is_htmx(request):
        return render_fragment(request, "keys/_revoke.html", **values)
    return await render_page(
        ctx,
        "dialog_page.html",
        active="keys",
        fragment="keys/_revoke.html",
        page_title="Revoke access key",
        access_key_id=access_key_id,
    )


@router.post("/access-keys/{access_key_id}/revoke")
async def revoke_access_key(request: Request, access_key_id: str) -> Response:
    """Revoke a key; its secret is destroyed."""
    ctx = await signed_in(request)
    await accounts.revoke_access_key(ctx.services, ctx.call, access_key_id)
    if not is_htmx(request):
        return redirect("/console/access-keys")
    return await _keys_view(ctx, notice=f"Access key {access_key_id} revoked.")


# --- users ------------------------------------------------------------------------------------------


async def _users_view(ctx: ConsoleContext, *, notice: str | None = None) -> Response:
    ctx.principal.require(Permission.ADMINISTER)
    values: dict[str, Any] = {
        "users": await accounts.list_users(ctx.services, ctx.call),
        "roles": list(Role),
        "notice": notice,
        "now": ctx.services.clock(),
    }
    if is_htmx(ctx.request):
        return render_fragment(ctx.request, "users/_main.html", ctx=ctx, csrf_token=ctx.csrf_token, **values)
    return await render_page(ctx, "users/page.html", active="users", **values)


@router.get("/users")
async def users_page(request: Request) -> Response:
    """Users of the account (admins)."""
    return await _users_view(await signed_in(request))


@router.post("/users")
async def create_user(request: Request) -> Response:
    """Add a user with a role and, for console sign-in, a password."""
    ctx = await signed_in(request)
    form = await request.form()
    password = form.get("password")
    user = await accounts.create_user(
        ctx.services,
        ctx.call,
        name=required_text(form, "name", "user name", max_length=64),
        role=required_role(form),
        password=password if isinstance(password, str) and password else None,
    )
    if not is_htmx(request):
        return redirect("/console/users")
    return await _users_view(ctx, notice=f"User {user.name} ({user.role.value}) added.")


@router.post("/users/{user_id}/role")
async def change_role(request: Request, user_id: int) -> Response:
    """Change a user's role."""
    ctx = await signed_in(request)
    form = await request.form()
    user = await accounts.update_user(
        ctx.services, ctx.call, user_id, role=required_role(form), password=None
    )
    if not is_htmx(request):
        return redirect("/console/users")
    return await _users_view(ctx, notice=f"{user.name} is now {user.role.value}.")


@router.post("/users/{user_id}/delete")
async def delete_user(request: Request, user_id: int) -> Response:
    """Delete a user and its access keys."""
    ctx = await signed_in(request)
    await accounts.delete_user(ctx.services, ctx.call, user_id)
    if not is_htmx(request):
        return redirect("/console/users")
    return await _users_view(ctx, notice="User deleted, with its access keys.")
