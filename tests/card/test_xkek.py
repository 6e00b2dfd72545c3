"""XKEK key domains on the card layer, byte for byte (scripted APDUs, python-fido2 style).

The certificates are made here with the simulator's chain code (its root key is
public) and :mod:`cryptography`; the card's answers are scripted.  Every function of
:mod:`keymanager.card.xkek` and every status word it maps is covered; host-side
refusals are checked to send nothing.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.card.cvc import CvRequest, DeviceCertificate, plain_to_der
from keymanager.card.errors import (
    IncorrectParameters,
    InternalCardError,
    MalformedResponse,
    NoKeyDomainSupport,
    NotEnoughMemory,
    ReferencedDataNotFound,
    SecurityStatusNotSatisfied,
)
from keymanager.card.hsm import SmartCardHsm, encode_gakp_body
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.xkek import (
    ALGO_EC_DH_XKEK,
    KDM_OID,
    KEY_DOMAIN_UID_OID,
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
    create_xkek_domain,
    der_to_plain,
    derive_xkek,
    find_exchange_key,
    generate_exchange_key,
    generate_group_signer_key,
    group_uid_of_request,
    issue_membership,
    membership_hash,
    xkek_domains,
)
from keymanager.dkek.curves import curve_by_name, derive_public_point
from keymanager.dkek.tlv import encode_tlv
from keymanager.simulator import cvc as simcvc
from tests.card.scripted import ScriptedTransport, Step, unhex

SELECT = "00 A4 04 04 0B E82B0601040181C31F0201 00"
FCP_V4 = "62 17 8201 78 840B E82B0601040181C31F0201 8505 0001 00 0400"
CURVE = curve_by_name("brainpoolP256r1")
OID = simcvc.OID_ECDSA_SHA256
GSK_VALUE = 0x1F2E3D4C5B6A79880123456789ABCDEF0011223344556677
OTHER_GSK_VALUE = 0x2233445566778899AABBCCDDEEFF
EXCHANGE_VALUE = 0x0A0B0C0D0E0F1011121314151617
GSK_HOLDER = b"KMGS0A1B2C"

SIGNER_CHAIN, SIGNER_DEVICE = simcvc.device_chain(b"xkek signer", "0000000001")
MEMBER_CHAIN, MEMBER_DEVICE = simcvc.device_chain(b"xkek member", "0000000002")
OTHER_CHAIN, _OTHER_DEVICE = simcvc.device_chain(b"xkek other", "0000000003")
SIGNER = DeviceCertificate.parse(SIGNER_CHAIN)
MEMBER = DeviceCertificate.parse(MEMBER_CHAIN)
OTHER = DeviceCertificate.parse(OTHER_CHAIN)
assert MEMBER.issuer is not None


# --- builders --------------------------------------------------------------------------------


def point(value: int) -> bytes:
    return CURVE.encode_point(derive_public_point(CURVE, value))


def uid_extension(uid: bytes) -> bytes:
    return encode_tlv(
        0x65, encode_tlv(0x73, encode_tlv(0x06, KEY_DOMAIN_UID_OID) + encode_tlv(0x80, uid))
    )


def request(
    value: int, holder: bytes, device_chr: str, device_value: int, extensions: bytes = b""
) -> bytes:
    """A ``67`` request as a card answers GAKP: self-signed, then device-signed."""
    body = encode_tlv(
        0x7F4E,
        encode_tlv(0x5F29, b"\x00")
        + encode_tlv(0x42, b"UTCA00001")
        + simcvc.ec_public_key(CURVE, point(value), domain=True)
        + encode_tlv(0x5F20, holder)
        + extensions,
    )
    inner = simcvc.certificate(body, simcvc.self_signature((CURVE, value), body, OID))
    signer = simcvc.chain_signer(device_value)
    return simcvc.authenticated_request(inner, device_chr.encode(), signer)


GSK_REQUEST = request(GSK_VALUE, GSK_HOLDER, SIGNER.chr, SIGNER_DEVICE)
GROUP_UID = point(GSK_VALUE)[1:]
OTHER_GSK_REQUEST = request(OTHER_GSK_VALUE, b"KMGS999999", SIGNER.chr, SIGNER_DEVICE)
EXCHANGE_REQUEST = request(
    EXCHANGE_VALUE, b"UTSIM000000000200001", MEMBER.chr, MEMBER_DEVICE, uid_extension(GROUP_UID)
)


def gsk_sign(digest: bytes, value: int = GSK_VALUE) -> bytes:
    """DER ECDSA over a given hash, as the card answers SIGN 70."""
    key = ec.derive_private_key(value, ec.BrainpoolP256R1())
    return key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def membership_for(chain: DeviceCertificate, value: int = GSK_VALUE) -> Membership:
    assert chain.issuer is not None
    digest = membership_hash(chain.device.public_key.point)
    return Membership(
        chain.issuer.raw,
        chain.device.raw,
        request(value, GSK_HOLDER, SIGNER.chr, SIGNER_DEVICE),
        der_to_plain(gsk_sign(digest, value)),
    )


MEMBERSHIP = membership_for(MEMBER)


# --- APDU text ----------------------------------------------------------------------------------


def apdu(header: str, data: bytes = b"", *, le: bool = True, extended: bool = False) -> str:
    """ISO 7816-4 encoding, written out independently of the card layer's encoder."""
    if extended or len(data) > 255:
        lc = f"00{len(data):04X}" if data else "00"
        return header + lc + data.hex() + ("0000" if le else "")
    lc = f"{len(data):02X}" if data else ""
    return header + lc + data.hex() + ("00" if le else "")


