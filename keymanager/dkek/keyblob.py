"""The SmartCard-HSM wrapped key blob: what the card's WRAP returns and UNWRAP takes.

Byte-compatible with Smart Card Shell's ``DKEK.encodeKey`` / ``encodeAESKey`` and
checked against a blob exported by a real Nitrokey HSM.

Outer layout (all lengths big-endian)::

    KCV (8) | key type (1) | 2-byte length + default algorithm OID content
            | 2-byte length + allowed algorithm ids | 2-byte length + access conditions
            | 2-byte length + key OID | AES-256-CBC ciphertext (Kenc, IV 0) | AES-CMAC (Kmac, 16)

The MAC covers everything before it.  The plaintext is 8 random bytes ("randomize"),
a 2-byte key size, then the key components, each with a 2-byte length:

=========  =====================  ==================================================
type       key size field         components
=========  =====================  ==================================================
5 RSA      modulus bytes x 8      d, n, e
6 RSA-CRT  modulus bytes x 8      dP, dQ, p, qInv, q, n, e
12 EC      len(p bytes) x 8       a, b, p, order, G (04 | Gx | Gy), d, Q (04 | Qx | Qy)
15 AES     key length in BYTES    the key bytes, without a length prefix
=========  =====================  ==================================================

Encoding follows Smart Card Shell exactly:

* RSA keys above 2048 bits become type 5 with d = e^-1 mod (n - p - q + 1), written
  without leading zero bytes (the card refuses CRT blobs of that size); keys up to
  2048 bits are written as type 6 with p, q, dP, dQ and qInv at half the modulus
  width, n at full width and e minimal.
* EC field elements (a, b, p and the point coordinates) are written at the full field
  width, the order and d at the order's width.  For secp521r1 the key size field is
  therefore 528 (66 bytes x 8), as both Smart Card Shell and Pico HSM write it.
* Padding: 0x80, then zeros to a multiple of 8 (ISO/IEC 9797-1 method 2), then 8
  more zeros if the result is not a multiple of 16.  A plaintext that is already
  block aligned thus gets a whole extra block ``80 00 .. 00``.

Decoding accepts that padding and Pico HSM's (no padding at all when the plaintext
is block aligned), components of any width (Pico HSM writes minimal integers), an
empty curve coefficient a (Pico HSM's secp521r1 blobs: a = -3 implied, the curve is
recognised from p, b, G and the order), and
the wrongly encoded AES default algorithm of firmware 3.0 to 3.2.  It checks the KCV
and the MAC before it decrypts anything, then every structural and mathematical
property of the key.
"""

from __future__ import annotations

import hmac
import math
import os
import warnings
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.utils import CryptographyDeprecationWarning

from keymanager.dkek.curves import (
    CurveParameters,
    curve_by_cryptography_curve,
    curve_by_domain_parameters,
    derive_public_point,
)
from keymanager.dkek.dkek import KCV_LENGTH, Dkek
from keymanager.dkek.errors import (
    KcvMismatch,
    MacMismatch,
    MalformedKeyBlob,
    UnsupportedKey,
)
from keymanager.dkek.secret import wipe


class KeyType(IntEnum):
    """The key type byte of a blob."""

    RSA = 5
    """RSA as private exponent d and modulus n."""
    RSA_CRT = 6
    """RSA in Chinese-remainder form."""
    EC = 12
    """An elliptic-curve key with explicit domain parameters."""
    AES = 15
    """An AES key."""


class Padding(StrEnum):
    """How the plaintext inside a decoded blob was padded."""

    SCSH = "scsh"
    """0x80 and zeros to the next multiple of 16, always at least one byte: what Smart
    Card Shell and the SmartCard-HSM write (Pico HSM writes the same bytes unless the
    plaintext is already block aligned)."""
    PICO = "pico"
    """No padding at all: a block-aligned plaintext as Pico HSM writes it."""
    OTHER = "other"
    """0x80 and zeros, but longer than either writer pads (accepted, never written)."""


