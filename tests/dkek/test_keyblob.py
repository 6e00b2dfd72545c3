"""Key blobs: the real-device vector, byte compatibility, round trips and every fault.

The helpers here build blobs by hand (AES-CBC and AES-CMAC straight from
``cryptography``) so that variants the encoder never writes (Pico HSM padding, minimal
component widths, broken structures with a correct MAC) can be fed to the decoder.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import secrets
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
    x448,
    x25519,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from keymanager.dkek import keyblob
from keymanager.dkek.curves import SUPPORTED_CURVES, CurveParameters, curve_by_name
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.errors import (
    KcvMismatch,
    KeyBlobError,
    MacMismatch,
    MalformedKeyBlob,
    UnsupportedKey,
)
from keymanager.dkek.keyblob import (
    AES_DEFAULT_ALGORITHM,
    AES_DEFAULT_ALLOWED_ALGORITHMS,
    EC_DEFAULT_ALGORITHM,
    MINIMUM_BLOB_LENGTH,
    RSA_DEFAULT_ALGORITHM,
    AesKey,
    DecodedKeyBlob,
    EcKeyMaterial,
    KeyType,
    Padding,
    blob_kcv,
    decode_key,
    describe_blob,
    encode_key,
)

VECTORS_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "dkek-vectors.json"
)

RANDOMIZE = bytes.fromhex("0102030405060708")


# --- helpers ------------------------------------------------------------------------


def load_wrapped_key_vector() -> dict[str, Any]:
    assert VECTORS_PATH.is_file(), (
        f"the published DKEK test vectors are missing: expected them at {VECTORS_PATH} "
        "(the shared folder beside the repository checkout)"
    )
    vector: dict[str, Any] = json.loads(VECTORS_PATH.read_text())["wrapped_key_file"]
    return vector


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    return load_wrapped_key_vector()


@pytest.fixture(scope="module")
def vector_dkek(vector: dict[str, Any]) -> Dkek:
    return Dkek.from_value(bytes.fromhex(vector["dkek_hex"]))


@pytest.fixture(scope="module")
def vector_blob(vector: dict[str, Any]) -> bytes:
    """The OCTET STRING inside the .wky container, cut out by hand (30 82 LLLL 04 82 LLLL)."""
    container = bytes.fromhex(vector["wky_hex"])
    assert container[:2] == b"\x30\x82" and container[4:6] == b"\x04\x82"
    length = int.from_bytes(container[6:8], "big")
    return container[8 : 8 + length]


@pytest.fixture
def dkek() -> Dkek:
    return Dkek.from_value(bytes(range(32)))


@functools.cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """Each size is generated once per test session (4096-bit generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def cbc(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(bytes(16)))
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    return context.update(data) + context.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    authenticator = cmac.CMAC(algorithms.AES(key))
    authenticator.update(data)
    return authenticator.finalize()


def lv(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def scsh_pad(content: bytes) -> bytes:
    padded = content + b"\x80" + bytes(-(len(content) + 1) % 8)
    return padded + bytes(8) if len(padded) % 16 else padded


def pico_pad(content: bytes) -> bytes:
    if len(content) % 16 == 0:
        return content
    return content + b"\x80" + bytes(-(len(content) + 1) % 16)


def build_blob(
    dkek: Dkek,
    key_type: int,
    padded_plaintext: bytes,
    *,
    default_algorithm: bytes = b"",
    allowed: bytes = b"",
    access_conditions: bytes = b"",
    key_oid: bytes = b"",
    raw_ciphertext: bytes | None = None,
) -> bytes:
    """A blob with a correct MAC around whatever plaintext (or raw ciphertext) is given."""
    body = dkek.kcv() + bytes([key_type])
    body += lv(default_algorithm) + lv(allowed) + lv(access_conditions) + lv(key_oid)
    body += cbc(dkek.kenc(), padded_plaintext) if raw_ciphertext is None else raw_ciphertext
    return body + aes_cmac(dkek.kmac(), body)


def decrypted_plaintext(dkek: Dkek, blob: bytes) -> bytes:
    header = describe_blob(blob)
    ciphertext = blob[header.header_length : len(blob) - 16]
    return cbc(dkek.kenc(), ciphertext, decrypt=True)


def split_components(plaintext: bytes, count: int) -> tuple[list[bytes], int]:
    offset = 10
    components = []
    for _ in range(count):
        length = int.from_bytes(plaintext[offset : offset + 2], "big")
        components.append(plaintext[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return components, offset


def be(value: int, width: int = 0) -> bytes:
    return value.to_bytes(max(width, (value.bit_length() + 7) // 8), "big")


def ec_content(
    curve: CurveParameters,
    private_value: int,
    public_point: bytes,
    *,
    key_size: int | None = None,
    minimal: bool = False,
    randomize: bytes = RANDOMIZE,
) -> bytes:
    """An EC plaintext (before padding); ``minimal`` writes integers as Pico HSM does."""
    field_width = 0 if minimal else curve.field_bytes
    order_width = 0 if minimal else curve.order_bytes
    size = curve.field_bytes * 8 if key_size is None else key_size
    return (
        randomize
        + size.to_bytes(2, "big")
        + lv(be(curve.a, field_width) if curve.a or not minimal else b"")
        + lv(be(curve.b, field_width))
        + lv(be(curve.p, field_width))
        + lv(be(curve.order, order_width))
        + lv(curve.encode_point(curve.generator))
        + lv(be(private_value, order_width))
        + lv(public_point)
    )


def rsa_crt_content(numbers: rsa.RSAPrivateNumbers, **overrides: int) -> bytes:
    values = {
        "dmp1": numbers.dmp1,
        "dmq1": numbers.dmq1,
        "p": numbers.p,
        "iqmp": numbers.iqmp,
        "q": numbers.q,
        "n": numbers.public_numbers.n,
        "e": numbers.public_numbers.e,
    }
    values.update(overrides)
    size = (numbers.public_numbers.n.bit_length() + 7) // 8 * 8
    content = RANDOMIZE + size.to_bytes(2, "big")
    for name in ("dmp1", "dmq1", "p", "iqmp", "q", "n", "e"):
        content += lv(be(values[name]))
    return content


_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def is_probable_prime(candidate: int) -> bool:
    for small in _WITNESSES:
        if candidate % small == 0:
            return candidate == small
    odd_part, twos = candidate - 1, 0
    while odd_part % 2 == 0:
        odd_part //= 2
        twos += 1
    for witness in _WITNESSES:
        value = pow(witness, odd_part, candidate)
        if value in (1, candidate - 1):
            continue
        for _ in range(twos - 1):
            value = value * value % candidate
            if value == candidate - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(candidate) and math.gcd(candidate - 1, 65537) == 1:
            return candidate


def small_rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """A real RSA key too small for rsa.generate_private_key (which refuses < 1024 bits)."""
    prime_p, prime_q = random_prime(bits // 2), random_prime(bits // 2)
    while prime_p == prime_q:
        prime_q = random_prime(bits // 2)
    private_exponent = pow(65537, -1, math.lcm(prime_p - 1, prime_q - 1))
    return rsa.RSAPrivateNumbers(
        p=prime_p,
        q=prime_q,
        d=private_exponent,
        dmp1=rsa.rsa_crt_dmp1(private_exponent, prime_p),
        dmq1=rsa.rsa_crt_dmq1(private_exponent, prime_q),
        iqmp=rsa.rsa_crt_iqmp(prime_p, prime_q),
        public_numbers=rsa.RSAPublicNumbers(65537, prime_p * prime_q),
    ).private_key(unsafe_skip_rsa_key_validation=True)


def assert_same_rsa_key(decoded: object, original: rsa.RSAPrivateKey) -> None:
    assert isinstance(decoded, rsa.RSAPrivateKey)
    got, expected = decoded.private_numbers(), original.private_numbers()
    assert got.public_numbers == expected.public_numbers
    assert {got.p, got.q} == {expected.p, expected.q}
    carmichael = math.lcm(expected.p - 1, expected.q - 1)
    assert got.d % carmichael == expected.d % carmichael
    message = b"signed with the unwrapped key"
    signature = decoded.sign(message, padding.PKCS1v15(), hashes.SHA256())
    original.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


# --- the published real-device vector ---------------------------------------------


def test_vector_file_is_present() -> None:
    vector = load_wrapped_key_vector()
    assert vector["expected"]["curve"] == "secp256k1"


def test_real_device_blob_decodes(
    vector: dict[str, Any], vector_dkek: Dkek, vector_blob: bytes
) -> None:
    expected = vector["expected"]
    assert len(vector_blob) == 363
    decoded = decode_key(vector_dkek, vector_blob)
    assert decoded.kcv.hex() == expected["kcv_hex"]
    assert vector_blob[-16:].hex() == expected["cmac_hex"]
    assert decoded.key_type is KeyType.EC
    assert int(decoded.key_type) == expected["key_type"]
    assert decoded.default_algorithm.hex() == expected["default_algorithm_oid_content_hex"]
    assert decoded.default_algorithm == EC_DEFAULT_ALGORITHM
    assert decoded.allowed_algorithms == b""
    assert decoded.access_conditions == b""
    assert decoded.key_oid == b""
    assert decoded.key_size == expected["key_size_bits"]
    assert decoded.padding is Padding.SCSH
    assert decoded.legacy_aes_oid is False
    key = decoded.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == expected["curve"]
    public = key.public_key().public_numbers()
    point = b"\x04" + public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big")
    assert point.hex() == expected["public_point_hex"]  # d·G == Q


def test_real_device_plaintext_layout(
    vector: dict[str, Any], vector_dkek: Dkek, vector_blob: bytes
) -> None:
    plaintext = decrypted_plaintext(vector_dkek, vector_blob)
    assert len(plaintext) == 320
    assert int.from_bytes(plaintext[8:10], "big") == 256
    components, end = split_components(plaintext, 7)
    assert end == 314
    assert plaintext[314:] == bytes.fromhex("800000000000")
    a, b, p, order, generator, private, public = components
    assert a == bytes(32)  # full field width, not stripped
    assert b == bytes(31) + b"\x07"
    assert p.hex() == vector["expected"]["prime_p_hex"]
    assert [len(order), len(generator), len(private), len(public)] == [32, 65, 32, 65]
    assert public.hex() == vector["expected"]["public_point_hex"]
    secp256k1 = curve_by_name("secp256k1")
    assert int.from_bytes(order, "big") == secp256k1.order
    assert generator == secp256k1.encode_point(secp256k1.generator)


def test_encode_reproduces_the_real_device_blob_byte_for_byte(
    vector_dkek: Dkek, vector_blob: bytes
) -> None:
    decoded = decode_key(vector_dkek, vector_blob)
    assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
    again = encode_key(vector_dkek, decoded.private_key, randomize=decoded.randomize)
    assert again == vector_blob
    # the same key as EcKeyMaterial (the path for curves cryptography lacks) agrees too
    material = EcKeyMaterial.from_private_value(
        curve_by_name("secp256k1"), decoded.private_key.private_numbers().private_value
    )
    assert encode_key(vector_dkek, material, randomize=decoded.randomize) == vector_blob


def test_header_is_readable_without_the_dkek(vector: dict[str, Any], vector_blob: bytes) -> None:
    header = describe_blob(vector_blob)
    assert header.kcv.hex() == vector["expected"]["kcv_hex"]
    assert header.key_type is KeyType.EC
    assert header.default_algorithm == EC_DEFAULT_ALGORITHM
    assert header.allowed_algorithms == header.access_conditions == header.key_oid == b""
    assert header.header_length == 27
    assert header.encrypted_length == 320
    assert header.mac.hex() == vector["expected"]["cmac_hex"]
    assert not header.legacy_aes_oid
    assert blob_kcv(vector_blob).hex() == vector["expected"]["kcv_hex"]
    assert blob_kcv(bytearray(vector_blob)) == header.kcv


def test_every_flipped_byte_is_detected(vector_dkek: Dkek, vector_blob: bytes) -> None:
    for position in range(len(vector_blob)):
        for flip in (0x01, 0x80):
            damaged = bytearray(vector_blob)
            damaged[position] ^= flip
            expected = KcvMismatch if position < 8 else MacMismatch
            with pytest.raises(expected):
                decode_key(vector_dkek, bytes(damaged))


def test_every_flipped_byte_of_an_aes_blob_is_detected(dkek: Dkek) -> None:
    blob = encode_key(dkek, AesKey(bytes(range(32))))
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0xFF
        with pytest.raises(KcvMismatch if position < 8 else MacMismatch):
            decode_key(dkek, bytes(damaged))


def test_wrong_dkek_gives_kcv_mismatch_without_revealing_keys(
    vector_dkek: Dkek, vector_blob: bytes
) -> None:
    other = Dkek.from_value(bytes(32))
    with pytest.raises(KcvMismatch) as caught:
        decode_key(other, vector_blob)
    assert caught.value.expected == other.kcv()
    assert caught.value.found == vector_blob[:8]
    message = str(caught.value)
    assert other.kcv().hex().upper() in message and vector_blob[:8].hex().upper() in message
    for secret in (other.value(), vector_dkek.value(), other.kenc(), other.kmac()):
        assert secret.hex() not in message.lower()


def test_truncated_blobs_are_refused(vector_dkek: Dkek, vector_blob: bytes) -> None:
    for length in range(len(vector_blob)):
        if length < MINIMUM_BLOB_LENGTH:
            with pytest.raises(MalformedKeyBlob, match="too short"):
                decode_key(vector_dkek, vector_blob[:length])
        else:
            with pytest.raises(MacMismatch):
                decode_key(vector_dkek, vector_blob[:length])
    with pytest.raises(MacMismatch):
        decode_key(vector_dkek, vector_blob + b"\x00")
    with pytest.raises(MalformedKeyBlob, match="too short"):
        blob_kcv(vector_blob[:20])
    with pytest.raises(MalformedKeyBlob, match="too short"):
        describe_blob(b"")


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "key_type"),
    [(1024, KeyType.RSA_CRT), (2048, KeyType.RSA_CRT), (3072, KeyType.RSA), (4096, KeyType.RSA)],
)
def test_rsa_round_trip(dkek: Dkek, bits: int, key_type: KeyType) -> None:
    key = rsa_key(bits)
    blob = encode_key(dkek, key, randomize=RANDOMIZE)
    header = describe_blob(blob)
    assert header.key_type is key_type
    assert header.default_algorithm == RSA_DEFAULT_ALGORITHM
    assert header.allowed_algorithms == b""
    decoded = decode_key(dkek, blob)
    assert decoded.key_type is key_type
    assert decoded.key_size == bits
    assert decoded.randomize == RANDOMIZE
    assert decoded.padding is Padding.SCSH
    assert_same_rsa_key(decoded.private_key, key)

    numbers = key.private_numbers()
    plaintext = decrypted_plaintext(dkek, blob)
    assert int.from_bytes(plaintext[8:10], "big") == bits
    modulus_bytes = bits // 8
    if key_type is KeyType.RSA_CRT:
        components, _ = split_components(plaintext, 7)
        assert [len(c) for c in components] == [modulus_bytes // 2] * 5 + [modulus_bytes, 3]
        values = [int.from_bytes(c, "big") for c in components]
        assert values == [
            numbers.dmp1,
            numbers.dmq1,
            numbers.p,
            numbers.iqmp,
            numbers.q,
            numbers.public_numbers.n,
            65537,
        ]
    else:
        components, _ = split_components(plaintext, 3)
        private, modulus, exponent = (int.from_bytes(c, "big") for c in components)
        phi = (numbers.p - 1) * (numbers.q - 1)
        assert private == pow(65537, -1, phi)  # Smart Card Shell's convertCRT2PEM
        assert components[0][0] != 0 and len(components[0]) == (private.bit_length() + 7) // 8
        assert len(components[1]) == modulus_bytes and modulus == numbers.public_numbers.n
        assert components[2] == b"\x01\x00\x01" and exponent == 65537


def test_rsa_key_with_odd_byte_length_modulus(dkek: Dkek) -> None:
    key = rsa_key(1032)  # 129-byte modulus: the primes are written at 65 bytes
    blob = encode_key(dkek, key)
    components, _ = split_components(decrypted_plaintext(dkek, blob), 7)
    assert [len(c) for c in components] == [65] * 5 + [129, 3]
    assert_same_rsa_key(decode_key(dkek, blob).private_key, key)


def test_block_aligned_plaintext_gets_a_whole_padding_block_and_pico_form_is_accepted(
    dkek: Dkek,
) -> None:
    key = rsa_key(1072)  # CRT content: 27 + 7 * 67 = 496 bytes, a multiple of 16
    blob = encode_key(dkek, key, randomize=RANDOMIZE)
    plaintext = decrypted_plaintext(dkek, blob)
    assert len(plaintext) == 512
    assert plaintext[496:] == b"\x80" + bytes(15)
    assert decode_key(dkek, blob).padding is Padding.SCSH

    pico_blob = build_blob(
        dkek, KeyType.RSA_CRT, plaintext[:496], default_algorithm=RSA_DEFAULT_ALGORITHM
    )
    decoded = decode_key(dkek, pico_blob)
    assert decoded.padding is Padding.PICO
    assert_same_rsa_key(decoded.private_key, key)


def test_pico_style_ec_blob_with_minimal_components(dkek: Dkek) -> None:
    curve = curve_by_name("secp256k1")
    private_value = 0x0102030405060708090A0B0C0D0E0F101112131415  # 21 bytes
    material = EcKeyMaterial.from_private_value(curve, private_value)
    content = ec_content(curve, private_value, material.public_point, minimal=True)
    assert len(content) == 240  # block aligned: Pico HSM adds no padding at all
    blob = build_blob(dkek, KeyType.EC, pico_pad(content), default_algorithm=EC_DEFAULT_ALGORITHM)
    decoded = decode_key(dkek, blob)
    assert decoded.padding is Padding.PICO
    assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
    assert decoded.private_key.private_numbers().private_value == private_value


def test_pico_style_rsa_type_5_blob(dkek: Dkek) -> None:
    key = rsa_key(2048)
    numbers = key.private_numbers()
    content = (
        RANDOMIZE
        + (2048).to_bytes(2, "big")
        + lv(be(numbers.d))
        + lv(be(numbers.public_numbers.n))
        + lv(be(65537))
    )
    blob = build_blob(dkek, KeyType.RSA, pico_pad(content), default_algorithm=RSA_DEFAULT_ALGORITHM)
    decoded = decode_key(dkek, blob)
    assert decoded.key_type is KeyType.RSA
    assert_same_rsa_key(decoded.private_key, key)


@pytest.mark.parametrize("curve", SUPPORTED_CURVES, ids=[c.name for c in SUPPORTED_CURVES])
def test_ec_round_trip_on_every_card_curve(dkek: Dkek, curve: CurveParameters) -> None:
    key: ec.EllipticCurvePrivateKey | EcKeyMaterial
    if curve.cryptography_curve is not None:
        key = ec.generate_private_key(curve.cryptography_curve())
        private_value = key.private_numbers().private_value
    else:
        private_value = secrets.randbelow(curve.order - 1) + 1
        key = EcKeyMaterial.from_private_value(curve, private_value)
    blob = encode_key(dkek, key)
    decoded = decode_key(dkek, blob)
    assert decoded.key_type is KeyType.EC
    assert decoded.key_size == curve.field_bytes * 8
    assert decoded.default_algorithm == EC_DEFAULT_ALGORITHM
    assert decoded.padding is Padding.SCSH
    if curve.cryptography_curve is not None:
        assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
        assert decoded.private_key.curve.name == curve.name
        assert decoded.private_key.private_numbers().private_value == private_value
    else:
        assert decoded.private_key == key
    components, end = split_components(decrypted_plaintext(dkek, blob), 7)
    width, order_width, point_width = (
        curve.field_bytes,
        curve.order_bytes,
        1 + 2 * curve.field_bytes,
    )
    expected_lengths = [width, width, width, order_width, point_width, order_width, point_width]
    assert [len(c) for c in components] == expected_lengths
    assert end == 26 + 7 * width + 2 * order_width


def test_secp521r1_key_size_field_is_528(dkek: Dkek) -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    assert decode_key(dkek, encode_key(dkek, key)).key_size == 528


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(["secp256k1", "brainpoolP320r1", "secp192k1", "brainpoolP224r1"]),
    st.data(),
)
def test_ec_round_trip_over_private_scalars(curve_name: str, data: st.DataObject) -> None:
    curve = curve_by_name(curve_name)
    private_value = data.draw(
        st.one_of(
            st.integers(min_value=1, max_value=curve.order - 1),
            st.sampled_from([1, 2, curve.order - 1, curve.order - 2, 1 << 64]),
        ),
        label="d",
    )
    dkek = Dkek.from_value(bytes(32))
    material = EcKeyMaterial.from_private_value(curve, private_value)
    decoded = decode_key(dkek, encode_key(dkek, material, randomize=RANDOMIZE))
    if curve.cryptography_curve is None:
        assert decoded.private_key == material
    else:
        assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
        assert decoded.private_key.private_numbers().private_value == private_value


@pytest.mark.parametrize("length", [16, 24, 32])
def test_aes_round_trip(dkek: Dkek, length: int) -> None:
    key = AesKey(secrets.token_bytes(length))
    blob = encode_key(dkek, key, randomize=RANDOMIZE)
    header = describe_blob(blob)
    assert header.key_type is KeyType.AES
    assert header.default_algorithm == AES_DEFAULT_ALGORITHM
    assert header.allowed_algorithms == AES_DEFAULT_ALLOWED_ALGORITHMS == bytes.fromhex("10111899")
    decoded = decode_key(dkek, blob)
    assert decoded.private_key == key
    assert decoded.key_size == length  # bytes, not bits
    assert decoded.legacy_aes_oid is False
    plaintext = decrypted_plaintext(dkek, blob)
    assert plaintext[:8] == RANDOMIZE
    assert plaintext[10 : 10 + length] == key.key  # no length prefix
    assert plaintext[10 + length] == 0x80 and not any(plaintext[11 + length :])


@pytest.mark.parametrize(
    ("make_key", "allowed"),
    [
        (lambda: AesKey(bytes(16)), b""),
        (lambda: AesKey(bytes(32)), b"\x10"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), bytes.fromhex("70 73 74")),
        (lambda: rsa_key(1024), bytes.fromhex("20 21 30 40")),
        (lambda: rsa_key(3072), bytes(range(1, 40))),
    ],
    ids=["aes-explicitly-empty", "aes-cbc-only", "ec", "rsa-crt", "rsa-type-5-long-list"],
)
def test_custom_allowed_algorithm_lists(dkek: Dkek, make_key: Any, allowed: bytes) -> None:
    blob = encode_key(dkek, make_key(), allowed_algorithms=allowed)
    assert describe_blob(blob).allowed_algorithms == allowed
    assert decode_key(dkek, blob).allowed_algorithms == allowed


def test_randomize_is_random_by_default_and_checked(dkek: Dkek) -> None:
    key = AesKey(bytes(16))
    first, second = encode_key(dkek, key), encode_key(dkek, key)
    assert first != second
    assert decode_key(dkek, first).randomize != decode_key(dkek, second).randomize
    with pytest.raises(ValueError, match="8 bytes"):
        encode_key(dkek, key, randomize=b"short")


def test_plaintext_buffers_are_wiped(dkek: Dkek, monkeypatch: pytest.MonkeyPatch) -> None:
    wiped: list[bytearray] = []
    real_wipe = keyblob.wipe

    def recording_wipe(*buffers: Any) -> None:
        wiped.extend(buffers)
        real_wipe(*buffers)

    monkeypatch.setattr(keyblob, "wipe", recording_wipe)
    key = AesKey(bytes(range(1, 33)))
    blob = encode_key(dkek, key)
    decode_key(dkek, blob)
    assert len(wiped) == 2
    for buffer in wiped:
        assert isinstance(buffer, bytearray) and len(buffer) >= 32
        assert not any(buffer)


def test_decoded_blob_is_frozen(vector_dkek: Dkek, vector_blob: bytes) -> None:
    decoded = decode_key(vector_dkek, vector_blob)
    assert isinstance(decoded, DecodedKeyBlob)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.key_size = 1  # type: ignore[misc]


# --- hand-built blobs: tolerated variants -----------------------------------------


def test_overlong_iso_padding_is_accepted_and_reported(dkek: Dkek) -> None:
    content = RANDOMIZE + (16).to_bytes(2, "big") + bytes(range(16))
    blob = build_blob(dkek, KeyType.AES, scsh_pad(content) + bytes(16))
    decoded = decode_key(dkek, blob)
    assert decoded.padding is Padding.OTHER
    assert decoded.private_key == AesKey(bytes(range(16)))


def test_firmware_3_0_aes_default_algorithm_is_tolerated_and_flagged(dkek: Dkek) -> None:
    content = RANDOMIZE + (32).to_bytes(2, "big") + bytes(range(32))
    wrong_oid = bytes.fromhex("0609608648016503040129")
    blob = build_blob(dkek, KeyType.AES, scsh_pad(content), default_algorithm=wrong_oid)
    assert describe_blob(blob).legacy_aes_oid
    decoded = decode_key(dkek, blob)
    assert decoded.legacy_aes_oid is True
    assert decoded.default_algorithm == wrong_oid
    assert decoded.private_key == AesKey(bytes(range(32)))


def test_access_conditions_and_key_oid_are_returned(dkek: Dkek) -> None:
    content = RANDOMIZE + (16).to_bytes(2, "big") + bytes(16)
    blob = build_blob(
        dkek,
        KeyType.AES,
        scsh_pad(content),
        default_algorithm=AES_DEFAULT_ALGORITHM,
        access_conditions=b"\xaa\xbb",
        key_oid=b"\x2b\x06",
    )
    decoded = decode_key(dkek, blob)
    assert (decoded.access_conditions, decoded.key_oid) == (b"\xaa\xbb", b"\x2b\x06")
    assert describe_blob(blob).header_length == 8 + 1 + 2 + 8 + 2 + 2 + 2 + 2 + 2


# --- hand-built blobs: structural faults (each with a correct MAC) ----------------


def test_unknown_key_type(dkek: Dkek) -> None:
    blob = build_blob(dkek, 7, bytes(16))
    with pytest.raises(MalformedKeyBlob, match="unknown key type 7"):
        decode_key(dkek, blob)
    with pytest.raises(MalformedKeyBlob, match="unknown key type 7"):
        describe_blob(blob)


def test_header_length_running_past_the_ciphertext(dkek: Dkek) -> None:
    body = dkek.kcv() + b"\x0f" + b"\xff\xff" + bytes(6) + bytes(32)
    blob = body + aes_cmac(dkek.kmac(), body)
    with pytest.raises(MalformedKeyBlob, match="default algorithm field claims 65535 bytes"):
        decode_key(dkek, blob)


def test_header_ending_before_a_length_field(dkek: Dkek) -> None:
    body = dkek.kcv() + b"\x0f" + b"\x00\x26" + bytes(38)
    blob = body + aes_cmac(dkek.kmac(), body)
    with pytest.raises(MalformedKeyBlob, match="ends before its allowed algorithms length"):
        decode_key(dkek, blob)


def test_ciphertext_not_a_multiple_of_16(dkek: Dkek) -> None:
    blob = build_blob(dkek, KeyType.AES, b"", raw_ciphertext=bytes(33))
    with pytest.raises(MalformedKeyBlob, match="33 bytes, not a multiple of 16"):
        decode_key(dkek, blob)


def test_no_ciphertext_at_all(dkek: Dkek) -> None:
    blob = build_blob(dkek, KeyType.AES, b"", allowed=bytes(20), raw_ciphertext=b"")
    assert len(blob) >= MINIMUM_BLOB_LENGTH
    with pytest.raises(MalformedKeyBlob, match="no encrypted key"):
        decode_key(dkek, blob)


@pytest.mark.parametrize(
    "tail",
    [bytes.fromhex("8001") + bytes(20), bytes(22), bytes.fromhex("7f") + bytes(21)],
    ids=["80-then-non-zero", "zeros-without-80", "wrong-marker"],
)
def test_bad_padding(dkek: Dkek, tail: bytes) -> None:
    content = RANDOMIZE + (16).to_bytes(2, "big") + bytes(range(16))
    blob = build_blob(dkek, KeyType.AES, content + tail)
    with pytest.raises(MalformedKeyBlob, match="bad padding"):
        decode_key(dkek, blob)


def test_aes_key_longer_than_the_plaintext(dkek: Dkek) -> None:
    content = RANDOMIZE + (1000).to_bytes(2, "big") + bytes(16)
    blob = build_blob(dkek, KeyType.AES, scsh_pad(content))
    with pytest.raises(MalformedKeyBlob, match="ends inside the 1000-byte AES key"):
        decode_key(dkek, blob)


def test_aes_key_of_a_length_the_card_cannot_hold(dkek: Dkek) -> None:
    content = RANDOMIZE + (64).to_bytes(2, "big") + bytes(64)
    blob = build_blob(dkek, KeyType.AES, scsh_pad(content))
    with pytest.raises(UnsupportedKey, match="not of 64"):
        decode_key(dkek, blob)


def test_component_running_past_the_end(dkek: Dkek) -> None:
    curve = curve_by_name("secp256r1")
    material = EcKeyMaterial.from_private_value(curve, 12345)
    content = bytearray(ec_content(curve, 12345, material.public_point))
    d_length_offset = 10 + 3 * 34 + 34 + 67
    content[d_length_offset : d_length_offset + 2] = (0x0FFF).to_bytes(2, "big")
    blob = build_blob(dkek, KeyType.EC, scsh_pad(bytes(content)))
    with pytest.raises(MalformedKeyBlob, match="ends inside the private value d"):
        decode_key(dkek, blob)


def test_rsa_crt_faults(dkek: Dkek) -> None:
    numbers = rsa_key(1024).private_numbers()
    cases = {
        "do not multiply": {"p": numbers.p + 2},
        "dP does not match": {"dmp1": numbers.dmp1 + 1},
        "dQ does not match": {"dmq1": numbers.dmq1 + 1},
        "qInv is not the inverse": {"iqmp": numbers.iqmp + 1},
        "primes or public exponent are out of range": {"e": 1},
    }
    for message, overrides in cases.items():
        blob = build_blob(dkek, KeyType.RSA_CRT, scsh_pad(rsa_crt_content(numbers, **overrides)))
        with pytest.raises(MalformedKeyBlob, match=message):
            decode_key(dkek, blob)


def test_rsa_key_size_field_must_match_the_modulus(dkek: Dkek) -> None:
    numbers = rsa_key(1024).private_numbers()
    content = bytearray(rsa_crt_content(numbers))
    content[8:10] = (2048).to_bytes(2, "big")
    blob = build_blob(dkek, KeyType.RSA_CRT, scsh_pad(bytes(content)))
    with pytest.raises(MalformedKeyBlob, match="says 2048 bits, but the modulus has 1024"):
        decode_key(dkek, blob)


def test_rsa_type_5_with_a_private_exponent_of_another_key(dkek: Dkek) -> None:
    numbers = rsa_key(2048).private_numbers()
    for private_exponent, message in [
        (numbers.d + 2, "does not belong"),
        (1, "out of range"),
    ]:
        content = (
            RANDOMIZE
            + (2048).to_bytes(2, "big")
            + lv(be(private_exponent))
            + lv(be(numbers.public_numbers.n))
            + lv(be(65537))
        )
        blob = build_blob(dkek, KeyType.RSA, scsh_pad(content))
        with pytest.raises(MalformedKeyBlob, match=message):
            decode_key(dkek, blob)


def test_ec_faults(dkek: Dkek) -> None:
    curve = curve_by_name("brainpoolP320r1")
    private_value = 0xC0FFEE
    material = EcKeyMaterial.from_private_value(curve, private_value)
    twice = EcKeyMaterial.from_private_value(curve, 2 * private_value).public_point
    off_curve = bytearray(material.public_point)
    off_curve[-1] ^= 1
    cases = [
        (ec_content(curve, private_value, twice), "Q is not d·G"),
        (ec_content(curve, private_value, bytes(off_curve)), "not on the curve"),
        (ec_content(curve, private_value, material.public_point[:-1]), "Q is invalid"),
        (ec_content(curve, 0, material.public_point), "d is out of range"),
        (ec_content(curve, curve.order, material.public_point), "d is out of range"),
        (ec_content(curve, private_value, material.public_point, key_size=319), "key size"),
    ]
    for content, message in cases:
        blob = build_blob(dkek, KeyType.EC, scsh_pad(content))
        with pytest.raises(MalformedKeyBlob, match=message):
            decode_key(dkek, blob)


def test_ec_unknown_curve_and_inconsistent_widths(dkek: Dkek) -> None:
    curve = curve_by_name("secp256k1")
    material = EcKeyMaterial.from_private_value(curve, 99)
    good = ec_content(curve, 99, material.public_point)
    b_offset = 10 + 34 + 2
    unknown = bytearray(good)
    unknown[b_offset + 31] = 5  # y^2 = x^3 + 5 instead of + 7
    wide_a = good[:10] + lv(bytes(33)) + good[10 + 34 :]
    generator = curve.encode_point(curve.generator)
    wide_generator = b"\x04" + b"\x00" + generator[1:33] + b"\x00" + generator[33:]
    g_offset = 10 + 4 * 34
    wide_g = good[:g_offset] + lv(wide_generator) + good[g_offset + 67 :]
    cases = [
        (bytes(unknown), "unknown curve"),
        (wide_a, "wider than a secp256k1 field element"),
        (wide_g, "the generator G is 67 bytes long"),
    ]
    for content, message in cases:
        blob = build_blob(dkek, KeyType.EC, scsh_pad(content))
        with pytest.raises(MalformedKeyBlob, match=message):
            decode_key(dkek, blob)


def test_error_messages_never_contain_key_material(dkek: Dkek) -> None:
    curve = curve_by_name("secp256k1")
    private_value = 0x1F2E3D4C5B6A79880123456789ABCDEF
    material = EcKeyMaterial.from_private_value(curve, private_value)
    twice = EcKeyMaterial.from_private_value(curve, 2).public_point
    blob = build_blob(dkek, KeyType.EC, scsh_pad(ec_content(curve, private_value, twice)))
    with pytest.raises(KeyBlobError) as caught:
        decode_key(dkek, blob)
    text = str(caught.value).lower()
    assert format(private_value, "x") not in text
    assert material.public_point.hex() not in text
    assert dkek.value().hex() not in text


# --- keys the card cannot hold ------------------------------------------------------


@pytest.mark.parametrize(
    ("make_key", "reason"),
    [
        (ed25519.Ed25519PrivateKey.generate, "cannot hold Ed25519 keys"),
        (ed448.Ed448PrivateKey.generate, "cannot hold Ed448 keys"),
        (x25519.X25519PrivateKey.generate, "cannot hold X25519 keys"),
        (x448.X448PrivateKey.generate, "cannot hold X448 keys"),
        (lambda: dsa.generate_private_key(1024), "cannot hold DSA keys"),
        (lambda: ec.generate_private_key(ec.SECP224R1()), "does not support the curve secp224r1"),
        (lambda: rsa_key(1024).public_key(), "public key cannot be wrapped"),
        (lambda: bytes(32), "AesKey"),
        (lambda: "a string", "str cannot be wrapped"),
        (lambda: small_rsa_key(512), "512-bit RSA key"),
        (lambda: rsa_key(1028), "1028-bit RSA key"),
        (lambda: rsa_key(4104), "4104-bit RSA key"),
    ],
    ids=[
        "ed25519",
        "ed448",
        "x25519",
        "x448",
        "dsa",
        "secp224r1",
        "public-key",
        "bytes",
        "str",
        "rsa-512",
        "rsa-1028",
        "rsa-4104",
    ],
)
def test_unsupported_keys_are_refused_with_the_reason(
    dkek: Dkek, make_key: Any, reason: str
) -> None:
    with pytest.raises(UnsupportedKey, match=reason):
        encode_key(dkek, make_key())


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_diffie_hellman_keys_are_refused(dkek: Dkek) -> None:
    from cryptography.hazmat.primitives.asymmetric import dh

    key = dh.generate_parameters(generator=2, key_size=512).generate_private_key()
    with pytest.raises(UnsupportedKey, match=r"cannot hold Diffie-Hellman \(DH\) keys"):
        encode_key(dkek, key)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 15, 20, 31, 33, 64])
def test_aes_key_lengths_the_card_cannot_hold(length: int) -> None:
    with pytest.raises(UnsupportedKey, match=f"not of {length}"):
        AesKey(bytes(length))


def test_reprs_hide_secrets() -> None:
    key = AesKey(bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert "00112233" not in repr(key) and "128-bit" in repr(key)
    assert key.bits == 128
    curve = curve_by_name("brainpoolP192r1")
    private_value = 0x123456789ABCDEF0123456789
    material = EcKeyMaterial.from_private_value(curve, private_value)
    assert format(private_value, "x") not in repr(material).lower()
    assert str(private_value) not in repr(material)


def test_ec_key_material_is_checked() -> None:
    curve = curve_by_name("brainpoolP224r1")
    material = EcKeyMaterial.from_private_value(curve, 7)
    with pytest.raises(ValueError, match="not d·G"):
        EcKeyMaterial(curve, 8, material.public_point)
    with pytest.raises(ValueError, match="between 1 and the order"):
        EcKeyMaterial(curve, 0, material.public_point)
    with pytest.raises(ValueError, match="between 1 and the order"):
        EcKeyMaterial(curve, curve.order, material.public_point)
    with pytest.raises(ValueError, match="not on the curve"):
        EcKeyMaterial(curve, 7, material.public_point[:-1] + bytes([material.public_point[-1] ^ 1]))
    assert EcKeyMaterial(curve, 7, bytearray(material.public_point)) == material
