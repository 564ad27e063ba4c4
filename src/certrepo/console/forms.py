"""Form and query-string values into the typed inputs of services.

Every failure is an InvalidInput (or MissingParameter) whose ``details.field`` names the form field, so
the console shows the message next to that field. Fields hidden by the chosen data source are ignored
rather than refused: the form still posts them, the person did not choose them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from certrepo.domain.enums import CertificateStatus, DataSource, RepositoryStatus, Role
from certrepo.domain.errors import InvalidInput, MissingParameter
from certrepo.domain.repository import Binding

__all__ = [
    "DATA_SOURCE_LABELS",
    "FormValues",
    "binding_from_form",
    "checkbox",
    "optional_certificate_status",
    "optional_data_source",
    "optional_days",
    "optional_id",
    "optional_status",
    "optional_text",
    "page_number",
    "required_role",
    "required_text",
    "since_date",
]

FormValues = Mapping[str, object]  # starlette FormData or QueryParams: str values (files are refused)

# The console's names for data sources, as in Alibaba's Create Repository panel.
DATA_SOURCE_LABELS: dict[DataSource, str] = {
    DataSource.UPLOADED: "Upload Certificate",
    DataSource.UPLOADED_CA: "Uploaded CA Certificates",
    DataSource.PRIVATE: "Private Certificates",
    DataSource.COMPLIANT: "Compliant Certificates",
}

_TRUE = frozenset({"true", "on", "1", "yes"})


def _raw(form: FormValues, field: str) -> str:
    value = form.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, not a file", details={"field": field})
    return value


def optional_text(form: FormValues, field: str, *, max_length: int = 256) -> str | None:
    """Trimmed text, None when empty."""
    value = _raw(form, field).strip()
    if len(value) > max_length:
        raise InvalidInput(
            f"{field} is {len(value)} characters long; at most {max_length} are allowed",
            details={"field": field},
        )
    return value or None


def required_text(form: FormValues, field: str, label: str, *, max_length: int = 256) -> str:
    value = optional_text(form, field, max_length=max_length)
    if value is None:
        raise MissingParameter(f"{label} is required", details={"field": field})
    return value


def optional_id(form: FormValues, field: str, label: str) -> int | None:
    """A positive integer id chosen in a selector or typed in a filter; None when empty."""
    value = _raw(form, field).strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 2**62:
        raise InvalidInput(
            f"{label} must be a positive whole number, got {value!r}", details={"field": field}
        )
    return int(value)


def checkbox(form: FormValues, field: str) -> bool:
    """An HTML checkbox: present with a true-ish value when ticked, absent otherwise."""
    return _raw(form, field).strip().lower() in _TRUE


def optional_data_source(form: FormValues, field: str = "data_source") -> DataSource | None:
    value = _raw(form, field).strip()
    if not value:
        return None
    try:
        return DataSource(value)
    except ValueError:
        choices = ", ".join(DATA_SOURCE_LABELS.values())
        raise InvalidInput(
            f"data source {value!r} is not one of: {choices}", details={"field": field}
        ) from None


def optional_status(form: FormValues, field: str = "status") -> RepositoryStatus | None:
    value = _raw(form, field).strip()
    if not value:
        return None
    try:
        return RepositoryStatus(value)
    except ValueError:
        raise InvalidInput(f"status {value!r} is not enabled or reset", details={"field": field}) from None


def optional_certificate_status(form: FormValues, field: str = "status") -> CertificateStatus | None:
    value = _raw(form, field).strip()
    if not value:
        return None
    try:
        return CertificateStatus(value)
    except ValueError:
        raise InvalidInput(f"status {value!r} is not issued or revoked", details={"field": field}) from None


def optional_days(form: FormValues, field: str, *, maximum: int = 3650) -> int | None:
    """A whole number of days (1..maximum); None when empty."""
    value = optional_id(form, field, "number of days")
    if value is not None and value > maximum:
        raise InvalidInput(f"number of days must be at most {maximum}, got {value}", details={"field": field})
    return value


def binding_from_form(form: FormValues) -> Binding:
    """The data source radio and the selectors that apply to it (the others are hidden, so ignored)."""
    source = optional_data_source(form)
    if source is None:
        raise MissingParameter("choose a data source", details={"field": "data_source"})
    ca_id = None
    trust_id = None
    if source in (DataSource.PRIVATE, DataSource.COMPLIANT):
        ca_id = optional_id(form, "ca_id", "intermediate CA")
    if source is DataSource.PRIVATE and ca_id is None:
        raise MissingParameter(
            "a Private Certificates repository needs an intermediate CA to issue its certificates; "
            "choose one (only CAs not bound to another repository are offered)",
            details={"field": "ca_id"},
        )
    if source is DataSource.COMPLIANT:
        trust_id = optional_id(form, "trust_repository_id", "trust repository")
    return Binding(source, ca_id, trust_id)


def required_role(form: FormValues, field: str = "role") -> Role:
    value = _raw(form, field).strip()
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role must be one of {roles}", details={"field": field}) from None


def page_number(query: FormValues) -> int:
    """The ``page`` query parameter; anything unusable is page 1 (a stale link should still open)."""
    value = _raw(query, "page").strip()
    return int(value) if value.isascii() and value.isdigit() and 1 <= int(value) <= 1_000_000 else 1


def since_date(query: FormValues, field: str = "since") -> datetime | None:
    """A ``YYYY-MM-DD`` date input as the start of that day in UTC."""
    value = _raw(query, field).strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(
            f"date {value!r} is not of the form YYYY-MM-DD", details={"field": field}
        ) from None
    return day.replace(tzinfo=UTC)
