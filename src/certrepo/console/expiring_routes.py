"""Certificates (and bound CAs) expiring soon, across the repositories the user can see, soonest first:
the expiry report of services.expiry, which also leaves out certificates already renewed."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from certrepo.services.expiry import expiry_report

from .forms import optional_days
from .rendering import render_page
from .web import ConsoleRoute, signed_in

__all__ = ["DEFAULT_WITHIN_DAYS", "WITHIN_CHOICES", "router"]

router = APIRouter(route_class=ConsoleRoute)

DEFAULT_WITHIN_DAYS = 30
WITHIN_CHOICES = (7, 14, 30, 60, 90, 180, 365)


@router.get("/expiring")
async def expiring_page(request: Request) -> Response:
    """What expires within N days (default 30), and what has already expired, soonest first."""
    ctx = await signed_in(request)
    within = optional_days(request.query_params, "within_days") or DEFAULT_WITHIN_DAYS
    items = await expiry_report(ctx.services, ctx.call, within_days=within)
    items = sorted(items, key=lambda item: item.target.not_after)
    return await render_page(
        ctx,
        "expiring/page.html",
        active="expiring",
        items=items,
        within=within,
        choices=sorted({*WITHIN_CHOICES, within}),
        expired=sum(1 for item in items if item.expired),
    )