RSA_DEFAULT_ALGORITHM = bytes.fromhex("04007F00070202020102")
"""id-TA-RSA-v1-5-SHA-256 (0.4.0.127.0.7.2.2.2.1.2), OID content bytes."""
EC_DEFAULT_ALGORITHM = bytes.fromhex("04007F00070202020203")
"""id-TA-ECDSA-SHA-256 (0.4.0.127.0.7.2.2.2.2.3), OID content bytes."""
AES_DEFAULT_ALGORITHM = bytes.fromhex("6086480165030401")
"""The AES arc 2.16.840.1.101.3.4.1, OID content bytes."""
AES_DEFAULT_ALLOWED_ALGORITHMS = bytes.fromhex("10111899")
"""AES-CBC encrypt, AES-CBC decrypt, AES-CMAC, AES derive: what Smart Card Shell allows."""

RANDOMIZE_LENGTH = 8
MAC_LENGTH = 16
_BLOCK = 16
_HEADER_FIXED_LENGTH = KCV_LENGTH + 1 + 4 * 2
MINIMUM_BLOB_LENGTH = _HEADER_FIXED_LENGTH + _BLOCK + MAC_LENGTH
"""The shortest possible blob: empty header fields, one cipher block and the MAC."""

MINIMUM_RSA_BITS = 1024
MAXIMUM_RSA_BITS = 4096
MAXIMUM_CRT_BITS = 2048
"""RSA keys up to this size are wrapped in CRT form (type 6), larger ones as type 5."""
AES_KEY_LENGTHS = (16, 24, 32)

_LEGACY_AES_OID_FIRST_BYTE = 0x60
_PADDING_MARKER = 0x80
_MAX_FIELD_LENGTH = 0xFFFF


