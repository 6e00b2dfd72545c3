"""A small, strict BER/DER tag-length-value reader and writer.

Used for the key backup container (``.wky``) and, later, for card data (FCPs,
CV certificates, PKCS#15 descriptions), so it handles what those contain:

* tags of one byte (``30``, ``04``, ``67``) and of several bytes (``5F29``, ``7F49``):
  when the low five bits of the first byte are all set, further bytes follow while
  their top bit is set;
* definite lengths in short form (``00`` to ``7F``) and long form (``81 xx`` up to
  ``84 xx xx xx xx``).  Long forms that are not minimal (``81 05``, ``82 00 10``) are
  accepted by default, as BER allows and as older tools wrote; ``der=True`` refuses
  them.

Everything else is refused with a :class:`TlvError` that says what and where:
indefinite lengths (``80``), the reserved length byte ``FF``, lengths of more than
four bytes, a tag that runs off the end, a value longer than the data left, and the
end-of-contents / padding byte ``00`` where a tag should start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

MAX_TAG_LENGTH = 4
"""Longest tag accepted, in bytes (ISO/IEC 7816-4 uses at most three)."""

MAX_LENGTH_OCTETS = 4
"""Most length bytes accepted after a long-form length byte (values up to 4 GiB)."""

_CONSTRUCTED = 0x20
_MULTI_BYTE_TAG = 0x1F
_MORE_TAG_BYTES = 0x80
_LONG_FORM = 0x80

Buffer = bytes | bytearray | memoryview


class TlvError(ValueError):
    """The data is not a well-formed TLV (or sequence of TLVs); the message says why."""


class Tlv(NamedTuple):
    """One TLV read from a buffer: its tag bytes, its value, and the offset just after it."""

    tag: bytes
    value: bytes
    next_offset: int


def format_tag(tag: bytes) -> str:
    """Format tag bytes the usual way, e.g. ``7F49``."""
    return tag.hex().upper()


def is_constructed(tag: bytes) -> bool:
    """Whether the tag marks a constructed encoding (its value is itself TLVs)."""
    return bool(tag) and bool(tag[0] & _CONSTRUCTED)


def read_tag(data: Buffer, offset: int = 0, *, der: bool = False) -> tuple[bytes, int]:
    """Read the tag starting at ``offset``; return it and the offset after it.

    :param der: also refuse non-minimal multi-byte tags (a leading ``80`` byte, or a
        tag number below 31 in multi-byte form).
    :raises TlvError: no tag there, a padding byte ``00``, or the tag is cut off.
    """
    view = memoryview(data)
    if offset >= len(view):
        raise TlvError(f"a tag was expected at offset {offset}, but the data ends there")
    first = view[offset]
    if first == 0x00:
        raise TlvError(f"byte 00 (end-of-contents or padding) at offset {offset} is not a tag")
    end = offset + 1
    if first & _MULTI_BYTE_TAG == _MULTI_BYTE_TAG:
        tag_number = 0
        while True:
            if end >= len(view):
                raise TlvError(f"the multi-byte tag at offset {offset} is cut off")
            if end - offset >= MAX_TAG_LENGTH:
                raise TlvError(f"the tag at offset {offset} is longer than {MAX_TAG_LENGTH} bytes")
            byte = view[end]
            if der and end == offset + 1 and byte == _MORE_TAG_BYTES:
                raise TlvError(f"the tag at offset {offset} is not minimally encoded")
            tag_number = (tag_number << 7) | (byte & 0x7F)
            end += 1
            if not byte & _MORE_TAG_BYTES:
                break
        if der and tag_number < _MULTI_BYTE_TAG:
            raise TlvError(
                f"the tag at offset {offset} uses the multi-byte form for tag number "
                f"{tag_number}, which fits in one byte"
            )
    return bytes(view[offset:end]), end


def read_length(data: Buffer, offset: int, *, der: bool = False) -> tuple[int, int]:
    """Read a definite length at ``offset``; return it and the offset after it.

    :param der: refuse non-minimal long forms.
    :raises TlvError: indefinite, reserved, too long, or cut-off length.
    """
    view = memoryview(data)
    if offset >= len(view):
        raise TlvError(f"a length was expected at offset {offset}, but the data ends there")
    first = view[offset]
    if first < _LONG_FORM:
        return first, offset + 1
    octets = first & 0x7F
    if octets == 0:
        raise TlvError(f"indefinite length (80) at offset {offset} is not supported")
    if first == 0xFF:
        raise TlvError(f"the length byte FF at offset {offset} is reserved")
    if octets > MAX_LENGTH_OCTETS:
        raise TlvError(
            f"the length at offset {offset} has {octets} length bytes; "
            f"at most {MAX_LENGTH_OCTETS} are supported (length overflow)"
        )
    end = offset + 1 + octets
    if end > len(view):
        raise TlvError(f"the {octets}-byte length at offset {offset} is cut off")
    length = int.from_bytes(view[offset + 1 : end], "big")
    if der and (length < _LONG_FORM or view[offset + 1] == 0):
        raise TlvError(f"the length at offset {offset} is not minimally encoded (DER)")
    return length, end


def read_tlv(data: Buffer, offset: int = 0, *, der: bool = False) -> Tlv:
    """Read one complete TLV starting at ``offset``.

    Bytes after the TLV are left alone; ``next_offset`` says where they start.

    :param der: refuse non-minimal tags and lengths.
    :raises TlvError: the TLV is malformed or does not fit in ``data``.
    """
    view = memoryview(data)
    tag, value_offset = read_tag(view, offset, der=der)
    length, value_offset = read_length(view, value_offset, der=der)
    end = value_offset + length
    if end > len(view):
        raise TlvError(
            f"the value of tag {format_tag(tag)} at offset {offset} needs {length} bytes, "
            f"but only {len(view) - value_offset} remain (truncated)"
        )
    return Tlv(tag, bytes(view[value_offset:end]), end)


def iter_tlvs(data: Buffer, *, der: bool = False) -> Iterator[Tlv]:
    """Iterate over consecutive TLVs that must fill ``data`` exactly (e.g. a constructed value).

    :raises TlvError: one of them is malformed or runs past the end.
    """
    offset = 0
    while offset < len(data):
        element = read_tlv(data, offset, der=der)
        yield element
        offset = element.next_offset


def tlv_end(data: Buffer, offset: int = 0, *, der: bool = False) -> int:
    """The offset just after the complete TLV that starts at ``offset`` (for slicing raw TLVs)."""
    return read_tlv(data, offset, der=der).next_offset


def encode_tag(tag: int | bytes) -> bytes:
    """Turn a tag given as bytes or as an integer (``0x7F49``) into its bytes, checking it.

    :raises TlvError: the value is not exactly one well-formed tag.
    """
    if isinstance(tag, int):
        if tag <= 0:
            raise TlvError(f"{tag} is not a valid tag")
        encoded = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    else:
        encoded = bytes(tag)
    parsed, end = read_tag(encoded, 0)
    if end != len(encoded):
        raise TlvError(f"{format_tag(encoded)} is not a single tag")
    return parsed


def encode_length(length: int) -> bytes:
    """Encode a length in minimal DER form."""
    if length < 0:
        raise TlvError("a length cannot be negative")
    if length < _LONG_FORM:
        return bytes([length])
    octets = (length.bit_length() + 7) // 8
    if octets > MAX_LENGTH_OCTETS:
        raise TlvError(f"a length of {length} bytes is too large to encode")
    return bytes([_LONG_FORM | octets]) + length.to_bytes(octets, "big")


def encode_tlv(tag: int | bytes, value: Buffer) -> bytes:
    """Encode one TLV with a minimal (DER) length."""
    value_bytes = bytes(value)
    return encode_tag(tag) + encode_length(len(value_bytes)) + value_bytes
