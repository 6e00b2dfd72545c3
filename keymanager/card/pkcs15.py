"""The PKCS#15 metadata a SmartCard-HSM keeps beside its keys, byte-compatible with OpenSC.

Pure encoding and decoding, no I/O.  The card stores one description per file:

========  ==========================================================================
``C4xx``  private-key description (PRKD) of key ``CCxx``: :class:`PrivateKeyDescription`
``C8xx``  certificate description (CD) of the CA certificate in ``CAxx``:
          :class:`CertificateDescription`
``C9xx``  data-object description (DCOD) of ``CDxx`` / ``CFxx``:
          :class:`DataObjectDescription`
``2F03``  EF.TokenInfo (token label): :class:`TokenInfo`
========  ==========================================================================

Encoding follows OpenSC exactly (``sc_pkcs15_encode_prkdf_entry``,
``sc_pkcs15_encode_cdf_entry``, ``sc_pkcs15_encode_dodf_entry``,
``sc_pkcs15_encode_tokeninfo`` and ``asn1.c``):

* optional fields are left out when empty or zero (label, object flags, authId,
  userConsent, accessFlags), ``native`` is written only when false, the key
  reference only when known;
* flag fields are BIT STRINGs written as OpenSC's ``encode_bit_field`` does: as
  few bits as the highest set flag needs, PKCS#15 bit 0 in the most significant bit
  of the first byte (so *sign*, bit 2, is ``03 02 05 20``);
* INTEGERs are DER-minimal (a key reference of ``0x85`` is ``02 02 00 85``);
* the key path is empty (``30 02 04 00``), because OpenSC strips the AID.

The AES form (outer tag ``A8``) is the one CardContact's sc-hsm-embedded writes:
CommonKeyAttributes with a fixed 10-bit usage BIT STRING (``03 03 06 xx xx``) and the
key length in ``A0 { 30 { 02 bits } }``, no ``A1``.

Decoding is as tolerant as OpenSC's and sc-hsm-embedded's readers: every optional
field may be missing (old Smart Card Shell PRKDs carry neither flags nor an authId),
unknown fields are skipped, bytes after the first TLV of a file are ignored, a
missing key size reads as 2048 and an EC field size of 528 (what some tools write
for secp521r1) as 521.  Anything structurally wrong raises :class:`Pkcs15Error`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntFlag, StrEnum

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import MalformedResponse
from keymanager.dkek.tlv import Tlv, TlvError, encode_tlv, iter_tlvs, read_tlv

# --- ASN.1 tags ---------------------------------------------------------------------

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_UTF8_STRING = 0x0C
TAG_SEQUENCE = 0x30
TAG_CONTEXT_0 = 0x80
TAG_CONTEXT_CONS_0 = 0xA0
TAG_CONTEXT_CONS_1 = 0xA1
TAG_SECRET_KEY = 0xA8

MAX_LABEL_BYTES = 255
"""OpenSC keeps labels in a 255-byte buffer; longer labels are refused when encoding."""

MAX_ID_BYTES = 255
"""Longest PKCS#15 ID accepted when encoding (OpenSC's ``SC_PKCS15_MAX_ID_SIZE``)."""

DEFAULT_KEY_SIZE = 2048
"""Key size reported for a description that carries none (as sc-hsm-embedded does)."""

USER_PIN_AUTH_ID = b"\x01"
"""The authId OpenSC writes for keys protected by the user PIN."""

_MAX_INTEGER_BYTES = 4
_SECRET_KEY_USAGE_BITS = 10


class Pkcs15Error(MalformedResponse, ValueError):
    """A PKCS#15 structure is malformed (or a value cannot be encoded); the text says why."""


# --- flags ---------------------------------------------------------------------------


class KeyUsage(IntFlag):
    """PKCS#15 ``KeyUsageFlags``; the value of each member is ``1 << bit number``."""

    ENCRYPT = 1 << 0
    DECRYPT = 1 << 1
    SIGN = 1 << 2
    SIGN_RECOVER = 1 << 3
    WRAP = 1 << 4
    UNWRAP = 1 << 5
    VERIFY = 1 << 6
    VERIFY_RECOVER = 1 << 7
    DERIVE = 1 << 8
    NON_REPUDIATION = 1 << 9