READ_2F02 = "00 B1 2F 02 00 0004 54020000 0000"


def read(fid: int) -> str:
    return f"00 B1 {fid >> 8:02X} {fid & 0xFF:02X} 00 0004 54020000 0000"


def status(domain: int) -> str:
    return f"80 52 00 {domain:02X} 00"


def status_answer(uid: bytes = b"", kcv: bytes = bytes(8), total: int = 0) -> str:
    return bytes([total, 0]).hex() + kcv.hex() + uid.hex() + "9000"


def mse_dst(chr_: str) -> str:
    return apdu("00 22 81 B6", encode_tlv(0x83, chr_.encode()), le=False)


def pso(certificate_raw: bytes) -> str:
    from keymanager.card.cvc import CvCertificate

    certificate = CvCertificate.parse(certificate_raw)
    return apdu(
        "00 2A 00 BE", certificate.body + encode_tlv(0x5F37, certificate.signature), le=False
    )


def teach_known(chr_: str) -> Step:
    return (mse_dst(chr_), "9000")


def teach_new(certificate_raw: bytes, chr_: str, car: str) -> list[Step]:
    return [(mse_dst(chr_), "6A88"), (mse_dst(car), "9000"), (pso(certificate_raw), "9000")]


def session(steps: list[Step]) -> tuple[SmartCardHsm, ScriptedTransport]:
    transport = ScriptedTransport([(SELECT, FCP_V4 + " 9000"), *steps])
    return SmartCardHsm.open(transport), transport


def create_command(domain: int, membership: Membership = MEMBERSHIP) -> str:
    inner = CvRequest.parse(membership.group_signer_request).certificate.raw
    return apdu(f"80 52 02 {domain:02X}", inner + encode_tlv(0x54, membership.signature))


def teach_member_chain() -> list[Step]:
    assert MEMBER.issuer is not None and MEMBER.issuer.car is not None
    return [
        teach_known(MEMBER.issuer.chr),
        *teach_new(MEMBER.device.raw, MEMBER.chr, MEMBER.issuer.chr),
    ]


# --- data ----------------------------------------------------------------------------------------


