"""The BER/DER TLV reader and writer: tags, lengths, truncation and every refusal."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keymanager.dkek.tlv import (
    MAX_LENGTH_OCTETS,
    Tlv,
    TlvError,
    encode_length,
    encode_tag,
    encode_tlv,
    format_tag,
    is_constructed,
    iter_tlvs,
    read_length,
    read_tag,
    read_tlv,
    tlv_end,
)


def test_reads_a_single_byte_tag_with_short_length() -> None:
    element = read_tlv(bytes.fromhex("0403aabbcc"))
    assert element == Tlv(b"\x04", bytes.fromhex("aabbcc"), 5)
    tag, value, next_offset = element  # unpacks as a plain triple
    assert (tag, value, next_offset) == (b"\x04", bytes.fromhex("aabbcc"), 5)


@pytest.mark.parametrize(
    ("encoded", "tag", "value"),
    [
        ("5f290100", "5f29", "00"),
        ("7f4903860101", "7f49", "860101"),
        ("5f2010" + "41" * 16, "5f20", "41" * 16),
        ("9f81020101", "9f8102", "01"),
        ("bf8480010100", "bf848001", "00"),
    ],
)
def test_reads_multi_byte_tags(encoded: str, tag: str, value: str) -> None:
    element = read_tlv(bytes.fromhex(encoded))
    assert element.tag == bytes.fromhex(tag)
    assert element.value == bytes.fromhex(value)
    assert element.next_offset == len(bytes.fromhex(encoded))


def test_reads_at_an_offset_and_leaves_trailing_bytes() -> None:
    data = bytes.fromhex("ff ff 04 02 0102 dead")
    element = read_tlv(data, 2)
    assert element.value == b"\x01\x02"
    assert element.next_offset == 6
    assert data[element.next_offset :] == bytes.fromhex("dead")
    assert tlv_end(data, 2) == 6


@pytest.mark.parametrize(
    ("encoded", "length", "end"),
    [
        ("00", 0, 1),
        ("7f", 127, 1),
        ("8180", 128, 2),
        ("81ff", 255, 2),
        ("820100", 256, 3),
        ("83010000", 65536, 4),
        ("84ffffffff", 0xFFFFFFFF, 5),
    ],
)
def test_reads_minimal_lengths(encoded: str, length: int, end: int) -> None:
    assert read_length(bytes.fromhex(encoded), 0) == (length, end)
    assert read_length(bytes.fromhex(encoded), 0, der=True) == (length, end)


@pytest.mark.parametrize(
    ("encoded", "length"), [("8105", 5), ("820010", 16), ("8400000003", 3), ("8200ff", 255)]
)
def test_non_minimal_long_form_lengths_are_accepted_as_ber_but_not_der(
    encoded: str, length: int
) -> None:
    data = bytes.fromhex(encoded)
    assert read_length(data, 0) == (length, len(data))
    with pytest.raises(TlvError, match="not minimally encoded"):
        read_length(data, 0, der=True)


def test_non_minimal_lengths_inside_a_tlv() -> None:
    element = read_tlv(bytes.fromhex("04820003 010203"))
    assert element.value == bytes.fromhex("010203")
    with pytest.raises(TlvError):
        read_tlv(bytes.fromhex("04820003 010203"), der=True)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("", "data ends"),
        ("00", "end-of-contents or padding"),
        ("04", "length was expected"),
        ("0480", "indefinite length"),
        ("04ff", "reserved"),
        ("048501000000000000", "length overflow"),
        ("0482", "cut off"),
        ("048201", "cut off"),
        ("040301", "truncated"),
        ("04820100" + "00" * 255, "truncated"),
        ("5f", "cut off"),
        ("7f81", "cut off"),
        ("7f8181818101", "longer than 4 bytes"),
    ],
)
def test_refusals_name_the_fault(encoded: str, message: str) -> None:
    with pytest.raises(TlvError, match=message):
        read_tlv(bytes.fromhex(encoded))


def test_tlv_error_is_a_value_error() -> None:
    assert issubclass(TlvError, ValueError)


def test_der_refuses_non_minimal_tags() -> None:
    assert read_tag(bytes.fromhex("1f05"), 0) == (bytes.fromhex("1f05"), 2)
    with pytest.raises(TlvError, match="fits in one byte"):
        read_tag(bytes.fromhex("1f05"), 0, der=True)
    with pytest.raises(TlvError, match="not minimally encoded"):
        read_tag(bytes.fromhex("1f8001"), 0, der=True)


def test_iter_tlvs_reads_a_constructed_value_and_refuses_leftovers() -> None:
    content = bytes.fromhex("0101ff 0400 5f290100")
    elements = list(iter_tlvs(content))
    assert [element.tag for element in elements] == [b"\x01", b"\x04", bytes.fromhex("5f29")]
    assert [element.value for element in elements] == [b"\xff", b"", b"\x00"]
    assert list(iter_tlvs(b"")) == []
    with pytest.raises(TlvError, match="truncated"):
        list(iter_tlvs(content + bytes.fromhex("0405")))


def test_is_constructed_and_format_tag() -> None:
    assert is_constructed(b"\x30")
    assert is_constructed(bytes.fromhex("7f49"))
    assert is_constructed(b"\xa0")
    assert not is_constructed(b"\x04")
    assert not is_constructed(bytes.fromhex("5f29"))
    assert not is_constructed(b"")
    assert format_tag(bytes.fromhex("7f49")) == "7F49"


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8180"),
        (255, "81ff"),
        (256, "820100"),
        (65535, "82ffff"),
        (65536, "83010000"),
    ],
)
def test_encode_length_is_minimal(length: int, encoded: str) -> None:
    assert encode_length(length) == bytes.fromhex(encoded)


def test_encode_length_refuses_negative_and_huge() -> None:
    with pytest.raises(TlvError):
        encode_length(-1)
    with pytest.raises(TlvError, match="too large"):
        encode_length(1 << (8 * MAX_LENGTH_OCTETS))


@pytest.mark.parametrize(
    ("tag", "encoded"),
    [(0x30, "30"), (0x7F49, "7f49"), (0x5F29, "5f29"), (b"\x67", "67"), (0x9F8102, "9f8102")],
)
def test_encode_tag_accepts_ints_and_bytes(tag: int | bytes, encoded: str) -> None:
    assert encode_tag(tag) == bytes.fromhex(encoded)


@pytest.mark.parametrize("tag", [0, -1, b"", b"\x5f", b"\x30\x30", b"\x7f\x81", 0x3030])
def test_encode_tag_refuses_what_is_not_one_tag(tag: int | bytes) -> None:
    with pytest.raises(TlvError):
        encode_tag(tag)


def test_encode_tlv_examples() -> None:
    assert encode_tlv(0x04, b"") == bytes.fromhex("0400")
    assert encode_tlv(0x7F49, b"\x01") == bytes.fromhex("7f490101")
    assert encode_tlv(b"\x30", bytes(200)) == bytes.fromhex("3081c8") + bytes(200)
    assert encode_tlv(0x04, bytearray(b"ab")) == b"\x04\x02ab"


tags = st.sampled_from(
    [b"\x04", b"\x30", b"\x67", b"\xa0", b"\x5f\x29", b"\x7f\x49", b"\x9f\x81\x02"]
)


@given(tags, st.binary(max_size=70000))
def test_encode_then_read_round_trips(tag: bytes, value: bytes) -> None:
    encoded = encode_tlv(tag, value)
    assert read_tlv(encoded, der=True) == Tlv(tag, value, len(encoded))
    for cut in (len(encoded) - 1, len(tag), len(tag) + 1):
        if cut < len(encoded):
            with pytest.raises(TlvError):
                read_tlv(encoded[:cut])


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=6))
def test_iter_tlvs_round_trips_a_sequence(items: list[tuple[bytes, bytes]]) -> None:
    content = b"".join(encode_tlv(tag, value) for tag, value in items)
    assert [(element.tag, element.value) for element in iter_tlvs(content)] == items


@given(st.binary(max_size=40))
def test_arbitrary_bytes_never_raise_anything_but_tlv_error(data: bytes) -> None:
    with contextlib.suppress(TlvError):
        list(iter_tlvs(data))
