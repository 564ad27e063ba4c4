"""Decoding of RPC request parameters: every business parameter of the Alibaba API is in the query.

The SDK serialises values as strings (reference §1.2): ints in decimal, booleans as ``True``/``False``,
lists of strings as a JSON string ("shrink" form) and lists of models as ``Name.N.Field`` repeat lists.
It never enforces "required", so the server does, here, with messages that name the parameter.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from certrepo.domain.errors import InvalidInput, MissingParameter

__all__ = ["MAX_QUERY_FIELDS", "Params", "decode_query", "to_ms"]

# A request has a few dozen parameters at most; the bound keeps a hostile query from costing much.
MAX_QUERY_FIELDS = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_RE = re.compile(r"[+-]?[0-9]{1,30}")
_INDEX_RE = re.compile(r"[1-9][0-9]{0,5}")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def decode_query(raw_query: str) -> list[tuple[str, str]]:
    """Form-decode a raw query string ('+' is a space, %XX a UTF-8 byte). Raises InvalidInput."""
    try:
        return parse_qsl(
            raw_query,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidInput("the query string is not valid percent-encoded UTF-8") from None
    except ValueError:
        raise InvalidInput(f"the query string has more than {MAX_QUERY_FIELDS} parameters") from None


def to_ms(dt: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (the unit of Alibaba's time fields)."""
    if dt.tzinfo is None:
        raise ValueError("to_ms needs a timezone-aware datetime")
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def _shown(value: str) -> str:
    # Values can be PEM blobs or private keys: show only a short prefix of what was wrong.
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _invalid(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"the parameter {name} {why}", details={"parameter": name})


def _missing(name: str) -> MissingParameter:
    return MissingParameter(f"the parameter {name} is required", details={"parameter": name})


def _parse_int(name: str, value: str) -> builtins.int:
    # int() alone would also take "1_000", " 7" and non-ASCII digits.
    if _INT_RE.fullmatch(value) is None:
        raise _invalid(name, f"must be an integer, got {_shown(value)}")
    return int(value)


