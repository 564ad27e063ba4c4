"""The one table from error category to HTTP status, shared by REST, RPC and console."""

from __future__ import annotations

from certrepo.domain.errors import (
    AuthFailure,
    CertrepoError,
    InvalidInput,
    LimitExceeded,
    MessageTooLarge,
    NotFound,
    PermissionDenied,
    StateConflict,
    Throttling,
    Unsupported,
)

__all__ = ["retry_after_seconds", "status_for"]

_STATUS_BY_CATEGORY: list[tuple[type[CertrepoError], int]] = [
    # most specific first: found through the MRO of the raised error
    (MessageTooLarge, 413),
    (Throttling, 429),
    (LimitExceeded, 429),
    (InvalidInput, 400),
    (Unsupported, 400),
    (NotFound, 404),
    (StateConflict, 409),
    (AuthFailure, 401),
    (PermissionDenied, 403),
]


def status_for(error: CertrepoError) -> int:
    """HTTP status of a product error; a CertrepoError outside every category is a server fault."""
    for category, status in _STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 500


def retry_after_seconds(error: CertrepoError) -> int | None:
    return error.retry_after_seconds if isinstance(error, Throttling) else None
