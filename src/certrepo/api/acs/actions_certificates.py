"""Certificates of a repository: UploadPCACert, DeletePCACert, ListCert, DescribeWarehouseCert (reference
§4.6-4.9). The rules are services/certificates.py's; these handlers translate parameters and answers.

ListCert of a private repository lists its CA chain too (SPEC §2.2): the bound intermediate and its
issuers as ``CertType=CA`` rows named ``ca-{id}`` (what CreateWHClientCertificate takes as
ParentIdentifier), ahead of the issued certificates (``CertType=CERT``, ``SourceType=aliyun``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CertificateStatus, DataSource
from certrepo.domain.errors import (
    CertificateNotFound,
    InvalidInput,
    MissingParameter,
    RepositoryNotFound,
    Unsupported,
)
from certrepo.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from certrepo.domain.repository import Repository
from certrepo.services import certificates, repositories
from certrepo.services.certificates import CertificateFilter, Upload

from .actions_context import (
    ActionContext,
    Handler,
    ca_chain,
    refuse_ca_handle,
    resolve_certificate_identifier,
    resolve_repository_id,
)
from .shapes import repository_ref
from .shapes_certificates import (
    ca_describe_body,
    ca_id_of,
    ca_row,
    certificate_describe_body,
    certificate_row,
)

__all__ = ["HANDLERS", "PARAMETERS"]

MAX_LISTED_IDENTIFIERS: Final = 100
# CertType/SourceType filters the certificate service cannot apply yet are applied while reading the
# repository page by page; past this many certificates the listing is refused rather than slow.
MAX_SCANNED_CERTIFICATES: Final = 20_000
_MAX_PAGE_NUMBER: Final = 1_000_000
_STATUS_FILTER: Final = {"ISSUE": CertificateStatus.ISSUED, "REVOKE": CertificateStatus.REVOKED}
# What each data source can hold: (CertType values, SourceType values). Issued certificates are never
# CAs; an uploaded_ca repository holds only CAs (its upload check requires them).
_HOLDS: Final[Mapping[DataSource, tuple[frozenset[str], frozenset[str]]]] = {
    DataSource.PRIVATE: (frozenset({"CERT"}), frozenset({"aliyun"})),
    DataSource.UPLOADED_CA: (frozenset({"CA"}), frozenset({"upload"})),
    DataSource.UPLOADED: (frozenset({"CA", "CERT"}), frozenset({"upload"})),
    DataSource.COMPLIANT: (frozenset({"CA", "CERT"}), frozenset({"upload", "aliyun"})),
}


# --- UploadPCACert and DeletePCACert ----------------------------------------------------------------


async def _target_repository(ctx: ActionContext) -> int:
    ref = repository_ref(ctx.params)
    assert ref is not None
    return await resolve_repository_id(ctx, ref)


async def upload_pca_cert(ctx: ActionContext) -> dict[str, object]:
    """UploadPCACert: WarehouseId, Cert (PEM, chain after the leaf), PrivateKey?, Name?; (ext)
    CustomIdentifier. ``Identifier`` names the leaf-most certificate stored."""
    repository_id = await _target_repository(ctx)
    cert = ctx.params.str("Cert")
    if not cert:
        # The repository's state answers before the payload (SPEC §2.1).
        (await repositories.get_repository(ctx.services, ctx.call, repository_id)).ensure_usable()
        raise MissingParameter("the parameter Cert is required", details={"parameter": "Cert"})
    upload = Upload(
        certificate=cert,
        private_key=ctx.params.str("PrivateKey") or None,
        name=ctx.params.str("Name") or None,
        custom_identifier=ctx.params.str("CustomIdentifier") or None,
    )
    result = await certificates.upload_certificate(ctx.services, ctx.call, repository_id, upload)
    stored = result.certificates
    return {
        "Identifier": stored[-1].identifier,
        "CertId": stored[-1].number,
        # An uploaded_ca upload may store several CAs of a chain (roots first).
        "Identifiers": [c.identifier for c in stored],
        "Warnings": list(result.warnings),
    }


async def delete_pca_cert(ctx: ActionContext) -> dict[str, object]:
    """DeletePCACert: Identifier. The certificate and its private key are destroyed."""
    handle = ctx.params.str("Identifier", required=True)
    assert handle is not None
    refuse_ca_handle("Identifier", handle)
    identifier = await resolve_certificate_identifier(ctx, handle)
    await certificates.delete_certificate(ctx.services, ctx.call, identifier)
    return {}


# --- ListCert ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filters:
    keyword: str | None
    status: CertificateStatus | None
    cert_type: str | None
    source_type: str | None

    @property
    def where(self) -> CertificateFilter:
        return CertificateFilter(keyword=self.keyword, status=self.status)

    def passes(self, row: Mapping[str, object]) -> bool:
        """CertType and SourceType of a ListCert row."""
        return self.cert_type in (None, row["CertType"]) and self.source_type in (None, row["SourceType"])


def _filters(ctx: ActionContext) -> _Filters:
    status = ctx.params.enum("Status", _STATUS_FILTER)
    return _Filters(
        keyword=ctx.params.str("KeyWord", max_len=256) or None,
        status=_STATUS_FILTER[status] if status else None,
        cert_type=ctx.params.enum("CertType", ("CA", "CERT")),
        source_type=ctx.params.enum("SourceType", ("upload", "aliyun")),
    )


def _verdict(wanted: str | None, kinds: frozenset[str]) -> bool | None:
    if wanted is None or kinds == {wanted}:
        return True
    return None if wanted in kinds else False


def _match(source: DataSource | None, filters: _Filters) -> bool | None:
    """Whether every (True), none (False) or only some (None) of the certificates a repository of this
    data source can hold pass the CertType and SourceType filters."""
    if source is None:
        return False  # a reset repository holds nothing
    cert_types, source_types = _HOLDS[source]
    verdicts = (_verdict(filters.cert_type, cert_types), _verdict(filters.source_type, source_types))
    if False in verdicts:
        return False
    return True if verdicts == (True, True) else None


async def _ca_rows(ctx: ActionContext, repository: Repository, filters: _Filters) -> list[dict[str, object]]:
    """The CA rows of a private repository: its intermediate and the issuers up to the root."""
    if repository.data_source is not DataSource.PRIVATE or repository.ca_id is None:
        return []
    if filters.status is CertificateStatus.REVOKED:
        return []  # a bound CA is never revoked here
    keyword = filters.keyword.strip().lower() if filters.keyword else None
    rows = [ca_row(ca, repository) for ca in await ca_chain(ctx, repository.ca_id)]
    return [
        row
        for row in rows
        if filters.passes(row) and (keyword is None or keyword in str(row["CommonName"]).lower())
    ]


async def _window(
    ctx: ActionContext, repository_id: int, where: CertificateFilter, offset: int, count: int, size: int
) -> tuple[list[Certificate], int]:
    """Certificates [offset, offset+count) of a listing and its total, through pages of ``size``."""
    first = offset // size + 1
    page = await certificates.list_certificates(
        ctx.services, ctx.call, repository_id, page=Page(first, size), where=where
    )
    items = list(page.items)
    skip = offset % size
    if skip + count > size and first * size < page.total:
        following = await certificates.list_certificates(
            ctx.services, ctx.call, repository_id, page=Page(first + 1, size), where=where
        )
        items.extend(following.items)
    return items[skip : skip + count], page.total


async def _scan(
    ctx: ActionContext, repository_id: int, where: CertificateFilter, keep: Callable[[Certificate], bool]
) -> list[Certificate]:
    # TODO(issue 6): CertificateFilter(is_ca=, source=) (the store's CertificateQuery has both) makes this
    # a plain page of list_certificates.
    kept: list[Certificate] = []
    number = 1
    while True:
        page = await certificates.list_certificates(
            ctx.services, ctx.call, repository_id, page=Page(number, MAX_PAGE_SIZE), where=where
        )
        if page.total > MAX_SCANNED_CERTIFICATES:
            raise Unsupported(
                f"CertType and SourceType filter repositories of at most {MAX_SCANNED_CERTIFICATES} "
                f"certificates in this version; this selection has {page.total}: narrow it with KeyWord "
                "or Status",
                details={"parameter": "CertType"},
            )
        kept.extend(c for c in page.items if keep(c))
        if number * MAX_PAGE_SIZE >= page.total or not page.items:
            return kept
        number += 1


async def _repository_rows(
    ctx: ActionContext, repository: Repository, filters: _Filters, number: int, size: int
) -> tuple[list[dict[str, object]], int]:
    """One page of a repository's rows (its CA rows first) and the total."""
    assert repository.id is not None
    ca_rows = await _ca_rows(ctx, repository, filters)
    offset = (number - 1) * size
    head = ca_rows[offset : offset + size]
    start, count = max(0, offset - len(ca_rows)), size - len(head)
    match = _match(repository.data_source, filters)
    items: list[Certificate] = []
    total = 0
    if match is True:
        items, total = await _window(ctx, repository.id, filters.where, start, count, size)
    elif match is None:
        kept = await _scan(
            ctx, repository.id, filters.where, lambda c: filters.passes(certificate_row(c, repository))
        )
        items, total = kept[start : start + count], len(kept)
    return head + [certificate_row(c, repository) for c in items], len(ca_rows) + total


