"""/v1/audit-events and /v1/quota."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BeforeValidator

from certrepo.domain.access import Permission
from certrepo.domain.enums import QuotaPool
from certrepo.domain.errors import InvalidInput
from certrepo.services import audit as audit_service
from certrepo.services import quota as quota_service

from .deps import CallDep, PageDep, ServicesDep
from .errors import error_responses
from .schemas import NO_CONTROL_CHARACTERS, AuditEventOut, ChainReportOut, ListOf, PoolOut, QuotaIn, QuotaOut

router = APIRouter(tags=["audit and quota"])


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value: object) -> object:
    """The document promises an RFC 3339 date-time; pydantic alone would also read "-375" as Unix time."""
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 date-time with an offset, such as 2024-01-01T00:00:00Z")
    return value


def _in_utc(since: datetime | None) -> datetime | None:
    """The filter in UTC; an offset that pushes it outside years 1-9999 is bad input, not an overflow."""
    if since is None:
        return None
    try:
        return since.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"since {since.isoformat()} is outside the years 1-9999 in UTC", details={"field": "since"}
        ) from None


@router.get("/v1/audit-events", responses=error_responses(403))
async def list_audit_events(
    services: ServicesDep,
    call: CallDep,
    page: PageDep,
    since: Annotated[
        AwareDatetime | None, BeforeValidator(_rfc3339_only), Query(description="RFC 3339 with an offset")
    ] = None,
    repository_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL_CHARACTERS)] = None,
) -> ListOf[AuditEventOut]:
    """Audit events of the account, newest first (auditor, admin)."""
    result = await audit_service.list_events(
        services, call, page=page, since=_in_utc(since), repository_id=repository_id, action=action
    )
    return ListOf.of(result, [AuditEventOut.of(e) for e in result.items])


@router.get("/v1/audit-events/verify", responses=error_responses(403))
async def verify_audit_chain(services: ServicesDep, call: CallDep) -> ChainReportOut:
    """Check the hash chain of the whole audit log; names the first broken link."""
    call.principal.require(Permission.READ_AUDIT)
    report = await audit_service.verify_chain(services)
    shown = ChainReportOut(**report.__dict__)
    # The chain spans every account: its length is the system admin's business, not a tenant's.
    return shown if call.principal.is_system_admin else shown.model_copy(update={"events": None})


@router.get(
    "/v1/audit-events/export",
    responses={**error_responses(403), 200: {"content": {"application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
async def export_audit_events(services: ServicesDep, call: CallDep) -> StreamingResponse:
    """Every event of the account as JSON lines, oldest first."""
    call.principal.require(Permission.READ_AUDIT)
    account_id = call.principal.account_id

    async def lines() -> AsyncIterator[bytes]:
        async for event in audit_service.export_events(services):
            if event.account_id == account_id:
                yield (AuditEventOut.of(event).model_dump_json() + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _quota_out(pools: dict[QuotaPool, quota_service.PoolUsage]) -> QuotaOut:
    return QuotaOut(
        app=PoolOut(total=pools[QuotaPool.APP].total, used=pools[QuotaPool.APP].used),
        contract=PoolOut(total=pools[QuotaPool.CONTRACT].total, used=pools[QuotaPool.CONTRACT].used),
    )


@router.get("/v1/quota", responses=error_responses(403))
async def get_quota(services: ServicesDep, call: CallDep) -> QuotaOut:
    """Quota pools: app (uploaded, uploaded CA, private) and contract (compliant)."""
    return _quota_out(await quota_service.get_quota(services, call))


@router.put("/v1/quota", responses=error_responses(403))
async def set_quota(body: QuotaIn, services: ServicesDep, call: CallDep) -> QuotaOut:
    """Set pool totals (admin); null = unlimited."""
    totals: dict[QuotaPool, int | None] = {}
    if body.app is not None:
        totals[QuotaPool.APP] = body.app.total
    if body.contract is not None:
        totals[QuotaPool.CONTRACT] = body.contract.total
    return _quota_out(await quota_service.set_quota(services, call, totals))