def test_membership_encodes_as_the_kdm_and_parses_back() -> None:
    encoded = MEMBERSHIP.encode()
    assert encoded[:2] == b"\x30\x82"
    assert encode_tlv(0x06, KDM_OID) in encoded
    assert encode_tlv(0x54, MEMBERSHIP.signature) == encoded[-66:]
    parsed = Membership.parse(encoded)
    assert parsed == MEMBERSHIP
    assert parsed.device_chr == MEMBER.chr
    assert parsed.group_uid == GROUP_UID
    assert parsed.signature_verifies_for(MEMBER.device.public_key.point)
    assert not parsed.signature_verifies_for(OTHER.device.public_key.point)


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: m.encode() + b"\x00",
        lambda m: b"\x31" + m.encode()[1:],
        lambda m: m.encode().replace(KDM_OID, KDM_OID[:-1] + b"\x02"),
        lambda m: encode_tlv(0x30, encode_tlv(0x06, KDM_OID) + encode_tlv(0x61, m.dica)),
        lambda m: Membership(m.dica, m.device, m.group_signer_request, m.signature[:-1]).encode(),
        lambda m: Membership(m.dica, m.device[:-1], m.group_signer_request, m.signature).encode(),
        lambda m: Membership(
            m.dica, m.device, CvRequest.parse(m.group_signer_request).certificate.raw, m.signature
        ).encode(),
        lambda m: m.encode()[:-3],
    ],
)
def test_a_damaged_membership_is_refused(damage: object) -> None:
    assert callable(damage)
    with pytest.raises(MembershipInvalid):
        Membership.parse(damage(MEMBERSHIP))


def test_group_uid_is_x_and_y_of_the_request_point() -> None:
    assert group_uid_of_request(GSK_REQUEST) == GROUP_UID
    inner = CvRequest.parse(GSK_REQUEST).certificate.raw
    assert group_uid_of_request(inner) == GROUP_UID
    assert len(GROUP_UID) == 64
    with pytest.raises(XkekError):
        group_uid_of_request(b"\x67\x00")


def test_membership_hash_is_sha256_of_54_and_x() -> None:
    device_point = MEMBER.device.public_key.point
    assert membership_hash(device_point) == hashlib.sha256(b"\x54" + device_point[1:33]).digest()
    with pytest.raises(XkekError):
        membership_hash(device_point[1:])


def test_der_to_plain_inverts_plain_to_der() -> None:
    plain = bytes(range(1, 65))
    assert der_to_plain(plain_to_der(plain)) == plain
    short_r = bytes(31) + b"\x05" + bytes(range(1, 33))
    assert der_to_plain(plain_to_der(short_r)) == short_r
    with pytest.raises(XkekError):
        der_to_plain(b"\x30\x00")
    with pytest.raises(XkekError):
        der_to_plain(utils.encode_dss_signature(1 << 256, 1))


# --- group signer ---------------------------------------------------------------------------------


def gakp(key_ref: int, holder: bytes, metadata: str) -> str:
    body = encode_gakp_body(EcKeySpec("brainpoolP256r1"), holder)
    return apdu(f"00 46 {key_ref:02X} 00", body + unhex(metadata), extended=True)


def test_generate_group_signer_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keymanager.card.xkek.secrets.token_hex", lambda n: "0a1b2c")
    # ECDSA on a given hash only, no key domain: the card never exports it
    hsm, transport = session([(gakp(3, GSK_HOLDER, "9101 70"), GSK_REQUEST.hex() + "9000")])
    assert generate_group_signer_key(hsm, 3) == GSK_REQUEST
    transport.assert_done()


def test_generate_group_signer_key_refuses_a_bad_answer() -> None:
    inner = CvRequest.parse(GSK_REQUEST).certificate.raw
    hsm, _ = session([(gakp(3, b"KMGS000000", "9101 70"), inner.hex() + "9000")])
    with pytest.raises(MalformedResponse, match="not device-signed"):
        generate_group_signer_key(hsm, 3, holder=b"KMGS000000")
    hsm, _ = session([(gakp(3, b"KMGS000000", "9101 70"), "67 02 0000 9000")])
    with pytest.raises(MalformedResponse):
        generate_group_signer_key(hsm, 3, holder=b"KMGS000000")


def test_issue_membership_signs_the_hash_with_algorithm_70() -> None:
    digest = membership_hash(MEMBER.device.public_key.point)
    hsm, transport = session(
        [(apdu("80 68 03 70", digest, extended=True), gsk_sign(digest).hex() + "9000")]
    )
    membership = issue_membership(hsm, 3, GSK_REQUEST, MEMBER)
    transport.assert_done()
    assert membership.device_chr == MEMBER.chr
    assert membership.dica == MEMBER.issuer.raw
    assert membership.group_signer_request == GSK_REQUEST
    assert len(membership.signature) == 64
    assert membership.signature_verifies_for(MEMBER.device.public_key.point)