def _identifiers(ctx: ActionContext) -> list[str] | None:
    text = ctx.params.str("Identifiers")
    if not text:
        return None
    handles = list(dict.fromkeys(h.strip() for h in text.split(",") if h.strip()))
    if len(handles) > MAX_LISTED_IDENTIFIERS:
        raise InvalidInput(
            f"the parameter Identifiers names {len(handles)} certificates; at most {MAX_LISTED_IDENTIFIERS} "
            "are allowed",
            details={"parameter": "Identifiers"},
        )
    return handles


async def _identified_rows(
    ctx: ActionContext, handles: list[str], repository_id: int | None, filters: _Filters
) -> list[dict[str, object]]:
    """The rows of the certificates named (those that exist, are visible and pass the filters)."""
    if filters.keyword:
        raise InvalidInput("give KeyWord or Identifiers, not both", details={"parameter": "KeyWord"})
    rows: list[dict[str, object]] = []
    held: dict[int, Repository] = {}
    for handle in handles:
        try:
            identifier = await resolve_certificate_identifier(ctx, handle)
            c = await certificates.get_certificate(ctx.services, ctx.call, identifier)
        except CertificateNotFound:
            continue  # a filter: names that match nothing are left out
        if repository_id is not None and c.repository_id != repository_id:
            continue
        if filters.status is not None and c.status is not filters.status:
            continue
        if c.repository_id not in held:
            held[c.repository_id] = await repositories.get_repository(ctx.services, ctx.call, c.repository_id)
        row = certificate_row(c, held[c.repository_id])
        if filters.passes(row):
            rows.append(row)
    return rows


