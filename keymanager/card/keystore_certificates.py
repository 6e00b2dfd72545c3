"""Certificate files of the key store: X.509 certificates, CV requests and names.

What ``CExx`` (a key's certificate or, after on-card generation, its CV request) and
``CAxx`` (a CA certificate) hold, decoded once and checked; the public key a CV request
carries; the PKCS#15 ID of a CA certificate; a PRKD subject as text.  No card I/O.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import MalformedResponse
from keymanager.card.pkcs15 import KeyKind, decode_oid, key_id_for_public_key, key_kind_and_size
from keymanager.dkek.curves import SUPPORTED_CURVES, CurveParameters
from keymanager.dkek.tlv import TlvError, iter_tlvs, read_tlv

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

TAG_X509 = 0x30
"""First byte of an X.509 certificate (a DER SEQUENCE)."""
TAG_CV_REQUEST = 0x67
"""First byte of a CV request (an authenticated request, as GENERATE returns it)."""


@dataclass(frozen=True)
class PublicKeyFacts:
    """What a public key tells the PRKD: kind, size in bits and OpenSC's ID.

    ``public_key`` is ``None`` for an EC key on a curve :mod:`cryptography` lacks.
    """

    kind: KeyKind
    size: int
    key_id: bytes
    public_key: PublicKey | None


def name_to_text(der_name: bytes) -> str | None:
    """An X.501 ``Name`` in DER as RFC 4514 text; ``None`` if it cannot be read."""
    try:
        attributes: list[x509.RelativeDistinguishedName] = []
        for rdn in iter_tlvs(read_tlv(der_name).value):
            members = []
            for pair in iter_tlvs(rdn.value):
                oid_tlv = read_tlv(pair.value)
                value_tlv = read_tlv(pair.value, oid_tlv.next_offset)
                tag = value_tlv.tag[0]
                if tag == 0x1E:  # BMPString
                    text = value_tlv.value.decode("utf-16-be")
                elif tag == 0x0C:  # UTF8String
                    text = value_tlv.value.decode("utf-8")
                else:  # Printable, IA5, Teletex, Numeric...: read as Latin-1
                    text = value_tlv.value.decode("latin-1")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    members.append(
                        x509.NameAttribute(x509.ObjectIdentifier(decode_oid(oid_tlv.value)), text)
                    )
            attributes.append(x509.RelativeDistinguishedName(members))
        return x509.Name(attributes).rfc4514_string()
    except (TlvError, ValueError, UnicodeDecodeError):
        return None


def ca_certificate_id(certificate: x509.Certificate) -> bytes:
    """The PKCS#15 ID of a CA certificate: OpenSC's key ID for RSA and EC keys, else
    SHA-1 of the DER SubjectPublicKeyInfo (CA keys may be of types the card cannot hold)."""
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key_id_for_public_key(public)
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(spki, usedforsecurity=False).digest()


def load_certificate_file(data: bytes) -> x509.Certificate:
    """The X.509 certificate at the start of a certificate file, fully decoded.

    :mod:`cryptography` decodes some fields only when they are used (the public key,
    the names), so a damaged certificate would fail later, somewhere in the GUI.
    Everything the key manager shows is decoded here once (extensions are not shown,
    and a real card's certificate with an odd extension stays readable).

    :raises MalformedResponse: not a certificate, or a part of it does not decode
        (including a key of an algorithm or curve :mod:`cryptography` does not know).
    """
    try:
        certificate = x509.load_der_x509_certificate(_first_element(data))
        certificate.public_key()
        certificate.subject.rfc4514_string()
        certificate.issuer.rfc4514_string()
        _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
        _ = certificate.serial_number
    except (ValueError, UnsupportedAlgorithm, TypeError) as error:
        raise MalformedResponse(f"not a readable X.509 certificate: {error}") from None
    return certificate


def _first_element(data: bytes) -> bytes:
    """The first complete TLV of a file (a certificate EF may be longer than its content)."""
    try:
        return bytes(data[: read_tlv(data).next_offset])
    except TlvError as error:
        raise MalformedResponse(f"not a well-formed TLV: {error}") from None


def public_key_facts(
    certificate: x509.Certificate | None, public_key: PublicKey | None
) -> PublicKeyFacts | None:
    if certificate is not None:
        from_certificate = certificate.public_key()
        if not isinstance(from_certificate, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError(f"a SmartCard-HSM cannot hold {type(from_certificate).__name__} keys")
        if public_key is not None and from_certificate.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ValueError("the public key does not match the certificate")
        public_key = from_certificate
    if public_key is None:
        return None
    kind, size = key_kind_and_size(public_key)
    return PublicKeyFacts(kind, size, key_id_for_public_key(public_key), public_key)


# --- the public key in a CV request ----------------------------------------------------


def parse_cv_request_public_key(data: bytes) -> PublicKeyFacts:
    """Kind, size, OpenSC ID and public key from a CV request or CV certificate.

    Accepts ``67 { 7F21 … }`` (authenticated request, what GENERATE returns) or a bare
    ``7F21``.  RSA keys carry ``81`` modulus and ``82`` exponent; EC keys the point in
    ``86`` and usually the domain parameters (``81`` prime …).

    :raises MalformedResponse: the structure or the key is not as expected.
    """
    try:
        element = read_tlv(data)
        if element.tag == b"\x67":
            element = read_tlv(element.value)
        if element.tag != b"\x7f\x21":
            raise MalformedResponse("the CV request has no certificate (7F21)")
        body = _find(element.value, b"\x7f\x4e", "certificate body (7F4E)")
        template = _find(body, b"\x7f\x49", "public key (7F49)")
        fields = {child.tag: child.value for child in iter_tlvs(template)}
    except TlvError as error:
        raise MalformedResponse(f"the CV request is malformed: {error}") from None
    point = fields.get(b"\x86")
    if point is not None:
        return _ec_facts(point, fields)
    modulus = fields.get(b"\x81")
    exponent = fields.get(b"\x82")
    if not modulus or not exponent:
        raise MalformedResponse("the CV request's public key has neither a point nor a modulus")
    numbers = rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big"))
    try:
        public = numbers.public_key()
    except ValueError as error:
        raise MalformedResponse(f"the CV request's RSA key is invalid: {error}") from None
    return PublicKeyFacts(KeyKind.RSA, public.key_size, key_id_for_public_key(public), public)


def _find(data: bytes, tag: bytes, what: str) -> bytes:
    for child in iter_tlvs(data):
        if child.tag == tag:
            return child.value
    raise MalformedResponse(f"the CV request has no {what}")


def _ec_facts(point: bytes, fields: dict[bytes, bytes]) -> PublicKeyFacts:
    if len(point) < 3 or point[0] != 0x04 or len(point) % 2 == 0:
        raise MalformedResponse("the CV request's EC point is not an uncompressed point")
    width = (len(point) - 1) // 2
    curve = _curve_for(width, fields.get(b"\x81"), fields.get(b"\x82"))
    key_id = hashlib.sha1(point[1 : 1 + width], usedforsecurity=False).digest()
    size = curve.field_bits if curve is not None else (521 if width == 66 else width * 8)
    public: ec.EllipticCurvePublicKey | None = None
    if curve is not None and curve.cryptography_curve is not None:
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(curve.cryptography_curve(), point)
        except ValueError as error:
            raise MalformedResponse(f"the CV request's EC point is invalid: {error}") from None
    return PublicKeyFacts(KeyKind.EC, size, key_id, public)


def _curve_for(width: int, prime: bytes | None, a: bytes | None) -> CurveParameters | None:
    """The curve of a CV public key; ``None`` when the template does not pin it down
    (the size is still right: it only depends on the field width)."""
    matches = [curve for curve in SUPPORTED_CURVES if curve.field_bytes == width]
    if prime:
        matches = [curve for curve in matches if curve.p == int.from_bytes(prime, "big")]
    if a:
        matches = [curve for curve in matches if curve.a == int.from_bytes(a, "big")]
    return matches[0] if len(matches) == 1 else None