def test_issue_membership_refuses_an_unverified_chain_without_a_command() -> None:
    # the device certificate re-signed by another key: the chain does not verify
    tampered = bytearray(MEMBER_CHAIN)
    tampered[MEMBER.device.raw.index(MEMBER.device.signature) + 5] ^= 1
    hsm, transport = session([])
    with pytest.raises(PeerCertificateInvalid, match="no membership was signed"):
        issue_membership(hsm, 3, GSK_REQUEST, DeviceCertificate.parse(bytes(tampered)))
    lone = DeviceCertificate(MEMBER.device, None, MEMBER.device.raw)
    with pytest.raises(PeerCertificateInvalid):
        issue_membership(hsm, 3, GSK_REQUEST, lone)
    transport.assert_done()


def test_issue_membership_with_the_wrong_key_reference() -> None:
    digest = membership_hash(MEMBER.device.public_key.point)
    hsm, _ = session(
        [
            (
                apdu("80 68 04 70", digest, extended=True),
                gsk_sign(digest, OTHER_GSK_VALUE).hex() + "9000",
            )
        ]
    )
    with pytest.raises(XkekError, match="not the group-signer key"):
        issue_membership(hsm, 4, GSK_REQUEST, MEMBER)


# --- create ---------------------------------------------------------------------------------------


def test_create_xkek_domain_teaches_the_chain_then_sends_the_7f21_and_signature() -> None:
    hsm, transport = session(
        [
            (status(1), "6A88"),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            *teach_member_chain(),
            (create_command(1), status_answer(GROUP_UID, total=0xFF)),
        ]
    )
    result = create_xkek_domain(hsm, 1, MEMBERSHIP)
    transport.assert_done()
    assert result.uid == GROUP_UID
    assert result.kcv is None


def test_create_refuses_a_used_slot_before_anything_else() -> None:
    hsm, transport = session([(status(1), status_answer())])
    with pytest.raises(DomainSlotInUse, match="nothing changed"):
        create_xkek_domain(hsm, 1, MEMBERSHIP)
    transport.assert_done()


def test_create_refuses_a_slot_beyond_the_allocated_ones() -> None:
    hsm, _ = session([(status(9), "6A86")])
    with pytest.raises(XkekError, match="beyond the slots"):
        create_xkek_domain(hsm, 9, MEMBERSHIP)


def test_create_refuses_a_membership_for_another_device_on_the_host() -> None:
    hsm, transport = session([(status(1), "6A88"), (READ_2F02, OTHER_CHAIN.hex() + "9000")])
    with pytest.raises(MembershipForAnotherDevice, match="nothing changed"):
        create_xkek_domain(hsm, 1, MEMBERSHIP)
    transport.assert_done()


def test_create_refuses_a_tampered_signature_on_the_host() -> None:
    forged = bytearray(MEMBERSHIP.signature)
    forged[10] ^= 0x40
    membership = Membership(
        MEMBERSHIP.dica, MEMBERSHIP.device, MEMBERSHIP.group_signer_request, bytes(forged)
    )
    hsm, transport = session([(status(1), "6A88"), (READ_2F02, MEMBER_CHAIN.hex() + "9000")])
    with pytest.raises(MembershipRefused, match="does not verify"):
        create_xkek_domain(hsm, 1, membership)
    transport.assert_done()


def test_create_maps_a_refused_chain() -> None:
    assert MEMBER.issuer is not None and MEMBER.issuer.car is not None
    hsm, _ = session(
        [
            (status(1), "6A88"),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            (mse_dst(MEMBER.issuer.chr), "6A88"),
            (mse_dst(MEMBER.issuer.car), "6A88"),
        ]
    )
    with pytest.raises(MembershipRefused):
        create_xkek_domain(hsm, 1, MEMBERSHIP)


