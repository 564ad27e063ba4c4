"""Wire messages: RAW / BASE64 / DIGEST decoding, the RAW size limit, BLIND, base64 fields."""

from __future__ import annotations

import base64

import pytest

from certrepo.crypto.messages import (
    Message,
    MessageType,
    decode_base64_field,
    decode_message,
    encode_message,
)
from certrepo.domain.errors import InvalidInput, MessageTooLarge, Unsupported


@pytest.mark.parametrize("spelling", ["RAW", "raw", "Raw", " RAW "], ids=str.strip)
def test_message_type_parses_case_insensitively(spelling: str) -> None:
    assert MessageType.parse(spelling) is MessageType.RAW


def test_message_type_base64_accepts_alibabas_spelling() -> None:
    assert MessageType.parse("Base64") is MessageType.BASE64


def test_unknown_message_type_is_invalid_input_listing_the_types() -> None:
    with pytest.raises(InvalidInput, match="RAW, BASE64, DIGEST") as caught:
        decode_message("x", "HEX")
    assert caught.value.details["field"] == "message_type"


def test_raw_message_is_its_utf8_bytes() -> None:
    assert decode_message("héllo", "RAW") == Message("héllo".encode(), is_digest=False)


def test_raw_message_of_4095_bytes_is_accepted() -> None:
    assert len(decode_message("a" * 4095, "RAW").data) == 4095


def test_raw_message_of_4096_bytes_is_refused_pointing_to_digest() -> None:
    with pytest.raises(MessageTooLarge, match="DIGEST") as caught:
        decode_message("a" * 4096, "RAW")
    assert caught.value.details == {"limit_bytes": 4095, "size_bytes": 4096}


def test_raw_limit_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(MessageTooLarge):
        decode_message("é" * 2048, "RAW")  # 2048 characters, 4096 bytes


def test_raw_text_with_a_lone_surrogate_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        decode_message("\ud800", "RAW")


def test_base64_message_decodes_to_its_bytes() -> None:
    data = bytes(range(256))
    assert decode_message(base64.b64encode(data).decode(), "BASE64") == Message(data)


def test_base64_message_may_be_wrapped_over_lines() -> None:
    text = base64.b64encode(b"x" * 100).decode()
    wrapped = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    assert decode_message(wrapped, "BASE64").data == b"x" * 100


@pytest.mark.parametrize(
    "text", ["not base64!", "YWJj*", "YWJjZA"], ids=["punctuation", "star", "no-padding"]
)
def test_invalid_base64_message_is_invalid_input_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput, match="message is not valid base64"):
        decode_message(text, "BASE64")


def test_digest_message_is_marked_as_a_digest() -> None:
    digest = bytes(32)
    assert decode_message(base64.b64encode(digest).decode(), "DIGEST") == Message(digest, is_digest=True)


def test_blind_message_type_is_unsupported() -> None:
    with pytest.raises(Unsupported, match="BLIND"):
        decode_message("anything", "BLIND")


def test_message_repr_does_not_show_the_contents() -> None:
    assert "secret" not in repr(Message(b"secret"))


def test_decode_base64_field_names_the_field_in_its_error() -> None:
    with pytest.raises(InvalidInput, match="signature is not valid base64") as caught:
        decode_base64_field("%%%", "signature")
    assert caught.value.details == {"field": "signature"}


@pytest.mark.parametrize(
    ("message_type", "expected"), [("RAW", "héllo"), ("BASE64", "aMOpbGxv")], ids=["raw", "base64"]
)
def test_encode_message_renders_bytes_as_asked(message_type: str, expected: str) -> None:
    assert encode_message("héllo".encode(), message_type) == expected


def test_encode_message_refuses_raw_for_bytes_that_are_not_utf8() -> None:
    with pytest.raises(InvalidInput, match="BASE64"):
        encode_message(b"\xff\xfe", "RAW")