async def list_cert(ctx: ActionContext) -> dict[str, object]:
    """ListCert: WarehouseId (required unless Identifiers is given), KeyWord, Status, CertType,
    SourceType, Identifiers (comma-separated), CurrentPage, ShowSize."""
    number = ctx.params.int("CurrentPage", min=1, max=_MAX_PAGE_NUMBER) or 1
    size = ctx.params.int("ShowSize", min=1, max=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    filters = _filters(ctx)
    handles = _identifiers(ctx)
    ref = repository_ref(ctx.params, required=handles is None)
    repository_id = await resolve_repository_id(ctx, ref) if ref is not None else None
    if handles is not None:
        rows = await _identified_rows(ctx, handles, repository_id, filters)
        items, total = rows[(number - 1) * size : number * size], len(rows)
    else:
        assert repository_id is not None
        repository = await repositories.get_repository(ctx.services, ctx.call, repository_id)
        items, total = await _repository_rows(ctx, repository, filters, number, size)
    return {"CurrentPage": number, "ShowSize": size, "TotalCount": total, "CertList": items}


# --- DescribeWarehouseCert --------------------------------------------------------------------------


async def _bound_repository(ctx: ActionContext, repository_id: int | None) -> Repository | None:
    if repository_id is None:
        return None
    try:
        return await repositories.get_repository(ctx.services, ctx.call, repository_id)
    except RepositoryNotFound:
        return None  # a signer sees the CAs of its account, not every repository they are bound to


async def describe_warehouse_cert(ctx: ActionContext) -> dict[str, object]:
    """DescribeWarehouseCert: CertIdentifier (a certificate, ``{CertId}-cn-hangzhou``, or ``ca-{id}``)."""
    handle = ctx.params.str("CertIdentifier", required=True)
    assert handle is not None
    ca_id = ca_id_of(handle)
    if ca_id is not None:
        chain = await ca_chain(ctx, ca_id)
        return ca_describe_body(chain, await _bound_repository(ctx, chain[0].bound_repository_id))
    identifier = await resolve_certificate_identifier(ctx, handle)
    c = await certificates.get_certificate(ctx.services, ctx.call, identifier)
    repository = await repositories.get_repository(ctx.services, ctx.call, c.repository_id)
    return certificate_describe_body(c, repository)


HANDLERS: Final[Mapping[str, Handler]] = {
    "UploadPCACert": upload_pca_cert,
    "DeletePCACert": delete_pca_cert,
    "ListCert": list_cert,
    "DescribeWarehouseCert": describe_warehouse_cert,
}

# Domain errors name REST fields; per action, the RPC parameter that carries each.
PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = {
    "UploadPCACert": {"certificate": "Cert", "private_key": "PrivateKey", "chain": "Cert"},
    "DeletePCACert": {"identifier": "Identifier"},
    "ListCert": {"keyword": "KeyWord"},
    "DescribeWarehouseCert": {"identifier": "CertIdentifier"},
}
