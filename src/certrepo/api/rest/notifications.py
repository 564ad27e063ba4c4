"""/v1/notification-channels, /v1/expiry…: expiry monitoring and its notifications (issue 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from certrepo.domain.errors import InvalidInput, MissingParameter
from certrepo.domain.notifications import Channel, Delivery, EmailConfig, WebhookConfig
from certrepo.domain.secrets import Secret
from certrepo.services import expiry as expiry_service
from certrepo.services import notifications as service

from .deps import CallDep, PageDep, ServicesDep
from .errors import error_responses
from .schemas import ListOf, SanOut, Strict

router = APIRouter(tags=["expiry and notifications"])

ChannelId = Annotated[int, Path(ge=1, le=2**62)]
RepositoryId = Annotated[int, Path(ge=1, le=2**62)]

# --- shapes -----------------------------------------------------------------------------------------


class EmailIn(Strict):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade with STARTTLS (the relay's certificate is verified)")
    username: str | None = Field(None, max_length=256)
    password: str | None = Field(None, max_length=1024, description="sealed in the keystore, never shown")
    from_address: str = Field(max_length=254)
    to: list[str] = Field(min_length=1, max_length=20)


class ChannelCreate(Strict):
    name: str = Field(max_length=256)
    kind: Literal["webhook", "email"]
    url: str | None = Field(None, max_length=2048, description="webhook: the endpoint that receives the POST")
    email: EmailIn | None = Field(None, description="email: the SMTP relay and recipients")


class EmailOut(BaseModel):
    host: str
    port: int
    starttls: bool
    username: str | None
    from_address: str
    to: list[str]


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    enabled: bool
    created_at: datetime
    url: str | None = None
    email: EmailOut | None = None
    has_secret: bool

    @classmethod
    def of(cls, c: Channel) -> ChannelOut:
        url = c.config.url if isinstance(c.config, WebhookConfig) else None
        email = None
        if isinstance(c.config, EmailConfig):
            email = EmailOut(
                host=c.config.host,
                port=c.config.port,
                starttls=c.config.starttls,
                username=c.config.username,
                from_address=c.config.from_address,
                to=list(c.config.to_addresses),
            )
        return cls(
            id=c.id,
            name=c.name,
            kind=c.kind.value,
            enabled=c.enabled,
            created_at=c.created_at,
            url=url,
            email=email,
            has_secret=c.secret_id is not None,
        )


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        None, description="webhook: the HMAC-SHA256 key of X-Certrepo-Signature; shown once, store it now"
    )


class DeliveryOut(BaseModel):
    id: int | None
    event: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    target_id: str | None
    threshold_days: int | None
    at: datetime

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            event=d.event,
            attempt=d.attempt,
            ok=d.ok,
            status_code=d.status_code,
            error=d.error,
            target_id=d.target_id,
            threshold_days=d.threshold_days,
            at=d.at,
        )


class SendResultOut(BaseModel):
    ok: bool
    status_code: int | None
    attempts: list[DeliveryOut]


class ThresholdsIn(Strict):
    days: list[int] | None = Field(
        max_length=10,
        description="days before expiry, e.g. [30, 14, 7, 1]; null: inherit (account: defaults)",
    )


class ThresholdsOut(BaseModel):
    days: list[int]
    source: Literal["default", "account", "repository"]
    repository_id: int | None = None

    @classmethod
    def of(cls, t: expiry_service.Thresholds) -> ThresholdsOut:
        return cls(days=list(t.days), source=t.source, repository_id=t.repository_id)  # type: ignore[arg-type]


class ExpiringOut(BaseModel):
    kind: str = Field(description="certificate, or ca (the intermediate CA bound to the repository)")
    identifier: str
    repository_id: int
    repository_name: str
    common_name: str | None
    subject: str | None
    sans: list[SanOut]
    serial_number: str | None
    is_ca: bool
    not_after: datetime
    days_left: int
    expired: bool

    @classmethod
    def of(cls, item: expiry_service.ExpiringItem) -> ExpiringOut:
        t = item.target
        return cls(
            kind=t.kind.value,
            identifier=t.target_id,
            repository_id=t.repository_id,
            repository_name=t.repository_name,
            common_name=t.common_name,
            subject=t.subject,
            sans=[SanOut(type=s.type, value=s.value) for s in t.sans],
            serial_number=t.serial_number,
            is_ca=t.is_ca,
            not_after=t.not_after,
            days_left=item.days_left,
            expired=item.expired,
        )


class ScanOut(BaseModel):
    ran: bool = Field(description="false when another node was scanning")
    targets: int
    renewed: int
    notices_sent: int
    notices_failed: int
    buckets: dict[str, int]


# --- channels ---------------------------------------------------------------------------------------


def _config(body: ChannelCreate) -> tuple[WebhookConfig | EmailConfig, Secret | None]:
    if body.kind == "webhook":
        if body.url is None:
            raise MissingParameter("a webhook channel needs url", details={"field": "url"})
        if body.email is not None:
            raise InvalidInput("a webhook channel takes url, not email", details={"field": "email"})
        return WebhookConfig(body.url), None
    if body.email is None:
        raise MissingParameter(
            "an email channel needs email {host, port, from_address, to}", details={"field": "email"}
        )
    if body.url is not None:
        raise InvalidInput("an email channel takes email, not url", details={"field": "url"})
    e = body.email
    config = EmailConfig(
        host=e.host,
        port=e.port,
        from_address=e.from_address,
        to_addresses=tuple(e.to),
        starttls=e.starttls,
        username=e.username,
    )
    return config, Secret(e.password.encode()) if e.password is not None else None


@router.post("/v1/notification-channels", status_code=201, responses=error_responses(403, 409))
async def create_channel(body: ChannelCreate, services: ServicesDep, call: CallDep) -> ChannelCreated:
    """Add a webhook or email channel (admin); a webhook's signing secret is in this answer only."""
    config, password = _config(body)
    created = await service.create_channel(
        services, call, name=body.name, config=config, smtp_password=password
    )
    shown = ChannelOut.of(created.channel)
    secret = created.secret.reveal().decode() if created.secret is not None else None
    return ChannelCreated(**shown.model_dump(), secret=secret)


