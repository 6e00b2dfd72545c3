"""PKCS#15 descriptions: OpenSC's exact bytes, the spec's examples, tolerant decoding."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.card.errors import MalformedResponse
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    PRIVATE_KEY_FLAGS,
    AccessFlags,
    CertificateDescription,
    DataObjectDescription,
    KeyKind,
    KeyUsage,
    ObjectFlags,
    Pkcs15Error,
    PrivateKeyDescription,
    TokenFlags,
    TokenInfo,
    decode_bit_field,
    decode_cd,
    decode_dcod,
    decode_oid,
    decode_prkd,
    decode_tokeninfo,
    encode_bit_field,
    encode_cd,
    encode_dcod,
    encode_oid,
    encode_prkd,
    encode_tokeninfo,
    key_id_for_public_key,
    key_kind_and_size,
    secret_key_description,
)
from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv

ID20 = bytes(range(1, 21))


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- BIT STRING (OpenSC encode_bit_field) ----------------------------------------------


@pytest.mark.parametrize(
    ("flags", "encoded"),
    [
        (KeyUsage.SIGN, "03 02 05 20"),
        (KeyUsage.SIGN | KeyUsage.DECRYPT, "03 02 05 60"),
        (KeyUsage.SIGN | KeyUsage.DERIVE, "03 03 07 20 80"),
        (GENERATED_KEY_ACCESS, "03 02 03 B8"),
        (PRIVATE_KEY_FLAGS, "03 02 06 C0"),
        (TokenFlags.PRN_GENERATION, "03 02 05 20"),
        (0, "03 01 00"),
        (0xFF, "03 02 00 FF"),
        (KeyUsage.ENCRYPT | KeyUsage.VERIFY_RECOVER, "03 02 00 81"),
    ],
)
def test_bit_field_matches_the_spec_examples(flags: int, encoded: str) -> None:
    expected = h(encoded)
    assert b"\x03" + bytes([len(expected) - 2]) + encode_bit_field(int(flags)) == expected
    assert decode_bit_field(expected[2:]) == int(flags)


def test_old_scsh_rsa_usage_bits_are_decrypt_sign_signrecover_unwrap() -> None:
    assert decode_bit_field(h("02 74")) == (
        KeyUsage.DECRYPT | KeyUsage.SIGN | KeyUsage.SIGN_RECOVER | KeyUsage.UNWRAP
    )


@given(st.integers(min_value=0, max_value=(1 << 40) - 1))
def test_bit_field_round_trip_is_minimal(value: int) -> None:
    encoded = encode_bit_field(value)
    assert decode_bit_field(encoded) == value
    assert len(encoded) == 1 + (value.bit_length() + 7) // 8
    if value:
        assert encoded[0] == (-value.bit_length()) % 8


@pytest.mark.parametrize("value", ["", "08 00", "05", "FF 12"])
def test_malformed_bit_strings_are_refused(value: str) -> None:
    with pytest.raises(Pkcs15Error):
        decode_bit_field(h(value))


def test_negative_flags_cannot_be_encoded() -> None:
    with pytest.raises(Pkcs15Error):
        encode_bit_field(-1)


# --- PRKD: the spec's old Smart Card Shell examples ----------------------------------------

SCSH_EC_256 = "a01e30060c047465737430080401010303072080a10a30083002040002020100"
SCSH_RSA_2048 = "301d30060c0474657374300704010103020274a10a30083002040002020800"
SCSH_EC_192 = "a01e30060c047465737430080401010303072080a10a300830020400020200c0"


@pytest.mark.parametrize(
    ("encoded", "kind", "size", "usage"),
    [
        (SCSH_EC_256, KeyKind.EC, 256, KeyUsage.SIGN | KeyUsage.DERIVE),
        (SCSH_EC_192, KeyKind.EC, 192, KeyUsage.SIGN | KeyUsage.DERIVE),
        (
            SCSH_RSA_2048,
            KeyKind.RSA,
            2048,
            KeyUsage.DECRYPT | KeyUsage.SIGN | KeyUsage.SIGN_RECOVER | KeyUsage.UNWRAP,
        ),
    ],
)
def test_old_scsh_prkds_decode(encoded: str, kind: KeyKind, size: int, usage: KeyUsage) -> None:
    description = decode_prkd(h(encoded))
    assert description.kind is kind
    assert description.label == "test"
    assert description.id == b"\x01"
    assert description.size == size
    assert description.usage == usage
    # old scsh writes neither flags, authId nor keyReference
    assert description.flags == ObjectFlags(0)
    assert description.auth_id is None
    assert description.key_reference is None
    assert description.native
    # and the same structure encodes back to exactly those bytes
    assert encode_prkd(description) == h(encoded)


# --- PRKD: OpenSC's bytes, built by hand from the spec's tables ----------------------------


def test_opensc_rsa_prkd_bytes_built_from_the_spec_tables() -> None:
    expected = h(
        "30 45"
        " 30 14  0C 0B 50726976617465204B6579  03 02 06 C0  04 01 01"
        " 30 21  04 14" + ID20.hex() + " 03 02 05 60  03 02 03 B8  02 01 01"
        " A1 0A  30 08 30 02 04 00 02 02 08 00"
    )
    description = PrivateKeyDescription(
        kind=KeyKind.RSA,
        label="Private Key",
        id=ID20,
        usage=KeyUsage.SIGN | KeyUsage.DECRYPT,
        size=2048,
        key_reference=1,
        access_flags=GENERATED_KEY_ACCESS,
    )
    assert encode_prkd(description) == expected
    assert decode_prkd(expected) == description


def test_opensc_ec_prkd_with_high_key_reference_and_p521() -> None:
    expected = h(
        "A0 3D"
        " 30 0B  0C 02 6563  03 02 06 C0  04 01 01"
        " 30 22  04 14" + ID20.hex() + " 03 02 05 20  03 02 03 B8  02 02 00 85"
        " A1 0A  30 08 30 02 04 00 02 02 02 09"
    )
    description = PrivateKeyDescription(
        kind=KeyKind.EC,
        label="ec",
        id=ID20,
        usage=KeyUsage.SIGN,
        size=521,
        key_reference=0x85,
        access_flags=GENERATED_KEY_ACCESS,
    )
    assert encode_prkd(description) == expected
    assert decode_prkd(expected) == description


def test_prkd_with_subject_puts_the_name_in_a0() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]).public_bytes()
    assert len(name) == 14
    expected = h(
        "30 36"
        " 30 0A  0C 01 6B  03 02 06 C0  04 01 01"
        " 30 0A  04 01 07  03 02 05 20  02 01 02"
        " A0 10  30 0E" + name.hex() + " A1 0A  30 08 30 02 04 00 02 02 04 00"
    )
    description = PrivateKeyDescription(
        kind=KeyKind.RSA,
        label="k",
        id=b"\x07",
        usage=KeyUsage.SIGN,
        size=1024,
        key_reference=2,
        subject=name,
    )
    assert encode_prkd(description) == expected
    assert decode_prkd(expected) == description


def test_native_false_and_user_consent_are_written_where_opensc_puts_them() -> None:
    description = PrivateKeyDescription(
        kind=KeyKind.RSA,
        label="",
        id=b"\x01",
        usage=KeyUsage.SIGN,
        size=2048,
        native=False,
        user_consent=1,
    )
    encoded = encode_prkd(description)
    parts = list(iter_tlvs(read_tlv(encoded).value))
    # an empty label is left out, as OpenSC does
    assert parts[0].value == h("03 02 06 C0  04 01 01  02 01 01")
    assert parts[1].value == h("04 01 01  03 02 05 20  01 01 00")
    assert decode_prkd(encoded) == description


# --- PRKD: the AES form and tolerant reading --------------------------------------------


def test_aes_description_as_sc_hsm_embedded_writes_it() -> None:
    expected = h(
        "A8 19 30 05  0C 03 616573 30 08  04 01 01  03 03 06 C0 00 A0 06  30 04 02 02 01 00"
    )
    description = secret_key_description("aes", b"\x01", 256)
    assert encode_prkd(description) == expected
    decoded = decode_prkd(expected)
    assert decoded == description
    assert decoded.usage == KeyUsage.ENCRYPT | KeyUsage.DECRYPT


def test_aes_description_older_form_with_a_bare_integer() -> None:
    decoded = decode_prkd(
        h("A8 16  30 05 0C 03 616573  30 07 04 01 02 03 02 07 80  A0 04 02 02 00 80")
    )
    assert decoded.kind is KeyKind.AES
    assert decoded.id == b"\x02"
    assert decoded.size == 128
    assert decoded.usage == KeyUsage.ENCRYPT
    assert decoded.flags == ObjectFlags(0)
    with pytest.raises(Pkcs15Error, match="negative"):
        decode_prkd(h("A8 15  30 05 0C 03 616573  30 07 04 01 02 03 02 07 80  A0 03 02 01 80"))


def test_sc_hsm_embedded_rsa_form_with_fixed_usage_and_a0_block() -> None:
    # key id = key reference, usage 10 bits wide, an (empty) A0 before A1
    encoded = h(
        "30 22"
        " 30 06 0C 04 74657374"
        " 30 08 04 01 03 03 03 06 20 00"
        " A0 00"
        " A1 0C 30 0A 30 02 04 00 02 04 00 00 0C 00"
    )
    decoded = decode_prkd(encoded)
    assert decoded.kind is KeyKind.RSA
    assert decoded.usage == KeyUsage.SIGN
    assert decoded.size == 3072
    assert decoded.subject is None


def test_missing_key_size_defaults_to_2048_and_528_reads_as_521() -> None:
    no_size = h("A0 17  30 06 0C 04 74657374  30 07 04 01 01 03 02 05 20  A1 04 30 02 30 00")
    assert decode_prkd(no_size).size == 2048
    no_type_attributes = h("30 11  30 06 0C 04 74657374  30 07 04 01 01 03 02 05 20")
    assert decode_prkd(no_type_attributes).size == 2048
    p521_as_528 = h(SCSH_EC_256[:-8] + "02020210")
    assert decode_prkd(p521_as_528).size == 521
    rsa_528 = h(SCSH_RSA_2048[:-8] + "02020210")
    assert decode_prkd(rsa_528).size == 528


def test_negative_key_reference_from_old_opensc_is_fixed() -> None:
    encoded = h(
        "30 20  30 06 0C 04 74657374  30 0A 04 01 01 03 02 05 20 02 01 85"
        " A1 0A 30 08 30 02 04 00 02 02 08 00"
    )
    assert decode_prkd(encoded).key_reference == 0x85


def test_trailing_bytes_after_the_description_are_ignored() -> None:
    assert decode_prkd(h(SCSH_EC_256) + b"\x00" * 16).size == 256


def test_unknown_fields_are_skipped() -> None:
    encoded = h(
        "30 2B"
        " 30 0C 0C 04 74657374 03 02 06 C0 30 00"  # accessControlRules (empty)
        " 30 0C 04 01 01 03 02 05 20 A5 03 02 01 01"  # an unknown extension
        " A1 0A 30 08 30 02 04 00 02 02 08 00"
        " 04 01 FF"  # something after the type attributes
    )
    decoded = decode_prkd(encoded)
    assert decoded.label == "test"
    assert decoded.flags == PRIVATE_KEY_FLAGS
    assert decoded.size == 2048


def tlv(tag: int, *parts: bytes) -> bytes:
    return encode_tlv(tag, b"".join(parts))


_NO_LABEL = tlv(0x30)
_ID_ONLY = tlv(0x30, tlv(0x04, b"\x01"))
_EMPTY_PATH = tlv(0x30, tlv(0x04))


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        (b"", "not a well-formed TLV"),
        (h("31 00"), "expected 30"),
        (tlv(0xA2, _NO_LABEL), "expected 30"),
        (tlv(0x30), "CommonObjectAttributes is missing"),
        (tlv(0x30, _NO_LABEL), "CommonKeyAttributes is missing"),
        (tlv(0x30, tlv(0x04)), "tag 04"),
        (tlv(0x30, _NO_LABEL, tlv(0x30, tlv(0x03, b"\x00"))), "key ID"),
        (tlv(0x30, _NO_LABEL, tlv(0x30, tlv(0x04, b"\x01"), tlv(0x03, b"\x09"))), "unused bits"),
        (tlv(0x30, _NO_LABEL, _ID_ONLY, tlv(0xA2)), "expected A1"),
        (h("30 84 FF FF FF FF 30 00"), "truncated"),
        (h("30 85 01 00 00 00 00"), "length overflow"),
        (h("30 80 30 00 00 00"), "indefinite"),
        (h("30 03 30 01 1F"), "cut off"),
        (
            tlv(0x30, _NO_LABEL, _ID_ONLY, tlv(0xA1, tlv(0x30, _EMPTY_PATH, h("02 05 7F FF")))),
            "truncated",
        ),
        (
            tlv(
                0x30, _NO_LABEL, _ID_ONLY, tlv(0xA1, tlv(0x30, _EMPTY_PATH, tlv(0x02, b"\xff" * 5)))
            ),
            "at most 4",
        ),
        (
            tlv(
                0x30, _NO_LABEL, _ID_ONLY, tlv(0xA1, tlv(0x30, _EMPTY_PATH, tlv(0x02, h("FF 00"))))
            ),
            "negative",
        ),
        (tlv(0x30, _NO_LABEL, _ID_ONLY, tlv(0xA1, tlv(0x30, tlv(0x02, b"\x01")))), "path"),
        (tlv(0x30, _NO_LABEL, _ID_ONLY, tlv(0xA1, tlv(0x04))), "tag 04"),
        (tlv(0x30, _NO_LABEL, tlv(0x30, tlv(0x04, b"\x01"), tlv(0x01, h("FF FF")))), "BOOLEAN"),
        (tlv(0x30, _NO_LABEL, tlv(0x30, tlv(0x04, b"\x01"), tlv(0x02))), "empty"),
        (tlv(0x30, tlv(0x30, tlv(0x02, b"\x01" * 5)), _ID_ONLY), "userConsent"),
        (tlv(0xA8, _NO_LABEL, _ID_ONLY, tlv(0xA0, tlv(0x04))), "not an INTEGER"),
    ],
)
def test_malformed_prkds_raise_pkcs15_error(encoded: bytes, reason: str) -> None:
    with pytest.raises(Pkcs15Error, match=reason):
        decode_prkd(encoded)


def test_pkcs15_error_is_a_card_error_for_malformed_data() -> None:
    assert issubclass(Pkcs15Error, MalformedResponse)
    assert issubclass(Pkcs15Error, ValueError)


def test_values_that_cannot_be_encoded_are_refused() -> None:
    base = PrivateKeyDescription(KeyKind.RSA, "x", b"\x01", KeyUsage.SIGN, 2048)
    for bad in [
        PrivateKeyDescription(KeyKind.RSA, "x" * 256, b"\x01", KeyUsage.SIGN, 2048),
        PrivateKeyDescription(KeyKind.RSA, "x", b"\x01" * 256, KeyUsage.SIGN, 2048),
        PrivateKeyDescription(KeyKind.RSA, "x", b"\x01", KeyUsage.SIGN, -1),
        PrivateKeyDescription(KeyKind.RSA, "x", b"\x01", KeyUsage.SIGN, 2048, key_reference=-2),
        PrivateKeyDescription(KeyKind.AES, "x", b"\x01", KeyUsage(1 << 10), 128),
    ]:
        with pytest.raises(Pkcs15Error):
            encode_prkd(bad)
    assert decode_prkd(encode_prkd(base)) == base


# --- key IDs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_rsa_key_id_is_sha1_of_the_modulus_without_leading_zero(rsa_key: rsa.RSAPrivateKey) -> None:
    # Take the modulus out of the DER SubjectPublicKeyInfo independently of the module.
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    modulus_integer = next(iter_tlvs(read_tlv(spki).value)).value
    assert modulus_integer[0] == 0  # DER adds a sign byte the ID must not include
    expected = hashlib.sha1(modulus_integer[1:]).digest()
    assert key_id_for_public_key(rsa_key.public_key()) == expected
    assert len(expected) == 20


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP521R1(), ec.BrainpoolP384R1()])
def test_ec_key_id_is_sha1_of_x_at_field_width(curve: ec.EllipticCurve) -> None:
    # find a key whose X coordinate has a leading zero byte, so the width matters
    scalar = 1
    while True:
        public = ec.derive_private_key(scalar, curve).public_key()
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        if point[1] == 0:
            break
        scalar += 1
    x = point[1 : 1 + (len(point) - 1) // 2]
    assert key_id_for_public_key(public) == hashlib.sha1(x).digest()
    assert key_id_for_public_key(public) != hashlib.sha1(x.lstrip(b"\x00")).digest()


def test_key_id_refuses_other_key_types() -> None:
    with pytest.raises(Pkcs15Error):
        key_id_for_public_key(ed25519.Ed25519PrivateKey.generate().public_key())  # type: ignore[arg-type]
    with pytest.raises(Pkcs15Error):
        key_kind_and_size(ed25519.Ed25519PrivateKey.generate().public_key())


def test_kind_and_size(rsa_key: rsa.RSAPrivateKey) -> None:
    assert key_kind_and_size(rsa_key.public_key()) == (KeyKind.RSA, 1024)
    p521 = ec.generate_private_key(ec.SECP521R1()).public_key()
    assert key_kind_and_size(p521) == (KeyKind.EC, 521)


# --- CD, DCOD, TokenInfo ------------------------------------------------------------------


def test_cd_for_a_ca_certificate() -> None:
    expected = h(
        "30 1F"
        " 30 0A  0C 04 526F6F74  03 02 06 40"
        " 30 07  04 02 01 02  01 01 FF"
        " A1 08  30 06 30 04 04 02 CA 00"
    )
    description = CertificateDescription("Root", h("01 02"), h("CA 00"), authority=True)
    assert encode_cd(description) == expected
    assert decode_cd(expected) == description


def test_sc_hsm_embedded_cd_without_flags_decodes() -> None:
    decoded = decode_cd(
        h("30 19  30 06 0C 04 526F6F74  30 03 04 01 05  A1 0A 30 08 30 06 04 04 3F00 CA05")
    )
    assert decoded.label == "Root"
    assert decoded.id == b"\x05"
    assert decoded.path == h("3F00 CA05")
    assert not decoded.authority


@pytest.mark.parametrize(
    "encoded",
    [
        "A0 00",
        "30 00",
        "30 02 30 00",
        "30 04 30 00 30 00",
        "30 06 30 00 30 02 04 00",
        "30 08 30 00 30 02 04 00 A1 00",
        "30 0C 30 00 30 02 04 00 A1 04 30 02 30 00",
        "30 0B 30 00 30 05 04 00 01 02 FF FF A1 00",
    ],
)
def test_malformed_cds_raise(encoded: str) -> None:
    with pytest.raises(Pkcs15Error):
        decode_cd(h(encoded))


def test_dcod_for_a_private_data_object() -> None:
    expected = h(
        "30 1F"
        " 30 0D  0C 04 64617461  03 02 06 C0  04 01 01"
        " 30 06  0C 04 64617461"
        " A1 06  30 04 04 02 CD 01"
    )
    description = DataObjectDescription("data", h("CD 01"), private=True)
    assert encode_dcod(description) == expected
    decoded = decode_dcod(expected)
    assert decoded.private
    assert decoded.label == "data"
    assert decoded.application == "data"
    assert decoded.path == h("CD 01")
    assert decoded.auth_id == b"\x01"
    assert encode_dcod(decoded) == expected


def test_dcod_for_a_public_data_object_with_oid() -> None:
    description = DataObjectDescription(
        "pub", h("CF 02"), application="app", application_oid="1.3.6.1.4.1.24991.99"
    )
    encoded = encode_dcod(description)
    parts = list(iter_tlvs(read_tlv(encoded).value))
    assert parts[0].value == h("0C 03 707562  03 02 06 40")
    assert parts[1].value == h("0C 03 617070  06 09 2B 06 01 04 01 81 C3 1F 63")
    decoded = decode_dcod(encoded)
    assert not decoded.private
    assert decoded.application_oid == "1.3.6.1.4.1.24991.99"


@pytest.mark.parametrize("oid", ["1.2", "2.999.3", "1.3.6.1.4.1.24991.3.4", "0.39.127.128.16384"])
def test_oid_round_trip(oid: str) -> None:
    assert decode_oid(encode_oid(oid)) == oid


@pytest.mark.parametrize("oid", ["1", "3.1", "1.40", "a.b", "1.-2"])
def test_bad_oids_are_refused(oid: str) -> None:
    with pytest.raises(Pkcs15Error):
        encode_oid(oid)


@pytest.mark.parametrize("value", ["", "81", "2B 80 01"])
def test_bad_oid_bytes_are_refused(value: str) -> None:
    with pytest.raises(Pkcs15Error):
        decode_oid(h(value))


def test_tokeninfo_as_sc_hsm_tool_writes_it() -> None:
    label = "SmartCard-HSM"
    expected = h("30 16 02 01 00 80 0D" + label.encode().hex() + "03 02 05 20")
    assert encode_tokeninfo(TokenInfo(label)) == expected
    assert decode_tokeninfo(expected) == TokenInfo(label)


def test_tokeninfo_with_serial_and_manufacturer() -> None:
    encoded = h("30 18 02 01 00 04 04 DE AD BE EF 0C 03 414243 80 02 6869 03 02 06 40 A2 00")
    info = decode_tokeninfo(encoded)
    assert info.serial_number == h("DEADBEEF")
    assert info.manufacturer == "ABC"
    assert info.label == "hi"
    assert info.flags == TokenFlags.LOGIN_REQUIRED
    # the unknown trailing field is not carried over
    assert encode_tokeninfo(info) == h("30 16") + encoded[2:-2]
    assert decode_tokeninfo(encode_tokeninfo(info)) == info


@pytest.mark.parametrize("encoded", ["30 00", "30 03 04 01 00", "30 03 02 01 00", "31 00"])
def test_malformed_tokeninfo_raises(encoded: str) -> None:
    with pytest.raises(Pkcs15Error):
        decode_tokeninfo(h(encoded))


# --- round trips and fuzzing -----------------------------------------------------------

labels = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 255)
ids = st.binary(min_size=1, max_size=40)


@st.composite
def prkds(draw: st.DrawFn) -> PrivateKeyDescription:
    kind = draw(st.sampled_from(list(KeyKind)))
    size = draw(st.integers(min_value=0, max_value=(1 << 31) - 1))
    if kind is KeyKind.EC and size == 528:
        size = 521
    return PrivateKeyDescription(
        kind=kind,
        label=draw(labels),
        id=draw(ids),
        usage=KeyUsage(draw(st.integers(min_value=0, max_value=(1 << 10) - 1))),
        size=size,
        key_reference=draw(st.none() | st.integers(min_value=0, max_value=0xFFFF)),
        access_flags=AccessFlags(draw(st.integers(min_value=0, max_value=31))),
        native=draw(st.booleans()),
        flags=ObjectFlags(draw(st.integers(min_value=0, max_value=3))),
        auth_id=draw(st.none() | st.binary(min_size=1, max_size=4)),
        user_consent=draw(st.none() | st.integers(min_value=1, max_value=255)),
        subject=None
        if kind is KeyKind.AES
        else draw(
            st.none()
            | st.just(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]).public_bytes())
        ),
    )


@given(prkds())
def test_prkd_round_trip(description: PrivateKeyDescription) -> None:
    assert decode_prkd(encode_prkd(description)) == description


@given(labels, ids, st.binary(min_size=0, max_size=8), st.booleans())
def test_cd_round_trip(label: str, identifier: bytes, path: bytes, authority: bool) -> None:
    description = CertificateDescription(label, identifier, path, authority)
    assert decode_cd(encode_cd(description)) == description


@given(labels, st.binary(min_size=2, max_size=2), labels, st.booleans())
def test_dcod_round_trip(label: str, path: bytes, application: str, private: bool) -> None:
    description = DataObjectDescription(label, path, application=application, private=private)
    decoded = decode_dcod(encode_dcod(description))
    assert decoded.label == label
    assert decoded.path == path
    assert decoded.application == (application or label)
    assert decoded.private == private
    assert encode_dcod(decoded) == encode_dcod(description)


@given(
    st.none() | labels.filter(bool),
    st.integers(min_value=0, max_value=15),
    st.none() | st.binary(min_size=1, max_size=16),
    st.none() | labels.filter(bool),
)
def test_tokeninfo_round_trip(
    label: str | None, flags: int, serial: bytes | None, manufacturer: str | None
) -> None:
    info = TokenInfo(label, TokenFlags(flags), 0, serial, manufacturer)
    assert decode_tokeninfo(encode_tokeninfo(info)) == info


_VALID = [
    h(SCSH_EC_256),
    h(SCSH_RSA_2048),
    encode_prkd(secret_key_description("aes", b"\x01", 256)),
    encode_prkd(
        PrivateKeyDescription(
            KeyKind.EC, "ec", ID20, KeyUsage.SIGN, 521, 0x85, GENERATED_KEY_ACCESS
        )
    ),
]
_DECODERS = [decode_prkd, decode_cd, decode_dcod, decode_tokeninfo]


@pytest.mark.parametrize("encoded", _VALID)
def test_every_truncation_raises_pkcs15_error(encoded: bytes) -> None:
    for length in range(len(encoded)):
        with pytest.raises(Pkcs15Error):
            decode_prkd(encoded[:length])
    for decode, data in [
        (decode_cd, encode_cd(CertificateDescription("Root", b"\x01", h("CA01"), True))),
        (decode_dcod, encode_dcod(DataObjectDescription("d", h("CD01"), private=True))),
        (decode_tokeninfo, encode_tokeninfo(TokenInfo("label"))),
    ]:
        for length in range(len(data)):
            with pytest.raises(Pkcs15Error):
                decode(data[:length])


@settings(max_examples=300)
@given(st.binary(max_size=80), st.sampled_from(_DECODERS))
def test_random_bytes_never_raise_anything_but_pkcs15_error(data: bytes, decode: object) -> None:
    assert callable(decode)
    with contextlib.suppress(Pkcs15Error):
        decode(data)


@settings(max_examples=300)
@given(st.sampled_from(_VALID), st.data())
def test_corrupted_descriptions_never_raise_anything_but_pkcs15_error(
    encoded: bytes, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    replacement = data.draw(st.integers(min_value=0, max_value=255))
    corrupted = encoded[:position] + bytes([replacement]) + encoded[position + 1 :]
    for decode in _DECODERS:
        with contextlib.suppress(Pkcs15Error):
            decode(corrupted)
