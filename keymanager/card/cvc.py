"""Card-verifiable certificates (BSI TR-03110): parse them and check a device's chain.

A SmartCard-HSM proves it is genuine with EF 2F02: its device-authentication CVC
followed by the CVC of the device issuer CA (DICA) that signed it; the DICA in turn is
signed by a SmartCard-HSM root CVCA whose certificate ships with this package
(:mod:`keymanager.card.roots`).  Key generation answers with an authenticated CV
request (tag ``67``): the key's self-signed request signed again by the device key.

Layout (all tags BER-TLV)::

    7F21 CV certificate
        7F4E body: 5F29 profile, 42 CAR, 7F49 public key, 5F20 CHR,
                   [7F4C CHAT], [5F25 effective date], [5F24 expiry date], [65 extensions]
        5F37 signature over the whole encoded 7F4E
    67 authenticated request
        7F21 (the self-signed request), 42 outer CAR, 5F37 signature over 7F21 ‖ 42

The public key ``7F49`` holds ``06`` the algorithm OID (id-TA-RSA-… or id-TA-ECDSA-…,
which also names the signature hash) and, for RSA, ``81`` n and ``82`` e; for EC,
``81`` p, ``82`` a, ``83`` b, ``84`` G, ``85`` order, ``86`` the public point and
``87`` cofactor.  CA and device certificates usually carry only ``86``: the domain
parameters are inherited from the issuer (ultimately the root).

ECDSA signatures in ``5F37`` are plain ``r ‖ s`` (each half as wide as the order); they
are converted to DER for :mod:`cryptography`.  Curves :mod:`cryptography` lacks are
verified with the pure-Python arithmetic of :mod:`keymanager.dkek.curves` (only
public values are involved).

:meth:`DeviceCertificate.identity` returns a :class:`DeviceIdentity` (its verdict,
:meth:`DeviceCertificate.verify_chain`, is a :class:`Genuineness`): ``GENUINE`` only for
a chain that verifies up to a shipped CardContact root; ``PICO_HSM`` for a chain that
verifies under Pico HSM's PKI (a shipped Pico root, or one of the Pico DV certificates
``roots.PICO_DVS`` anchors); ``UNVERIFIED_SIMULATOR`` for a chain that verifies up to
this project's simulator root (whose private key is public, see ``docs/card.md``);
``NOT_GENUINE`` only for a chain that claims CardContact's root (names
``DESRCACC100001`` or a known DICA under it) and does not verify; ``PICO_FAILED`` for a
chain that claims Pico's PKI and whose checkable signatures fail; ``UNVERIFIED`` for
everything else (unknown root, self-signed, incomplete), naming the issuer.
:attr:`DeviceIdentity.text` is the one user-facing wording (GUI, CLI, audit,
diagnose).  Validity dates are shown, not enforced: a device certificate that expired
does not make a card fake.
"""

from __future__ import annotations

import datetime
import enum
import functools
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from keymanager.card.errors import MalformedResponse
from keymanager.card.roots import (
    CARDCONTACT_DICA_CHRS,
    GENUINE_ROOTS,
    PICO_DVS,
    PICO_NAME_PREFIXES,
    PICO_ROOT_CHRS,
    PICO_ROOTS,
    SIMULATOR_ROOT_CHR,
    SIMULATOR_ROOT_KEY_LABEL,
)
from keymanager.dkek.curves import (
    CurveParameters,
    curve_by_domain_parameters,
    curve_by_name,
    derive_public_point,
    ecdsa_verify,
)
from keymanager.dkek.errors import UnsupportedKey
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv

TAG_CERTIFICATE = b"\x7f\x21"
TAG_REQUEST = b"\x67"
TAG_BODY = b"\x7f\x4e"
TAG_SIGNATURE = b"\x5f\x37"
TAG_PROFILE = b"\x5f\x29"
TAG_CAR = b"\x42"
TAG_PUBLIC_KEY = b"\x7f\x49"
TAG_CHR = b"\x5f\x20"
TAG_CHAT = b"\x7f\x4c"
TAG_EFFECTIVE = b"\x5f\x25"
TAG_EXPIRY = b"\x5f\x24"
TAG_EXTENSIONS = b"\x65"

