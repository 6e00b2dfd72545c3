"""XKEK key domains of the simulator: create from a membership, derive the KEK by ECDH.

An XKEK key domain is shared by a group of devices (``/work/notes/xkek-contract.md``,
``../shared/spec/pka-sm-xkek.md`` "Key domains and XKEK"; decisions in ``docs/card.md``,
"XKEK key domains"):

* CREATE ``80 52 02 kd | 7F21 (group signer's request) ‖ 54 L r ‖ s``: the signature is
  ECDSA by the group signer's key over SHA-256(``54`` ‖ X of this card's device key);
  the domain's UID becomes the group signer's public point X ‖ Y.  The ``67`` request or
  the ``7F21`` value are accepted in place of the ``7F21`` TLV;
* GENERATE ASYMMETRIC KEY PAIR with ``91`` listing ``84`` and ``92 kd`` (an exchange key,
  :mod:`~keymanager.simulator.keys`) puts ``65 { 73 { 06 OID, 80 UID } }`` in its request;
* DERIVE ``80 62 kid 84 | 67 (peer's exchange-key request)``: the X-coordinate of d·Q_peer
  becomes the KEK of the XKEK domain whose UID the peer's request names.  The genuine
  profile checks the peer request's outer signature (by a device key the card learned
  with PSO VERIFY CERTIFICATE) and its self-signature first; Pico checks neither.

The KEK is kept in the domain's ``dkek`` field, so WRAP and UNWRAP use it exactly as a
DKEK once derived; the status, clear (P1 ``04``) and delete (P1 ``03``) of XKEK domains
are in :mod:`~keymanager.simulator.domains`.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.card.cvc import CvcError, CvCertificate, CvcPublicKey, CvRequest
from keymanager.dkek.curves import CurveParameters, curve_by_name, derive_public_point, ecdsa_verify
from keymanager.dkek.tlv import TlvError, encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator.apdu import CardStatus, Command
from keymanager.simulator.core import CHAIN_CURVE, DEVICE_KEY
from keymanager.simulator.crypto import ecdh
from keymanager.simulator.cvc import KEY_DOMAIN_UID_OID
from keymanager.simulator.domains import KeyDomainCommands
from keymanager.simulator.operations import KeyOperations
from keymanager.simulator.pka import PublicKeyAuthentication
from keymanager.simulator.state import KeyDomain

__all__ = ["MEMBERSHIP_SIGNATURE_TAG", "XkekCommands", "membership_hash", "uid_of_extensions"]

MEMBERSHIP_SIGNATURE_TAG = 0x54
"""The tag of the group signer's signature in CREATE XKEK DOMAIN (and of its hash input)."""
_TAG_REQUEST = b"\x67"
_TAG_CERTIFICATE = b"\x7f\x21"
_TAG_BODY = b"\x7f\x4e"
_TAG_SIGNATURE = b"\x5f\x37"


def membership_hash(device_point: bytes, field_bytes: int) -> bytes:
    """SHA-256(``54`` ‖ X-coordinate of a device's public point ``04 ‖ X ‖ Y``)."""
    x = device_point[1 : 1 + field_bytes]
    return hashlib.sha256(bytes([MEMBERSHIP_SIGNATURE_TAG]) + x).digest()


def uid_of_extensions(extensions: bytes | None) -> bytes | None:
    """The key-domain UID in a CVC's ``65`` value (``73 { 06 OID, 80 UID }``), else ``None``.

    :raises TlvError: the extensions are not TLV-encoded.
    """
    if not extensions:
        return None
    for item in iter_tlvs(extensions):
        if item.tag != b"\x73":
            continue
        fields = {field.tag: field.value for field in iter_tlvs(item.value)}
        if fields.get(b"\x06") == KEY_DOMAIN_UID_OID:
            uid = fields.get(b"\x80")
            return uid or None
    return None


def _verify_hash_signature(
    curve: CurveParameters, point: bytes, message_hash: bytes, signature: bytes
) -> bool:
    """Whether plain ``r ‖ s`` is an ECDSA signature over ``message_hash`` by ``point``."""
    width = curve.order_bytes
    if len(signature) != 2 * width:
        return False
    r = int.from_bytes(signature[:width], "big")
    s = int.from_bytes(signature[width:], "big")
    if curve.cryptography_curve is None:
        return ecdsa_verify(curve, curve.decode_point(point), message_hash, r, s)
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(curve.cryptography_curve(), point)
    try:
        public_key.verify(
            utils.encode_dss_signature(r, s),
            message_hash,
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )
    except InvalidSignature:
        return False
    return True