@router.get("/v1/notification-channels", responses=error_responses(403))
async def list_channels(services: ServicesDep, call: CallDep) -> list[ChannelOut]:
    """Notification channels of the account (admin); secrets are never listed."""
    return [ChannelOut.of(c) for c in await service.list_channels(services, call)]


@router.get("/v1/notification-channels/{channel_id}", responses=error_responses(403, 404))
async def get_channel(channel_id: ChannelId, services: ServicesDep, call: CallDep) -> ChannelOut:
    """One notification channel (admin)."""
    return ChannelOut.of(await service.get_channel(services, call, channel_id))


@router.delete("/v1/notification-channels/{channel_id}", status_code=204, responses=error_responses(403, 404))
async def delete_channel(channel_id: ChannelId, services: ServicesDep, call: CallDep) -> Response:
    """Remove a channel with its delivery log; its secret is destroyed (admin)."""
    await service.delete_channel(services, call, channel_id)
    return Response(status_code=204)


@router.post("/v1/notification-channels/{channel_id}/test", responses=error_responses(403, 404))
async def send_test(channel_id: ChannelId, services: ServicesDep, call: CallDep) -> SendResultOut:
    """Send a test message now (one attempt) and answer how it went (admin)."""
    outcome = await service.send_test_message(services, call, channel_id)
    return SendResultOut(
        ok=outcome.ok, status_code=outcome.status_code, attempts=[DeliveryOut.of(d) for d in outcome.attempts]
    )


@router.get("/v1/notification-channels/{channel_id}/deliveries", responses=error_responses(403, 404))
async def list_deliveries(
    channel_id: ChannelId, services: ServicesDep, call: CallDep, page: PageDep
) -> ListOf[DeliveryOut]:
    """The delivery log of a channel, one entry per attempt, newest first (admin)."""
    result = await service.list_deliveries(services, call, channel_id, page=page)
    return ListOf.of(result, [DeliveryOut.of(d) for d in result.items])


# --- thresholds -------------------------------------------------------------------------------------


@router.get("/v1/expiry/thresholds", responses=error_responses(403))
async def get_account_thresholds(services: ServicesDep, call: CallDep) -> ThresholdsOut:
    """The account's notice thresholds, in days before expiry."""
    return ThresholdsOut.of(await expiry_service.get_thresholds(services, call))


@router.put("/v1/expiry/thresholds", responses=error_responses(403))
async def set_account_thresholds(body: ThresholdsIn, services: ServicesDep, call: CallDep) -> ThresholdsOut:
    """Set the account's thresholds (admin); null restores the defaults 30, 14, 7, 1."""
    return ThresholdsOut.of(await expiry_service.set_account_thresholds(services, call, body.days))


@router.get("/v1/repositories/{repository_id}/expiry-thresholds", responses=error_responses(403, 404))
async def get_repository_thresholds(
    repository_id: RepositoryId, services: ServicesDep, call: CallDep
) -> ThresholdsOut:
    """The thresholds in force for a repository, and whether they are its own."""
    return ThresholdsOut.of(await expiry_service.get_thresholds(services, call, repository_id))


@router.put("/v1/repositories/{repository_id}/expiry-thresholds", responses=error_responses(403, 404))
async def set_repository_thresholds(
    repository_id: RepositoryId, body: ThresholdsIn, services: ServicesDep, call: CallDep
) -> ThresholdsOut:
    """Override the thresholds of one repository; null returns it to the account's."""
    return ThresholdsOut.of(
        await expiry_service.set_repository_thresholds(services, call, repository_id, body.days)
    )


# --- report and scan --------------------------------------------------------------------------------


@router.get("/v1/expiry", responses=error_responses(403))
async def expiry_report(
    services: ServicesDep,
    call: CallDep,
    page: PageDep,
    within_days: Annotated[int, Query(ge=0, le=3650)] = 30,
) -> ListOf[ExpiringOut]:
    """What expires within the days given (and what has expired), across repositories, soonest first;
    renewed certificates are left out."""
    items = await expiry_service.expiry_report(services, call, within_days=within_days)
    shown = items[page.offset : page.offset + page.size]
    return ListOf(
        items=[ExpiringOut.of(i) for i in shown], total=len(items), page=page.number, page_size=page.size
    )


@router.post("/v1/expiry/scan", responses=error_responses(403))
async def scan_now(services: ServicesDep, call: CallDep) -> ScanOut:
    """Run the expiry scan now (admin): due notices go out once; ``ran`` is false if another node is
    scanning at this moment."""
    report = await expiry_service.request_scan(services, call)
    return ScanOut(
        ran=report.ran,
        targets=report.targets,
        renewed=report.renewed,
        notices_sent=report.notices_sent,
        notices_failed=report.notices_failed,
        buckets=report.buckets,
    )
