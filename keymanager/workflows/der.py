"""A small DER writer: just what a PKCS#10 certificate request needs.

:mod:`cryptography` builds certificate requests only when it holds the private key;
the key of a certificate request made here stays on the card, so the
``CertificationRequestInfo`` and the finished request are put together from these
pieces (the subject, the public key and the extensions come DER-encoded from
:mod:`cryptography`).  Lengths are minimal (DER) via :func:`keymanager.dkek.tlv.encode_tlv`.
"""

from __future__ import annotations

from collections.abc import Iterable

from keymanager.card.pkcs15 import encode_oid
from keymanager.dkek.tlv import encode_tlv

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_SEQUENCE = 0x30
TAG_SET = 0x31
TAG_CONTEXT_CONSTRUCTED_0 = 0xA0


def integer(value: int) -> bytes:
    """An INTEGER (two's complement, minimal content octets)."""
    length = max(1, (value.bit_length() + 8) // 8)
    return encode_tlv(TAG_INTEGER, value.to_bytes(length, "big", signed=True))


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (``"1.2.840.113549.1.9.14"``)."""
    return encode_tlv(TAG_OID, encode_oid(dotted))


def null() -> bytes:
    """NULL."""
    return encode_tlv(TAG_NULL, b"")


def boolean(value: bool) -> bytes:
    """A BOOLEAN (DER: ``FF`` for true)."""
    return encode_tlv(TAG_BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(value: bytes) -> bytes:
    """An OCTET STRING."""
    return encode_tlv(TAG_OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    """A BIT STRING of whole bytes (no unused bits)."""
    return encode_tlv(TAG_BIT_STRING, b"\x00" + value)


def sequence(*elements: bytes) -> bytes:
    """A SEQUENCE of already encoded elements, in the order given."""
    return encode_tlv(TAG_SEQUENCE, b"".join(elements))


def set_of(elements: Iterable[bytes]) -> bytes:
    """A SET OF: DER sorts the encoded elements."""
    return encode_tlv(TAG_SET, b"".join(sorted(elements)))


def context_constructed(number: int, content: bytes) -> bytes:
    """``[number]`` IMPLICIT, constructed (``A0`` + number), around encoded content."""
    if not 0 <= number <= 30:
        raise ValueError("context tag numbers 0 to 30 only")
    return encode_tlv(TAG_CONTEXT_CONSTRUCTED_0 + number, content)
