"""Card-verifiable certificates *made* by the simulator (BSI TR-03110 layout).

Two kinds of objects are built here:

* the simulator's own device chain in EF 2F02: the device CVC followed by the device
  issuer CA (DICA) CVC, both shaped like a genuine Nitrokey HSM 2's (public key as
  ``06`` OID + ``86`` point only, a CardContact-style CHAT ``7F4C``, effective and
  expiry dates), chaining to a clearly marked simulator root CVCA whose private key is
  public (see ``docs/card.md``);
* the authenticated CV request answered to GENERATE ASYMMETRIC KEY PAIR:
  ``67 { 7F21 { 7F4E {…}, 5F37 self-signature }, 42 outer CAR, 5F37 device signature }``
  with the full EC domain parameters (``81``…``87``) or ``81`` n / ``82`` e in ``7F49``.

Signatures are ECDSA with plain ``r ‖ s`` in ``5F37``; all chain keys are on
brainpoolP256r1 and signed with SHA-256.  Parsing and verifying belong to
``keymanager.card.cvc``; the tests here parse with :mod:`keymanager.dkek.tlv`.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keymanager.dkek.curves import CurveParameters, curve_by_name, derive_public_point
from keymanager.dkek.tlv import encode_tlv
from keymanager.simulator.crypto import digest, ecdsa_sign, hash_algorithm

ROOT_CHR = b"UTSRCACC100001"
"""CHR (and CAR) of the simulator's root CVCA."""
DICA_CHR = b"UTSIMDICA00001"
"""CHR of the simulator's device issuer CA."""
DEVICE_CHR_PREFIX = b"UTSIM"
DEVICE_CHR_SEQUENCE = b"00001"
CHAIN_CURVE_NAME = "brainpoolP256r1"
ROOT_KEY_LABEL = b"keymanager simulator root CVCA - not a secret"
DICA_KEY_LABEL = b"keymanager simulator DICA - not a secret"
"""The DICA key is one for every simulated device (as a real DICA signs a whole batch):
a card that learned ``UTSIMDICA00001`` from one custodian verifies every other's device
CVC with it (public-key authentication)."""

OID_ECDSA_SHA256 = bytes.fromhex("04007F00070202020203")
"""id-TA-ECDSA-SHA-256."""
OID_RSA_V15_SHA256 = bytes.fromhex("04007F00070202020102")
"""id-TA-RSA-v1-5-SHA-256."""
ECDSA_OID_PREFIX = bytes.fromhex("04007F000702020202")
RSA_OID_PREFIX = bytes.fromhex("04007F000702020201")
CHAT_OID = bytes.fromhex("2B0601040181C31F030101")
"""The CardContact role OID found in genuine SmartCard-HSM certificates."""
KEY_DOMAIN_UID_OID = bytes.fromhex("2B0601040181C31F030202")
"""1.3.6.1.4.1.24991.3.2.2: the key-domain UID extension of an XKEK exchange key."""

ROLE_CVCA = 0xC0
ROLE_DICA = 0x80
ROLE_DEVICE = 0x00

EFFECTIVE_DATE = datetime.date(2024, 1, 1)
ROOT_EXPIRY = datetime.date(2059, 12, 31)
DICA_EXPIRY = datetime.date(2054, 12, 31)
DEVICE_EXPIRY = datetime.date(2049, 12, 31)

# Which hash an id-TA OID's last byte names, and (RSA) whether it is PSS.
_ECDSA_HASHES = {1: "sha1", 2: "sha224", 3: "sha256", 4: "sha384", 5: "sha512"}
_RSA_SCHEMES = {
    1: ("sha1", False),
    2: ("sha256", False),
    3: ("sha1", True),
    4: ("sha256", True),
    5: ("sha512", False),
    6: ("sha512", True),
}


def chain_curve() -> CurveParameters:
    """The curve of the root, DICA and device keys."""
    return curve_by_name(CHAIN_CURVE_NAME)


def root_private_value() -> int:
    """The root CVCA's private scalar: public by design (the simulator is no genuine card)."""
    curve = chain_curve()
    return int.from_bytes(hashlib.sha256(ROOT_KEY_LABEL).digest(), "big") % curve.order


def dica_private_value() -> int:
    """The DICA's private scalar: shared by every simulated device and public by design."""
    curve = chain_curve()
    return 1 + int.from_bytes(hashlib.sha256(DICA_KEY_LABEL).digest(), "big") % (curve.order - 1)


