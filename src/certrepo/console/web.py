"""The console's request plumbing: who is signed in, the CSRF gate, and the one place errors are rendered.

Every console route is a ``ConsoleRoute``: before the handler runs, a state-changing request must carry
the session's CSRF token; whatever the handler raises is turned into a page (plain request) or an error
partial swapped next to the form that caused it (htmx request). No stack trace ever reaches the browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certrepo.api.common.requests import request_id_of
from certrepo.domain.access import Permission, Principal
from certrepo.domain.errors import AuthFailure, CertrepoError, InvalidInput
from certrepo.services.auth import principal_for_user
from certrepo.services.context import Call, Services

from .csrf import UNSAFE_METHODS, csrf_token_for, is_valid_csrf_token, submitted_csrf_token
from .rendering import render_error, render_fragment, render_page, render_refusal
from .session import Session, clear_session_cookie, decode_session, session_cookie, session_key

__all__ = [
    "ConsoleContext",
    "ConsoleRoute",
    "is_htmx",
    "redirect",
    "render_dialog",
    "safe_next",
    "services_of",
    "signed_in",
]

log = structlog.get_logger("certrepo.console")

# Pages answer differently to htmx; caches must not mix the two, and nothing here should be cached at all
# (access-key secrets are shown once).
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Vary": "HX-Request, Cookie",
}
_SAFE_NEXT = re.compile(r"^/console(/[A-Za-z0-9/_\-.]*)?(\?[A-Za-z0-9=&_\-.%+]*)?$")


class _SignInRequired(Exception):
    """No live session, or its user is gone."""

    def __init__(self, *, stale_cookie: bool) -> None:
        super().__init__("sign in required")
        self.stale_cookie = stale_cookie


class _CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class ConsoleContext:
    """A signed-in request: the services, the call they act for, and the session's CSRF token."""

    request: Request
    services: Services
    call: Call
    session: Session
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return self.call.principal

    def can(self, permission: str) -> bool:
        """For templates: ``ctx.can('administer')`` decides which links and buttons are shown."""
        return self.principal.can(Permission(permission))


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def is_htmx(request: Request) -> bool:
    """An htmx request wants a fragment; a history restore wants the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def redirect(url: str) -> Response:
    """After a plain form post (post/redirect/get), or a full-page move for htmx."""
    return RedirectResponse(url, status_code=303)


async def render_dialog(
    ctx: ConsoleContext, fragment: str, title: str, *, active: str, **values: Any
) -> Response:
    """A dialog's content for htmx (shown in the page's <dialog>), or the same form as a page of its own
    when JavaScript is off."""
    if is_htmx(ctx.request):
        return render_fragment(ctx.request, fragment, ctx=ctx, csrf_token=ctx.csrf_token, **values)
    return await render_page(
        ctx, "dialog_page.html", active=active, fragment=fragment, page_title=title, **values
    )


def safe_next(url: str | None) -> str:
    """Where to go after sign-in: a console path only, never another site."""
    return url if url and _SAFE_NEXT.match(url) else "/console/repositories"


async def signed_in(request: Request) -> ConsoleContext:
    """The context of a signed-in request; raises _SignInRequired otherwise. The principal is re-read
    from the database each time, so a role change or deleted user applies at once."""
    services = services_of(request)
    key = session_key(services)
    cookie = session_cookie(request)
    session = decode_session(key, cookie, now=services.clock())
    if session is None or session.user_id is None:
        raise _SignInRequired(stale_cookie=cookie is not None and session is None)
    try:
        principal = await principal_for_user(services, session.user_id)
    except AuthFailure:
        raise _SignInRequired(stale_cookie=True) from None
    ctx = ConsoleContext(
        request,
        services,
        Call(principal, request_id_of(request.scope)),
        session,
        csrf_token_for(key, session),
    )
    request.state.console_context = ctx
    return ctx


async def _check_csrf(request: Request) -> None:
    services = services_of(request)
    key = session_key(services)
    session = decode_session(key, session_cookie(request), now=services.clock())
    if not is_valid_csrf_token(key, session, await submitted_csrf_token(request)):
        raise _CsrfRefused()


def _to_sign_in(request: Request, *, stale_cookie: bool) -> Response:
    target = "/console/sign-in"
    if request.method == "GET" and not is_htmx(request):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += f"?next={quote(safe_next(here), safe='/')}"
    response: Response
    if is_htmx(request):
        # htmx follows HX-Redirect whatever the status; 401 says what happened to anyone else.
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = redirect(target)
    if stale_cookie:
        clear_session_cookie(response, services_of(request))
    return response


def _context_of(request: Request) -> ConsoleContext | None:
    ctx = getattr(request.state, "console_context", None)
    return ctx if isinstance(ctx, ConsoleContext) else None


async def _render_exception(request: Request, exc: Exception) -> Response:
    """The one place console errors become responses."""
    ctx = _context_of(request)
    if isinstance(exc, _SignInRequired):
        return _to_sign_in(request, stale_cookie=exc.stale_cookie)
    if isinstance(exc, _CsrfRefused):
        return await render_refusal(request, ctx, htmx=is_htmx(request))
    if isinstance(exc, RequestValidationError):
        exc = InvalidInput("the address or form is malformed; reload the page and try again")
    if isinstance(exc, CertrepoError):
        return await render_error(request, ctx, exc, htmx=is_htmx(request))
    # A real fault: the trace goes to the log with the request id, the browser gets the id only.
    log.exception("console request failed", request_id=request_id_of(request.scope), path=request.url.path)
    return await render_error(request, ctx, None, htmx=is_htmx(request))


class ConsoleRoute(APIRoute):
    """Checks CSRF on state-changing requests and renders whatever the handler raises."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                if request.method in UNSAFE_METHODS:
                    await _check_csrf(request)
                response = await handler(request)
            except Exception as exc:  # noqa: BLE001 — rendered, and logged when it is a fault
                response = await _render_exception(request, exc)
            finally:
                await request.close()  # uploaded files of a multipart form are spooled to disk
            response.headers.update(_SECURITY_HEADERS)
            return response

        return console_handler
