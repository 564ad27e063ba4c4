"""Every product error code has a class, an HTTP status that fits, and renders in the REST shape."""

from __future__ import annotations

import re

import pytest

from certrepo.api.common.errors import status_for
from certrepo.domain import errors
from certrepo.domain.errors import CertrepoError, all_error_classes

SPEC_CODES = [
    "InvalidParameter", "MissingParameter", "ConfirmationRequired", "RepositoryNotReset",
    "RepositoryDisabled", "NotFound.Repository", "NotFound.Certificate", "CaAlreadyBound",
    "ChainIncomplete", "ChainInvalid", "KeyMismatch", "AlgorithmMismatch", "NoPrivateKey",
    "CertificateRevoked", "CertificateExpired", "MessageTooLarge", "QuotaExhausted", "RepositoryInUse",
    "Throttling", "UnsupportedOperation", "SignatureDoesNotMatch", "InvalidTimeStamp.Expired",
    "SignatureNonceUsed", "InvalidAccessKeyId.NotFound", "Forbidden",
]  # fmt: skip


@pytest.mark.parametrize("code", SPEC_CODES)
def test_each_spec_code_has_exactly_one_class(code: str) -> None:
    classes = [c for c in all_error_classes() if c.code == code]
    assert len(classes) == 1, f"{code}: {classes}"


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_each_error_class_maps_to_a_client_status(cls: type[CertrepoError]) -> None:
    if cls is CertrepoError:
        assert status_for(cls("x")) == 500  # outside every category: a server fault
        return
    error = cls("x") if cls is not errors.Throttling else cls("x", retry_after_seconds=2)
    assert 400 <= status_for(error) < 500
    assert re.fullmatch(r"[A-Za-z]+(\.[A-Za-z]+)?", cls.code)


def test_the_module_docstring_draws_every_class() -> None:
    drawn = errors.__doc__ or ""
    missing = [c.__name__ for c in all_error_classes() if c.__name__ not in drawn]
    assert not missing