def _parse_membership(data: bytes) -> tuple[CvCertificate, bytes]:
    """The group signer's request (as a ``7F21``) and the ``54`` signature of CREATE's data.

    :raises CardStatus: ``6A80`` the data is not one of the accepted layouts.
    """
    try:
        items: list[tuple[bytes, bytes]] = []
        offset = 0
        while offset < len(data):
            item = read_tlv(data, offset)
            items.append((item.tag, bytes(data[offset : item.next_offset])))
            offset = item.next_offset
        signatures = [raw for tag, raw in items if tag == bytes([MEMBERSHIP_SIGNATURE_TAG])]
        if len(signatures) != 1 or items[-1][0] != bytes([MEMBERSHIP_SIGNATURE_TAG]):
            raise CardStatus(0x6A80)
        signature = read_tlv(signatures[0]).value
        tags = [tag for tag, _raw in items[:-1]]
        raws = [raw for _tag, raw in items[:-1]]
        if tags == [_TAG_REQUEST]:
            certificate = CvRequest.parse(raws[0]).certificate
        elif tags == [_TAG_CERTIFICATE]:
            certificate = CvCertificate.parse(raws[0])
        elif tags == [_TAG_BODY, _TAG_SIGNATURE]:
            certificate = CvCertificate.parse(encode_tlv(_TAG_CERTIFICATE, b"".join(raws)))
        else:
            raise CardStatus(0x6A80)
    except (TlvError, CvcError):
        raise CardStatus(0x6A80) from None
    return certificate, signature


class XkekCommands(KeyDomainCommands, KeyOperations, PublicKeyAuthentication):
    """Mixin: CREATE XKEK DOMAIN (INS 52 P1 ``02``) and DERIVE XKEK (INS 62 P2 ``84``)."""

    def _own_device_point(self) -> tuple[CurveParameters, bytes]:
        curve = curve_by_name(CHAIN_CURVE)
        point = derive_public_point(curve, self.state.keys[DEVICE_KEY].d)
        return curve, curve.encode_point(point)

    # --- CREATE ---------------------------------------------------------------------------

    def _create_xkek_domain(self, index: int, data: bytes) -> bytes:
        """P1 ``02``: PIN, free slot (``6A89``), layout (``6A80``), signature (``6985``)."""
        self._require_domain_pin()
        domains = self._domains()
        if domains[index] is not None:
            raise CardStatus(0x6A89)
        if not data:
            raise CardStatus(0x6A80)
        certificate, signature = _parse_membership(data)
        try:
            signer_key = certificate.public_key
            curve = signer_key.curve()
            point = signer_key.point
            curve.decode_point(point)
        except (CvcError, ValueError):
            raise CardStatus(0x6A80) from None
        if len(signature) != 2 * curve.order_bytes:
            raise CardStatus(0x6A80)
        device_curve, device_point = self._own_device_point()
        message_hash = membership_hash(device_point, device_curve.field_bytes)
        if not _verify_hash_signature(curve, point, message_hash, signature):
            raise CardStatus(0x6985)
        domains[index] = created = KeyDomain(total=0, imported=0, uid=point[1:])
        self._changed()
        return self._domain_status(created)

    # --- DERIVE ---------------------------------------------------------------------------

    def _derive_xkek(self, command: Command) -> bytes:
        """INS 62 P2 ``84``: the KEK of the XKEK domain named by the peer's exchange key."""
        _record, secret = self._usable_key(command)
        if not isinstance(secret, tuple):
            raise CardStatus(0x6A80)
        curve, private_value = secret
        try:
            request = CvRequest.parse(command.data)
            peer_key = request.public_key
            peer_point = peer_key.point
            if peer_key.has_domain_parameters and peer_key.curve().name != curve.name:
                raise CardStatus(0x6A80)
            curve.decode_point(peer_point)
            uid = uid_of_extensions(request.certificate.extensions)
        except (CvcError, TlvError, ValueError):
            raise CardStatus(0x6A80) from None
        if uid is None:
            raise CardStatus(0x6A80)
        domains = self._domains()
        index = next(
            (n for n, domain in enumerate(domains) if domain is not None and domain.uid == uid),
            None,
        )
        if index is None:
            raise CardStatus(0x6A88)
        domain = domains[index]
        assert domain is not None
        if self.profile.xkek_derive_checks_peer and not self._peer_request_verifies(request):
            raise CardStatus(0x6A80)
        try:
            shared = ecdh(curve, private_value, peer_point)
        except ValueError:
            raise CardStatus(0x6A80) from None
        domain.dkek = shared[1 : 1 + curve.field_bytes]
        self._changed()
        return b""

    def _peer_request_verifies(self, request: CvRequest) -> bool:
        """Outer signature by a device key the card knows by the outer CAR, and self-signature."""
        device = None if request.outer_car is None else self._pka_known(request.outer_car)
        if device is None:
            return False
        try:
            return (
                request.verify_outer_signature(
                    CvcPublicKey.parse(device.public_key), curve_by_name(device.curve)
                )
                and request.verify_self_signature()
            )
        except (CvcError, ValueError):
            return False