ID_TA = bytes.fromhex("04007F0007020202")
"""id-TA (0.4.0.127.0.7.2.2.2): prefix of every CVC key OID."""
ID_TA_RSA = ID_TA + b"\x01"
ID_TA_ECDSA = ID_TA + b"\x02"
ID_TA_ECDSA_SHA_256 = ID_TA_ECDSA + b"\x03"
ID_TA_RSA_V1_5_SHA_256 = ID_TA_RSA + b"\x02"

_ECDSA_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    1: hashes.SHA1,
    2: hashes.SHA224,
    3: hashes.SHA256,
    4: hashes.SHA384,
    5: hashes.SHA512,
}
_RSA_SCHEMES: dict[int, tuple[type[hashes.HashAlgorithm], bool]] = {
    1: (hashes.SHA1, False),
    2: (hashes.SHA256, False),
    3: (hashes.SHA1, True),
    4: (hashes.SHA256, True),
    5: (hashes.SHA512, False),
    6: (hashes.SHA512, True),
}
_HASH_NAMES = {
    hashes.SHA1: "SHA-1",
    hashes.SHA224: "SHA-224",
    hashes.SHA256: "SHA-256",
    hashes.SHA384: "SHA-384",
    hashes.SHA512: "SHA-512",
}


class CvcError(MalformedResponse):
    """The data is not a CV certificate or request of the expected shape."""


class Genuineness(enum.Enum):
    """The verdict of :meth:`DeviceCertificate.verify_chain` (values are stable JSON)."""

    GENUINE = "genuine"
    """The chain verifies up to a CardContact SmartCard-HSM root shipped with the package."""
    PICO_HSM = "pico hsm"
    """The chain verifies under Pico HSM's PKI (a shipped Pico root or anchored DV)."""
    UNVERIFIED_SIMULATOR = "unverified (simulator)"
    """The chain verifies up to the simulator's root, whose private key is public."""
    UNVERIFIED = "unverified"
    """The chain verifies to no known root (unknown issuer, self-signed, incomplete)."""
    PICO_FAILED = "pico hsm chain fails"
    """The chain claims Pico's PKI but a signature that could be checked fails."""
    NOT_GENUINE = "not genuine"
    """The chain claims CardContact's root (or a DICA under it) and does not verify."""

    @property
    def verified(self) -> bool:
        """Whether the chain's signatures verified up to a known anchor."""
        return self in (Genuineness.GENUINE, Genuineness.PICO_HSM, Genuineness.UNVERIFIED_SIMULATOR)


_SHORT_TEXT = {
    Genuineness.GENUINE: "genuine",
    Genuineness.PICO_HSM: "Pico HSM",
    Genuineness.UNVERIFIED_SIMULATOR: "unverified (simulator)",
    Genuineness.UNVERIFIED: "unverified device",
    Genuineness.PICO_FAILED: "Pico HSM chain FAILS",
    Genuineness.NOT_GENUINE: "NOT GENUINE",
}


