"""SSL certificates as Alibaba's SSL-certificate API sees them (UploadUserCertificate and its siblings):
where uploads land, and how Alibaba's integer ``CertId`` finds a certificate.

Alibaba keeps uploaded SSL certificates outside any repository. Every certificate of certrepo lives in a
repository, so they go into one ``uploaded`` repository per account named ``DEFAULT_REPOSITORY_NAME``,
created by the first upload. It is an ordinary repository (listed, renamed, reset like any other); once
renamed or reset it is no longer the default, and the next upload creates a new one. Two first uploads
racing may create two: the oldest is the default from then on, and the other keeps what landed in it.

``CertId`` is the certificate's row number (``Certificate.number``): unique in the service, so any
certificate of the account can be named by it, wherever it lives.
"""

from __future__ import annotations

from typing import Final

from certrepo.domain.access import Permission
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import DataSource, RepositoryStatus
from certrepo.domain.errors import CertificateNotFound
from certrepo.domain.paging import MAX_PAGE_SIZE, Page, PageOf
from certrepo.domain.repository import Binding, Repository

from .certificates import CertificateFilter, Upload, list_certificates, load_certificate, upload_certificate
from .context import Call, Services
from .repositories import RepositoryFilter, create_repository, list_repositories

__all__ = [
    "DEFAULT_REPOSITORY_NAME",
    "find_default_repository",
    "get_certificate_by_number",
    "list_user_certificates",
    "upload_user_certificate",
]

DEFAULT_REPOSITORY_NAME: Final = "SSL certificates"


async def find_default_repository(services: Services, call: Call) -> Repository | None:
    """The account's default repository of SSL certificates, if there is one: the oldest enabled
    ``uploaded`` repository named exactly ``DEFAULT_REPOSITORY_NAME``. Raises PermissionDenied."""
    where = RepositoryFilter(
        name=DEFAULT_REPOSITORY_NAME, data_source=DataSource.UPLOADED, status=RepositoryStatus.ENABLED
    )
    # The name filter is a case-insensitive "contains": keep the exact name only.
    page = await list_repositories(services, call, page=Page(1, MAX_PAGE_SIZE), where=where)
    named = [r for r in page.items if r.name == DEFAULT_REPOSITORY_NAME and r.id is not None]
    return min(named, key=lambda r: r.id or 0) if named else None


async def _default_repository(services: Services, call: Call) -> Repository:
    found = await find_default_repository(services, call)
    if found is not None:
        return found
    return await create_repository(
        services, call, name=DEFAULT_REPOSITORY_NAME, binding=Binding(DataSource.UPLOADED)
    )


async def upload_user_certificate(services: Services, call: Call, upload: Upload) -> Certificate:
    """Upload into the default repository of SSL certificates, creating it on first use, with every
    check of an ``uploaded`` repository. Raises PermissionDenied, InvalidInput (and its kinds),
    MessageTooLarge, DuplicateCertificate, RepositoryDisabled."""
    call.principal.require(Permission.MANAGE)
    repository = await _default_repository(services, call)
    assert repository.id is not None
    result = await upload_certificate(services, call, repository.id, upload)
    return result.certificates[-1]


async def get_certificate_by_number(services: Services, call: Call, number: int) -> Certificate:
    """The certificate whose ``CertId`` is ``number``, if the caller may see it. Raises PermissionDenied,
    CertificateNotFound."""
    call.principal.require(Permission.READ)
    async with services.uow(read_only=True) as uow:
        found = await uow.certificates.get_by_number(number)
        if found is not None:
            try:
                # Account and signer-grant visibility: the one rule of load_certificate.
                return await load_certificate(uow, call, found.identifier)
            except CertificateNotFound:
                pass  # another account's certificate: answered like a missing one
    raise CertificateNotFound(f"no certificate has the CertId {number}", details={"cert_id": number})


async def list_user_certificates(
    services: Services, call: Call, *, page: Page, where: CertificateFilter
) -> PageOf[Certificate]:
    """One page of the default repository's certificates (none before the first upload). Raises
    PermissionDenied, InvalidInput."""
    repository = await find_default_repository(services, call)
    if repository is None or repository.id is None:
        return PageOf([], 0, page)
    return await list_certificates(services, call, repository.id, page=page, where=where)