def derive_chain_scalar(identity_seed: bytes, label: bytes) -> int:
    """A chain key (DICA, device) derived from the card's identity seed."""
    curve = chain_curve()
    value = int.from_bytes(
        hashlib.sha512(b"keymanager simulator " + label + b"\x00" + identity_seed).digest(), "big"
    )
    return 1 + value % (curve.order - 1)


def encode_date(date: datetime.date) -> bytes:
    """A CVC date: six bytes, one decimal digit each (YYMMDD)."""
    return bytes(int(digit) for digit in date.strftime("%y%m%d"))


def is_ecdsa_oid(oid: bytes) -> bool:
    """Whether ``oid`` is one of id-TA-ECDSA-SHA-1 … SHA-512."""
    return len(oid) == 10 and oid.startswith(ECDSA_OID_PREFIX) and oid[-1] in _ECDSA_HASHES


def is_rsa_oid(oid: bytes) -> bool:
    """Whether ``oid`` is one of the id-TA-RSA schemes."""
    return len(oid) == 10 and oid.startswith(RSA_OID_PREFIX) and oid[-1] in _RSA_SCHEMES


# --- public-key templates ---------------------------------------------------------------


def ec_public_key(
    curve: CurveParameters, point: bytes, *, oid: bytes = OID_ECDSA_SHA256, domain: bool = True
) -> bytes:
    """``7F49`` for an EC key: OID, the domain parameters (``domain``) and the point ``86``."""
    parts = [encode_tlv(0x06, oid)]
    if domain:
        width = curve.field_bytes
        parts += [
            encode_tlv(0x81, curve.p.to_bytes(width, "big")),
            encode_tlv(0x82, curve.a.to_bytes(width, "big")),
            encode_tlv(0x83, curve.b.to_bytes(width, "big")),
            encode_tlv(0x84, curve.encode_point(curve.generator)),
            encode_tlv(0x85, curve.order.to_bytes(curve.order_bytes, "big")),
            encode_tlv(0x86, point),
            encode_tlv(0x87, _minimal(curve.cofactor)),
        ]
    else:
        parts.append(encode_tlv(0x86, point))
    return encode_tlv(0x7F49, b"".join(parts))


def rsa_public_key(key: rsa.RSAPublicKey, *, oid: bytes = OID_RSA_V15_SHA256) -> bytes:
    """``7F49`` for an RSA key: OID, ``81`` modulus, ``82`` public exponent."""
    numbers = key.public_numbers()
    modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return encode_tlv(
        0x7F49,
        encode_tlv(0x06, oid) + encode_tlv(0x81, modulus) + encode_tlv(0x82, _minimal(numbers.e)),
    )


