"""Decoding of RPC query parameters; wire forms come from the SDK's own serialisation helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.core import DaraCore
from darabonba.request import DaraRequest

from certrepo.api.acs.params import MAX_QUERY_FIELDS, Params, decode_query, to_ms
from certrepo.domain.errors import InvalidInput, MissingParameter


def sdk_query(values: dict[str, object]) -> str:
    """The raw query string the SDK sends for these request values (Utils.query + compose_url)."""
    request = DaraRequest()
    request.pathname = "/"
    request.query = Utils.query(values)
    request.headers = {"host": "127.0.0.1"}
    return str(urlsplit(DaraCore.compose_url(request)).query)


def sdk_params(values: dict[str, object]) -> Params:
    return Params.from_query(sdk_query(values))


# --- decode_query / construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Name=my+repo", [("Name", "my repo")]),
        ("Name=my%20repo", [("Name", "my repo")]),
        ("Name=%E8%AF%81%E4%B9%A6", [("Name", "证书")]),
        ("Name=&Type=x", [("Name", ""), ("Type", "x")]),
        ("Name", [("Name", "")]),
        ("", []),
    ],
    ids=["plus", "percent-20", "utf8", "empty-value", "no-equals", "empty"],
)
def test_the_query_is_form_decoded(raw: str, expected: list[tuple[str, str]]) -> None:
    assert decode_query(raw) == expected


def test_a_query_that_is_not_utf8_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        decode_query("Name=%FF")


def test_a_query_with_too_many_parameters_is_invalid() -> None:
    raw = "&".join(f"P{i}=1" for i in range(MAX_QUERY_FIELDS + 1))
    with pytest.raises(InvalidInput, match="more than"):
        decode_query(raw)


def test_a_parameter_given_twice_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Name is given more than once"):
        Params.from_query("Name=a&Name=b")


def test_names_lists_every_parameter() -> None:
    params = Params.from_query("b=1&a=2")
    assert params.names() == ["a", "b"]
    assert "a" in params


# --- str ---------------------------------------------------------------------------------------------


def test_a_string_is_returned_as_sent() -> None:
    assert sdk_params({"Name": "证书 a+b/c&d"}).str("Name") == "证书 a+b/c&d"


def test_an_absent_optional_string_is_none() -> None:
    assert Params({}).str("Name") is None


def test_an_empty_optional_string_is_kept() -> None:
    assert sdk_params({"Name": ""}).str("Name") == ""


@pytest.mark.parametrize("values", [{}, {"Cert": ""}], ids=["absent", "empty"])
def test_a_required_string_that_is_absent_or_empty_is_missing(values: dict[str, str]) -> None:
    with pytest.raises(MissingParameter) as caught:
        Params(values).str("Cert", required=True)
    assert caught.value.message == "the parameter Cert is required"
    assert caught.value.details == {"parameter": "Cert"}


def test_a_string_longer_than_max_len_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Name is longer than 64 characters"):
        Params({"Name": "x" * 65}).str("Name", max_len=64)


def test_a_string_of_exactly_max_len_is_accepted() -> None:
    assert Params({"Name": "x" * 64}).str("Name", max_len=64) == "x" * 64


# --- int ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(12, 12), (0, 0), (-3, -3), (2**40, 2**40)])
def test_an_integer_is_parsed(value: int, expected: int) -> None:
    assert sdk_params({"WarehouseId": value}).int("WarehouseId") == expected


@pytest.mark.parametrize(
    "value",
    ["abc", "1.5", "1_000", " 7", "١٢", "0x10", "1e3"],
    ids=["word", "float", "underscore", "space", "arabic-digits", "hex", "exp"],
)
def test_a_value_that_is_not_a_decimal_integer_is_invalid(value: str) -> None:
    with pytest.raises(InvalidInput, match="the parameter ShowSize must be an integer, got") as caught:
        Params({"ShowSize": value}).int("ShowSize")
    assert caught.value.details == {"parameter": "ShowSize"}


def test_an_integer_below_min_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="CurrentPage must be at least 1, got 0"):
        Params({"CurrentPage": "0"}).int("CurrentPage", min=1)


def test_an_integer_above_max_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="ShowSize must be at most 500, got 501"):
        Params({"ShowSize": "501"}).int("ShowSize", max=500)


@pytest.mark.parametrize("values", [{}, {"ShowSize": ""}], ids=["absent", "empty"])
def test_an_absent_or_empty_optional_integer_is_none(values: dict[str, str]) -> None:
    assert Params(values).int("ShowSize") is None


def test_an_absent_required_integer_is_missing() -> None:
    with pytest.raises(MissingParameter, match="WarehouseId"):
        Params({}).int("WarehouseId", required=True)


# --- bool --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("True", True),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("False", False),
        ("false", False),
        ("0", False),
    ],
)
def test_a_boolean_is_parsed_case_insensitively(value: str, expected: bool) -> None:
    assert Params({"CertFilter": value}).bool("CertFilter") is expected


@pytest.mark.parametrize("value", [True, False])
def test_the_sdk_boolean_wire_form_is_parsed(value: bool) -> None:
    assert sdk_params({"CertFilter": value}).bool("CertFilter") is value


def test_an_absent_boolean_takes_the_default() -> None:
    assert Params({}).bool("CertFilter", default=False) is False
    assert Params({}).bool("CertFilter") is None


@pytest.mark.parametrize("value", ["yes", "2", "T"])
def test_a_value_that_is_not_a_boolean_is_invalid(value: str) -> None:
    with pytest.raises(InvalidInput, match="CertFilter must be true or false"):
        Params({"CertFilter": value}).bool("CertFilter")


# --- enum --------------------------------------------------------------------------------------------

MESSAGE_TYPES = ("RAW", "Base64")


@pytest.mark.parametrize(("value", "expected"), [("RAW", "RAW"), ("raw", "RAW"), ("BASE64", "Base64")])
def test_an_enum_matches_case_insensitively_and_returns_the_allowed_spelling(
    value: str, expected: str
) -> None:
    assert Params({"MessageType": value}).enum("MessageType", MESSAGE_TYPES) == expected


def test_a_case_sensitive_enum_refuses_another_case() -> None:
    with pytest.raises(InvalidInput, match="must be one of RAW, Base64, got 'raw'"):
        Params({"MessageType": "raw"}).enum("MessageType", MESSAGE_TYPES, case_insensitive=False)


def test_a_value_outside_the_enum_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="the parameter MessageType must be one of RAW, Base64, got 'HEX'"):
        Params({"MessageType": "HEX"}).enum("MessageType", MESSAGE_TYPES)


def test_an_absent_enum_is_none_unless_required() -> None:
    assert Params({}).enum("MessageType", MESSAGE_TYPES) is None
    with pytest.raises(MissingParameter, match="MessageType"):
        Params({}).enum("MessageType", MESSAGE_TYPES, required=True)


def test_a_long_bad_value_is_shown_only_as_a_prefix() -> None:
    with pytest.raises(InvalidInput) as caught:
        Params({"MessageType": "A" * 1000}).enum("MessageType", MESSAGE_TYPES)
    assert "A" * 41 not in caught.value.message


# --- json_list ---------------------------------------------------------------------------------------


def test_the_sdk_json_shrink_list_is_decoded() -> None:
    shrink = Utils.array_to_string_with_specified_style(["pcaCaCert", "证书"], "WarehouseTypes", "json")
    assert sdk_params({"WarehouseTypes": shrink}).json_list("WarehouseTypes") == ["pcaCaCert", "证书"]


def test_the_flattened_list_form_is_decoded_in_index_order() -> None:
    items = [f"cas-wh-{i}" for i in range(1, 12)]
    params = sdk_params({"WarehouseInstanceIds": items})
    assert "WarehouseInstanceIds.10" in params
    assert params.json_list("WarehouseInstanceIds") == items


def test_an_empty_json_list_is_empty() -> None:
    assert Params({"WarehouseTypes": "[]"}).json_list("WarehouseTypes") == []


@pytest.mark.parametrize("values", [{}, {"WarehouseTypes": ""}], ids=["absent", "empty"])
def test_an_absent_list_is_none(values: dict[str, str]) -> None:
    assert Params(values).json_list("WarehouseTypes") is None


@pytest.mark.parametrize(
    "value",
    ["not json", '{"a": 1}', '"x"', '["a", 1]', "[null]"],
    ids=["text", "object", "string", "int", "null"],
)
def test_a_value_that_is_not_a_json_list_of_strings_is_invalid(value: str) -> None:
    with pytest.raises(InvalidInput, match="WarehouseTypes must be a JSON list of strings"):
        Params({"WarehouseTypes": value}).json_list("WarehouseTypes")


def test_a_list_given_in_both_forms_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="both as JSON and as WarehouseTypes.N"):
        Params({"WarehouseTypes": '["a"]', "WarehouseTypes.1": "b"}).json_list("WarehouseTypes")


@pytest.mark.parametrize("suffix", ["0", "x", "01", "-1"])
def test_a_flattened_item_with_a_bad_index_is_invalid(suffix: str) -> None:
    with pytest.raises(InvalidInput, match=f"WarehouseTypes.{suffix} has an index"):
        Params({f"WarehouseTypes.{suffix}": "a"}).json_list("WarehouseTypes")


# --- tags --------------------------------------------------------------------------------------------


def test_the_sdk_repeat_list_of_tags_is_decoded_in_index_order() -> None:
    tags = [{"Key": f"k{i}", "Value": f"值 {i}"} for i in range(1, 12)]
    params = sdk_params({"Tags": tags})
    assert "Tags.11.Key" in params
    assert params.tags() == [(f"k{i}", f"值 {i}") for i in range(1, 12)]


def test_tags_under_another_name_are_decoded() -> None:
    assert Params({"Label.1.Key": "a", "Label.1.Value": "b"}).tags("Label") == [("a", "b")]


def test_no_tags_is_an_empty_list() -> None:
    assert Params({"Name": "x"}).tags() == []


def test_a_tag_without_value_has_an_empty_value() -> None:
    assert Params({"Tags.1.Key": "env"}).tags() == [("env", "")]


def test_a_tag_value_without_key_is_missing_the_key() -> None:
    with pytest.raises(MissingParameter, match="Tags.2.Key"):
        Params({"Tags.1.Key": "a", "Tags.2.Value": "b"}).tags()


def test_a_tag_with_an_unknown_field_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Tags.1.Name is not Tags.N.Key or Tags.N.Value"):
        Params({"Tags.1.Name": "a"}).tags()


def test_a_tag_with_an_empty_key_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Tags.1.Key must not be empty"):
        Params({"Tags.1.Key": "", "Tags.1.Value": "v"}).tags()


def test_a_repeated_tag_key_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Tags.2.Key repeats the tag key 'env'"):
        Params({"Tags.1.Key": "env", "Tags.2.Key": "env"}).tags()


def test_a_tag_with_a_bad_index_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="Tags.0.Key has an index"):
        Params({"Tags.0.Key": "env"}).tags()


# --- timestamps and to_ms ----------------------------------------------------------------------------


def test_a_millisecond_timestamp_is_decoded_as_aware_utc() -> None:
    decoded = sdk_params({"EndTime": 1665819958123}).timestamp_ms("EndTime")
    assert decoded == datetime.fromtimestamp(1665819958, UTC) + timedelta(milliseconds=123)
    assert decoded is not None and decoded.utcoffset() == timedelta(0)


def test_a_second_timestamp_is_decoded_as_aware_utc() -> None:
    decoded = sdk_params({"BeforeTime": 1665819958}).timestamp_s("BeforeTime")
    assert decoded == datetime.fromtimestamp(1665819958, UTC)


def test_an_absent_timestamp_is_none_unless_required() -> None:
    assert Params({}).timestamp_ms("EndTime") is None
    with pytest.raises(MissingParameter, match="AfterTime"):
        Params({}).timestamp_s("AfterTime", required=True)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("-1", "non-negative"), ("abc", "must be an integer"), ("9" * 20, "out of range"), ("1.5", "integer")],
    ids=["negative", "word", "overflow", "fraction"],
)
def test_a_bad_timestamp_is_invalid(value: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        Params({"AfterTime": value}).timestamp_s("AfterTime")


def test_to_ms_counts_milliseconds_since_the_epoch() -> None:
    moment = datetime(2022, 10, 15, 7, 45, 58, 123999, tzinfo=UTC)
    assert to_ms(moment) == int(datetime(2022, 10, 15, 7, 45, 58, tzinfo=UTC).timestamp()) * 1000 + 123


def test_to_ms_takes_the_offset_into_account() -> None:
    moment = datetime(2022, 10, 15, 15, 45, 58, tzinfo=timezone(timedelta(hours=8)))
    assert to_ms(moment) == to_ms(datetime(2022, 10, 15, 7, 45, 58, tzinfo=UTC))


def test_to_ms_round_trips_through_timestamp_ms() -> None:
    assert Params({"EndTime": str(to_ms(datetime(2030, 1, 1, tzinfo=UTC)))}).timestamp_ms(
        "EndTime"
    ) == datetime(2030, 1, 1, tzinfo=UTC)


def test_to_ms_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ms(datetime(2022, 1, 1))  # a naive value on purpose
