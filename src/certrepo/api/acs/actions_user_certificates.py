"""Alibaba's SSL-certificate actions (reference §5): UploadUserCertificate, GetUserCertificateDetail,
DeleteUserCertificate, ListUserCertificateOrder, on services/user_certificates.py and certificates.py.

Uploads land in the account's default repository of SSL certificates (an ``uploaded`` repository named
"SSL certificates", created by the first upload; see services/user_certificates.py). ``CertId`` is the
certificate's number and ``{CertId}-cn-hangzhou`` its identifier for Sign/Verify/Encrypt/Decrypt; both
name any certificate of the account. Alibaba returns the private key of an uploaded SSL certificate in
GetUserCertificateDetail, so UploadUserCertificate stores the key as exportable; the detail carries it
(``Key``, unless ``CertFilter=true``) to callers allowed to export keys, and each read is audited as a
key export. ListUserCertificateOrder lists the default repository for OrderType UPLOAD and CERT; CPACK
(Alibaba's default) and BUY list purchases, which a self-hosted service has none of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from certrepo.domain.enums import CertificateStatus
from certrepo.domain.errors import MissingParameter, PermissionDenied, Unsupported
from certrepo.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from certrepo.services import certificates, user_certificates
from certrepo.services.certificates import CertificateFilter, Upload

from .actions_context import ActionContext, Handler
from .shapes_certificates import (
    WILL_EXPIRE_DAYS,
    cert_id_of,
    user_certificate_detail,
    user_certificate_identifier,
    user_certificate_order_row,
)

__all__ = ["HANDLERS", "PARAMETERS"]

MAX_NAME_LENGTH: Final = 63  # Alibaba's limit for UploadUserCertificate's Name
_MAX_PAGE_NUMBER: Final = 1_000_000
_MAX_CERT_ID: Final = 2**63 - 1
_ORDER_TYPES: Final = ("CPACK", "BUY", "UPLOAD", "CERT")
_LISTED_ORDER_TYPES: Final = frozenset({"UPLOAD", "CERT"})
# Certificate states of ListUserCertificateOrder's Status; the other values are states of purchase
# orders (PAYED, CHECKING, CHECKED_FAIL, NOTACTIVATED), which match nothing here.
_STATUS_FILTERS: Final = {
    "ISSUED": CertificateFilter(status=CertificateStatus.ISSUED, expired=False),
    "WILLEXPIRED": CertificateFilter(status=CertificateStatus.ISSUED, expiring_within_days=WILL_EXPIRE_DAYS),
    "EXPIRED": CertificateFilter(status=CertificateStatus.ISSUED, expired=True),
    "REVOKED": CertificateFilter(status=CertificateStatus.REVOKED),
}
_ORDER_STATES: Final = ("PAYED", "CHECKING", "CHECKED_FAIL", "NOTACTIVATED")


def _cert_id(ctx: ActionContext) -> int:
    """CertId: an integer, or its ``{CertId}-cn-hangzhou`` form. Raises MissingParameter, InvalidInput."""
    text = ctx.params.str("CertId", required=True)
    assert text is not None
    number = cert_id_of(text)
    if number is not None:
        return number
    value = ctx.params.int("CertId", required=True, min=1, max=_MAX_CERT_ID)
    assert value is not None
    return value


def _pair(ctx: ActionContext) -> tuple[str, str | None]:
    """The certificate and key to upload: Cert + Key, else the SM2 signing pair (SignCert +
    SignPrivateKey). Raises MissingParameter, Unsupported."""
    cert, key = ctx.params.str("Cert") or None, ctx.params.str("Key") or None
    if cert:
        return cert, key  # Alibaba ignores the SM2 fields when Cert and Key are both set
    if key:
        raise MissingParameter("the parameter Cert is required with Key", details={"parameter": "Cert"})
    sign_cert = ctx.params.str("SignCert") or None
    if not sign_cert:
        raise MissingParameter(
            "the parameter Cert (or SignCert for an SM2 pair) is required", details={"parameter": "Cert"}
        )
    if ctx.params.str("EncryptCert") or ctx.params.str("EncryptPrivateKey"):
        raise Unsupported(
            "EncryptCert and EncryptPrivateKey are not taken: a certificate holds one key here, so upload "
            "the SM2 encryption certificate as a certificate of its own (Cert and Key)",
            details={"parameter": "EncryptCert"},
        )
    return sign_cert, ctx.params.str("SignPrivateKey") or None


async def upload_user_certificate(ctx: ActionContext) -> dict[str, object]:
    """UploadUserCertificate: Name (at most 63 characters), Cert + Key | SignCert + SignPrivateKey,
    Tags.N.Key/Value; ResourceGroupId and ClientToken are accepted and ignored -> CertId, ResourceId."""
    name = ctx.params.str("Name", required=True, max_len=MAX_NAME_LENGTH)
    assert name is not None
    certificate, key = _pair(ctx)
    upload = Upload(
        certificate=certificate,
        private_key=key,
        name=name,
        exportable=key is not None,
        tags=dict(ctx.params.tags("Tags")),
    )
    stored = await user_certificates.upload_user_certificate(ctx.services, ctx.call, upload)
    assert stored.number is not None
    return {
        "CertId": stored.number,
        "ResourceId": stored.identifier,
        "CertIdentifier": user_certificate_identifier(stored.number),
        "WhId": stored.repository_id,
    }


async def _key_pem(ctx: ActionContext, identifier: str) -> str | None:
    try:
        export = await certificates.export_private_key(
            ctx.services, ctx.call, identifier, format="pkcs8", password=None
        )
    except PermissionDenied:
        return None  # a role that may not read keys gets the detail without it
    return export.data.decode("ascii")


async def get_user_certificate_detail(ctx: ActionContext) -> dict[str, object]:
    """GetUserCertificateDetail: CertId (or ``{CertId}-cn-hangzhou``), CertFilter (true: no Cert/Key)."""
    number = _cert_id(ctx)
    with_content = not ctx.params.bool("CertFilter", default=False)
    certificate = await user_certificates.get_certificate_by_number(ctx.services, ctx.call, number)
    key = None
    if with_content and certificate.has_private_key and certificate.exportable:
        key = await _key_pem(ctx, certificate.identifier)
    return user_certificate_detail(
        certificate, now=ctx.services.clock(), with_content=with_content, key_pem=key
    )


async def delete_user_certificate(ctx: ActionContext) -> dict[str, object]:
    """DeleteUserCertificate: CertId; ClientToken is accepted and ignored. The key is destroyed."""
    certificate = await user_certificates.get_certificate_by_number(ctx.services, ctx.call, _cert_id(ctx))
    await certificates.delete_certificate(ctx.services, ctx.call, certificate.identifier)
    return {}


async def list_user_certificate_order(ctx: ActionContext) -> dict[str, object]:
    """ListUserCertificateOrder: OrderType (CPACK default | BUY | UPLOAD | CERT), Status, Keyword,
    CurrentPage, ShowSize. Without Status, UPLOAD and CERT list valid certificates only."""
    order_type = ctx.params.enum("OrderType", _ORDER_TYPES) or "CPACK"
    status = ctx.params.enum("Status", [*_STATUS_FILTERS, *_ORDER_STATES])
    keyword = ctx.params.str("Keyword", max_len=256) or None
    number = ctx.params.int("CurrentPage", min=1, max=_MAX_PAGE_NUMBER) or 1
    size = ctx.params.int("ShowSize", min=1, max=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    rows: list[dict[str, object]] = []
    total = 0
    if order_type in _LISTED_ORDER_TYPES and status not in _ORDER_STATES:
        base = _STATUS_FILTERS[status or "ISSUED"]
        where = CertificateFilter(
            keyword=keyword,
            status=base.status,
            expiring_within_days=base.expiring_within_days,
            expired=base.expired,
        )
        page = await user_certificates.list_user_certificates(
            ctx.services, ctx.call, page=Page(number, size), where=where
        )
        now = ctx.services.clock()
        rows, total = [user_certificate_order_row(c, now=now) for c in page.items], page.total
    return {"CertificateOrderList": rows, "TotalCount": total, "CurrentPage": number, "ShowSize": size}


HANDLERS: Final[Mapping[str, Handler]] = {
    "UploadUserCertificate": upload_user_certificate,
    "GetUserCertificateDetail": get_user_certificate_detail,
    "DeleteUserCertificate": delete_user_certificate,
    "ListUserCertificateOrder": list_user_certificate_order,
}

PARAMETERS: Final[Mapping[str, Mapping[str, str]]] = {
    "UploadUserCertificate": {"certificate": "Cert", "private_key": "Key", "name": "Name"},
    "ListUserCertificateOrder": {"keyword": "Keyword"},
}
