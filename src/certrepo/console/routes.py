"""The console's routes: sign-in and sign-out here, the pages from their modules, and the assembly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certrepo.api.common.requests import request_id_of
from certrepo.domain.errors import AuthFailure, NotFound
from certrepo.services.auth import authenticate_password

from . import (
    account_routes,
    ca_routes,
    certificate_routes,
    expiring_routes,
    intake_routes,
    repository_routes,
    tryout_routes,
)
from .csrf import csrf_token_for
from .rendering import build_templates, render_fragment
from .session import (
    clear_session_cookie,
    decode_session,
    new_session,
    session_cookie,
    session_key,
    set_session_cookie,
)
from .web import ConsoleRoute, redirect, safe_next, services_of

__all__ = ["install_console"]

_STATIC = Path(__file__).parent / "static"

router = APIRouter(route_class=ConsoleRoute)
fallback = APIRouter(route_class=ConsoleRoute)
root = APIRouter()


@root.get("/", include_in_schema=False)
async def root_page(request: Request) -> Response:
    """Browsers go to the console; API clients get the usual 404."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/console", status_code=303)
    raise StarletteHTTPException(404, "Not Found")


@router.get("")
@router.get("/")
async def console_home() -> Response:
    return redirect("/console/repositories")


def _sign_in_form(request: Request, csrf_token: str, *, status: int = 200, **values: Any) -> Response:
    defaults: dict[str, Any] = {"error": None, "user_name": "", "notice": None}
    return render_fragment(
        request,
        "sign_in.html",
        status=status,
        csrf_token=csrf_token,
        ctx=None,
        quota=[],
        active="",
        next=safe_next(request.query_params.get("next")),
        **{**defaults, **values},
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    """The sign-in form. Issues an anonymous session so that the form carries a CSRF token too."""
    services = services_of(request)
    key = session_key(services)
    session = decode_session(key, session_cookie(request), now=services.clock())
    if session is not None and session.is_signed_in:
        return redirect(safe_next(request.query_params.get("next")))
    fresh = session is None
    if session is None:
        session = new_session(services, None)
    notice = "You are signed out." if request.query_params.get("signed_out") else None
    response = _sign_in_form(request, csrf_token_for(key, session), notice=notice)
    if fresh:
        set_session_cookie(response, services, key, session)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the password (Argon2id; the user is locked for a while after repeated failures)."""
    services = services_of(request)
    key = session_key(services)
    form = await request.form()
    user_name = form.get("user_name")
    password = form.get("password")
    user_name = user_name.strip() if isinstance(user_name, str) else ""
    try:
        principal = await authenticate_password(
            services,
            user_name,
            password if isinstance(password, str) else "",
            request_id=request_id_of(request.scope),
        )
    except AuthFailure as exc:
        # The CSRF gate already proved the anonymous session is live; the form keeps using it.
        session = decode_session(key, session_cookie(request), now=services.clock())
        assert session is not None
        return _sign_in_form(
            request, csrf_token_for(key, session), status=401, error=exc.message, user_name=user_name
        )
    next_url = form.get("next")
    response = redirect(safe_next(next_url if isinstance(next_url, str) else None))
    # A new nonce on sign-in: a session planted before sign-in never becomes a signed-in one.
    set_session_cookie(response, services, key, new_session(services, principal.user_id))
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    response = redirect("/console/sign-in?signed_out=1")
    clear_session_cookie(response, services_of(request))
    return response


@fallback.get("/{path:path}")
async def no_such_page(path: str) -> Response:
    raise NotFound(f"there is no console page at /console/{path}")


def install_console(app: FastAPI) -> None:
    """Mount the console at /console (static files first: the fallback route answers any other path)
    and send browsers from / to it."""
    app.state.console_templates = build_templates()
    app.mount("/console/static", StaticFiles(directory=_STATIC), name="console-static")
    app.include_router(root)
    parts = (
        router,
        repository_routes.router,
        intake_routes.router,
        tryout_routes.router,
        certificate_routes.router,
        ca_routes.router,
        expiring_routes.router,
        account_routes.router,
        fallback,
    )
    for part in parts:
        app.include_router(part, prefix="/console", include_in_schema=False)
