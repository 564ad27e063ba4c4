"""Repository lifecycle rules as pure domain rules (no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certrepo.domain.enums import DataSource, RepositoryStatus
from certrepo.domain.errors import (
    ConfirmationRequired,
    InvalidInput,
    MissingParameter,
    RepositoryDisabled,
    RepositoryNotReset,
)
from certrepo.domain.repository import Binding, Repository, normalize_name

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make(data_source: DataSource = DataSource.UPLOADED, **kw: object) -> Repository:
    binding = Binding(data_source, **kw)  # type: ignore[arg-type]
    created = Repository.create(
        account_id=1, instance_id="cas-wh-abcdefghij", name=None, binding=binding, qps=None, now=NOW
    )
    return created.__class__(**{**created.__dict__, "id": 7})


def test_reset_needs_true_acknowledgement_and_clears_the_binding() -> None:
    repo = make(DataSource.PRIVATE, ca_id=3)
    with pytest.raises(ConfirmationRequired):
        repo.reset(acknowledge_risk=False, now=NOW)
    reset = repo.reset(acknowledge_risk=True, now=NOW + timedelta(seconds=1))
    assert reset.status is RepositoryStatus.RESET and reset.ca_id is None and reset.data_source is None
    assert reset.updated_at == NOW + timedelta(seconds=1)


def test_a_reset_repository_is_unusable_until_enabled() -> None:
    reset = make().reset(acknowledge_risk=True, now=NOW)
    with pytest.raises(RepositoryDisabled):
        reset.ensure_usable()
    reset.enable(Binding(DataSource.UPLOADED_CA), now=NOW).ensure_usable()


def test_enable_and_delete_need_a_reset_first() -> None:
    repo = make()
    with pytest.raises(RepositoryNotReset):
        repo.enable(Binding(DataSource.UPLOADED), now=NOW)
    with pytest.raises(RepositoryNotReset):
        repo.ensure_deletable()
    repo.reset(acknowledge_risk=True, now=NOW).ensure_deletable()


@pytest.mark.parametrize(
    ("binding", "error"),
    [
        (Binding(DataSource.PRIVATE), MissingParameter),
        (Binding(DataSource.UPLOADED, ca_id=1), InvalidInput),
        (Binding(DataSource.UPLOADED_CA, trust_repository_id=2), InvalidInput),
    ],
    ids=["private-without-ca", "ca-on-uploaded", "trust-on-uploaded-ca"],
)
def test_bindings_fit_their_data_source(binding: Binding, error: type[Exception]) -> None:
    with pytest.raises(error):
        make().reset(acknowledge_risk=True, now=NOW).enable(binding, now=NOW)


@pytest.mark.parametrize("name", ["a", "x" * 64, "名前", "with space"])
def test_names_of_1_to_64_characters_are_kept_trimmed(name: str) -> None:
    assert normalize_name(f"  {name} ") == name