@dataclass(frozen=True)
class DeviceIdentity:
    """What the device certificate chain says about the device, with the words to show."""

    verdict: Genuineness
    issuer: str | None = None
    """The CAR of the topmost certificate in EF 2F02 (its own CHR when self-signed)."""
    self_signed: bool = False
    known_pico_root: bool = False
    """The issuer is one of Pico's root CVCAs, whose key keymanager does not have."""

    @property
    def text(self) -> str:
        """The user-facing wording: the same in the GUI, the CLI, audit and diagnose."""
        issuer = self.issuer or "none named"
        match self.verdict:
            case Genuineness.GENUINE:
                return "genuine"
            case Genuineness.PICO_HSM:
                return "Pico HSM (device certificate from Pico's PKI)"
            case Genuineness.UNVERIFIED_SIMULATOR:
                return "unverified (simulator)"
            case Genuineness.PICO_FAILED:
                return (
                    f"Pico HSM chain FAILS: the device certificate claims Pico's PKI "
                    f"(issuer {issuer}) but does not verify"
                )
            case Genuineness.NOT_GENUINE:
                return "NOT GENUINE: the device certificate does not verify"
        if self.self_signed:
            return f"unverified device (self-signed, issuer {issuer})"
        if self.known_pico_root:
            return (
                f"unverified device (issuer {issuer}: a Pico HSM root whose key "
                "keymanager does not have)"
            )
        return f"unverified device (issuer {issuer}: no root keymanager knows)"

    @property
    def short(self) -> str:
        """A few words for titles and lists (e.g. ``NOT GENUINE``, ``Pico HSM``)."""
        return _SHORT_TEXT[self.verdict]


def unreadable_identity_text(error: object) -> str:
    """The wording when EF 2F02 could not be read or parsed."""
    return f"unknown: the device certificate could not be read ({error})"


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _parse_date(value: bytes) -> datetime.date:
    """A CVC date: six bytes of unpacked BCD ``YYMMDD`` (three packed bytes also accepted)."""
    if len(value) == 3:
        value = bytes(nibble for byte in value for nibble in (byte >> 4, byte & 0x0F))
    if len(value) != 6 or any(digit > 9 for digit in value):
        raise CvcError(f"a CVC date must be six digits YYMMDD, got {value.hex().upper()}")
    year = 2000 + value[0] * 10 + value[1]
    month = value[2] * 10 + value[3]
    day = value[4] * 10 + value[5]
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise CvcError(f"the CVC date {value.hex().upper()} is not a calendar date") from None


def _fields(value: bytes, what: str) -> dict[bytes, bytes]:
    try:
        return {item.tag: item.value for item in iter_tlvs(value)}
    except TlvError as error:
        raise CvcError(f"{what}: {error}") from None


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


def hash_name(oid: bytes) -> str:
    """The name of the hash an id-TA key OID implies (e.g. ``SHA-256``)."""
    return _HASH_NAMES[_scheme(oid)[0]]


def _scheme(oid: bytes) -> tuple[type[hashes.HashAlgorithm], bool]:
    """(hash class, is-PSS) for an id-TA OID; PSS is meaningless for ECDSA."""
    if len(oid) == len(ID_TA_ECDSA) + 1 and oid.startswith(ID_TA_ECDSA):
        hash_class = _ECDSA_HASHES.get(oid[-1])
        if hash_class is not None:
            return hash_class, False
    if len(oid) == len(ID_TA_RSA) + 1 and oid.startswith(ID_TA_RSA):
        scheme = _RSA_SCHEMES.get(oid[-1])
        if scheme is not None:
            return scheme
    raise CvcError(f"unknown CVC public-key algorithm OID {oid.hex().upper()}")


