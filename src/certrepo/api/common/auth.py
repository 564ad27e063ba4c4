"""REST authentication: ``Authorization: Bearer <AccessKeyId>:<AccessKeySecret>``."""

from __future__ import annotations

from certrepo.domain.access import Principal
from certrepo.domain.errors import AuthFailure
from certrepo.services.auth import authenticate_bearer
from certrepo.services.context import Services

__all__ = ["authenticate_authorization_header"]


async def authenticate_authorization_header(services: Services, header: str | None) -> Principal:
    """Raises AuthFailure (401) for a missing or malformed header, InvalidAccessKey / wrong secret."""
    if not header:
        raise AuthFailure("authentication required: send Authorization: Bearer <AccessKeyId>:<AccessKeySecret>")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or ":" not in credentials:
        raise AuthFailure("malformed Authorization header: expected Bearer <AccessKeyId>:<AccessKeySecret>")
    key_id, _, secret = credentials.strip().partition(":")
    return await authenticate_bearer(services, key_id, secret)
