"""Typed FastAPI dependencies: the wired services and the authenticated call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from certrepo.api.common.auth import authenticate_authorization_header
from certrepo.api.common.requests import request_id_of
from certrepo.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from certrepo.services.context import Call, Services

__all__ = ["AccessKeyIdPath", "CallDep", "IdPath", "PageDep", "ServicesDep"]


# Dependencies are coroutines on purpose: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop on every request for what is an attribute read.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _call(request: Request, services: Annotated[Services, Depends(_services)]) -> Call:
    principal = await authenticate_authorization_header(services, request.headers.get("authorization"))
    return Call(principal=principal, request_id=request_id_of(request.scope))


async def _page(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page:
    return Page(page, page_size)


ServicesDep = Annotated[Services, Depends(_services)]
CallDep = Annotated[Call, Depends(_call)]
PageDep = Annotated[Page, Depends(_page)]
# Ids are 64-bit columns: a larger number is bad input (400), never a driver overflow (500).
IdPath = Annotated[int, Path(ge=1, le=2**62)]
AccessKeyIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