@dataclass(frozen=True)
class CvcPublicKey:
    """The ``7F49`` public-key template."""

    oid: bytes
    elements: tuple[tuple[int, bytes], ...]

    @classmethod
    def parse(cls, value: bytes) -> CvcPublicKey:
        fields = _fields(value, "public key 7F49")
        oid = fields.get(b"\x06")
        if oid is None:
            raise CvcError("the public key 7F49 has no algorithm OID (06)")
        elements = tuple(
            (tag[0], content) for tag, content in fields.items() if len(tag) == 1 and tag != b"\x06"
        )
        key = cls(oid, elements)
        _scheme(oid)
        if key.is_rsa and (key.get(0x81) is None or key.get(0x82) is None):
            raise CvcError("an RSA public key needs the modulus (81) and exponent (82)")
        if key.is_ec and key.get(0x86) is None:
            raise CvcError("an EC public key needs the public point (86)")
        return key

    def get(self, tag: int) -> bytes | None:
        for element_tag, content in self.elements:
            if element_tag == tag:
                return content
        return None

    @property
    def is_rsa(self) -> bool:
        return self.oid.startswith(ID_TA_RSA)

    @property
    def is_ec(self) -> bool:
        return self.oid.startswith(ID_TA_ECDSA)

    @property
    def hash_name(self) -> str:
        """The hash its OID names for signatures (e.g. ``SHA-256``)."""
        return hash_name(self.oid)

    @property
    def modulus(self) -> int:
        value = self.get(0x81)
        if not self.is_rsa or value is None:
            raise CvcError("not an RSA public key")
        return _int(value)

    @property
    def exponent(self) -> int:
        value = self.get(0x82)
        if not self.is_rsa or value is None:
            raise CvcError("not an RSA public key")
        return _int(value)

    @property
    def point(self) -> bytes:
        """The EC public point as encoded (``04 ‖ x ‖ y``)."""
        value = self.get(0x86)
        if not self.is_ec or value is None:
            raise CvcError("not an EC public key")
        return value

    @property
    def has_domain_parameters(self) -> bool:
        return self.is_ec and self.get(0x81) is not None

    def curve(self, inherited: CurveParameters | None = None) -> CurveParameters:
        """The curve: from the key's own domain parameters, else the ``inherited`` ones.

        :raises CvcError: no parameters at all, or they name no supported curve.
        """
        if not self.is_ec:
            raise CvcError("not an EC public key")
        if not self.has_domain_parameters:
            if inherited is None:
                raise CvcError("the EC key has no domain parameters and none are inherited")
            return inherited
        p, a, b, g, n = (self.get(tag) for tag in (0x81, 0x82, 0x83, 0x84, 0x85))
        if p is None or a is None or b is None or g is None or n is None:
            raise CvcError("the EC domain parameters are incomplete")
        prime = _int(p)
        width = (prime.bit_length() + 7) // 8
        if len(g) != 1 + 2 * width or g[0] != 0x04:
            raise CvcError("the base point G is not an uncompressed point")
        generator = (_int(g[1 : 1 + width]), _int(g[1 + width :]))
        try:
            return curve_by_domain_parameters(
                p=prime, a=_int(a), b=_int(b), generator=generator, order=_int(n)
            )
        except UnsupportedKey as error:
            raise CvcError(str(error)) from None

    def rsa_public_key(self) -> rsa.RSAPublicKey:
        """The key for :mod:`cryptography`.

        :raises CvcError: not an RSA key, or its modulus or exponent is unusable.
        """
        try:
            return rsa.RSAPublicNumbers(self.exponent, self.modulus).public_key()
        except ValueError as error:
            raise CvcError(f"the RSA public key is not usable: {error}") from None

    def ec_public_key(
        self, inherited: CurveParameters | None = None
    ) -> ec.EllipticCurvePublicKey | None:
        """The key for :mod:`cryptography`, or ``None`` if it lacks the curve.

        :raises CvcError: no usable curve, or the point is not on it.
        """
        curve = self.curve(inherited)
        try:
            curve.decode_point(self.point)
        except ValueError as error:
            raise CvcError(f"the EC public point is not usable: {error}") from None
        if curve.cryptography_curve is None:
            return None
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(
                curve.cryptography_curve(), self.point
            )
        except (UnsupportedAlgorithm, ValueError):
            return None


@dataclass(frozen=True)
class Chat:
    """Certificate holder authorisation template ``7F4C``: role OID and its bits."""

    oid: bytes
    template: bytes


