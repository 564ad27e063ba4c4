"""Repository ("warehouse") actions: reference §4.1-4.5 plus the console-only ResetWarehouse,
EnableWarehouse and UpdateWarehouse. Every rule is the service's (services/repositories.py, quota.py);
these handlers only translate parameters and answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from certrepo.domain.enums import DataSource
from certrepo.domain.errors import InvalidInput, RepositoryNotFound
from certrepo.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from certrepo.domain.repository import Binding, Repository
from certrepo.services import quota, repositories
from certrepo.services.requests import get_repository_by_instance_id

from .actions_context import ActionContext, Handler, resolve_repository_id
from .shapes import (
    data_source_for_type,
    data_source_from,
    decode_next_token,
    encode_next_token,
    optional_ref,
    quota_body,
    repository_ref,
    warehouse_item,
    warehouse_row,
)

__all__ = ["HANDLERS"]

LIST_WAREHOUSE_DEFAULT_SIZE: Final = 20  # reference §2: MaxResults defaults to 20
MAX_LISTED_INSTANCE_IDS: Final = 100
_MAX_PAGE_NUMBER: Final = 1_000_000


async def _target(ctx: ActionContext) -> int:
    ref = repository_ref(ctx.params)
    assert ref is not None
    return await resolve_repository_id(ctx, ref)


async def _binding(ctx: ActionContext) -> Binding:
    """Data source (Type / Biz) and its references: PcaInstanceId = CA id, TrustWarehouseId."""
    source = data_source_from(ctx.params)
    ca_id = ctx.params.int("PcaInstanceId", min=1, max=2**62)
    trust_ref = optional_ref(ctx.params, "TrustWarehouseId")
    trust_id = await resolve_repository_id(ctx, trust_ref) if trust_ref is not None else None
    return Binding(source, ca_id, trust_id)


# --- Alibaba actions --------------------------------------------------------------------------------


async def create_warehouse(ctx: ActionContext) -> dict[str, object]:
    """CreateWarehouse: Name?, Type | Biz=contract, (ext) PcaInstanceId, TrustWarehouseId, Qps."""
    binding = await _binding(ctx)
    # An empty Name is how some SDKs say "not given": the repository is then named by its instance id.
    name = ctx.params.str("Name") or None
    qps = ctx.params.int("Qps")
    created = await repositories.create_repository(
        ctx.services, ctx.call, name=name, binding=binding, qps=qps
    )
    return {"WarehouseInstanceId": created.instance_id, "WhId": created.id}


async def delete_warehouse(ctx: ActionContext) -> dict[str, object]:
    """DeleteWarehouse: WarehouseInstanceId (or WarehouseId). Only a reset repository."""
    await repositories.delete_repository(ctx.services, ctx.call, await _target(ctx))
    return {}


def _page_size(ctx: ActionContext, name: str, default: int) -> int:
    size = ctx.params.int(name, min=1, max=MAX_PAGE_SIZE)
    return default if size is None else size


def _sources(ctx: ActionContext, name: str) -> set[DataSource] | None:
    types = ctx.params.json_list(name)
    if not types:
        return None
    return {data_source_for_type(t, parameter=name) for t in types}


async def _by_instance_ids(ctx: ActionContext, instance_ids: list[str]) -> list[Repository]:
    if len(instance_ids) > MAX_LISTED_INSTANCE_IDS:
        raise InvalidInput(
            f"the parameter WarehouseInstanceIds names {len(instance_ids)} repositories; "
            f"at most {MAX_LISTED_INSTANCE_IDS} are allowed",
            details={"parameter": "WarehouseInstanceIds"},
        )
    found: dict[int, Repository] = {}
    for instance_id in dict.fromkeys(instance_ids):
        try:
            repository = await get_repository_by_instance_id(ctx.services, ctx.call, instance_id)
        except RepositoryNotFound:
            continue  # a filter: ids that name nothing (visible) simply match nothing
        assert repository.id is not None
        found[repository.id] = repository
    return [found[key] for key in sorted(found)]


async def _all_repositories(ctx: ActionContext) -> list[Repository]:
    items: list[Repository] = []
    number = 1
    while True:
        page = await repositories.list_repositories(ctx.services, ctx.call, page=Page(number, MAX_PAGE_SIZE))
        items.extend(page.items)
        if number * MAX_PAGE_SIZE >= page.total or not page.items:
            return items
        number += 1


async def _window(
    ctx: ActionContext, where: repositories.RepositoryFilter, offset: int, size: int
) -> tuple[list[Repository], int]:
    """Items [offset, offset+size) of a filtered listing through the page-numbered service."""
    first = offset // size + 1
    page = await repositories.list_repositories(ctx.services, ctx.call, page=Page(first, size), where=where)
    items = list(page.items)
    skip = offset % size
    if skip and first * size < page.total:
        following = await repositories.list_repositories(
            ctx.services, ctx.call, page=Page(first + 1, size), where=where
        )
        items.extend(following.items)
    return items[skip : skip + size], page.total


async def list_warehouse(ctx: ActionContext) -> dict[str, object]:
    """ListWarehouse: token pagination (MaxResults, NextToken); WarehouseInstanceIds / WarehouseTypes
    filters as JSON-string lists."""
    size = _page_size(ctx, "MaxResults", LIST_WAREHOUSE_DEFAULT_SIZE)
    offset = decode_next_token(ctx.params.str("NextToken"))
    sources = _sources(ctx, "WarehouseTypes")
    instance_ids = ctx.params.json_list("WarehouseInstanceIds")
    if instance_ids or (sources is not None and len(sources) > 1):
        # Several ids or types: the service filters one data source at a time, so filter the
        # (small) set of the account's repositories here.
        pool = await _by_instance_ids(ctx, instance_ids) if instance_ids else await _all_repositories(ctx)
        matching = [r for r in pool if sources is None or r.data_source in sources]
        items, total = matching[offset : offset + size], len(matching)
    else:
        source = next(iter(sources)) if sources else None
        where = repositories.RepositoryFilter(data_source=source)
        items, total = await _window(ctx, where, offset, size)
    body: dict[str, object] = {
        "TotalCount": total,
        "MaxResults": size,
        "Data": [warehouse_item(r) for r in items],
    }
    if offset + len(items) < total:
        body["NextToken"] = encode_next_token(offset + len(items))
    return body


async def list_cert_warehouse(ctx: ActionContext) -> dict[str, object]:
    """ListCertWarehouse: page pagination (CurrentPage, ShowSize); InstanceId, Name (fuzzy), Type."""
    number = ctx.params.int("CurrentPage", min=1, max=_MAX_PAGE_NUMBER) or 1
    size = _page_size(ctx, "ShowSize", DEFAULT_PAGE_SIZE)
    name = ctx.params.str("Name", max_len=1024) or None
    type_name = ctx.params.str("Type")
    source = data_source_for_type(type_name, parameter="Type") if type_name else None
    instance = optional_ref(ctx.params, "InstanceId")
    if instance is not None:
        rows = await _one_by_ref(ctx, instance)
        # An exact handle with further filters: the repository is listed only if it matches them
        # (the same case-insensitive "contains" as the service's name filter).
        rows = [
            r
            for r in rows
            if (source is None or r.data_source is source)
            and (name is None or name.lower() in r.name.lower())
        ]
        items, total = rows[(number - 1) * size : number * size], len(rows)
    else:
        where = repositories.RepositoryFilter(name=name, data_source=source)
        page = await repositories.list_repositories(
            ctx.services, ctx.call, page=Page(number, size), where=where
        )
        items, total = page.items, page.total
    return {
        "CurrentPage": number,
        "ShowSize": size,
        "TotalCount": total,
        "CertWarehouseList": [warehouse_row(r) for r in items],
    }


async def _one_by_ref(ctx: ActionContext, ref: int | str) -> list[Repository]:
    try:
        if isinstance(ref, int):
            return [await repositories.get_repository(ctx.services, ctx.call, ref)]
        return [await get_repository_by_instance_id(ctx.services, ctx.call, ref)]
    except RepositoryNotFound:
        return []


async def get_cert_warehouse_quota(ctx: ActionContext) -> dict[str, object]:
    """GetCertWarehouseQuota: the contract and app quota pools of the caller's account."""
    return quota_body(await quota.get_quota(ctx.services, ctx.call))