def _minimal(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


# --- bodies and signatures --------------------------------------------------------------


def certificate_body(
    car: bytes,
    public_key: bytes,
    chr_: bytes,
    *,
    role: int | None = None,
    effective: datetime.date | None = None,
    expiry: datetime.date | None = None,
    extensions: bytes | None = None,
) -> bytes:
    """The ``7F4E`` body: profile 0, CAR, public key, CHR, then CHAT and dates if given.

    ``extensions`` (the value of tag ``65``, e.g. :func:`key_domain_uid_extension`) comes
    last, so in a request (no CHAT, no dates) it follows the CHR.
    """
    parts = [
        encode_tlv(0x5F29, b"\x00"),
        encode_tlv(0x42, car),
        public_key,
        encode_tlv(0x5F20, chr_),
    ]
    if role is not None:
        parts.append(
            encode_tlv(0x7F4C, encode_tlv(0x06, CHAT_OID) + encode_tlv(0x53, bytes([role])))
        )
    if effective is not None:
        parts.append(encode_tlv(0x5F25, encode_date(effective)))
    if expiry is not None:
        parts.append(encode_tlv(0x5F24, encode_date(expiry)))
    if extensions is not None:
        parts.append(encode_tlv(0x65, extensions))
    return encode_tlv(0x7F4E, b"".join(parts))


def key_domain_uid_extension(uid: bytes) -> bytes:
    """``73 { 06 KEY_DOMAIN_UID_OID, 80 uid }``: one extension (a ``65`` value)."""
    return encode_tlv(0x73, encode_tlv(0x06, KEY_DOMAIN_UID_OID) + encode_tlv(0x80, uid))


def ecdsa_plain_signature(
    curve: CurveParameters,
    private_value: int,
    data: bytes,
    hash_name: str = "sha256",
    extra: bytes = b"",
) -> bytes:
    """ECDSA over ``data`` as ``r ‖ s``, each at the width of the group order."""
    r, s = ecdsa_sign(curve, private_value, digest(hash_name, data), extra)
    width = curve.order_bytes
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def chain_signer(private_value: int) -> Callable[[bytes], bytes]:
    """A function signing data with a brainpoolP256r1 chain key (ECDSA-SHA-256, r ‖ s)."""
    curve = chain_curve()

    def sign(data: bytes) -> bytes:
        return ecdsa_plain_signature(curve, private_value, data)

    return sign


def certificate(body: bytes, signature: bytes) -> bytes:
    """``7F21 { body, 5F37 signature }``."""
    return encode_tlv(0x7F21, body + encode_tlv(0x5F37, signature))


def self_signature(
    key: rsa.RSAPrivateKey | tuple[CurveParameters, int],
    body: bytes,
    oid: bytes,
    extra: bytes = b"",
) -> bytes:
    """The inner signature of a CV request, made with the new key itself.

    ``key`` is an :class:`rsa.RSAPrivateKey` or a ``(curve, private_value)`` pair.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        hash_name, pss = (
            _RSA_SCHEMES.get(oid[-1], ("sha256", False))
            if is_rsa_oid(oid)
            else (
                "sha256",
                False,
            )
        )
        algorithm = hash_algorithm(hash_name)
        scheme: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
            if pss
            else padding.PKCS1v15()
        )
        return key.sign(body, scheme, algorithm)
    curve, private_value = key
    hash_name = _ECDSA_HASHES.get(oid[-1], "sha256") if is_ecdsa_oid(oid) else "sha256"
    return ecdsa_plain_signature(curve, private_value, body, hash_name, extra)


def authenticated_request(
    inner_certificate: bytes, outer_car: bytes, outer_signer: Callable[[bytes], bytes]
) -> bytes:
    """``67 { 7F21 …, 42 outer CAR, 5F37 signature over (7F21 ‖ 42) }``."""
    car_tlv = encode_tlv(0x42, outer_car)
    signature = outer_signer(inner_certificate + car_tlv)
    return encode_tlv(0x67, inner_certificate + car_tlv + encode_tlv(0x5F37, signature))


# --- the simulator's chain --------------------------------------------------------------


def device_chr(serial_digits: str) -> bytes:
    """``UTSIM`` + the serial digits + ``00001``."""
    return DEVICE_CHR_PREFIX + serial_digits.encode("ascii") + DEVICE_CHR_SEQUENCE


def root_certificate() -> bytes:
    """The self-signed root CVCA certificate (full domain parameters, as the genuine root)."""
    curve = chain_curve()
    private_value = root_private_value()
    point = curve.encode_point(derive_public_point(curve, private_value))
    body = certificate_body(
        ROOT_CHR,
        ec_public_key(curve, point, domain=True),
        ROOT_CHR,
        role=ROLE_CVCA,
        effective=EFFECTIVE_DATE,
        expiry=ROOT_EXPIRY,
    )
    return certificate(body, chain_signer(private_value)(body))


def device_chain(identity_seed: bytes, serial_digits: str) -> tuple[bytes, int]:
    """EF 2F02's content (device CVC ‖ DICA CVC) and the device key's private value."""
    curve = chain_curve()
    dica_value = dica_private_value()
    device_value = derive_chain_scalar(identity_seed, b"device")
    dica_point = curve.encode_point(derive_public_point(curve, dica_value))
    device_point = curve.encode_point(derive_public_point(curve, device_value))
    dica_body = certificate_body(
        ROOT_CHR,
        ec_public_key(curve, dica_point, domain=False),
        DICA_CHR,
        role=ROLE_DICA,
        effective=EFFECTIVE_DATE,
        expiry=DICA_EXPIRY,
    )
    dica = certificate(dica_body, chain_signer(root_private_value())(dica_body))
    device_body = certificate_body(
        DICA_CHR,
        ec_public_key(curve, device_point, domain=False),
        device_chr(serial_digits),
        role=ROLE_DEVICE,
        effective=EFFECTIVE_DATE,
        expiry=DEVICE_EXPIRY,
    )
    device = certificate(device_body, chain_signer(dica_value)(device_body))
    return device + dica, device_value
