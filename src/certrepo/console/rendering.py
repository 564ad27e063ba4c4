"""Templates: the Jinja2 environment, whole pages (with the quota at the top right), fragments, errors."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from certrepo import __version__
from certrepo.api.common.errors import status_for
from certrepo.api.common.requests import request_id_of
from certrepo.domain.enums import DataSource, QuotaPool
from certrepo.domain.errors import CertrepoError
from certrepo.services.quota import get_quota

from .fields import fields_for_error
from .forms import DATA_SOURCE_LABELS

if TYPE_CHECKING:
    from .web import ConsoleContext

__all__ = [
    "QuotaShown",
    "build_templates",
    "render_error",
    "render_fragment",
    "render_page",
    "render_refusal",
]

_TEMPLATES = Path(__file__).parent / "templates"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,80}$")
_POOL_LABELS = {QuotaPool.APP: "API calls", QuotaPool.CONTRACT: "Contract signing"}
_TITLES = {
    400: "Check what you entered",
    401: "Sign-in failed",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible in the current state",
    413: "Too large",
    429: "Limit reached",
}


@dataclass(frozen=True)
class QuotaShown:
    label: str
    used: int
    total: int | None  # None = unlimited

    @property
    def percent_used(self) -> int:
        if not self.total:
            return 0
        return min(100, round(100 * self.used / self.total))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _data_source_label(value: DataSource | None) -> str:
    return DATA_SOURCE_LABELS[value] if value else "—"


def _expiry_state(not_after: datetime, now: datetime) -> tuple[str, str]:
    """The badge of a certificate's expiry: (css class, text)."""
    days = (not_after - now).days
    if not_after <= now:
        return "bad", f"Expired {not_after:%Y-%m-%d}"
    if days < 30:
        return "warn", f"Expires in {days} day{'' if days == 1 else 's'}"
    return "ok", f"Valid until {not_after:%Y-%m-%d}"


@functools.cache
def build_templates() -> jinja2.Environment:
    """Autoescaping everywhere; StrictUndefined so a template typo fails the tests, not the page.
    One per process (built on first use): the templates are package files, and compiling them is the
    slow part of a first request."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["data_source_label"] = _data_source_label
    env.globals["expiry_state"] = _expiry_state
    env.globals["version"] = __version__
    env.globals["DATA_SOURCE_LABELS"] = DATA_SOURCE_LABELS
    return env


def _env(request: Request) -> jinja2.Environment:
    env: jinja2.Environment = request.app.state.console_templates
    return env


async def _quota(ctx: ConsoleContext) -> list[QuotaShown]:
    pools = await get_quota(ctx.services, ctx.call)
    return [QuotaShown(_POOL_LABELS.get(p, p.value), u.used, u.total) for p, u in sorted(pools.items())]


async def render_page(
    ctx: ConsoleContext, template: str, *, status: int = 200, active: str = "", **values: Any
) -> HTMLResponse:
    """A whole page: header with navigation, quota and user, then the template's main block."""
    html = (
        _env(ctx.request)
        .get_template(template)
        .render(ctx=ctx, csrf_token=ctx.csrf_token, quota=await _quota(ctx), active=active, **values)
    )
    return HTMLResponse(html, status_code=status)


def render_fragment(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A piece of a page that htmx swaps in."""
    html = _env(request).get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=headers)


def _error_slot(request: Request, error: CertrepoError | None) -> str:
    """Where htmx puts the message: next to the field the error names (``details.field``, or the one the
    form's rules in fields.py find, else a detail key such as ``ca_id`` that is also a field), else
    under the form that was sent, else the page's message area. A comma list resolves to the first
    match in document order: every form places its field slots before its own slot, and #flash is last
    in <body>; slots a form lacks match nothing."""
    trigger = request.headers.get("HX-Trigger", "")
    if not _ID.match(trigger):
        return "#flash"
    fields = fields_for_error(request, error) if error else []
    slots = [f"#{trigger}-{field}-error" for field in fields if _ID.match(field)]
    return ", ".join([*slots, f"#{trigger}-error", "#flash"])


async def render_error(
    request: Request, ctx: ConsoleContext | None, error: CertrepoError | None, *, htmx: bool
) -> HTMLResponse:
    """A product error (or, with ``error`` None, a server fault) as a partial or a whole page."""
    status = status_for(error) if error else 500
    values = {
        "title": _TITLES.get(status, "Something went wrong"),
        "message": error.message if error else "The request failed on the server; quote the request id.",
        "code": error.code if error else "InternalError",
        "request_id": request_id_of(request.scope),
    }
    if htmx:
        headers = {"HX-Retarget": _error_slot(request, error), "HX-Reswap": "innerHTML"}
        return render_fragment(request, "_error.html", status=status, headers=headers, **values)
    if ctx is not None:
        try:
            return await render_page(ctx, "error.html", status=status, **values)
        except CertrepoError:
            pass  # the header could not be drawn (quota); the bare page still says what went wrong
    html = _env(request).get_template("error.html").render(ctx=None, quota=[], active="", **values)
    return HTMLResponse(html, status_code=status)


async def render_refusal(request: Request, ctx: ConsoleContext | None, *, htmx: bool) -> HTMLResponse:
    """The CSRF refusal: 403, and what to do about it."""
    values = {
        "title": "Request refused",
        "message": (
            "This form is out of date or did not come from this console (CSRF check failed). "
            "Reload the page and try again."
        ),
        "code": "Forbidden",
        "request_id": request_id_of(request.scope),
    }
    if htmx:
        headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return render_fragment(request, "_error.html", status=403, headers=headers, **values)
    html = _env(request).get_template("error.html").render(ctx=None, quota=[], active="", **values)
    return HTMLResponse(html, status_code=403)