@dataclass(frozen=True)
class CvCertificate:
    """One ``7F21`` CV certificate (also the inner part of a CV request)."""

    raw: bytes
    body: bytes
    """The encoded ``7F4E`` TLV: what the signature covers."""
    profile: int
    car: str | None
    chr: str
    public_key: CvcPublicKey
    chat: Chat | None
    effective_date: datetime.date | None
    expiry_date: datetime.date | None
    signature: bytes
    extensions: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> CvCertificate:
        """Parse exactly one ``7F21`` certificate (trailing bytes are an error)."""
        certificate, end = cls.parse_prefix(data)
        if end != len(data):
            raise CvcError(f"{len(data) - end} bytes follow the CV certificate")
        return certificate

    @classmethod
    def parse_prefix(cls, data: bytes, offset: int = 0) -> tuple[CvCertificate, int]:
        """Parse the ``7F21`` at ``offset``; return it and the offset after it."""
        try:
            outer = read_tlv(data, offset)
        except TlvError as error:
            raise CvcError(f"not a CV certificate: {error}") from None
        if outer.tag != TAG_CERTIFICATE:
            raise CvcError(f"expected a CV certificate (7F21), found tag {outer.tag.hex().upper()}")
        try:
            body_tlv = read_tlv(outer.value, 0)
            signature_tlv = read_tlv(outer.value, body_tlv.next_offset)
        except TlvError as error:
            raise CvcError(f"CV certificate: {error}") from None
        if body_tlv.tag != TAG_BODY or signature_tlv.tag != TAG_SIGNATURE:
            raise CvcError("a CV certificate must hold a body (7F4E) and a signature (5F37)")
        fields = _fields(body_tlv.value, "certificate body 7F4E")
        profile = fields.get(TAG_PROFILE)
        holder = fields.get(TAG_CHR)
        key = fields.get(TAG_PUBLIC_KEY)
        if profile is None or len(profile) != 1 or holder is None or key is None:
            raise CvcError("the certificate body lacks the profile, the CHR or the public key")
        authority = fields.get(TAG_CAR)
        chat_value = fields.get(TAG_CHAT)
        chat = None
        if chat_value is not None:
            chat_fields = _fields(chat_value, "CHAT 7F4C")
            chat = Chat(chat_fields.get(b"\x06", b""), chat_fields.get(b"\x53", b""))
        effective = fields.get(TAG_EFFECTIVE)
        expiry = fields.get(TAG_EXPIRY)
        certificate = cls(
            raw=bytes(data[offset : outer.next_offset]),
            body=encode_tlv(TAG_BODY, body_tlv.value),
            profile=profile[0],
            car=None if authority is None else _text(authority),
            chr=_text(holder),
            public_key=CvcPublicKey.parse(key),
            chat=chat,
            effective_date=None if effective is None else _parse_date(effective),
            expiry_date=None if expiry is None else _parse_date(expiry),
            signature=signature_tlv.value,
            extensions=fields.get(TAG_EXTENSIONS),
        )
        return certificate, outer.next_offset

    @property
    def self_signed(self) -> bool:
        return self.car == self.chr

    def verify_signed_by(
        self, issuer_key: CvcPublicKey, domain: CurveParameters | None = None
    ) -> bool:
        """Whether ``issuer_key`` (with inherited ``domain`` parameters) signed this body."""
        return verify_signature(self.body, self.signature, issuer_key, domain)


