"""Alibaba names and response shapes of the RPC API: where Warehouse vocabulary meets the domain.

Repositories carry two Alibaba handles (reference §2): the integer ``WhId`` (= our id, what
``WarehouseId`` means) and the string ``InstanceId`` / ``WarehouseInstanceId`` (= our ``cas-wh-…``
instance id). Type names come in two generations (reference §3): ListCertWarehouse says
``uploadPCA``/``uploadCA``/``aliyunPCA``, CreateWarehouse and ListWarehouse say ``uploadedCertificate``/
``uploadedAuthorityCertificate``/``pcaCertificate``. Either spelling (or our own data source name) is
accepted wherever a type is read; answers use the spelling of the action's generation. Compliant
repositories are created with ``Biz=contract``; Alibaba has no type name for them, so ours is ``contract``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from certrepo.domain.enums import DataSource, QuotaPool
from certrepo.domain.errors import InvalidInput, MissingParameter, Unsupported
from certrepo.domain.ids import is_instance_id
from certrepo.domain.repository import Repository
from certrepo.services.quota import PoolUsage

from .params import Params, to_ms

__all__ = [
    "CONTRACT_BIZ",
    "NEVER_EXPIRES_MS",
    "UNLIMITED_QUOTA",
    "RepositoryRef",
    "data_source_for_type",
    "data_source_from",
    "decode_next_token",
    "encode_next_token",
    "list_type",
    "optional_ref",
    "parameter_for_field",
    "quota_body",
    "repository_ref",
    "warehouse_item",
    "warehouse_row",
    "warehouse_type",
]

CONTRACT_BIZ: Final = "contract"
# GetCertWarehouseQuota has no way to say "unlimited" (the self-hosted default). Clients compute
# remaining = total - used, so a sentinel like -1 would read as "exhausted"; the largest 32-bit integer
# is safe in every SDK language and never runs out in practice. ``*Unlimited`` booleans say it exactly.
UNLIMITED_QUOTA: Final = 2**31 - 1
# Positions up to 2**48: far beyond any listing, and far from the database's 64-bit OFFSET limit.
_TOKEN_RE: Final = re.compile(r"[0-9a-f]{1,12}")
# Repositories do not expire in certrepo; ListCertWarehouse still wants an EndTime (ms): 9999-12-31.
NEVER_EXPIRES_MS: Final = to_ms(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


@dataclass(frozen=True)
class _TypeNames:
    data_source: DataSource
    warehouse_type: str  # CreateWarehouse / ListWarehouse generation
    list_type: str  # ListCertWarehouse generation


_TYPES: Final = (
    _TypeNames(DataSource.UPLOADED, "uploadedCertificate", "uploadPCA"),
    _TypeNames(DataSource.UPLOADED_CA, "uploadedAuthorityCertificate", "uploadCA"),
    _TypeNames(DataSource.PRIVATE, "pcaCertificate", "aliyunPCA"),
    _TypeNames(DataSource.COMPLIANT, CONTRACT_BIZ, CONTRACT_BIZ),
)
_BY_SOURCE: Final = {t.data_source: t for t in _TYPES}
_SOURCE_BY_NAME: Final = {
    name.lower(): t.data_source
    for t in _TYPES
    for name in (t.warehouse_type, t.list_type, t.data_source.value)
}
# Alibaba types that name something certrepo does not hold (SSL products, PCA instances' own CA certs).
_NO_EQUIVALENT: Final = {
    "personal": "personal test SSL certificates are an Alibaba product",
    "ssl": "purchased SSL certificates are an Alibaba product",
    "pcaauthoritycertificate": "CA certificates live in /v1/cas, not in a repository",
    "pcacacert": "CA certificates live in /v1/cas, not in a repository",
}
_ACCEPTED_TYPES: Final = (
    ", ".join(t.warehouse_type for t in _TYPES[:3]) + " (or their ListCertWarehouse names)"
)

# Domain errors name REST fields; an RPC caller knows the parameter instead (actions.py adds the names
# that differ per action).
_PARAMETER_FOR_FIELD: Final = {
    "name": "Name",
    "data_source": "Type",
    "ca_id": "PcaInstanceId",
    "trust_repository_id": "TrustWarehouseId",
    "qps": "Qps",
    "acknowledge_risk": "AcknowledgeRisk",
    "custom_identifier": "CustomIdentifier",
    "page": "CurrentPage",
    "page_size": "ShowSize",
}


def parameter_for_field(field: str) -> str | None:
    """The RPC parameter that carries the REST field ``field``, if any."""
    return _PARAMETER_FOR_FIELD.get(field)


# --- types ------------------------------------------------------------------------------------------


def data_source_for_type(value: str, *, parameter: str) -> DataSource:
    """The data source an Alibaba type name (either generation, any case) stands for.

    Raises InvalidInput for an unknown name, Unsupported for an Alibaba type without an equivalent."""
    lowered = value.strip().lower()
    found = _SOURCE_BY_NAME.get(lowered)
    if found is not None:
        return found
    shown = value if len(value) <= 40 else value[:40] + "..."
    if lowered in _NO_EQUIVALENT:
        raise Unsupported(
            f"{parameter} {shown} has no equivalent in certrepo ({_NO_EQUIVALENT[lowered]}); "
            f"use {_ACCEPTED_TYPES}, or Biz=contract for a compliant repository",
            details={"parameter": parameter},
        )
    raise InvalidInput(
        f"the parameter {parameter} must be one of {_ACCEPTED_TYPES}, got {shown!r}",
        details={"parameter": parameter},
    )


def data_source_from(params: Params) -> DataSource:
    """The data source chosen by ``Type`` and ``Biz`` (CreateWarehouse, EnableWarehouse).

    ``Biz=contract`` selects a compliant repository whatever ``Type`` says (Alibaba's examples send
    both); otherwise ``Type`` is needed. Raises MissingParameter, InvalidInput, Unsupported."""
    biz = params.str("Biz")
    type_name = params.str("Type")
    # Even when Biz decides, a misspelt Type is an error rather than silently ignored.
    source = data_source_for_type(type_name, parameter="Type") if type_name else None
    if biz:
        if biz.strip().lower() != CONTRACT_BIZ:
            raise InvalidInput(
                f"the parameter Biz must be {CONTRACT_BIZ} (compliant repository) or absent, got {biz[:40]!r}",
                details={"parameter": "Biz"},
            )
        return DataSource.COMPLIANT
    if source is None:
        raise MissingParameter(
            f"the parameter Type is required: {_ACCEPTED_TYPES}; or send Biz=contract",
            details={"parameter": "Type"},
        )
    return source


def warehouse_type(source: DataSource | None) -> str:
    """The CreateWarehouse/ListWarehouse name of a data source ("" for a reset repository)."""
    return _BY_SOURCE[source].warehouse_type if source is not None else ""


def list_type(source: DataSource | None) -> str:
    """The ListCertWarehouse name of a data source ("" for a reset repository)."""
    return _BY_SOURCE[source].list_type if source is not None else ""


# --- repository handles -----------------------------------------------------------------------------


RepositoryRef = int | str  # WhId, or an instance id to look up


def _ref_of(value: str, parameter: str) -> RepositoryRef:
    text = value.strip()
    # One Alibaba example shows a WarehouseInstanceId of "66": a plain number is taken as a WhId.
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    if is_instance_id(text):
        return text
    raise InvalidInput(
        f"the parameter {parameter} must be a repository instance id (cas-wh-…) or WhId, got {text[:40]!r}",
        details={"parameter": parameter},
    )


def repository_ref(params: Params, *, required: bool = True) -> RepositoryRef | None:
    """The repository an action targets: ``WarehouseInstanceId`` or ``WarehouseId`` (WhId), not both.

    Raises MissingParameter, InvalidInput."""
    instance = params.str("WarehouseInstanceId")
    number = params.str("WarehouseId")
    if instance and number:
        raise InvalidInput(
            "give the repository once: WarehouseInstanceId or WarehouseId, not both",
            details={"parameter": "WarehouseId"},
        )
    if instance:
        return _ref_of(instance, "WarehouseInstanceId")
    if number:
        return _ref_of(number, "WarehouseId")
    if required:
        raise MissingParameter(
            "the parameter WarehouseInstanceId (or WarehouseId) is required",
            details={"parameter": "WarehouseInstanceId"},
        )
    return None


def optional_ref(params: Params, parameter: str) -> RepositoryRef | None:
    """A repository named by one parameter (WhId or instance id), if given. Raises InvalidInput."""
    value = params.str(parameter)
    return _ref_of(value, parameter) if value else None


# --- pagination -------------------------------------------------------------------------------------


def encode_next_token(offset: int) -> str:
    """The NextToken of ListWarehouse: the position of the next item (opaque to callers)."""
    return f"{offset:x}"


def decode_next_token(token: str | None) -> int:
    """The position a NextToken stands for (0 without one). Raises InvalidInput."""
    if not token:
        return 0
    if _TOKEN_RE.fullmatch(token) is None:
        raise InvalidInput(
            "the parameter NextToken is not a token this service returned",
            details={"parameter": "NextToken"},
        )
    return int(token, 16)


# --- response shapes --------------------------------------------------------------------------------


def warehouse_row(r: Repository) -> dict[str, object]:
    """One ListCertWarehouse row (reference §4.4) plus certrepo's extra fields."""
    assert r.id is not None
    row: dict[str, object] = {
        "WhId": r.id,
        "InstanceId": r.instance_id,
        "Name": r.name,
        "Type": list_type(r.data_source),
        "Qps": r.qps,
        "EndTime": NEVER_EXPIRES_MS,
        "IsExpired": False,
        # certrepo extensions (the SDK ignores unknown keys)
        "WarehouseInstanceId": r.instance_id,
        "WarehouseType": warehouse_type(r.data_source),
        "Status": r.status.value,
        "CertCount": r.certificate_count,
        "CreateTime": to_ms(r.created_at),
        "UpdateTime": to_ms(r.updated_at),
    }
    if r.ca_id is not None:
        row["PcaInstanceId"] = str(r.ca_id)
    if r.trust_repository_id is not None:
        row["TrustWarehouseId"] = r.trust_repository_id
    return row


def warehouse_item(r: Repository) -> dict[str, object]:
    """One ListWarehouse ``Data`` item (reference §4.3) plus the WhId and status."""
    assert r.id is not None
    return {
        "WarehouseInstanceId": r.instance_id,
        "WarehouseName": r.name,
        "WarehouseType": warehouse_type(r.data_source),
        "WhId": r.id,
        "Status": r.status.value,
    }


def quota_body(pools: Mapping[QuotaPool, PoolUsage]) -> dict[str, object]:
    """GetCertWarehouseQuota (reference §4.5): contract pool as Total/Use, app pool as AppTotal/AppUse."""
    contract = pools.get(QuotaPool.CONTRACT, PoolUsage(None, 0))
    app = pools.get(QuotaPool.APP, PoolUsage(None, 0))
    return {
        "TotalQuota": UNLIMITED_QUOTA if contract.total is None else contract.total,
        "UseCount": contract.used,
        "AppTotalQuota": UNLIMITED_QUOTA if app.total is None else app.total,
        "AppUseCount": app.used,
        "TotalQuotaUnlimited": contract.total is None,
        "AppTotalQuotaUnlimited": app.total is None,
    }