CREATE_REFUSALS: list[tuple[str, list[Step], type[Exception]]] = [
    ("6985", [("00 20 00 81", "9000")], MembershipRefused),
    ("6985", [("00 20 00 81", "63C3")], SecurityStatusNotSatisfied),
    ("6982", [], SecurityStatusNotSatisfied),
    ("6A80", [], MembershipRefused),
    ("6A89", [], DomainSlotInUse),
    ("6A86", [], XkekError),
    ("6D00", [], NoKeyDomainSupport),
    ("6A88", [], ReferencedDataNotFound),  # no XKEK meaning: the generic typed error
    ("6F00", [], InternalCardError),
]


@pytest.mark.parametrize(("sw", "after", "error"), CREATE_REFUSALS)
def test_create_maps_the_cards_refusals(sw: str, after: list[Step], error: type[Exception]) -> None:
    hsm, transport = session(
        [
            (status(1), "6A88"),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            *teach_member_chain(),
            (create_command(1), sw),
            *after,
        ]
    )
    with pytest.raises(error):
        create_xkek_domain(hsm, 1, MEMBERSHIP)
    transport.assert_done()


def test_create_checks_the_uid_the_card_reports() -> None:
    hsm, _ = session(
        [
            (status(1), "6A88"),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            *teach_member_chain(),
            (create_command(1), status_answer(bytes(64))),
        ]
    )
    with pytest.raises(MalformedResponse, match="UID"):
        create_xkek_domain(hsm, 1, MEMBERSHIP)
    hsm, _ = session(
        [
            (status(1), "6A88"),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            *teach_member_chain(),
            (create_command(1), "0000 9000"),
        ]
    )
    with pytest.raises(MalformedResponse):
        create_xkek_domain(hsm, 1, MEMBERSHIP)


# --- exchange keys -------------------------------------------------------------------------------


def test_generate_exchange_key_in_the_xkek_domain() -> None:
    holder = MEMBER.serial.encode() + b"00001"
    hsm, transport = session(
        [
            (status(1), status_answer(GROUP_UID)),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            (gakp(4, holder, "9101 84 9201 01"), EXCHANGE_REQUEST.hex() + "9000"),
        ]
    )
    assert generate_exchange_key(hsm, 4, 1) == EXCHANGE_REQUEST
    transport.assert_done()


@pytest.mark.parametrize("answer", ["6A88", status_answer(kcv=b"\x11" * 8, total=1)])
def test_generate_exchange_key_refuses_a_non_xkek_domain_first(answer: str) -> None:
    hsm, transport = session([(status(1), answer)])
    with pytest.raises(NotAnXkekDomain, match="not an XKEK domain"):
        generate_exchange_key(hsm, 4, 1)
    transport.assert_done()