class AccessFlags(IntFlag):
    """PKCS#15 ``KeyAccessFlags``."""

    SENSITIVE = 1 << 0
    EXTRACTABLE = 1 << 1
    ALWAYS_SENSITIVE = 1 << 2
    NEVER_EXTRACTABLE = 1 << 3
    LOCAL = 1 << 4


class ObjectFlags(IntFlag):
    """PKCS#15 ``CommonObjectFlags``."""

    PRIVATE = 1 << 0
    MODIFIABLE = 1 << 1


class TokenFlags(IntFlag):
    """PKCS#15 ``TokenFlags`` of EF.TokenInfo."""

    READ_ONLY = 1 << 0
    LOGIN_REQUIRED = 1 << 1
    PRN_GENERATION = 1 << 2
    EID_COMPLIANT = 1 << 3


GENERATED_KEY_ACCESS = (
    AccessFlags.SENSITIVE
    | AccessFlags.ALWAYS_SENSITIVE
    | AccessFlags.NEVER_EXTRACTABLE
    | AccessFlags.LOCAL
)
"""What OpenSC writes for a key generated on the card: ``03 02 03 B8``."""

PRIVATE_KEY_FLAGS = ObjectFlags.PRIVATE | ObjectFlags.MODIFIABLE
"""OpenSC's object flags for private keys: ``03 02 06 C0``."""

NO_USAGE = KeyUsage(0)
NO_ACCESS_FLAGS = AccessFlags(0)
NO_OBJECT_FLAGS = ObjectFlags(0)


class KeyKind(StrEnum):
    """The kind of key a description is for, told apart by the outer tag."""

    RSA = "RSA"
    EC = "EC"
    AES = "AES"

    @property
    def tag(self) -> int:
        """The outer tag: ``30`` privateRSAKey, ``A0`` privateECCKey, ``A8`` secret key."""
        return _KIND_TAGS[self]


_KIND_TAGS = {
    KeyKind.RSA: TAG_SEQUENCE,
    KeyKind.EC: TAG_CONTEXT_CONS_0,
    KeyKind.AES: TAG_SECRET_KEY,
}
_TAG_KINDS = {tag: kind for kind, tag in _KIND_TAGS.items()}


# --- primitive encoders and decoders -------------------------------------------------


def encode_bit_field(value: int) -> bytes:
    """The value of a BIT STRING holding ``value`` as OpenSC's ``encode_bit_field`` writes it.

    Bit ``n`` of ``value`` is bit ``n`` of the string (PKCS#15 numbering: bit 0 is the
    most significant bit of the first byte); the string is as long as the highest set
    bit needs, so 0 is ``00`` and *sign* is ``05 20``.
    """
    if value < 0:
        raise Pkcs15Error("a flag field cannot be negative")
    bits = value.bit_length()
    return _bit_string_value(value, bits)


def encode_fixed_bit_field(value: int, bits: int) -> bytes:
    """A BIT STRING value of exactly ``bits`` bits (sc-hsm-embedded's fixed-width form)."""
    if value < 0 or value.bit_length() > bits:
        raise Pkcs15Error(f"the flags do not fit in {bits} bits")
    return _bit_string_value(value, bits)


def _bit_string_value(value: int, bits: int) -> bytes:
    out = bytearray([(-bits) % 8])
    for start in range(0, bits, 8):
        chunk = (value >> start) & 0xFF
        reversed_byte = 0
        for bit in range(min(8, bits - start)):
            reversed_byte |= ((chunk >> bit) & 1) << (7 - bit)
        out.append(reversed_byte)
    return bytes(out)