@dataclass(frozen=True)
class CvRequest:
    """A CV request: ``67`` (authenticated, signed again by an outer key) or a bare ``7F21``."""

    raw: bytes
    certificate: CvCertificate
    outer_car: str | None
    outer_signature: bytes | None
    outer_signed_data: bytes

    @classmethod
    def parse(cls, data: bytes) -> CvRequest:
        try:
            outer = read_tlv(data, 0)
        except TlvError as error:
            raise CvcError(f"not a CV request: {error}") from None
        if outer.next_offset != len(data):
            raise CvcError(f"{len(data) - outer.next_offset} bytes follow the CV request")
        if outer.tag == TAG_CERTIFICATE:
            return cls(bytes(data), CvCertificate.parse(bytes(data)), None, None, b"")
        if outer.tag != TAG_REQUEST:
            raise CvcError(f"expected a CV request (67 or 7F21), found {outer.tag.hex().upper()}")
        inner, end = CvCertificate.parse_prefix(outer.value, 0)
        car = signature = None
        signed = inner.raw
        offset = end
        try:
            while offset < len(outer.value):
                item = read_tlv(outer.value, offset)
                if item.tag == TAG_CAR:
                    car = _text(item.value)
                    signed += outer.value[offset : item.next_offset]
                elif item.tag == TAG_SIGNATURE:
                    signature = item.value
                offset = item.next_offset
        except TlvError as error:
            raise CvcError(f"CV request: {error}") from None
        return cls(bytes(data), inner, car, signature, signed)

    @property
    def public_key(self) -> CvcPublicKey:
        return self.certificate.public_key

    @property
    def chr(self) -> str:
        return self.certificate.chr

    def verify_self_signature(self) -> bool:
        """Whether the inner request is signed by its own key (proof of possession)."""
        return self.certificate.verify_signed_by(self.public_key)

    def verify_outer_signature(
        self, signer_key: CvcPublicKey, domain: CurveParameters | None = None
    ) -> bool:
        """Whether ``signer_key`` (e.g. the device key) made the outer signature."""
        if self.outer_signature is None:
            return False
        return verify_signature(self.outer_signed_data, self.outer_signature, signer_key, domain)


def parse_certificates(data: bytes) -> list[CvCertificate | CvRequest]:
    """Parse concatenated CV certificates and requests (as EF 2F02 holds them)."""
    items: list[CvCertificate | CvRequest] = []
    offset = 0
    while offset < len(data):
        if data[offset] in (0x00, 0xFF):
            break  # padding after the last certificate
        if data[offset] == TAG_REQUEST[0]:
            try:
                end = read_tlv(data, offset).next_offset
            except TlvError as error:
                raise CvcError(f"CV request: {error}") from None
            items.append(CvRequest.parse(bytes(data[offset:end])))
            offset = end
        else:
            certificate, offset = CvCertificate.parse_prefix(data, offset)
            items.append(certificate)
    return items


# --- signatures -------------------------------------------------------------------------


def plain_to_der(signature: bytes) -> bytes:
    """Turn a plain ``r ‖ s`` ECDSA signature into DER ``SEQUENCE {r, s}``."""
    if not signature or len(signature) % 2:
        raise CvcError("a plain ECDSA signature must have two halves of equal length")
    half = len(signature) // 2
    return utils.encode_dss_signature(_int(signature[:half]), _int(signature[half:]))


def verify_signature(
    data: bytes,
    signature: bytes,
    signer_key: CvcPublicKey,
    domain: CurveParameters | None = None,
) -> bool:
    """Verify a CVC signature made with ``signer_key`` (hash from its OID).

    ``domain`` supplies the curve when the key carries only its point.  Returns
    ``False`` for a wrong signature and for a key or signature that cannot be used.
    """
    try:
        hash_class, pss = _scheme(signer_key.oid)
        if signer_key.is_rsa:
            rsa_key = signer_key.rsa_public_key()
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(hash_class()), hash_class().digest_size)
                if pss
                else padding.PKCS1v15()
            )
            rsa_key.verify(signature, data, pad, hash_class())
            return True
        curve = signer_key.curve(domain)
        if len(signature) % 2 or not signature:
            return False
        half = len(signature) // 2
        r, s = _int(signature[:half]), _int(signature[half:])
        key = signer_key.ec_public_key(domain)
        if key is None:
            hasher = hashes.Hash(hash_class())
            hasher.update(data)
            digest = hasher.finalize()
            return ecdsa_verify(curve, curve.decode_point(signer_key.point), digest, r, s)
        key.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(hash_class()))
        return True
    except (InvalidSignature, CvcError, ValueError, UnsupportedAlgorithm):
        return False


# --- roots ------------------------------------------------------------------------------