def test_generate_exchange_key_maps_6a80_and_checks_the_uid() -> None:
    holder = MEMBER.serial.encode() + b"00001"
    steps: list[Step] = [
        (status(1), status_answer(GROUP_UID)),
        (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
        (gakp(4, holder, "9101 84 9201 01"), "6A80"),
    ]
    hsm, _ = session(steps)
    with pytest.raises(NotAnXkekDomain, match="no key was generated"):
        generate_exchange_key(hsm, 4, 1)
    plain = request(EXCHANGE_VALUE, holder, MEMBER.chr, MEMBER_DEVICE)
    hsm, _ = session([*steps[:2], (steps[2][0], plain.hex() + "9000")])
    with pytest.raises(MalformedResponse, match="does not carry the UID"):
        generate_exchange_key(hsm, 4, 1)
    hsm, _ = session([*steps[:2], (steps[2][0], "6982")])
    with pytest.raises(SecurityStatusNotSatisfied):
        generate_exchange_key(hsm, 4, 1)


def test_exchange_key_parse_and_verify() -> None:
    peer = ExchangeKey.parse(EXCHANGE_REQUEST, MEMBER_CHAIN)
    assert peer.uid == GROUP_UID
    assert peer.point == point(EXCHANGE_VALUE)
    assert peer.device_chr == MEMBER.chr
    peer.verify(GROUP_UID)
    with pytest.raises(PeerNotInGroup, match="nothing was sent"):
        peer.verify(bytes(64))


def test_exchange_key_parse_refuses_a_request_without_uid() -> None:
    plain = request(EXCHANGE_VALUE, b"UTSIM1", MEMBER.chr, MEMBER_DEVICE)
    with pytest.raises(PeerCertificateInvalid, match="not an exchange key"):
        ExchangeKey.parse(plain, MEMBER_CHAIN)
    with pytest.raises(PeerCertificateInvalid):
        ExchangeKey.parse(b"\x67\x01\x00", MEMBER_CHAIN)


def flipped(data: bytes, index: int) -> bytes:
    damaged = bytearray(data)
    damaged[index] ^= 0x01
    return bytes(damaged)


def test_exchange_key_verify_refuses_tampering() -> None:
    outer = CvRequest.parse(EXCHANGE_REQUEST).outer_signature
    assert outer is not None
    in_outer = EXCHANGE_REQUEST.rindex(outer) + 7
    in_uid = EXCHANGE_REQUEST.index(GROUP_UID) + 20
    for damaged in (flipped(EXCHANGE_REQUEST, in_outer), flipped(EXCHANGE_REQUEST, in_uid)):
        with pytest.raises(PeerCertificateInvalid, match="does not verify"):
            ExchangeKey.parse(damaged, MEMBER_CHAIN).verify(GROUP_UID)
    # signed by another device than the chain that came with it
    with pytest.raises(PeerCertificateInvalid, match="signed by"):
        ExchangeKey.parse(EXCHANGE_REQUEST, OTHER_CHAIN).verify(GROUP_UID)
    # a chain that does not verify to a known root
    bad_chain = flipped(MEMBER_CHAIN, MEMBER_CHAIN.index(MEMBER.device.signature) + 3)
    with pytest.raises(PeerCertificateInvalid, match="chain"):
        ExchangeKey.parse(EXCHANGE_REQUEST, bad_chain).verify(GROUP_UID)
    # the right device's signature on a key of another group
    other_group = request(
        EXCHANGE_VALUE, b"UTSIM1", MEMBER.chr, MEMBER_DEVICE, uid_extension(bytes(range(64)))
    )
    with pytest.raises(PeerNotInGroup):
        ExchangeKey.parse(other_group, MEMBER_CHAIN).verify(GROUP_UID)


# --- derive ---------------------------------------------------------------------------------------


def domains_steps() -> list[Step]:
    return [
        (status(0), status_answer(kcv=b"\x22" * 8, total=1)),
        (status(1), status_answer(GROUP_UID)),
        (status(2), "6A86"),
    ]


def derive_command(key_ref: int) -> str:
    return apdu(f"80 62 {key_ref:02X} 84", EXCHANGE_REQUEST, extended=True)


PEER = ExchangeKey.parse(EXCHANGE_REQUEST, MEMBER_CHAIN)


def test_derive_xkek_teaches_the_peer_and_returns_the_domain_status() -> None:
    kcv = b"\x5a" * 8
    hsm, transport = session(
        [
            *domains_steps(),
            *teach_member_chain(),
            (derive_command(4), "9000"),
            (status(1), status_answer(GROUP_UID, kcv=kcv)),
        ]
    )
    result = derive_xkek(hsm, 4, PEER, GROUP_UID)
    transport.assert_done()
    assert result.kcv == kcv
    assert result.uid == GROUP_UID
    assert ALGO_EC_DH_XKEK == 0x84


def test_derive_refuses_on_the_host_without_a_command() -> None:
    hsm, transport = session([])
    with pytest.raises(PeerNotInGroup):
        derive_xkek(hsm, 4, PEER, bytes(64))
    damaged = ExchangeKey.parse(flipped(EXCHANGE_REQUEST, len(EXCHANGE_REQUEST) - 5), MEMBER_CHAIN)
    with pytest.raises(PeerCertificateInvalid):
        derive_xkek(hsm, 4, damaged, GROUP_UID)
    transport.assert_done()


def test_derive_needs_a_domain_of_the_group() -> None:
    hsm, transport = session([(status(0), status_answer(kcv=b"\x22" * 8)), (status(1), "6A86")])
    with pytest.raises(NotAnXkekDomain, match="no XKEK domain"):
        derive_xkek(hsm, 4, PEER, GROUP_UID)
    transport.assert_done()


@pytest.mark.parametrize(
    ("sw", "error"),
    [
        ("6985", NotAnExchangeKey),
        ("6A80", PeerCertificateInvalid),
        ("6A88", PeerNotInGroup),
        ("6982", SecurityStatusNotSatisfied),
        ("6A86", IncorrectParameters),
    ],
)
def test_derive_maps_the_cards_refusals(sw: str, error: type[Exception]) -> None:
    hsm, transport = session([*domains_steps(), *teach_member_chain(), (derive_command(4), sw)])
    with pytest.raises(error):
        derive_xkek(hsm, 4, PEER, GROUP_UID)
    transport.assert_done()


def test_derive_maps_a_peer_chain_the_card_refuses() -> None:
    assert MEMBER.issuer is not None and MEMBER.issuer.car is not None
    hsm, _ = session(
        [
            *domains_steps(),
            (mse_dst(MEMBER.issuer.chr), "9000"),
            (mse_dst(MEMBER.chr), "6A88"),
            (mse_dst(MEMBER.issuer.chr), "9000"),
            (pso(MEMBER.device.raw), "6A80"),
        ]
    )
    with pytest.raises(PeerCertificateInvalid, match="refused the certificate"):
        derive_xkek(hsm, 4, PEER, GROUP_UID)


# --- listing ---------------------------------------------------------------------------------


def test_xkek_domains_lists_the_slots_with_a_uid() -> None:
    hsm, transport = session([*domains_steps()[:2], (status(2), "6A88"), (status(3), "6A86")])
    domains = xkek_domains(hsm)
    transport.assert_done()
    assert [(index, domain.uid) for index, domain in domains] == [(1, GROUP_UID)]


def test_xkek_domains_of_a_card_without_domains() -> None:
    hsm, _ = session([(status(0), "6D00")])
    assert xkek_domains(hsm) == []


def test_find_exchange_key_reads_the_requests() -> None:
    other = request(
        EXCHANGE_VALUE, b"UTSIM1", MEMBER.chr, MEMBER_DEVICE, uid_extension(bytes(range(64)))
    )
    hsm, transport = session(
        [
            (status(1), status_answer(GROUP_UID)),
            # Pico lists no CE files: every key's CExx is read (not the device key's)
            ("80 58 00 00 00 00 00", "CC00 CC02 CE02 CC03 CC04 CC05 CE07 2F02 9000"),
            (read(0xCE02), "3003 020101 9000"),  # an X.509 certificate's start
            (read(0xCE03), other.hex() + "9000"),
            (read(0xCE04), "6A82"),
            (read(0xCE05), EXCHANGE_REQUEST.hex() + "9000"),
        ]
    )
    assert find_exchange_key(hsm, 1) == 5
    transport.assert_done()


def test_find_exchange_key_none_and_not_xkek() -> None:
    hsm, _ = session(
        [
            (status(1), status_answer(GROUP_UID)),
            ("80 58 00 00 00 00 00", "CC00 CC02 CE02 9000"),
            (read(0xCE02), "6A82"),
        ]
    )
    assert find_exchange_key(hsm, 1) is None
    hsm, _ = session([(status(2), status_answer(kcv=b"\x01" * 8, total=1))])
    with pytest.raises(NotAnXkekDomain):
        find_exchange_key(hsm, 2)
    hsm, _ = session([(status(2), "6A86")])
    with pytest.raises(XkekError):
        find_exchange_key(hsm, 2)


def test_wrong_data_is_not_swallowed() -> None:
    # a status word without an XKEK meaning on GAKP stays the generic typed error
    holder = MEMBER.serial.encode() + b"00001"
    hsm, _ = session(
        [
            (status(1), status_answer(GROUP_UID)),
            (READ_2F02, MEMBER_CHAIN.hex() + "9000"),
            (gakp(4, holder, "9101 84 9201 01"), "6A84"),
        ]
    )
    with pytest.raises(NotEnoughMemory):
        generate_exchange_key(hsm, 4, 1)