def decode_bit_field(value: bytes) -> int:
    """The flags in a BIT STRING value (unused-bits byte, then the bits).

    :raises Pkcs15Error: empty, an unused-bits count above 7, or unused bits without
        any byte to hold them.
    """
    if not value:
        raise Pkcs15Error("a BIT STRING has no unused-bits byte")
    unused = value[0]
    if unused > 7:
        raise Pkcs15Error(f"a BIT STRING claims {unused} unused bits (at most 7)")
    if unused and len(value) == 1:
        raise Pkcs15Error("an empty BIT STRING cannot have unused bits")
    result = 0
    octets = value[1:]
    for index, octet in enumerate(octets):
        used = 8 - unused if index == len(octets) - 1 else 8
        for bit in range(used):
            if octet & (0x80 >> bit):
                result |= 1 << (index * 8 + bit)
    return result


def encode_integer(value: int) -> bytes:
    """The content octets of a DER INTEGER (two's complement, minimal)."""
    length = max(1, (value.bit_length() + 8) // 8)
    return value.to_bytes(length, "big", signed=True)


def decode_integer(value: bytes, what: str) -> int:
    """A signed INTEGER of at most four content bytes, as OpenSC reads it."""
    if not value:
        raise Pkcs15Error(f"the {what} INTEGER is empty")
    if len(value) > _MAX_INTEGER_BYTES:
        raise Pkcs15Error(f"the {what} INTEGER has {len(value)} bytes (at most 4 expected)")
    return int.from_bytes(value, "big", signed=True)


def encode_oid(dotted: str) -> bytes:
    """The content octets of an OBJECT IDENTIFIER given as ``"1.2.840..."``."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise Pkcs15Error(f"{dotted!r} is not an object identifier") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise Pkcs15Error(f"{dotted!r} is not an object identifier")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def decode_oid(value: bytes) -> str:
    """The dotted form of OBJECT IDENTIFIER content octets."""
    if not value or value[-1] & 0x80:
        raise Pkcs15Error("an OBJECT IDENTIFIER is empty or cut off")
    arcs: list[int] = []
    current = 0
    for octet in value:
        if current == 0 and octet == 0x80:
            raise Pkcs15Error("an OBJECT IDENTIFIER arc is not minimally encoded")
        current = (current << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(current)
            current = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in [*head, *arcs[1:]])


def _tlv(tag: int, value: bytes) -> bytes:
    return encode_tlv(tag, value)


def _label_bytes(label: str) -> bytes:
    encoded = label.encode("utf-8")
    if len(encoded) > MAX_LABEL_BYTES:
        raise Pkcs15Error(f"the label is {len(encoded)} bytes long; at most 255 fit")
    return encoded


def _check_id(identifier: bytes) -> bytes:
    if len(identifier) > MAX_ID_BYTES:
        raise Pkcs15Error(f"the ID is {len(identifier)} bytes long; at most 255 fit")
    return bytes(identifier)


def _first_tlv(data: bytes, what: str) -> Tlv:
    """The first complete TLV of a file (bytes after it are ignored, as OpenSC does)."""
    try:
        return read_tlv(data)
    except TlvError as error:
        raise Pkcs15Error(f"the {what} is not a well-formed TLV: {error}") from None


def _children(value: bytes, what: str) -> list[Tlv]:
    try:
        return list(iter_tlvs(value))
    except TlvError as error:
        raise Pkcs15Error(f"the {what} is malformed: {error}") from None


def _single_tag(element: Tlv) -> int:
    return element.tag[0] if len(element.tag) == 1 else -1


def _expect_sequence(element: Tlv | None, what: str) -> list[Tlv]:
    if element is None:
        raise Pkcs15Error(f"the {what} is missing")
    if _single_tag(element) != TAG_SEQUENCE:
        raise Pkcs15Error(f"the {what} has tag {element.tag.hex().upper()}, expected 30")
    return _children(element.value, what)


def _decode_label(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


# --- CommonObjectAttributes ----------------------------------------------------------


@dataclass(frozen=True)
class _CommonObject:
    label: str = ""
    flags: ObjectFlags = NO_OBJECT_FLAGS
    auth_id: bytes | None = None
    user_consent: int | None = None


def _encode_common_object(common: _CommonObject) -> bytes:
    parts = bytearray()
    label = _label_bytes(common.label)
    if label:
        parts += _tlv(TAG_UTF8_STRING, label)
    if common.flags:
        parts += _tlv(TAG_BIT_STRING, encode_bit_field(int(common.flags)))
    if common.auth_id:
        parts += _tlv(TAG_OCTET_STRING, _check_id(common.auth_id))
    if common.user_consent:
        parts += _tlv(TAG_INTEGER, encode_integer(common.user_consent))
    return _tlv(TAG_SEQUENCE, bytes(parts))


def _decode_common_object(element: Tlv | None) -> _CommonObject:
    label = ""
    flags = ObjectFlags(0)
    auth_id: bytes | None = None
    user_consent: int | None = None
    for child in _expect_sequence(element, "CommonObjectAttributes"):
        tag = _single_tag(child)
        if tag == TAG_UTF8_STRING:
            label = _decode_label(child.value)
        elif tag == TAG_BIT_STRING:
            flags = ObjectFlags(decode_bit_field(child.value))
        elif tag == TAG_OCTET_STRING:
            auth_id = child.value or None  # an empty authId names no PIN (as in OpenSC)
        elif tag == TAG_INTEGER:
            user_consent = decode_integer(child.value, "userConsent")
        # accessControlRules (30) and anything newer: not needed, skipped
    return _CommonObject(label, flags, auth_id, user_consent)


# --- private-key description ---------------------------------------------------------


@dataclass(frozen=True)
class PrivateKeyDescription:
    """A PRKD (file ``C4xx``): what PKCS#11 shows of key ``CCxx``.

    The defaults are what OpenSC writes: object flags private + modifiable, authId 01
    (the user PIN), native, and no access flags (set :data:`GENERATED_KEY_ACCESS` for
    a key generated on the card).

    :param size: modulus length (RSA), field size (EC) or key length (AES), in bits.
    :param subject: the DER ``Name`` of the key's certificate subject, if known.
    :param key_reference: the ``CCxx`` low byte; ``None`` writes no keyReference.
    """

    kind: KeyKind
    label: str
    id: bytes
    usage: KeyUsage
    size: int
    key_reference: int | None = None
    access_flags: AccessFlags = NO_ACCESS_FLAGS
    native: bool = True
    flags: ObjectFlags = PRIVATE_KEY_FLAGS
    auth_id: bytes | None = USER_PIN_AUTH_ID
    user_consent: int | None = None
    subject: bytes | None = None


def default_usage(kind: KeyKind) -> KeyUsage:
    """The usage written when the caller gives none.

    OpenSC's default is sign; EC keys also get derive (ECDH is what the card offers
    besides ECDSA, and old Smart Card Shell writes the same), RSA keys also decrypt,
    AES keys encrypt and decrypt.
    """
    if kind is KeyKind.RSA:
        return KeyUsage.SIGN | KeyUsage.DECRYPT
    if kind is KeyKind.EC:
        return KeyUsage.SIGN | KeyUsage.DERIVE
    return KeyUsage.ENCRYPT | KeyUsage.DECRYPT


def secret_key_description(
    label: str, key_id: bytes, size: int, usage: KeyUsage | None = None
) -> PrivateKeyDescription:
    """An AES key description exactly as sc-hsm-embedded writes it (label, id, usage, size)."""
    return PrivateKeyDescription(
        kind=KeyKind.AES,
        label=label,
        id=key_id,
        usage=default_usage(KeyKind.AES) if usage is None else usage,
        size=size,
        flags=ObjectFlags(0),
        auth_id=None,
    )


def encode_prkd(description: PrivateKeyDescription) -> bytes:
    """The bytes of a PRKD, as OpenSC (RSA, EC) or sc-hsm-embedded (AES) writes them.

    :raises Pkcs15Error: a value cannot be encoded (negative size or key reference,
        label or ID too long).
    """
    if description.size < 0:
        raise Pkcs15Error("a key size cannot be negative")
    if description.key_reference is not None and description.key_reference < 0:
        raise Pkcs15Error("a key reference cannot be negative")
    common = _CommonObject(
        description.label, description.flags, description.auth_id, description.user_consent
    )
    parts = bytearray(_encode_common_object(common))

    key_attributes = bytearray(_tlv(TAG_OCTET_STRING, _check_id(description.id)))
    if description.kind is KeyKind.AES:
        usage = encode_fixed_bit_field(int(description.usage), _SECRET_KEY_USAGE_BITS)
    else:
        usage = encode_bit_field(int(description.usage))
    key_attributes += _tlv(TAG_BIT_STRING, usage)
    if not description.native:
        key_attributes += _tlv(TAG_BOOLEAN, b"\x00")
    if description.access_flags:
        key_attributes += _tlv(TAG_BIT_STRING, encode_bit_field(int(description.access_flags)))
    if description.key_reference is not None:
        key_attributes += _tlv(TAG_INTEGER, encode_integer(description.key_reference))
    parts += _tlv(TAG_SEQUENCE, bytes(key_attributes))

    size = _tlv(TAG_INTEGER, encode_integer(description.size))
    if description.kind is KeyKind.AES:
        parts += _tlv(TAG_CONTEXT_CONS_0, _tlv(TAG_SEQUENCE, size))
    else:
        if description.subject:
            parts += _tlv(TAG_CONTEXT_CONS_0, _tlv(TAG_SEQUENCE, description.subject))
        empty_path = _tlv(TAG_SEQUENCE, _tlv(TAG_OCTET_STRING, b""))
        parts += _tlv(TAG_CONTEXT_CONS_1, _tlv(TAG_SEQUENCE, empty_path + size))
    return _tlv(description.kind.tag, bytes(parts))


def decode_prkd(data: bytes) -> PrivateKeyDescription:
    """Read a PRKD written by OpenSC, Smart Card Shell, sc-hsm-embedded or this module.

    :raises Pkcs15Error: the bytes are not a private- or secret-key description.
    """
    outer = _first_tlv(bytes(data), "key description")
    kind = _TAG_KINDS.get(_single_tag(outer))
    if kind is None:
        raise Pkcs15Error(
            f"a key description starts with tag {outer.tag.hex().upper()}; "
            "expected 30 (RSA), A0 (EC) or A8 (AES)"
        )
    parts = _children(outer.value, "key description")
    common = _decode_common_object(parts[0] if parts else None)
    key_attributes = _decode_common_key(parts[1] if len(parts) > 1 else None)
    rest = parts[2:]

    subject: bytes | None = None
    size: int | None = None
    if rest and _single_tag(rest[0]) == TAG_CONTEXT_CONS_0:
        if kind is KeyKind.AES:
            size = _decode_secret_key_length(rest[0])
        else:
            subject = _decode_subject(rest[0])
        rest = rest[1:]
    if kind is not KeyKind.AES and rest:
        if _single_tag(rest[0]) != TAG_CONTEXT_CONS_1:
            raise Pkcs15Error(
                f"the key's type attributes have tag {rest[0].tag.hex().upper()}, expected A1"
            )
        size = _decode_key_size(rest[0])
    if size is None:
        size = DEFAULT_KEY_SIZE
    if kind is KeyKind.EC and size == 528:
        size = 521
    return PrivateKeyDescription(
        kind=kind,
        label=common.label,
        id=key_attributes.id,
        usage=key_attributes.usage,
        size=size,
        key_reference=key_attributes.key_reference,
        access_flags=key_attributes.access_flags,
        native=key_attributes.native,
        flags=common.flags,
        auth_id=common.auth_id,
        user_consent=common.user_consent,
        subject=subject,
    )


@dataclass(frozen=True)
class _CommonKey:
    id: bytes
    usage: KeyUsage = NO_USAGE
    native: bool = True
    access_flags: AccessFlags = NO_ACCESS_FLAGS
    key_reference: int | None = None


def _decode_common_key(element: Tlv | None) -> _CommonKey:
    children = _expect_sequence(element, "CommonKeyAttributes")
    if not children or _single_tag(children[0]) != TAG_OCTET_STRING:
        raise Pkcs15Error("the CommonKeyAttributes do not start with the key ID")
    identifier = children[0].value
    usage = KeyUsage(0)
    native = True
    access = AccessFlags(0)
    key_reference: int | None = None
    bit_strings = 0
    for child in children[1:]:
        tag = _single_tag(child)
        if tag == TAG_BIT_STRING:
            flags = decode_bit_field(child.value)
            if bit_strings == 0:
                usage = KeyUsage(flags)
            else:
                access = AccessFlags(flags)
            bit_strings += 1
        elif tag == TAG_BOOLEAN:
            if len(child.value) != 1:
                raise Pkcs15Error("the native BOOLEAN is not one byte long")
            native = child.value != b"\x00"
        elif tag == TAG_INTEGER:
            key_reference = decode_integer(child.value, "keyReference")
            if key_reference < -1:
                key_reference += 256  # OpenSC <= 0.11.4 wrote references >= 0x80 negative
            if key_reference < 0:
                key_reference = None
        # algReference and later extensions are skipped
    return _CommonKey(identifier, usage, native, access, key_reference)


def _decode_subject(element: Tlv) -> bytes | None:
    children = _children(element.value, "CommonPrivateKeyAttributes")
    for child in children:
        if _single_tag(child) == TAG_SEQUENCE:
            return child.value or None
    return None


def _decode_secret_key_length(element: Tlv) -> int | None:
    children = _children(element.value, "CommonSecretKeyAttributes")
    if not children:
        return None
    first = children[0]
    if _single_tag(first) == TAG_SEQUENCE:  # current form: A0 { 30 { 02 len } }
        inner = _children(first.value, "CommonSecretKeyAttributes")
        if not inner:
            return None
        first = inner[0]
    if _single_tag(first) != TAG_INTEGER:  # older form: A0 { 02 len }
        raise Pkcs15Error("the secret key's length is not an INTEGER")
    return _non_negative(decode_integer(first.value, "key length"), "key length")


def _decode_key_size(element: Tlv) -> int | None:
    children = _children(element.value, "key type attributes")
    if not children:
        return None
    attributes = _expect_sequence(children[0], "key type attributes")
    if not attributes:
        return None
    if _single_tag(attributes[0]) != TAG_SEQUENCE:
        raise Pkcs15Error("the key type attributes do not start with a path")
    if len(attributes) > 1 and _single_tag(attributes[1]) == TAG_INTEGER:
        return _non_negative(decode_integer(attributes[1].value, "key size"), "key size")
    return None


def _non_negative(value: int, what: str) -> int:
    if value < 0:
        raise Pkcs15Error(f"the {what} is negative")
    return value


# --- key IDs -------------------------------------------------------------------------


def key_id_for_public_key(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    """The 20-byte PKCS#15 ID OpenSC gives a new key (``pkcs15-id-style = mozilla``).

    RSA: SHA-1 of the modulus as unsigned big-endian bytes without a leading zero.
    EC: SHA-1 of the X coordinate of the public point at the full field width
    (OpenSC hashes the ``(len - 1) / 2`` bytes after the ``04`` of the uncompressed
    point), e.g. 32 bytes for P-256, 66 for P-521.

    :raises Pkcs15Error: neither an RSA nor an EC key.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        modulus = public_key.public_numbers().n
        material = modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        width = (public_key.curve.key_size + 7) // 8
        material = public_key.public_numbers().x.to_bytes(width, "big")
    else:
        raise Pkcs15Error(f"no PKCS#15 ID scheme for {type(public_key).__name__} keys")
    return hashlib.sha1(material, usedforsecurity=False).digest()


