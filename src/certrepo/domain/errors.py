"""The one error hierarchy of certrepo.

Every failure a user can cause is a ``CertrepoError`` with a product ``code`` (the wire value of SPEC §3),
a message for people that says what is wrong and where, and optional safe ``details``. Front ends map the
*category* (the second level below) to a status once, in ``api/common/errors.py``::

    CertrepoError
    ├── InvalidInput                 400  bad or malformed input
    │   ├── MissingParameter
    │   ├── ConfirmationRequired         reset without acknowledge_risk
    │   ├── ChainIncomplete              chain does not reach a trusted/self-signed root
    │   ├── ChainInvalid                 a certificate of the chain fails a check
    │   ├── KeyMismatch                  private key does not belong to the certificate
    │   ├── AlgorithmMismatch            algorithm does not fit the key / CA key family
    │   ├── NoPrivateKey                 operation needs a key the certificate does not have
    │   └── CertificateExpired           an expired certificate cannot sign or encrypt
    ├── NotFound                     404
    │   ├── RepositoryNotFound           code NotFound.Repository
    │   ├── CertificateNotFound          code NotFound.Certificate
    │   ├── CaNotFound                   code NotFound.CA
    │   └── ActionNotFound               code InvalidAction.NotFound (RPC: no such action)
    ├── StateConflict                409  the target's state forbids the operation
    │   ├── RepositoryNotReset
    │   ├── RepositoryDisabled
    │   ├── RepositoryInUse
    │   ├── CaAlreadyBound
    │   ├── CertificateRevoked
    │   └── DuplicateCertificate         code CertificateExists
    ├── AuthFailure                  401  who are you?
    │   ├── SignatureDoesNotMatch
    │   ├── InvalidTimeStamp             code InvalidTimeStamp.Expired
    │   ├── SignatureNonceUsed
    │   └── InvalidAccessKey             code InvalidAccessKeyId.NotFound
    ├── PermissionDenied             403  code Forbidden
    ├── LimitExceeded
    │   ├── MessageTooLarge          413
    │   ├── QuotaExhausted           429  a quota pool is used up (no Retry-After: waiting will not help)
    │   └── Throttling               429  carries retry_after_seconds
    └── Unsupported                  400  code UnsupportedOperation

Errors never carry secrets: messages and details are shown to callers and written to logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ActionNotFound",
    "AlgorithmMismatch",
    "AuthFailure",
    "CaAlreadyBound",
    "CaNotFound",
    "CertificateExpired",
    "CertificateNotFound",
    "CertificateRevoked",
    "CertrepoError",
    "ChainIncomplete",
    "ChainInvalid",
    "ConfirmationRequired",
    "DuplicateCertificate",
    "InvalidAccessKey",
    "InvalidInput",
    "InvalidTimeStamp",
    "KeyMismatch",
    "LimitExceeded",
    "MessageTooLarge",
    "MissingParameter",
    "NoPrivateKey",
    "NotFound",
    "PermissionDenied",
    "QuotaExhausted",
    "RepositoryDisabled",
    "RepositoryInUse",
    "RepositoryNotFound",
    "RepositoryNotReset",
    "SignatureDoesNotMatch",
    "SignatureNonceUsed",
    "StateConflict",
    "Throttling",
    "Unsupported",
    "all_error_classes",
]


class CertrepoError(Exception):
    """Base of every error a caller can cause. ``code`` is the product error code on the wire."""

    code: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


# --- categories -------------------------------------------------------------------------------------


class InvalidInput(CertrepoError):
    """The request is malformed or a value is not acceptable."""

    code = "InvalidParameter"


class NotFound(CertrepoError):
    """The named object does not exist (or is not visible to the caller's account)."""

    code = "NotFound"


class StateConflict(CertrepoError):
    """The object exists but its state forbids the operation."""

    code = "StateConflict"


class AuthFailure(CertrepoError):
    """The caller could not be authenticated."""

    code = "Unauthorized"


class PermissionDenied(CertrepoError):
    """The caller is authenticated but its role or grants do not allow the operation."""

    code = "Forbidden"


class LimitExceeded(CertrepoError):
    """A size, quota or rate limit was reached."""

    code = "LimitExceeded"


class Unsupported(CertrepoError):
    """The operation or option is understood but not supported."""

    code = "UnsupportedOperation"


# --- invalid input ----------------------------------------------------------------------------------


class MissingParameter(InvalidInput):
    code = "MissingParameter"


class ConfirmationRequired(InvalidInput):
    code = "ConfirmationRequired"


class ChainIncomplete(InvalidInput):
    code = "ChainIncomplete"


class ChainInvalid(InvalidInput):
    code = "ChainInvalid"


class KeyMismatch(InvalidInput):
    code = "KeyMismatch"


class AlgorithmMismatch(InvalidInput):
    code = "AlgorithmMismatch"


class NoPrivateKey(InvalidInput):
    code = "NoPrivateKey"


class CertificateExpired(InvalidInput):
    code = "CertificateExpired"


# --- not found --------------------------------------------------------------------------------------


class RepositoryNotFound(NotFound):
    code = "NotFound.Repository"


class CertificateNotFound(NotFound):
    code = "NotFound.Certificate"


class CaNotFound(NotFound):
    code = "NotFound.CA"


class ActionNotFound(NotFound):
    code = "InvalidAction.NotFound"


# --- state conflicts --------------------------------------------------------------------------------


class RepositoryNotReset(StateConflict):
    code = "RepositoryNotReset"


class RepositoryDisabled(StateConflict):
    code = "RepositoryDisabled"


class RepositoryInUse(StateConflict):
    code = "RepositoryInUse"


class CaAlreadyBound(StateConflict):
    code = "CaAlreadyBound"


class CertificateRevoked(StateConflict):
    code = "CertificateRevoked"


class DuplicateCertificate(StateConflict):
    code = "CertificateExists"


# --- authentication ---------------------------------------------------------------------------------


class SignatureDoesNotMatch(AuthFailure):
    code = "SignatureDoesNotMatch"


class InvalidTimeStamp(AuthFailure):
    code = "InvalidTimeStamp.Expired"


class SignatureNonceUsed(AuthFailure):
    code = "SignatureNonceUsed"


class InvalidAccessKey(AuthFailure):
    code = "InvalidAccessKeyId.NotFound"


# --- limits -----------------------------------------------------------------------------------------


class MessageTooLarge(LimitExceeded):
    code = "MessageTooLarge"


class QuotaExhausted(LimitExceeded):
    code = "QuotaExhausted"


class Throttling(LimitExceeded):
    code = "Throttling"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


def all_error_classes() -> list[type[CertrepoError]]:
    """Every concrete error class, for the test that walks the product's codes."""
    seen: list[type[CertrepoError]] = []
    stack: list[type[CertrepoError]] = [CertrepoError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