@dataclass(frozen=True)
class AesKey:
    """An AES key of 16, 24 or 32 bytes.  Its repr never shows the key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", bytes(self.key))
        if len(self.key) not in AES_KEY_LENGTHS:
            raise UnsupportedKey(
                f"the SmartCard-HSM holds AES keys of 16, 24 or 32 bytes, not of {len(self.key)}"
            )

    @property
    def bits(self) -> int:
        """The key length in bits (128, 192 or 256)."""
        return len(self.key) * 8

    def __repr__(self) -> str:
        return f"AesKey(<{self.bits}-bit key hidden>)"


@dataclass(frozen=True)
class EcKeyMaterial:
    """An EC private key on a curve :mod:`cryptography` cannot represent.

    ``public_point`` is the uncompressed encoding 04 | x | y.  The constructor checks
    that the private value is in range and that the public point is d·G; its repr
    never shows the private value.

    :raises ValueError: the private value and public point do not form a key.
    """

    curve: CurveParameters
    private_value: int = field(repr=False)
    public_point: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_point", bytes(self.public_point))
        if not 1 <= self.private_value < self.curve.order:
            raise ValueError(
                f"the private value is not between 1 and the order of {self.curve.name}"
            )
        point = self.curve.decode_point(self.public_point)  # ValueError if off the curve
        if derive_public_point(self.curve, self.private_value) != point:
            raise ValueError(f"the public point is not d·G on {self.curve.name}")

    @classmethod
    def from_private_value(cls, curve: CurveParameters, private_value: int) -> EcKeyMaterial:
        """Build the key from its private value alone, deriving the public point."""
        point = derive_public_point(curve, private_value)
        return cls(curve, private_value, curve.encode_point(point))


WrappableKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | EcKeyMaterial | AesKey
"""What :func:`encode_key` wraps and :func:`decode_key` returns as ``private_key``."""


@dataclass(frozen=True)
class BlobHeader:
    """The unencrypted fields of a blob, readable without the DKEK (:func:`describe_blob`)."""

    kcv: bytes
    key_type: KeyType
    default_algorithm: bytes
    allowed_algorithms: bytes
    access_conditions: bytes
    key_oid: bytes
    header_length: int
    """Bytes before the ciphertext (KCV up to and including the key OID field)."""
    encrypted_length: int
    """Length of the ciphertext (a non-zero multiple of 16)."""
    mac: bytes

    @property
    def legacy_aes_oid(self) -> bool:
        """An AES blob whose default algorithm is encoded as firmware 3.0 to 3.2 did."""
        return self.key_type is KeyType.AES and (
            not self.default_algorithm or self.default_algorithm[0] != _LEGACY_AES_OID_FIRST_BYTE
        )


@dataclass(frozen=True)
class DecodedKeyBlob:
    """A blob decrypted and checked by :func:`decode_key`."""

    kcv: bytes
    key_type: KeyType
    default_algorithm: bytes
    allowed_algorithms: bytes
    access_conditions: bytes
    key_oid: bytes
    key_size: int
    """The key size field as stored: bits for RSA and EC, bytes for AES."""
    private_key: WrappableKey
    randomize: bytes
    """The 8 random bytes that start the plaintext."""
    padding: Padding
    legacy_aes_oid: bool
    """True for an AES blob with the firmware 3.0 to 3.2 default-algorithm encoding."""


# --- encoding -----------------------------------------------------------------------


def encode_key(
    dkek: Dkek,
    key: WrappableKey,
    *,
    allowed_algorithms: bytes | None = None,
    randomize: bytes | None = None,
) -> bytes:
    """Wrap a private or secret key under ``dkek`` exactly as Smart Card Shell does.

    :param allowed_algorithms: the one-byte algorithm ids the card may use the key
        for; ``None`` gives the type's default (``10 11 18 99`` for AES, an empty,
        unrestricted list for RSA and EC), ``b""`` an explicitly empty list.
    :param randomize: the 8 random bytes that start the plaintext (for tests);
        ``None`` draws them from the operating system.
    :raises UnsupportedKey: the SmartCard-HSM cannot hold the key (its type, RSA size
        or curve); the message says why.
    """
    if randomize is None:
        randomize = os.urandom(RANDOMIZE_LENGTH)
    if len(randomize) != RANDOMIZE_LENGTH:
        raise ValueError(f"randomize must be {RANDOMIZE_LENGTH} bytes, not {len(randomize)}")
    if allowed_algorithms is not None and len(allowed_algorithms) > _MAX_FIELD_LENGTH:
        raise ValueError("the allowed-algorithms list is longer than 65535 bytes")

    plaintext = bytearray(randomize)
    try:
        candidate: object = key  # checked at run time: callers may pass anything
        if isinstance(candidate, rsa.RSAPrivateKey):
            key_type = _append_rsa(plaintext, candidate)
            default_algorithm, default_allowed = RSA_DEFAULT_ALGORITHM, b""
        elif isinstance(candidate, ec.EllipticCurvePrivateKey):
            curve = curve_by_cryptography_curve(candidate.curve)
            private_value = candidate.private_numbers().private_value
            public_numbers = candidate.public_key().public_numbers()
            point = curve.encode_point((public_numbers.x, public_numbers.y))
            key_type = _append_ec(plaintext, curve, private_value, point)
            default_algorithm, default_allowed = EC_DEFAULT_ALGORITHM, b""
        elif isinstance(candidate, EcKeyMaterial):
            key_type = _append_ec(
                plaintext, candidate.curve, candidate.private_value, candidate.public_point
            )
            default_algorithm, default_allowed = EC_DEFAULT_ALGORITHM, b""
        elif isinstance(candidate, AesKey):
            plaintext += len(candidate.key).to_bytes(2, "big")
            plaintext += candidate.key
            key_type = KeyType.AES
            default_algorithm, default_allowed = (
                AES_DEFAULT_ALGORITHM,
                AES_DEFAULT_ALLOWED_ALGORITHMS,
            )
        else:
            raise UnsupportedKey(_unsupported_reason(candidate))
        _pad_like_scsh(plaintext)

        allowed = default_allowed if allowed_algorithms is None else bytes(allowed_algorithms)
        blob = bytearray(dkek.kcv())
        blob.append(key_type)
        for value in (default_algorithm, allowed, b"", b""):  # access conditions, key OID
            blob += len(value).to_bytes(2, "big") + value
        blob += _encrypt(dkek.kenc(), plaintext)
        blob += _mac(dkek.kmac(), blob)
        return bytes(blob)
    finally:
        wipe(plaintext)


def _diffie_hellman_key_types() -> tuple[type[object], type[object]]:
    """The DH key classes, looked up without cryptography's FFDH deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return (dh.DHPrivateKey, dh.DHPublicKey)