def key_kind_and_size(public_key: object) -> tuple[KeyKind, int]:
    """The PRKD kind and size of a public key (modulus bits, or the curve's field bits)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyKind.RSA, public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyKind.EC, public_key.curve.key_size
    raise Pkcs15Error(f"a SmartCard-HSM cannot hold {type(public_key).__name__} keys")


# --- certificate description ----------------------------------------------------------


@dataclass(frozen=True)
class CertificateDescription:
    """A CD (file ``C8xx``) for the certificate in file ``path`` (``CAxx``).

    Defaults are OpenSC's: object flags modifiable, no authId.
    """

    label: str
    id: bytes
    path: bytes
    authority: bool = False
    flags: ObjectFlags = ObjectFlags.MODIFIABLE
    auth_id: bytes | None = None


def encode_cd(description: CertificateDescription) -> bytes:
    """The bytes of a CD as ``sc_pkcs15_encode_cdf_entry`` writes them."""
    common = _encode_common_object(
        _CommonObject(description.label, description.flags, description.auth_id)
    )
    certificate_attributes = _tlv(TAG_OCTET_STRING, _check_id(description.id))
    if description.authority:
        certificate_attributes += _tlv(TAG_BOOLEAN, b"\xff")
    path = _tlv(TAG_SEQUENCE, _tlv(TAG_OCTET_STRING, description.path))
    type_attributes = _tlv(TAG_CONTEXT_CONS_1, _tlv(TAG_SEQUENCE, path))
    return _tlv(TAG_SEQUENCE, common + _tlv(TAG_SEQUENCE, certificate_attributes) + type_attributes)


def decode_cd(data: bytes) -> CertificateDescription:
    """Read an X.509 certificate description.

    :raises Pkcs15Error: not a CD for an X.509 certificate stored in a file.
    """
    outer = _first_tlv(bytes(data), "certificate description")
    if _single_tag(outer) != TAG_SEQUENCE:
        raise Pkcs15Error(
            f"a certificate description starts with tag {outer.tag.hex().upper()}; "
            "expected 30 (X.509 certificate)"
        )
    parts = _children(outer.value, "certificate description")
    common = _decode_common_object(parts[0] if parts else None)
    attributes = _expect_sequence(
        parts[1] if len(parts) > 1 else None, "CommonCertificateAttributes"
    )
    if not attributes or _single_tag(attributes[0]) != TAG_OCTET_STRING:
        raise Pkcs15Error("the CommonCertificateAttributes do not start with the ID")
    authority = False
    for child in attributes[1:]:
        if _single_tag(child) == TAG_BOOLEAN:
            if len(child.value) != 1:
                raise Pkcs15Error("the authority BOOLEAN is not one byte long")
            authority = child.value != b"\x00"
    rest = [part for part in parts[2:] if _single_tag(part) == TAG_CONTEXT_CONS_1]
    if not rest:
        raise Pkcs15Error("the certificate description has no type attributes (A1)")
    inner = _children(rest[0].value, "certificate type attributes")
    x509 = _expect_sequence(inner[0] if inner else None, "X.509 certificate attributes")
    path = _decode_path(x509[0] if x509 else None, "certificate path")
    return CertificateDescription(
        label=common.label,
        id=attributes[0].value,
        path=path,
        authority=authority,
        flags=common.flags,
        auth_id=common.auth_id,
    )


def _decode_path(element: Tlv | None, what: str) -> bytes:
    children = _expect_sequence(element, what)
    if not children or _single_tag(children[0]) != TAG_OCTET_STRING:
        raise Pkcs15Error(f"the {what} has no OCTET STRING")
    return children[0].value


# --- data-object description ----------------------------------------------------------


@dataclass(frozen=True)
class DataObjectDescription:
    """A DCOD (file ``C9xx``) for the data object in ``path`` (``CDxx`` or ``CFxx``).

    As OpenSC writes it: object flags modifiable, plus private and authId 01 for a
    PIN-protected object; the application name defaults to the label.
    """

    label: str
    path: bytes
    application: str = ""
    application_oid: str | None = None
    private: bool = False
    auth_id: bytes | None = None
    flags: ObjectFlags | None = None

    @property
    def object_flags(self) -> ObjectFlags:
        """The flags written: the explicit ones, else OpenSC's for ``private``."""
        if self.flags is not None:
            return self.flags
        return PRIVATE_KEY_FLAGS if self.private else ObjectFlags.MODIFIABLE