# --- certrepo extensions (console-only operations at Alibaba) ---------------------------------------


async def reset_warehouse(ctx: ActionContext) -> dict[str, object]:
    """ResetWarehouse: WarehouseInstanceId | WarehouseId, AcknowledgeRisk=true (irreversible)."""
    repository_id = await _target(ctx)
    acknowledged = ctx.params.bool("AcknowledgeRisk", default=False)
    reset = await repositories.reset_repository(
        ctx.services, ctx.call, repository_id, acknowledge_risk=acknowledged is True
    )
    return warehouse_row(reset)


async def enable_warehouse(ctx: ActionContext) -> dict[str, object]:
    """EnableWarehouse: WarehouseInstanceId | WarehouseId, Type | Biz=contract, PcaInstanceId?,
    TrustWarehouseId?. Only a reset repository."""
    repository_id = await _target(ctx)
    binding = await _binding(ctx)
    enabled = await repositories.enable_repository(ctx.services, ctx.call, repository_id, binding=binding)
    return warehouse_row(enabled)


async def update_warehouse(ctx: ActionContext) -> dict[str, object]:
    """UpdateWarehouse: WarehouseInstanceId | WarehouseId, Name (rename, any status)."""
    repository_id = await _target(ctx)
    name = ctx.params.str("Name", required=True, max_len=1024)
    assert name is not None
    renamed = await repositories.rename_repository(ctx.services, ctx.call, repository_id, name)
    return warehouse_row(renamed)


HANDLERS: Final[Mapping[str, Handler]] = {
    "CreateWarehouse": create_warehouse,
    "DeleteWarehouse": delete_warehouse,
    "ListWarehouse": list_warehouse,
    "ListCertWarehouse": list_cert_warehouse,
    "GetCertWarehouseQuota": get_cert_warehouse_quota,
    "ResetWarehouse": reset_warehouse,
    "EnableWarehouse": enable_warehouse,
    "UpdateWarehouse": update_warehouse,
}