def _unsupported_reason(key: object) -> str:
    dh_private, dh_public = _diffie_hellman_key_types()
    kinds: tuple[tuple[type[object], str], ...] = (
        (ed25519.Ed25519PrivateKey, "Ed25519"),
        (ed448.Ed448PrivateKey, "Ed448"),
        (x25519.X25519PrivateKey, "X25519"),
        (x448.X448PrivateKey, "X448"),
        (dsa.DSAPrivateKey, "DSA"),
        (dh_private, "Diffie-Hellman (DH)"),
    )
    for kind, name in kinds:
        if isinstance(key, kind):
            return f"the SmartCard-HSM cannot hold {name} keys"
    public_kinds = (
        rsa.RSAPublicKey,
        ec.EllipticCurvePublicKey,
        ed25519.Ed25519PublicKey,
        ed448.Ed448PublicKey,
        x25519.X25519PublicKey,
        x448.X448PublicKey,
        dsa.DSAPublicKey,
        dh_public,
    )
    if isinstance(key, public_kinds):
        return "a public key cannot be wrapped: the blob carries the private key"
    if isinstance(key, bytes | bytearray):
        return "raw bytes cannot be wrapped: pass an AES key as AesKey(key_bytes)"
    return f"a {type(key).__name__} cannot be wrapped: it is not an RSA, EC or AES key"