def encode_dcod(description: DataObjectDescription) -> bytes:
    """The bytes of a DCOD as ``sc_pkcs15_encode_dodf_entry`` writes them."""
    auth_id = description.auth_id
    if auth_id is None and description.private:
        auth_id = USER_PIN_AUTH_ID
    common = _encode_common_object(
        _CommonObject(description.label, description.object_flags, auth_id)
    )
    data_attributes = bytearray()
    application = _label_bytes(description.application or description.label)
    if application:
        data_attributes += _tlv(TAG_UTF8_STRING, application)
    if description.application_oid:
        data_attributes += _tlv(TAG_OID, encode_oid(description.application_oid))
    path = _tlv(TAG_SEQUENCE, _tlv(TAG_OCTET_STRING, description.path))
    return _tlv(
        TAG_SEQUENCE,
        common + _tlv(TAG_SEQUENCE, bytes(data_attributes)) + _tlv(TAG_CONTEXT_CONS_1, path),
    )


def decode_dcod(data: bytes) -> DataObjectDescription:
    """Read a data-object description.

    :raises Pkcs15Error: malformed, or without a path.
    """
    outer = _first_tlv(bytes(data), "data object description")
    if _single_tag(outer) != TAG_SEQUENCE:
        raise Pkcs15Error(
            f"a data object description starts with tag {outer.tag.hex().upper()}, expected 30"
        )
    parts = _children(outer.value, "data object description")
    common = _decode_common_object(parts[0] if parts else None)
    application = ""
    application_oid: str | None = None
    for child in _expect_sequence(
        parts[1] if len(parts) > 1 else None, "CommonDataObjectAttributes"
    ):
        tag = _single_tag(child)
        if tag == TAG_UTF8_STRING:
            application = _decode_label(child.value)
        elif tag == TAG_OID:
            application_oid = decode_oid(child.value)
    rest = [part for part in parts[2:] if _single_tag(part) == TAG_CONTEXT_CONS_1]
    if not rest:
        raise Pkcs15Error("the data object description has no type attributes (A1)")
    inner = _children(rest[0].value, "data object type attributes")
    path = _decode_path(inner[0] if inner else None, "data object path")
    return DataObjectDescription(
        label=common.label,
        path=path,
        application=application,
        application_oid=application_oid,
        private=bool(common.flags & ObjectFlags.PRIVATE),
        auth_id=common.auth_id,
        flags=common.flags,
    )