@functools.cache
def genuine_root(chr_: str) -> CvCertificate | None:
    """The shipped CardContact root CVCA of that CHR, if any."""
    encoded = GENUINE_ROOTS.get(chr_)
    return None if encoded is None else CvCertificate.parse(encoded)


def pico_root(chr_: str) -> CvCertificate | None:
    """Pico's root CVCA of that CHR, if one is in ``roots.PICO_ROOTS`` (none ships)."""
    encoded = PICO_ROOTS.get(chr_)
    return None if encoded is None else CvCertificate.parse(encoded)


@functools.cache
def _pico_dv(chr_: str) -> tuple[CvCertificate, CurveParameters] | None:
    entry = PICO_DVS.get(chr_)
    if entry is None:
        return None
    encoded, curve_name = entry
    return CvCertificate.parse(encoded), curve_by_name(curve_name)


def pico_dv(chr_: str) -> tuple[CvCertificate, CurveParameters] | None:
    """The anchored Pico DV certificate of that CHR and its curve, if any."""
    return _pico_dv(chr_)


def _claims_cardcontact(name: str) -> bool:
    return name in GENUINE_ROOTS or name in CARDCONTACT_DICA_CHRS


def _claims_pico(name: str) -> bool:
    return name in PICO_ROOT_CHRS or name in PICO_DVS or name.startswith(PICO_NAME_PREFIXES)


SIMULATOR_CURVE_NAME = "brainpoolP256r1"


@functools.cache
def simulator_root_key() -> CvcPublicKey:
    """The simulator root's public key, derived from its published private scalar.

    The scalar is ``int(sha256(label)) mod n`` on brainpoolP256r1 (``docs/card.md``):
    anyone can sign with it, which is why a chain ending here is never "genuine".
    """
    curve = curve_by_name(SIMULATOR_CURVE_NAME)
    scalar = _int(hashlib.sha256(SIMULATOR_ROOT_KEY_LABEL).digest()) % curve.order
    point = curve.encode_point(derive_public_point(curve, scalar))
    return CvcPublicKey(ID_TA_ECDSA_SHA_256, ((0x86, point),))


