"""/healthz, /readyz, /metrics: unauthenticated probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; the body says why"}})
async def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is current."""
    probe: Callable[[], Awaitable[Any]] = request.app.state.readiness
    report = await probe()
    body = {"status": "ready" if report.ready else "not ready", **report.__dict__}
    return JSONResponse(body, status_code=200 if report.ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
