"""The records' helpers: one look-up of a header by name, one decoding rule."""

from __future__ import annotations

from whrelay.core.models import (
    RawHeaders,
    decode_header,
    encode_header,
    first_values,
    header_value,
    header_values,
)
from whrelay.signatures import Message

RAW: RawHeaders = (
    (b"Content-Type", b"application/json"),
    (b"X-Note", b"caf\xc3\xa9"),  # UTF-8
    (b"x-note", b"caf\xe9 \xff"),  # not UTF-8
    (b"X-NOTE", b""),
)


def test_a_header_is_looked_up_by_name_in_any_case_with_every_value_in_order() -> None:
    assert header_values(RAW, "x-note") == ["café", "caf\udce9 \udcff", ""]
    assert header_values(RAW, "X-Note") == header_values(RAW, "X-NOTE")
    assert header_value(RAW, "CONTENT-TYPE") == "application/json"
    assert header_value(RAW, "x-missing") is None
    assert header_values(RAW, "x-missing") == []


def test_the_decoding_rule_gives_back_the_bytes_received() -> None:
    for name, value in RAW:
        assert encode_header(decode_header(name)) == name
        assert encode_header(decode_header(value)) == value
    assert [encode_header(v) for v in header_values(RAW, "x-note")] == [
        value for name, value in RAW if name.lower() == b"x-note"
    ]


def test_decoded_pairs_are_looked_up_by_the_same_rule_as_raw_ones() -> None:
    text = tuple((decode_header(k), decode_header(v)) for k, v in RAW)
    for name in ("x-note", "Content-Type", "absent"):
        assert header_values(text, name) == header_values(RAW, name)
    message = Message(b"{}", text)
    assert message.header("X-Note") == header_value(RAW, "x-note") == "café"


def test_first_values_index_each_name_once_with_its_first_value() -> None:
    index = first_values(RAW)
    assert index == {b"content-type": b"application/json", b"x-note": b"caf\xc3\xa9"}
    assert decode_header(index[b"x-note"]) == header_value(RAW, "x-note")
