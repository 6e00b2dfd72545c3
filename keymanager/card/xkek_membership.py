"""XKEK key domains, the data half: constants, errors, memberships and exchange keys.

Nothing here talks to a card; :mod:`keymanager.card.xkek` does (and re-exports all of
this, so callers import from there).  The wire format is the one in
``docs/card.md`` ("XKEK key domains (host)"):

* the group UID is the group-signer key's public point without its ``04``: X ‖ Y;
* a membership (KDM) is ``30 { 06 KDM_OID, 61 {DICA CVC}, 62 {device CVC},
  63 {group-signer request 67}, 54 40 r‖s }``, the signature made with the group-signer
  key over :func:`membership_hash` of the member device's PK.DevAut point;
* an exchange key's request carries ``65 { 73 { 06 KEY_DOMAIN_UID_OID, 80 UID } }`` in
  its inner body.

Only public values are handled here (certificates, points, signatures).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import utils

from keymanager.card.cvc import CvcError, CvCertificate, CvcPublicKey, CvRequest, DeviceCertificate
from keymanager.card.errors import CardError
from keymanager.dkek.curves import curve_by_name, ecdsa_verify
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv

ALGO_EC_DH_XKEK = 0x84
"""Allowed algorithm (and DERIVE's P2) of an exchange key: ECDH deriving an XKEK."""
KDM_OID = bytes.fromhex("2B0601040181C31F040201")
"""1.3.6.1.4.1.24991.4.2.1: the key-domain membership."""
KEY_DOMAIN_UID_OID = bytes.fromhex("2B0601040181C31F030202")
"""1.3.6.1.4.1.24991.3.2.2: the key-domain UID extension of an exchange key's request."""
XKEK_CURVE_NAME = "brainpoolP256r1"
"""The curve of the group-signer key and of exchange keys."""
GROUP_SIGNER_HOLDER_PREFIX = b"KMGS"
"""The group-signer key's CHR starts with this (then six random hex digits)."""
MEMBERSHIP_TAG = 0x54
"""Tag of the membership signature, and the first byte of the message it signs."""

_FIELD_BYTES = 32
_UID_LENGTH = 2 * _FIELD_BYTES


class XkekError(CardError):
    """Base of the XKEK key-domain errors; the message says what failed."""


class NotAnXkekDomain(XkekError):
    """The key-domain slot is empty or holds a DKEK domain."""


class MembershipInvalid(XkekError):
    """The membership (KDM) is not well formed."""


class MembershipForAnotherDevice(XkekError):
    """The membership was issued to another device than this card."""


class MembershipRefused(XkekError):
    """The membership's signature does not verify for this device (host or card)."""


class PeerCertificateInvalid(XkekError):
    """A peer's chain, outer signature or self-signature does not verify, or the card
    refused the peer's exchange key."""


class PeerNotInGroup(XkekError):
    """The peer's exchange key belongs to another group (another domain UID)."""


class DomainSlotInUse(XkekError):
    """The key-domain slot holds a domain already."""


class NotAnExchangeKey(XkekError):
    """The key does not allow XKEK derivation (or is not on the peer's curve)."""


# --- helpers --------------------------------------------------------------------------------


def _split_point(point: bytes, what: str) -> tuple[bytes, bytes]:
    if len(point) != 1 + _UID_LENGTH or point[0] != 0x04:
        raise XkekError(
            f"{what} is not an uncompressed {XKEK_CURVE_NAME} point "
            f"({len(point)} bytes, 65 expected)"
        )
    return point[1 : 1 + _FIELD_BYTES], point[1 + _FIELD_BYTES :]


def group_uid_of_request(request: bytes) -> bytes:
    """The group UID (X ‖ Y, 64 bytes) of a group-signer request (``67`` or ``7F21``).

    :raises XkekError: not a CV request, or its key is not a brainpoolP256r1 point.
    """
    try:
        public_key = CvRequest.parse(request).public_key
        point = public_key.point
    except CvcError as error:
        raise XkekError(f"the group-signer request cannot be read: {error}") from None
    x, y = _split_point(point, "the group-signer key")
    return x + y


def membership_hash(device_point: bytes) -> bytes:
    """SHA-256(``54`` ‖ X) of a device's PK.DevAut point ``04 ‖ X ‖ Y``: what the GSK signs."""
    x, _ = _split_point(device_point, "the device key")
    return hashlib.sha256(bytes([MEMBERSHIP_TAG]) + x).digest()


def der_to_plain(signature: bytes, field_bytes: int = _FIELD_BYTES) -> bytes:
    """Turn a DER ``SEQUENCE {r, s}`` ECDSA signature into plain ``r ‖ s``.

    The inverse of :func:`keymanager.card.cvc.plain_to_der`.

    :raises XkekError: not DER, or a half is wider than ``field_bytes``.
    """
    try:
        r, s = utils.decode_dss_signature(signature)
    except ValueError:
        raise XkekError("the card's ECDSA signature is not a DER SEQUENCE {r, s}") from None
    limit = 1 << (8 * field_bytes)
    if not (0 < r < limit and 0 < s < limit):
        raise XkekError(f"the card's ECDSA signature does not fit {field_bytes}-byte halves")
    return r.to_bytes(field_bytes, "big") + s.to_bytes(field_bytes, "big")


def verify_membership_signature(
    group_signer_key: CvcPublicKey, device_point: bytes, signature: bytes
) -> bool:
    """Whether ``signature`` (r ‖ s) is the group signer's over :func:`membership_hash`."""
    if len(signature) != 2 * _FIELD_BYTES:
        return False
    try:
        curve = group_signer_key.curve(curve_by_name(XKEK_CURVE_NAME))
        point = curve.decode_point(group_signer_key.point)
        digest = membership_hash(device_point)
    except (CvcError, XkekError, ValueError):
        return False
    r = int.from_bytes(signature[:_FIELD_BYTES], "big")
    s = int.from_bytes(signature[_FIELD_BYTES:], "big")
    return ecdsa_verify(curve, point, digest, r, s)


def uid_of_certificate(certificate: CvCertificate) -> bytes | None:
    """The key-domain UID in a body's extensions (``65 / 73 / 06 OID, 80 UID``), if any."""
    if certificate.extensions is None:
        return None
    try:
        for template in iter_tlvs(certificate.extensions):
            if template.tag != b"\x73":
                continue
            fields = {item.tag: item.value for item in iter_tlvs(template.value)}
            if fields.get(b"\x06") == KEY_DOMAIN_UID_OID and b"\x80" in fields:
                return fields[b"\x80"]
    except TlvError as error:
        raise CvcError(f"the extensions (65) of {certificate.chr} are malformed: {error}") from None
    return None


# --- the membership ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """A key-domain membership (KDM): what a member needs to create the XKEK domain.

    ``dica`` and ``device`` are the member device's CVCs (``7F21`` TLVs, EF 2F02),
    ``group_signer_request`` the group-signer key's ``67`` request, ``signature`` the
    group signer's ``r ‖ s`` over :func:`membership_hash` of the device's point.
    """

    dica: bytes
    device: bytes
    group_signer_request: bytes
    signature: bytes

    def encode(self) -> bytes:
        """``30 { 06 KDM_OID, 61 DICA, 62 device, 63 GSK request, 54 signature }``."""
        return encode_tlv(
            0x30,
            encode_tlv(0x06, KDM_OID)
            + encode_tlv(0x61, self.dica)
            + encode_tlv(0x62, self.device)
            + encode_tlv(0x63, self.group_signer_request)
            + encode_tlv(MEMBERSHIP_TAG, self.signature),
        )

    @classmethod
    def parse(cls, data: bytes) -> Membership:
        """Read a KDM; every part is checked to be what it claims.

        :raises MembershipInvalid: not a KDM, a part missing or malformed.
        """
        try:
            outer = read_tlv(data, 0)
            if outer.tag != b"\x30" or outer.next_offset != len(data):
                raise MembershipInvalid("a membership is one SEQUENCE (30) and nothing after it")
            fields: dict[bytes, bytes] = {}
            for item in iter_tlvs(outer.value):
                if item.tag in fields:
                    raise MembershipInvalid(f"the membership repeats tag {item.tag.hex().upper()}")
                fields[item.tag] = item.value
        except TlvError as error:
            raise MembershipInvalid(f"the membership is not well-formed TLV: {error}") from None
        if fields.get(b"\x06") != KDM_OID:
            raise MembershipInvalid(
                "the membership does not carry the KDM OID 1.3.6.1.4.1.24991.4.2.1"
            )
        missing = [tag for tag in (b"\x61", b"\x62", b"\x63", b"\x54") if tag not in fields]
        if missing:
            names = ", ".join(tag.hex().upper() for tag in missing)
            raise MembershipInvalid(f"the membership lacks {names}")
        membership = cls(fields[b"\x61"], fields[b"\x62"], fields[b"\x63"], fields[b"\x54"])
        if len(membership.signature) != 2 * _FIELD_BYTES:
            raise MembershipInvalid(
                f"the membership signature has {len(membership.signature)} bytes, not 64"
            )
        try:
            CvCertificate.parse(membership.dica)
            CvCertificate.parse(membership.device)
            request = CvRequest.parse(membership.group_signer_request)
        except CvcError as error:
            raise MembershipInvalid(
                f"a certificate in the membership is malformed: {error}"
            ) from None
        if request.outer_car is None:
            raise MembershipInvalid("the group-signer request is not device-authenticated (67)")
        group_uid_of_request(membership.group_signer_request)
        return membership

    @property
    def device_certificate(self) -> CvCertificate:
        return CvCertificate.parse(self.device)

    @property
    def device_chr(self) -> str:
        """The CHR of the device the membership was issued to."""
        return self.device_certificate.chr

    @property
    def group_uid(self) -> bytes:
        """The UID of the group (the group-signer key's X ‖ Y)."""
        return group_uid_of_request(self.group_signer_request)

    @property
    def group_signer_key(self) -> CvcPublicKey:
        return CvRequest.parse(self.group_signer_request).public_key

    def signature_verifies_for(self, device_point: bytes) -> bool:
        """Whether the signature is the group signer's for the device with this point."""
        return verify_membership_signature(self.group_signer_key, device_point, self.signature)


# --- exchange keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeKey:
    """A device's exchange key: its ``67`` request and the device's EF 2F02 chain."""

    request: bytes
    device_chain: bytes
    uid: bytes
    """The key-domain UID the request carries."""
    point: bytes
    """The exchange key's public point ``04 ‖ X ‖ Y``."""
    device_chr: str
    """The CHR of the device whose chain came with it."""

    @classmethod
    def parse(cls, request: bytes, device_chain: bytes) -> ExchangeKey:
        """Read an exchange key; nothing is verified yet (:meth:`verify` does).

        :raises PeerCertificateInvalid: the request or chain cannot be read, or the
            request carries no key-domain UID.
        """
        try:
            parsed = CvRequest.parse(request)
            chain = DeviceCertificate.parse(device_chain)
            uid = uid_of_certificate(parsed.certificate)
            point = parsed.public_key.point
        except CvcError as error:
            raise PeerCertificateInvalid(f"the exchange key cannot be read: {error}") from None
        if uid is None:
            raise PeerCertificateInvalid(
                f"the request {parsed.chr} carries no key-domain UID: it is not an exchange key"
            )
        return cls(bytes(request), bytes(device_chain), uid, point, chain.chr)

    def verify(self, group_uid: bytes) -> None:
        """Check on the host what a Pico HSM does not check on the card.

        The device chain verifies to a known root, the request's outer signature is the
        chain's device key's, its self-signature verifies, and its UID is ``group_uid``.

        :raises PeerCertificateInvalid: a signature or the chain does not verify.
        :raises PeerNotInGroup: the exchange key belongs to another group.
        """
        try:
            chain = DeviceCertificate.parse(self.device_chain)
            request = CvRequest.parse(self.request)
            uid = uid_of_certificate(request.certificate)
        except CvcError as error:
            raise PeerCertificateInvalid(f"the exchange key cannot be read: {error}") from None
        identity = chain.identity()
        if not identity.verdict.verified:
            raise PeerCertificateInvalid(
                f"the device chain of {chain.chr} does not verify ({identity.text}); "
                "nothing was sent to the card"
            )
        if request.outer_car != chain.chr:
            raise PeerCertificateInvalid(
                f"the exchange key was signed by {request.outer_car or 'no device'}, not by "
                f"the device {chain.chr} whose chain came with it; nothing was sent to the card"
            )
        if not request.verify_outer_signature(chain.device.public_key, chain.device_domain()):
            raise PeerCertificateInvalid(
                f"the device signature on the exchange key of {chain.chr} does not verify; "
                "nothing was sent to the card"
            )
        if not request.verify_self_signature():
            raise PeerCertificateInvalid(
                f"the self-signature of the exchange key of {chain.chr} does not verify; "
                "nothing was sent to the card"
            )
        if uid != group_uid:
            held = "no group" if uid is None else f"the group {uid[:8].hex().upper()}…"
            raise PeerNotInGroup(
                f"the exchange key of {chain.chr} belongs to {held}, not to "
                f"{group_uid[:8].hex().upper()}…; nothing was sent to the card"
            )