# --- EF.TokenInfo ---------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """EF.TokenInfo (``2F03``).  sc-hsm-tool writes version 0, the label and prnGeneration."""

    label: str | None
    flags: TokenFlags = TokenFlags.PRN_GENERATION
    version: int = 0
    serial_number: bytes | None = None
    manufacturer: str | None = None


def encode_tokeninfo(info: TokenInfo) -> bytes:
    """The bytes of EF.TokenInfo in OpenSC's field order."""
    parts = bytearray(_tlv(TAG_INTEGER, encode_integer(info.version)))
    if info.serial_number:
        parts += _tlv(TAG_OCTET_STRING, info.serial_number)
    if info.manufacturer:
        parts += _tlv(TAG_UTF8_STRING, _label_bytes(info.manufacturer))
    if info.label:
        parts += _tlv(TAG_CONTEXT_0, _label_bytes(info.label))
    parts += _tlv(TAG_BIT_STRING, encode_bit_field(int(info.flags)))
    return _tlv(TAG_SEQUENCE, bytes(parts))


def decode_tokeninfo(data: bytes) -> TokenInfo:
    """Read EF.TokenInfo; fields after the token flags are skipped.

    :raises Pkcs15Error: malformed, or without version or token flags.
    """
    outer = _first_tlv(bytes(data), "token info")
    children = _expect_sequence(outer, "token info")
    if not children or _single_tag(children[0]) != TAG_INTEGER:
        raise Pkcs15Error("the token info does not start with its version")
    version = decode_integer(children[0].value, "version")
    serial: bytes | None = None
    manufacturer: str | None = None
    label: str | None = None
    flags: TokenFlags | None = None
    for child in children[1:]:
        tag = _single_tag(child)
        if tag == TAG_OCTET_STRING and serial is None:
            serial = child.value
        elif tag == TAG_UTF8_STRING and manufacturer is None:
            manufacturer = _decode_label(child.value)
        elif tag == TAG_CONTEXT_0 and label is None:
            label = _decode_label(child.value)
        elif tag == TAG_BIT_STRING:
            flags = TokenFlags(decode_bit_field(child.value))
            break
    if flags is None:
        raise Pkcs15Error("the token info has no token flags")
    return TokenInfo(label, flags, version, serial, manufacturer)
