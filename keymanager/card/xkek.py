"""XKEK key domains: a key domain shared by a group of devices, on the card.

A group signer (a key on one card that never leaves it) issues each member device a
key-domain membership (:class:`Membership`); each member creates the XKEK domain from
it (:func:`create_xkek_domain`), generates an exchange key whose request carries the
domain's UID (:func:`generate_exchange_key`), and derives the domain's KEK by ECDH with
a peer's exchange key (:func:`derive_xkek`).  The KEK is pairwise: A derived with B's
exchange key holds the KEK B derived with A's.

Decision: the host verifies everything the card is about to rely on before sending it
(a membership's device and signature, a peer's chain, outer and self signatures and
group UID), because a Pico HSM does not verify the peer on DERIVE.  A refusal on the
host sends nothing; the messages say so.

The data structures and errors live in :mod:`keymanager.card.xkek_membership` and are
re-exported here.
"""

from __future__ import annotations

import secrets

from keymanager.card.apdu import LE_MAX, SW_OK, CommandApdu
from keymanager.card.cvc import CvcError, CvCertificate, CvRequest, DeviceCertificate
from keymanager.card.errors import (
    ApduError,
    FileNotFound,
    MalformedResponse,
    NoKeyDomainSupport,
    SecurityStatusNotSatisfied,
    error_for_status,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import Algorithm, EcKeySpec, KeyDomainStatus
from keymanager.card.keystore_types import EE_CERTIFICATE_PREFIX, KEY_PREFIX
from keymanager.card.pka import PkaChainInvalid, teach_certificate
from keymanager.card.xkek_membership import (
    ALGO_EC_DH_XKEK,
    GROUP_SIGNER_HOLDER_PREFIX,
    KDM_OID,
    KEY_DOMAIN_UID_OID,
    MEMBERSHIP_TAG,
    XKEK_CURVE_NAME,
    DomainSlotInUse,
    ExchangeKey,
    Membership,
    MembershipForAnotherDevice,
    MembershipInvalid,
    MembershipRefused,
    NotAnExchangeKey,
    NotAnXkekDomain,
    PeerCertificateInvalid,
    PeerNotInGroup,
    XkekError,
    der_to_plain,
    group_uid_of_request,
    membership_hash,
    uid_of_certificate,
    verify_membership_signature,
)
from keymanager.dkek.tlv import encode_tlv

__all__ = [
    "ALGO_EC_DH_XKEK",
    "GROUP_SIGNER_HOLDER_PREFIX",
    "KDM_OID",
    "KEY_DOMAIN_UID_OID",
    "XKEK_CURVE_NAME",
    "DomainSlotInUse",
    "ExchangeKey",
    "Membership",
    "MembershipForAnotherDevice",
    "MembershipInvalid",
    "MembershipRefused",
    "NotAnExchangeKey",
    "NotAnXkekDomain",
    "PeerCertificateInvalid",
    "PeerNotInGroup",
    "XkekError",
    "create_xkek_domain",
    "der_to_plain",
    "derive_xkek",
    "find_exchange_key",
    "generate_exchange_key",
    "generate_group_signer_key",
    "group_uid_of_request",
    "issue_membership",
    "membership_hash",
    "uid_of_certificate",
    "verify_membership_signature",
    "xkek_domains",
]

_STATUS_LENGTH = 10
_CREATE = "CREATE XKEK DOMAIN"
_DERIVE = "DERIVE XKEK"


def _short(uid: bytes) -> str:
    return f"{uid[:8].hex().upper()}…"


def _request_point(request: bytes, what: str) -> CvRequest:
    try:
        parsed = CvRequest.parse(request)
        parsed.public_key.point  # noqa: B018 - an EC key is required
    except CvcError as error:
        raise MalformedResponse(f"{what}: the card's request cannot be read: {error}") from None
    return parsed


def _pin_missing(hsm: SmartCardHsm) -> bool:
    """Whether the user PIN is not verified (Pico answers 6985 for that as well)."""
    try:
        return not hsm.pin_status().verified
    except ApduError:
        return False


def _domain_status(hsm: SmartCardHsm, domain: int) -> KeyDomainStatus | None:
    try:
        return hsm.key_domain_status(domain)
    except ApduError as error:
        if error.sw == 0x6A86:
            raise XkekError(
                f"key domain {domain} is beyond the slots the card was initialised with "
                "(SW 6A86); nothing changed"
            ) from None
        raise


# --- the group signer ----------------------------------------------------------------------------


def generate_group_signer_key(
    hsm: SmartCardHsm, key_ref: int, *, holder: bytes | None = None
) -> bytes:
    """Generate the group-signer key (GSK) in ``CCxx``; returns its ``67`` request.

    brainpoolP256r1, allowed to do ECDSA on a given hash (``0x70``) only, in no key
    domain: the card never exports it.  The CHR is ``KMGS`` + six random hex digits
    unless ``holder`` names one.
    """
    if holder is None:
        holder = GROUP_SIGNER_HOLDER_PREFIX + secrets.token_hex(3).upper().encode("ascii")
    request = hsm.generate_key_pair(
        key_ref,
        EcKeySpec(XKEK_CURVE_NAME),
        allowed_algorithms=[Algorithm.ECDSA],
        key_domain=None,
        holder=holder,
    )
    parsed = _request_point(request, "GENERATE GROUP SIGNER KEY")
    if parsed.outer_car is None:
        raise MalformedResponse("GENERATE GROUP SIGNER KEY: the request is not device-signed (67)")
    try:
        group_uid_of_request(request)
    except XkekError as error:
        raise MalformedResponse(f"GENERATE GROUP SIGNER KEY: {error}") from None
    return request


def issue_membership(
    signer: SmartCardHsm, gsk_ref: int, gsk_request: bytes, member_chain: DeviceCertificate
) -> Membership:
    """The group signer signs a membership for the device of ``member_chain``.

    :raises PeerCertificateInvalid: the member's chain does not verify to a known root,
        or lacks its DICA (nothing was sent to the signer card).
    :raises XkekError: the key ``gsk_ref`` is not the key of ``gsk_request``.
    """
    identity = member_chain.identity()
    if not identity.verdict.verified:
        raise PeerCertificateInvalid(
            f"the device chain of {member_chain.chr} does not verify ({identity.text}); "
            "no membership was signed"
        )
    if member_chain.issuer is None:
        raise PeerCertificateInvalid(
            f"the device chain of {member_chain.chr} has no DICA certificate; "
            "no membership was signed"
        )
    try:
        signer_key = CvRequest.parse(gsk_request).public_key
        device_point = member_chain.device.public_key.point
    except CvcError as error:
        raise XkekError(f"the membership cannot be prepared: {error}") from None
    der = signer.sign(gsk_ref, Algorithm.ECDSA, membership_hash(device_point))
    signature = der_to_plain(der)
    if not verify_membership_signature(signer_key, device_point, signature):
        raise XkekError(
            f"the key {gsk_ref} of the signer card is not the group-signer key of this "
            "group (its signature does not verify under the group's key)"
        )
    return Membership(
        dica=member_chain.issuer.raw,
        device=member_chain.device.raw,
        group_signer_request=bytes(gsk_request),
        signature=signature,
    )


# --- members -------------------------------------------------------------------------------------


def _teach(hsm: SmartCardHsm, certificate: CvCertificate, error: type[XkekError]) -> None:
    try:
        teach_certificate(hsm, certificate)
    except PkaChainInvalid as refused:
        raise error(f"{refused}; nothing else changed") from None


def create_xkek_domain(hsm: SmartCardHsm, domain: int, membership: Membership) -> KeyDomainStatus:
    """CREATE XKEK DOMAIN (``80 52 02 kd``) from a membership; the user PIN must be verified.

    :raises DomainSlotInUse: the slot holds a domain (checked first, nothing sent).
    :raises MembershipForAnotherDevice: the membership names another device.
    :raises MembershipRefused: its signature does not verify for this device (on the
        host; or the card said so).
    :raises SecurityStatusNotSatisfied: the user PIN is not verified.
    """
    if _domain_status(hsm, domain) is not None:
        raise DomainSlotInUse(f"key domain {domain} holds a domain already; nothing changed")
    own = hsm.device_certificate()
    if membership.device_chr != own.chr:
        raise MembershipForAnotherDevice(
            f"the membership was issued to {membership.device_chr}, not to this device "
            f"{own.chr}; nothing changed"
        )
    if not membership.signature_verifies_for(own.device.public_key.point):
        raise MembershipRefused(
            f"the membership's signature does not verify for this device {own.chr} (issued "
            "for another device, or tampered with); nothing changed"
        )
    _teach(hsm, CvCertificate.parse(membership.dica), MembershipRefused)
    _teach(hsm, membership.device_certificate, MembershipRefused)
    inner = CvRequest.parse(membership.group_signer_request).certificate.raw
    data = inner + encode_tlv(MEMBERSHIP_TAG, membership.signature)
    command = CommandApdu(0x80, 0x52, 0x02, domain & 0xFF, data, le=LE_MAX, name=_CREATE)
    response = hsm.connection.transmit(command)
    sw = response.sw
    if sw == SW_OK:
        if len(response.data) < _STATUS_LENGTH:
            raise MalformedResponse(
                f"{_CREATE}: the status has {len(response.data)} bytes, at least 10 expected"
            )
        status = KeyDomainStatus.parse(response.data)
        if status.uid and status.uid != membership.group_uid:
            raise MalformedResponse(
                f"{_CREATE}: the card reports the UID {_short(status.uid)}, not the "
                f"group's {_short(membership.group_uid)}"
            )
        return status
    if sw == 0x6982 or (sw == 0x6985 and _pin_missing(hsm)):
        raise SecurityStatusNotSatisfied(sw, _CREATE)
    if sw in (0x6985, 0x6A80):
        raise MembershipRefused(
            f"the card refused the membership (SW {sw:04X}): its signature does not verify "
            "for this device or it is malformed; nothing changed"
        )
    if sw == 0x6A89:
        raise DomainSlotInUse(f"key domain {domain} holds a domain already; nothing changed")
    if sw == 0x6A86:
        raise XkekError(
            f"key domain {domain} is beyond the slots the card was initialised with "
            "(SW 6A86); nothing changed"
        )
    if sw == 0x6D00:
        raise NoKeyDomainSupport(f"{_CREATE}: the card has no key domains (SW 6D00)")
    raise error_for_status(sw, _CREATE)


def _xkek_status(hsm: SmartCardHsm, domain: int) -> KeyDomainStatus:
    status = _domain_status(hsm, domain)
    if status is None or not status.uid:
        what = "is empty" if status is None else "is a DKEK domain"
        raise NotAnXkekDomain(f"key domain {domain} {what}, not an XKEK domain; nothing changed")
    return status


def generate_exchange_key(hsm: SmartCardHsm, key_ref: int, domain: int) -> bytes:
    """Generate the exchange key of an XKEK domain in ``CCxx``; returns its ``67`` request.

    :raises NotAnXkekDomain: ``domain`` is no XKEK domain (checked first; also the
        card's ``6A80``).
    :raises MalformedResponse: the request does not carry the domain's UID.
    """
    status = _xkek_status(hsm, domain)
    try:
        request = hsm.generate_key_pair(
            key_ref,
            EcKeySpec(XKEK_CURVE_NAME),
            allowed_algorithms=[ALGO_EC_DH_XKEK],
            key_domain=domain,
        )
    except ApduError as error:
        if error.sw == 0x6A80:
            raise NotAnXkekDomain(
                f"the card says key domain {domain} is not an XKEK domain (SW 6A80); "
                "no key was generated"
            ) from None
        raise
    parsed = _request_point(request, "GENERATE EXCHANGE KEY")
    try:
        uid = uid_of_certificate(parsed.certificate)
    except CvcError as error:
        raise MalformedResponse(f"GENERATE EXCHANGE KEY: {error}") from None
    if uid != status.uid:
        raise MalformedResponse(
            f"GENERATE EXCHANGE KEY: the request of key {key_ref} does not carry the UID "
            f"{_short(status.uid)} of key domain {domain} (the key was generated)"
        )
    return request


def xkek_domains(hsm: SmartCardHsm) -> list[tuple[int, KeyDomainStatus]]:
    """The XKEK domains of the card: (slot, status) of every slot with a UID."""
    return [
        (slot.index, slot.status)
        for slot in hsm.key_domains()
        if slot.status is not None and slot.status.uid
    ]


def derive_xkek(
    hsm: SmartCardHsm, key_ref: int, peer: ExchangeKey, group_uid: bytes
) -> KeyDomainStatus:
    """DERIVE XKEK (``80 62 <key_ref> 84``) with a peer's exchange key; the user PIN must be
    verified.  Returns the status of this card's domain of ``group_uid`` afterwards.

    The peer is verified on the host first (:meth:`ExchangeKey.verify`), then its DICA
    and device certificates are taught to the card (PSO VERIFY CERTIFICATE).

    :raises PeerCertificateInvalid, PeerNotInGroup: the peer does not verify (host), or
        the card refused it (``6A80`` / ``6A88``).
    :raises NotAnXkekDomain: this card has no XKEK domain of ``group_uid``.
    :raises NotAnExchangeKey: ``key_ref`` does not allow XKEK derivation (``6985``).
    """
    peer.verify(group_uid)
    domains = [index for index, status in xkek_domains(hsm) if status.uid == group_uid]
    if not domains:
        raise NotAnXkekDomain(
            f"this card has no XKEK domain of the group {_short(group_uid)}; nothing changed"
        )
    chain = DeviceCertificate.parse(peer.device_chain)
    if chain.issuer is not None:
        _teach(hsm, chain.issuer, PeerCertificateInvalid)
    _teach(hsm, chain.device, PeerCertificateInvalid)
    command = CommandApdu(
        0x80,
        0x62,
        key_ref & 0xFF,
        ALGO_EC_DH_XKEK,
        peer.request,
        le=LE_MAX,
        prefer_extended=True,
        name=_DERIVE,
    )
    sw = hsm.connection.transmit(command).sw
    if sw == 0x6985:
        raise NotAnExchangeKey(
            f"the key {key_ref} does not allow XKEK derivation (SW 6985); nothing changed"
        )
    if sw == 0x6A80:
        raise PeerCertificateInvalid(
            f"the card refused the exchange key of {peer.device_chr} (SW 6A80): its signatures "
            "do not verify on the card, or it is not on the curve of key "
            f"{key_ref}; nothing changed"
        )
    if sw == 0x6A88:
        raise PeerNotInGroup(
            f"the card has no XKEK domain of the group of {peer.device_chr}'s exchange key "
            "(SW 6A88); nothing changed"
        )
    if sw != SW_OK:
        raise error_for_status(sw, _DERIVE)
    status = hsm.key_domain_status(domains[0])
    if status is None:
        raise MalformedResponse(f"{_DERIVE}: key domain {domains[0]} is empty after deriving")
    return status


def find_exchange_key(hsm: SmartCardHsm, domain: int) -> int | None:
    """The key reference of ``domain``'s exchange key: the key whose request (``CExx``)
    carries the domain's UID; ``None`` when the domain has none (yet).

    :raises NotAnXkekDomain: ``domain`` is empty or a DKEK domain.
    """
    status = _xkek_status(hsm, domain)
    # Pico HSM does not list CE files in ENUMERATE OBJECTS: read CExx of every key
    key_refs = sorted(
        fid & 0xFF for fid in hsm.enumerate_objects() if fid >> 8 == KEY_PREFIX and fid & 0xFF
    )
    for key_ref in key_refs:
        try:
            request = CvRequest.parse(hsm.read_file(EE_CERTIFICATE_PREFIX << 8 | key_ref))
            uid = uid_of_certificate(request.certificate)
        except (CvcError, FileNotFound):
            continue  # an X.509 certificate, or no request: not an exchange key
        if uid == status.uid:
            return key_ref
    return None