# --- the device chain ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceCertificate:
    """The contents of EF 2F02: the device CVC and the device issuer CA (DICA) CVC."""

    device: CvCertificate
    issuer: CvCertificate | None
    raw: bytes

    @classmethod
    def parse(cls, data: bytes) -> DeviceCertificate:
        """Parse EF 2F02.

        Tolerated shapes: device CVC ‖ DICA CVC (genuine cards); a lone self-signed CVC,
        or a self-signed request followed by a CVC (Pico HSM builds), where the first
        element is taken as the device certificate and there may be no issuer.
        """
        items = parse_certificates(bytes(data))
        if not items:
            raise CvcError("EF 2F02 holds no certificate")
        first = items[0]
        device = first.certificate if isinstance(first, CvRequest) else first
        issuer = None
        if len(items) > 1:
            second = items[1]
            issuer = second.certificate if isinstance(second, CvRequest) else second
        return cls(device, issuer, bytes(data))

    @property
    def chr(self) -> str:
        """The device certificate's holder reference, e.g. ``DENK040414400000``."""
        return self.device.chr

    @property
    def serial(self) -> str:
        """The serial number OpenSC shows: the CHR without its last five characters."""
        return self.device.chr[:-5] if len(self.device.chr) > 5 else self.device.chr

    def verify_chain(self) -> Genuineness:
        """The verdict of :meth:`identity`."""
        return self.identity().verdict

    def _names(self) -> list[str]:
        certificates = [self.device] + ([self.issuer] if self.issuer is not None else [])
        return [name for cert in certificates for name in (cert.car, cert.chr) if name]

    def identity(self) -> DeviceIdentity:
        """Check the chain and say what the device is (see the module text).

        Decision for the cases no root covers: a chain that names CardContact's root or
        a known DICA under it and does not verify is ``NOT_GENUINE`` (a genuine card
        always carries a complete chain); one that names Pico's PKI is ``PICO_FAILED``
        when a signature that can be checked fails or the chain is broken, and
        ``UNVERIFIED`` when nothing can be checked (an unknown DV, a Pico root without
        its key); everything else is ``UNVERIFIED`` with the topmost CAR named.
        """
        device, issuer = self.device, self.issuer
        top = issuer if issuer is not None else device
        top_car = top.car if top.car is not None else top.chr
        names = self._names()
        claims_cardcontact = any(_claims_cardcontact(name) for name in names)
        claims_pico = not claims_cardcontact and any(_claims_pico(name) for name in names)

        def failed() -> DeviceIdentity:
            if claims_cardcontact:
                return DeviceIdentity(Genuineness.NOT_GENUINE, top_car)
            if claims_pico:
                return DeviceIdentity(Genuineness.PICO_FAILED, top_car)
            return DeviceIdentity(Genuineness.UNVERIFIED, top_car)

        def unverified() -> DeviceIdentity:
            if claims_cardcontact:
                return DeviceIdentity(Genuineness.NOT_GENUINE, top_car)
            return DeviceIdentity(
                Genuineness.UNVERIFIED,
                top_car,
                self_signed=top.self_signed,
                known_pico_root=top_car in PICO_ROOT_CHRS,
            )

        if issuer is None:
            anchored = pico_dv(device.car) if device.car is not None else None
            if anchored is not None:
                dv, curve = anchored
                if device.verify_signed_by(dv.public_key, curve):
                    return DeviceIdentity(Genuineness.PICO_HSM, top_car)
                return failed()
            return unverified()
        if issuer.car is None or device.car != issuer.chr:
            return failed()
        root = genuine_root(issuer.car)
        verdict = Genuineness.GENUINE
        fallback: CurveParameters | None = None
        if root is None:
            root = pico_root(issuer.car)
            verdict = Genuineness.PICO_HSM
        if root is not None:
            root_key = root.public_key
        elif issuer.car == SIMULATOR_ROOT_CHR:
            root_key = simulator_root_key()
            verdict = Genuineness.UNVERIFIED_SIMULATOR
            fallback = curve_by_name(SIMULATOR_CURVE_NAME)
        else:
            anchored = pico_dv(issuer.chr)
            if anchored is None:
                return unverified()
            dv, curve = anchored
            if issuer.raw != dv.raw or not device.verify_signed_by(dv.public_key, curve):
                return failed()
            return DeviceIdentity(Genuineness.PICO_HSM, top_car)
        try:
            domain = root_key.curve(fallback) if root_key.is_ec else None
            issuer_domain = issuer.public_key.curve(domain) if issuer.public_key.is_ec else domain
        except CvcError:
            return failed()
        if not issuer.verify_signed_by(root_key, domain):
            return failed()
        if not device.verify_signed_by(issuer.public_key, issuer_domain):
            return failed()
        return DeviceIdentity(verdict, top_car)

    def device_domain(self) -> CurveParameters | None:
        """The device key's curve, inherited along the chain (``None`` if it cannot be told)."""
        inherited = None
        issuer = self.issuer
        if issuer is None and self.device.car is not None:
            anchored = pico_dv(self.device.car)
            if anchored is not None:
                inherited = anchored[1]
        if issuer is not None and issuer.car is not None:
            root = genuine_root(issuer.car) or pico_root(issuer.car)
            anchored = pico_dv(issuer.chr)
            try:
                if root is not None:
                    inherited = root.public_key.curve()
                elif issuer.car == SIMULATOR_ROOT_CHR:
                    inherited = curve_by_name(SIMULATOR_CURVE_NAME)
                elif anchored is not None:
                    inherited = anchored[1]
                if issuer.public_key.is_ec:
                    inherited = issuer.public_key.curve(inherited)
            except CvcError:
                return None
        try:
            return self.device.public_key.curve(inherited) if self.device.public_key.is_ec else None
        except CvcError:
            return None