def _append_component(plaintext: bytearray, value: int, width: int = 0) -> None:
    """Append 2-byte length | value, big-endian, at least ``width`` bytes (0: minimal)."""
    length = max(width, (value.bit_length() + 7) // 8)
    plaintext += length.to_bytes(2, "big")
    plaintext += value.to_bytes(length, "big")


def _append_rsa(plaintext: bytearray, key: rsa.RSAPrivateKey) -> KeyType:
    bits = key.key_size
    if bits % 8 or not MINIMUM_RSA_BITS <= bits <= MAXIMUM_RSA_BITS:
        raise UnsupportedKey(
            f"the SmartCard-HSM cannot hold a {bits}-bit RSA key: it holds RSA keys of "
            f"{MINIMUM_RSA_BITS} to {MAXIMUM_RSA_BITS} bits in steps of 8 bits"
        )
    numbers = key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    modulus_length = bits // 8
    plaintext += (modulus_length * 8).to_bytes(2, "big")
    if bits > MAXIMUM_CRT_BITS:
        # Smart Card Shell's convertCRT2PEM: d modulo phi(n), without leading zeros.
        private_exponent = pow(e, -1, n - numbers.p - numbers.q + 1)
        _append_component(plaintext, private_exponent)
        _append_component(plaintext, n, modulus_length)
        _append_component(plaintext, e)
        return KeyType.RSA
    half = (modulus_length + 1) // 2
    for value in (numbers.dmp1, numbers.dmq1, numbers.p, numbers.iqmp, numbers.q):
        _append_component(plaintext, value, half)
    _append_component(plaintext, n, modulus_length)
    _append_component(plaintext, e)
    return KeyType.RSA_CRT


def _append_ec(
    plaintext: bytearray, curve: CurveParameters, private_value: int, public_point: bytes
) -> KeyType:
    plaintext += (curve.field_bytes * 8).to_bytes(2, "big")
    _append_component(plaintext, curve.a, curve.field_bytes)
    _append_component(plaintext, curve.b, curve.field_bytes)
    _append_component(plaintext, curve.p, curve.field_bytes)
    _append_component(plaintext, curve.order, curve.order_bytes)
    generator = curve.encode_point(curve.generator)
    plaintext += len(generator).to_bytes(2, "big") + generator
    _append_component(plaintext, private_value, curve.order_bytes)
    plaintext += len(public_point).to_bytes(2, "big") + public_point
    return KeyType.EC


def _pad_like_scsh(plaintext: bytearray) -> None:
    """ISO/IEC 9797-1 method 2 to 8 bytes, then 8 zeros more if not a multiple of 16."""
    plaintext.append(_PADDING_MARKER)
    plaintext += bytes(-len(plaintext) % 8)
    if len(plaintext) % _BLOCK:
        plaintext += bytes(8)


def _scsh_padded_length(length: int) -> int:
    return length + 1 + (-(length + 1) % _BLOCK)


def _encrypt(kenc: bytes, plaintext: bytearray) -> bytes:
    encryptor = Cipher(algorithms.AES(kenc), modes.CBC(bytes(_BLOCK))).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()  # no immutable plaintext copy


def _mac(kmac: bytes, data: bytes | bytearray) -> bytes:
    authenticator = cmac.CMAC(algorithms.AES(kmac))
    authenticator.update(bytes(data))
    return authenticator.finalize()


# --- header -------------------------------------------------------------------------


def _check_minimum_length(blob: bytes) -> None:
    if len(blob) < MINIMUM_BLOB_LENGTH:
        raise MalformedKeyBlob(
            f"the key blob is too short: {len(blob)} bytes, a blob has at least "
            f"{MINIMUM_BLOB_LENGTH}"
        )


def blob_kcv(blob: bytes | bytearray) -> bytes:
    """The KCV of the DKEK a blob was wrapped under, read without any DKEK.

    Compare it with the card's KCV before trying an UNWRAP.

    :raises MalformedKeyBlob: the data is too short to be a blob.
    """
    data = bytes(blob)
    _check_minimum_length(data)
    return data[:KCV_LENGTH]


def describe_blob(blob: bytes | bytearray) -> BlobHeader:
    """Read the unencrypted header fields of a blob; needs no DKEK and checks no MAC.

    :raises MalformedKeyBlob: too short, a length field runs past the ciphertext, an
        unknown key type, or a ciphertext that is empty or not a multiple of 16 bytes.
    """
    data = bytes(blob)
    _check_minimum_length(data)
    mac_offset = len(data) - MAC_LENGTH
    type_byte = data[KCV_LENGTH]
    try:
        key_type = KeyType(type_byte)
    except ValueError:
        raise MalformedKeyBlob(
            f"unknown key type {type_byte} (expected 5 RSA, 6 RSA-CRT, 12 EC or 15 AES)"
        ) from None
    offset = KCV_LENGTH + 1
    fields: list[bytes] = []
    for name in ("default algorithm", "allowed algorithms", "access conditions", "key OID"):
        if offset + 2 > mac_offset:
            raise MalformedKeyBlob(f"the key blob ends before its {name} length")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > mac_offset:
            raise MalformedKeyBlob(
                f"the {name} field claims {length} bytes, but only "
                f"{mac_offset - offset} remain before the MAC"
            )
        fields.append(data[offset : offset + length])
        offset += length
    encrypted_length = mac_offset - offset
    if encrypted_length == 0:
        raise MalformedKeyBlob("the key blob holds no encrypted key")
    if encrypted_length % _BLOCK:
        raise MalformedKeyBlob(
            f"the encrypted key is {encrypted_length} bytes, not a multiple of 16"
        )
    default_algorithm, allowed_algorithms, access_conditions, key_oid = fields
    return BlobHeader(
        kcv=data[:KCV_LENGTH],
        key_type=key_type,
        default_algorithm=default_algorithm,
        allowed_algorithms=allowed_algorithms,
        access_conditions=access_conditions,
        key_oid=key_oid,
        header_length=offset,
        encrypted_length=encrypted_length,
        mac=data[mac_offset:],
    )


# --- decoding -----------------------------------------------------------------------


def decode_key(dkek: Dkek, blob: bytes | bytearray) -> DecodedKeyBlob:
    """Check and decrypt a blob wrapped under ``dkek`` and rebuild the key.

    The order of checks: length, KCV, MAC (all before anything is decrypted), then
    the header, the plaintext structure, the padding and the key itself.

    :raises KcvMismatch: the blob was wrapped under another DKEK.
    :raises MacMismatch: the blob was altered or damaged.
    :raises MalformedKeyBlob: the blob is authentic but its structure or key is broken.
    :raises UnsupportedKey: the blob holds a key this library cannot represent.
    """
    data = bytes(blob)
    _check_minimum_length(data)
    expected_kcv = dkek.kcv()
    found_kcv = data[:KCV_LENGTH]
    if not hmac.compare_digest(expected_kcv, found_kcv):
        raise KcvMismatch(expected_kcv, found_kcv)
    authenticator = cmac.CMAC(algorithms.AES(dkek.kmac()))
    authenticator.update(data[:-MAC_LENGTH])
    try:
        authenticator.verify(data[-MAC_LENGTH:])
    except InvalidSignature:
        raise MacMismatch(
            "the key blob's MAC does not verify: the blob was altered or damaged"
        ) from None

    header = describe_blob(data)
    ciphertext = data[header.header_length : header.header_length + header.encrypted_length]
    buffer = bytearray(len(ciphertext) + _BLOCK - 1)
    try:
        decryptor = Cipher(algorithms.AES(dkek.kenc()), modes.CBC(bytes(_BLOCK))).decryptor()
        written = decryptor.update_into(ciphertext, buffer)
        decryptor.finalize()
        reader = _PlaintextReader(memoryview(buffer)[:written])
        randomize = bytes(reader.take(RANDOMIZE_LENGTH, "the random prefix"))
        key_size = int.from_bytes(reader.take(2, "the key size"), "big")
        private_key = _decode_components(header.key_type, key_size, reader)
        padding = reader.check_padding()
    finally:
        wipe(buffer)
    return DecodedKeyBlob(
        kcv=header.kcv,
        key_type=header.key_type,
        default_algorithm=header.default_algorithm,
        allowed_algorithms=header.allowed_algorithms,
        access_conditions=header.access_conditions,
        key_oid=header.key_oid,
        key_size=key_size,
        private_key=private_key,
        randomize=randomize,
        padding=padding,
        legacy_aes_oid=header.legacy_aes_oid,
    )


class _PlaintextReader:
    """Walks the decrypted plaintext by its length fields."""

    def __init__(self, plaintext: memoryview) -> None:
        self._plaintext = plaintext
        self._offset = 0

    def take(self, length: int, what: str) -> memoryview:
        end = self._offset + length
        if end > len(self._plaintext):
            raise MalformedKeyBlob(
                f"the decrypted key ends inside {what}: {length} bytes needed, "
                f"{len(self._plaintext) - self._offset} left"
            )
        chunk = self._plaintext[self._offset : end]
        self._offset = end
        return chunk

    def component(self, name: str) -> memoryview:
        length = int.from_bytes(self.take(2, f"the length of {name}"), "big")
        return self.take(length, name)

    def integer(self, name: str) -> int:
        return int.from_bytes(self.component(name), "big")

    def check_padding(self) -> Padding:
        content_length = self._offset
        tail = self._plaintext[content_length:]
        if len(tail) == 0:
            return Padding.PICO
        if tail[0] != _PADDING_MARKER or any(tail[1:]):
            raise MalformedKeyBlob(
                "bad padding: the bytes after the key components are not 80 followed by zeros"
            )
        if len(self._plaintext) == _scsh_padded_length(content_length):
            return Padding.SCSH
        return Padding.OTHER


def _decode_components(key_type: KeyType, key_size: int, reader: _PlaintextReader) -> WrappableKey:
    if key_type is KeyType.AES:
        key_bytes = reader.take(key_size, f"the {key_size}-byte AES key")
        return AesKey(bytes(key_bytes))
    if key_type is KeyType.EC:
        return _decode_ec(key_size, reader)
    if key_type is KeyType.RSA:
        private_exponent = reader.integer("the private exponent d")
        modulus = reader.integer("the modulus n")
        public_exponent = reader.integer("the public exponent e")
        _check_rsa_key_size(key_size, modulus)
        return _rsa_from_exponent(modulus, public_exponent, private_exponent)
    dmp1 = reader.integer("dP")
    dmq1 = reader.integer("dQ")
    prime_p = reader.integer("the prime p")
    iqmp = reader.integer("qInv")
    prime_q = reader.integer("the prime q")
    modulus = reader.integer("the modulus n")
    public_exponent = reader.integer("the public exponent e")
    _check_rsa_key_size(key_size, modulus)
    return _rsa_from_crt(modulus, public_exponent, prime_p, prime_q, dmp1, dmq1, iqmp)


def _check_rsa_key_size(key_size: int, modulus: int) -> None:
    bits = modulus.bit_length()
    if key_size not in (bits, (bits + 7) // 8 * 8):
        raise MalformedKeyBlob(
            f"the key size field says {key_size} bits, but the modulus has {bits} bits"
        )


def _private_key_from_numbers(numbers: rsa.RSAPrivateNumbers) -> rsa.RSAPrivateKey:
    try:
        return numbers.private_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedKeyBlob(f"the RSA key in the blob is not valid: {exc}") from None


def _rsa_from_exponent(modulus: int, public_exponent: int, private_exponent: int) -> WrappableKey:
    if modulus < 3 or not 1 < public_exponent < modulus or not 1 < private_exponent < modulus:
        raise MalformedKeyBlob("the RSA modulus or exponents are out of range")
    try:
        prime_p, prime_q = rsa.rsa_recover_prime_factors(modulus, public_exponent, private_exponent)
    except ValueError:
        raise MalformedKeyBlob(
            "the RSA private exponent d does not belong to the modulus n and exponent e"
        ) from None
    if prime_p * prime_q != modulus:
        raise MalformedKeyBlob("the RSA components do not multiply out to the modulus n")
    lambda_n = math.lcm(prime_p - 1, prime_q - 1)
    private_exponent %= lambda_n
    return _private_key_from_numbers(
        rsa.RSAPrivateNumbers(
            p=prime_p,
            q=prime_q,
            d=private_exponent,
            dmp1=rsa.rsa_crt_dmp1(private_exponent, prime_p),
            dmq1=rsa.rsa_crt_dmq1(private_exponent, prime_q),
            iqmp=rsa.rsa_crt_iqmp(prime_p, prime_q),
            public_numbers=rsa.RSAPublicNumbers(public_exponent, modulus),
        )
    )


def _rsa_from_crt(
    modulus: int,
    public_exponent: int,
    prime_p: int,
    prime_q: int,
    dmp1: int,
    dmq1: int,
    iqmp: int,
) -> WrappableKey:
    if prime_p < 3 or prime_q < 3 or public_exponent < 3:
        raise MalformedKeyBlob("the RSA primes or public exponent are out of range")
    if prime_p * prime_q != modulus:
        raise MalformedKeyBlob("the RSA primes p and q do not multiply to the modulus n")
    if dmp1 * public_exponent % (prime_p - 1) != 1:
        raise MalformedKeyBlob("the RSA CRT exponent dP does not match e and p")
    if dmq1 * public_exponent % (prime_q - 1) != 1:
        raise MalformedKeyBlob("the RSA CRT exponent dQ does not match e and q")
    if iqmp * prime_q % prime_p != 1:
        raise MalformedKeyBlob("the RSA CRT coefficient qInv is not the inverse of q mod p")
    try:
        private_exponent = pow(public_exponent, -1, math.lcm(prime_p - 1, prime_q - 1))
    except ValueError:
        raise MalformedKeyBlob("the RSA public exponent e has no inverse") from None
    return _private_key_from_numbers(
        rsa.RSAPrivateNumbers(
            p=prime_p,
            q=prime_q,
            d=private_exponent,
            dmp1=dmp1,
            dmq1=dmq1,
            iqmp=iqmp,
            public_numbers=rsa.RSAPublicNumbers(public_exponent, modulus),
        )
    )


def _split_point(encoded: memoryview, name: str) -> tuple[int, int]:
    if len(encoded) < 3 or len(encoded) % 2 == 0 or encoded[0] != 0x04:
        raise MalformedKeyBlob(f"{name} is not an uncompressed point (04 | x | y)")
    width = (len(encoded) - 1) // 2
    return (
        int.from_bytes(encoded[1 : 1 + width], "big"),
        int.from_bytes(encoded[1 + width :], "big"),
    )


def _decode_ec(key_size: int, reader: _PlaintextReader) -> WrappableKey:
    names = ("the curve coefficient a", "the curve coefficient b", "the prime p")
    field_elements = [reader.component(name) for name in names]
    order_field = reader.component("the group order")
    generator_field = reader.component("the generator G")
    private_field = reader.component("the private value d")
    public_field = reader.component("the public point Q")
    coefficient_a, coefficient_b, prime = (int.from_bytes(value, "big") for value in field_elements)
    order = int.from_bytes(order_field, "big")
    generator = _split_point(generator_field, "the generator G")
    # Pico HSM (mbedTLS) writes a as an empty field when it is -3 (or 0): not given.
    given_a = coefficient_a if len(field_elements[0]) else None
    try:
        curve = curve_by_domain_parameters(
            p=prime, a=given_a, b=coefficient_b, generator=generator, order=order
        )
    except UnsupportedKey:
        raise MalformedKeyBlob(
            f"unknown curve: the blob's {prime.bit_length()}-bit domain parameters match "
            "none of the curves a SmartCard-HSM supports"
        ) from None
    if key_size not in (curve.field_bytes * 8, curve.field_bits):
        raise MalformedKeyBlob(
            f"the key size field says {key_size} bits, but the curve is {curve.name} "
            f"({curve.field_bits} bits)"
        )
    for name, value in zip(names, field_elements, strict=True):
        if len(value) > curve.field_bytes:
            raise MalformedKeyBlob(
                f"{name} is {len(value)} bytes long, wider than a {curve.name} field element"
            )
    for name, value in (("the group order", order_field), ("the private value d", private_field)):
        if len(value) > curve.order_bytes:
            raise MalformedKeyBlob(
                f"{name} is {len(value)} bytes long, wider than the {curve.name} order"
            )
    if len(generator_field) != 1 + 2 * curve.field_bytes:
        raise MalformedKeyBlob(
            f"the generator G is {len(generator_field)} bytes long, not "
            f"{1 + 2 * curve.field_bytes} as an uncompressed {curve.name} point"
        )
    private_value = int.from_bytes(private_field, "big")
    if not 1 <= private_value < curve.order:
        raise MalformedKeyBlob(f"the private value d is out of range for {curve.name}")
    try:
        public_point = curve.decode_point(public_field)
    except ValueError as exc:
        raise MalformedKeyBlob(f"the public point Q is invalid: {exc}") from None
    if derive_public_point(curve, private_value) != public_point:
        raise MalformedKeyBlob(f"the public point Q is not d·G on {curve.name}")
    if curve.cryptography_curve is not None:
        try:
            return ec.derive_private_key(private_value, curve.cryptography_curve())
        except UnsupportedAlgorithm:
            pass  # this OpenSSL build lacks the curve
    try:
        return EcKeyMaterial(curve, private_value, bytes(public_field))
    except ValueError as exc:  # pragma: no cover - checked just above
        raise MalformedKeyBlob(f"the EC key in the blob is not valid: {exc}") from None


__all__ = [
    "AES_DEFAULT_ALGORITHM",
    "AES_DEFAULT_ALLOWED_ALGORITHMS",
    "EC_DEFAULT_ALGORITHM",
    "MINIMUM_BLOB_LENGTH",
    "RANDOMIZE_LENGTH",
    "RSA_DEFAULT_ALGORITHM",
    "AesKey",
    "BlobHeader",
    "DecodedKeyBlob",
    "EcKeyMaterial",
    "KeyType",
    "Padding",
    "WrappableKey",
    "blob_kcv",
    "decode_key",
    "describe_blob",
    "encode_key",
]