class Params:
    """Typed access to the form-decoded query parameters of one request."""

    def __init__(self, values: Mapping[builtins.str, builtins.str]) -> None:
        self._values = dict(values)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[builtins.str, builtins.str]]) -> Params:
        """Build from decoded pairs, refusing a parameter given twice. Raises InvalidInput."""
        values: dict[builtins.str, builtins.str] = {}
        for key, value in pairs:
            if key in values:
                raise _invalid(key, "is given more than once")
            values[key] = value
        return cls(values)

    @classmethod
    def from_query(cls, raw_query: builtins.str) -> Params:
        """Build from a raw query string. Raises InvalidInput."""
        return cls.from_pairs(decode_query(raw_query))

    def __contains__(self, name: object) -> builtins.bool:
        return name in self._values

    def names(self) -> list[builtins.str]:
        """Every parameter name of the request, sorted."""
        return sorted(self._values)

    def _typed(self, name: builtins.str, required: builtins.bool) -> builtins.str | None:
        # For typed values an empty string means "not given" (other SDKs send `Name=` for null).
        value = self._values.get(name)
        if value is None or value == "":
            if required:
                raise _missing(name)
            return None
        return value

    def str(
        self, name: builtins.str, *, required: builtins.bool = False, max_len: builtins.int | None = None
    ) -> builtins.str | None:
        """A string parameter; a required one may not be empty. Raises MissingParameter, InvalidInput."""
        value = self._values.get(name)
        if value is None or (required and value == ""):
            if required:
                raise _missing(name)
            return None
        if max_len is not None and len(value) > max_len:
            raise _invalid(name, f"is longer than {max_len} characters ({len(value)})")
        return value

    def int(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
    ) -> builtins.int | None:
        """A decimal integer parameter within [min, max]. Raises MissingParameter, InvalidInput."""
        value = self._typed(name, required)
        if value is None:
            return None
        number = _parse_int(name, value)
        if min is not None and number < min:
            raise _invalid(name, f"must be at least {min}, got {number}")
        if max is not None and number > max:
            raise _invalid(name, f"must be at most {max}, got {number}")
        return number

    def bool(self, name: builtins.str, default: builtins.bool | None = None) -> builtins.bool | None:
        """A boolean: True/False (Python SDK), true/false (others) or 1/0, any case. Raises InvalidInput."""
        value = self._typed(name, False)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _invalid(name, f"must be true or false, got {_shown(value)}")

    def enum(
        self,
        name: builtins.str,
        allowed: Iterable[builtins.str],
        *,
        case_insensitive: builtins.bool = True,
        required: builtins.bool = False,
    ) -> builtins.str | None:
        """One of ``allowed``, returned in its ``allowed`` spelling. Raises MissingParameter, InvalidInput."""
        value = self._typed(name, required)
        if value is None:
            return None
        choices = list(allowed)
        for choice in choices:
            if choice == value or (case_insensitive and choice.lower() == value.lower()):
                return choice
        raise _invalid(name, f"must be one of {', '.join(choices)}, got {_shown(value)}")

    def json_list(self, name: builtins.str) -> list[builtins.str] | None:
        """A list of strings as JSON (``["a"]``) or as ``Name.1``, ``Name.2``. Raises InvalidInput."""
        flat = self._indexed(name)
        value = self._typed(name, False)
        if value is not None and flat:
            raise _invalid(name, f"is given both as JSON and as {name}.N items")
        if value is None:
            return [flat[index] for index in sorted(flat)] if flat else None
        try:
            decoded = json.loads(value)
        except ValueError:
            raise _invalid(name, f"must be a JSON list of strings, got {_shown(value)}") from None
        if not isinstance(decoded, list) or not all(isinstance(item, builtins.str) for item in decoded):
            raise _invalid(name, f"must be a JSON list of strings, got {_shown(value)}")
        return decoded

    def _indexed(self, name: builtins.str) -> dict[builtins.int, builtins.str]:
        prefix = f"{name}."
        items: dict[builtins.int, builtins.str] = {}
        for key, value in self._values.items():
            if key.startswith(prefix):
                items[_index(key, key[len(prefix) :])] = value
        return items

    def tags(self, name: builtins.str = "Tags") -> list[tuple[builtins.str, builtins.str]]:
        """Key/value pairs of a ``Name.N.Key`` / ``Name.N.Value`` repeat list, by N. Raises InvalidInput."""
        keys: dict[builtins.int, builtins.str] = {}
        values: dict[builtins.int, builtins.str] = {}
        prefix = f"{name}."
        for param, value in self._values.items():
            if not param.startswith(prefix):
                continue
            index_text, _, field = param[len(prefix) :].partition(".")
            index = _index(param, index_text)
            if field == "Key":
                keys[index] = value
            elif field == "Value":
                values[index] = value
            else:
                raise _invalid(param, f"is not {name}.N.Key or {name}.N.Value")
        return _pair_tags(name, keys, values)

    def timestamp_ms(self, name: builtins.str, *, required: builtins.bool = False) -> datetime | None:
        """A time in milliseconds since the epoch, as aware UTC. Raises MissingParameter, InvalidInput."""
        return self._epoch(name, required, timedelta(milliseconds=1), "milliseconds")

    def timestamp_s(self, name: builtins.str, *, required: builtins.bool = False) -> datetime | None:
        """A time given in seconds since the epoch, as aware UTC. Raises MissingParameter, InvalidInput."""
        return self._epoch(name, required, timedelta(seconds=1), "seconds")

    def _epoch(
        self, name: builtins.str, required: builtins.bool, unit: timedelta, unit_name: builtins.str
    ) -> datetime | None:
        value = self._typed(name, required)
        if value is None:
            return None
        number = _parse_int(name, value)
        if number < 0:
            raise _invalid(name, f"must be a non-negative number of {unit_name} since 1970, got {number}")
        try:
            return _EPOCH + number * unit
        except OverflowError:
            raise _invalid(name, f"is out of range: {number} {unit_name} since 1970") from None


def _index(param: builtins.str, text: builtins.str) -> builtins.int:
    # Canonical positive decimals only, so "Name.01" cannot silently collide with "Name.1".
    if _INDEX_RE.fullmatch(text) is None:
        raise _invalid(param, "has an index that is not a positive integer")
    return int(text)


def _pair_tags(
    name: builtins.str, keys: Mapping[builtins.int, builtins.str], values: Mapping[builtins.int, builtins.str]
) -> list[tuple[builtins.str, builtins.str]]:
    for index in values:
        if index not in keys:
            raise _missing(f"{name}.{index}.Key")
    result: list[tuple[builtins.str, builtins.str]] = []
    seen: set[builtins.str] = set()
    for index in sorted(keys):
        key = keys[index]
        if key == "":
            raise _invalid(f"{name}.{index}.Key", "must not be empty")
        if key in seen:
            raise _invalid(f"{name}.{index}.Key", f"repeats the tag key {_shown(key)}")
        seen.add(key)
        result.append((key, values.get(index, "")))
    return result
