"""XKEK key domains in both profiles, driven by an independent host written here.

The host speaks raw APDUs (``/work/notes/xkek-contract.md``, "Wire format") through the
project's APDU connection to simulated cards, and checks with :mod:`cryptography`: a
group signer key (GSK) on card A signs each member's membership hash, cards A and B
(and C) create XKEK domains from their memberships, generate exchange keys carrying the
domain UID, derive the pairwise KEK and then move a key from A to B by WRAP / UNWRAP.
Nothing of ``keymanager.card`` is used, so the simulator is checked against the wire
format, not against the card layer's reading of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator import SmartCardHsmSimulator
from tests.simulator.conftest import Card, ec_request_body, parse_request, ready_card

KEY_DOMAIN_UID_OID = bytes.fromhex("2B0601040181C31F030202")
ALGO_EC_RAW = 0x70
ALGO_ECDSA_SHA256 = 0x73
ALGO_EC_DH_XKEK = 0x84
GSK_REF = 1
EXCHANGE_REF = 2
KEY_REF = 3
XKEK_DOMAIN = 1
BRAINPOOL = curve_by_name("brainpoolP256r1")


@pytest.fixture(params=["genuine", "pico"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- the host ------------------------------------------------------------------------------


def fields(value: bytes) -> dict[bytes, bytes]:
    return {item.tag: item.value for item in iter_tlvs(value)}


@dataclass
class DeviceChain:
    """EF 2F02 as READ BINARY gives it: the device CVC and the DICA CVC (7F21 TLVs)."""

    device: bytes
    dica: bytes

    @staticmethod
    def read(card: Card) -> DeviceChain:
        data, sw = card.read(0x2F02)
        assert sw == 0x9000
        end = read_tlv(data).next_offset
        return DeviceChain(data[:end], data[end : read_tlv(data, end).next_offset])

    @property
    def device_point(self) -> bytes:
        body = fields(fields(read_tlv(self.device).value)[b"\x7f\x4e"])
        return fields(body[b"\x7f\x49"])[b"\x86"]


def names(certificate: bytes) -> tuple[bytes, bytes]:
    """CAR and CHR of a 7F21 CVC."""
    body = fields(fields(read_tlv(certificate).value)[b"\x7f\x4e"])
    return body[b"\x42"], body[b"\x5f\x20"]


def teach(card: Card, chain: DeviceChain) -> None:
    """PSO VERIFY CERTIFICATE the DICA, then the device CVC, unless the card knows them."""
    for certificate in (chain.dica, chain.device):
        car, chr_ = names(certificate)
        if card.send(0x00, 0x22, 0x81, 0xB6, encode_tlv(0x83, chr_))[1] == 0x9000:
            continue
        assert card.send(0x00, 0x22, 0x81, 0xB6, encode_tlv(0x83, car))[1] == 0x9000
        assert card.send(0x00, 0x2A, 0x00, 0xBE, read_tlv(certificate).value)[1] == 0x9000


def gakp(card: Card, ref: int, curve_name: str, tags: bytes) -> tuple[bytes, int]:
    return card.generate(ref, ec_request_body(curve_by_name(curve_name), tags))


def generate_gsk(card: Card, ref: int = GSK_REF) -> bytes:
    """The group signer key (no key domain, ECDSA on a given hash only); its 67 request."""
    request, sw = gakp(card, ref, "brainpoolP256r1", encode_tlv(0x91, bytes([ALGO_EC_RAW])))
    assert sw == 0x9000
    return request


def group_uid(request: bytes) -> bytes:
    return parse_request(request).public_key[b"\x86"][1:]


def membership_hash(chain: DeviceChain) -> bytes:
    return hashlib.sha256(b"\x54" + chain.device_point[1:33]).digest()


def issue(signer: Card, gsk_request: bytes, member: DeviceChain, ref: int = GSK_REF) -> bytes:
    """The group signer's signature (plain r ‖ s) over the member's membership hash."""
    message_hash = membership_hash(member)
    der, sw = signer.sign(ref, ALGO_EC_RAW, message_hash)
    assert sw == 0x9000
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.BrainpoolP256R1(), parse_request(gsk_request).public_key[b"\x86"]
    )
    public_key.verify(der, message_hash, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def create_command_data(gsk_request: bytes, signature: bytes) -> bytes:
    return parse_request(gsk_request).inner + encode_tlv(0x54, signature)


def create_domain(card: Card, gsk_request: bytes, signature: bytes, kd: int = XKEK_DOMAIN) -> bytes:
    status, sw = card.domain(p1=0x02, domain=kd, data=create_command_data(gsk_request, signature))
    assert sw == 0x9000, hex(sw)
    return status


def exchange_key(card: Card, kd: int = XKEK_DOMAIN, ref: int = EXCHANGE_REF) -> bytes:
    tags = encode_tlv(0x91, bytes([ALGO_EC_DH_XKEK])) + encode_tlv(0x92, bytes([kd]))
    request, sw = gakp(card, ref, "brainpoolP256r1", tags)
    assert sw == 0x9000, hex(sw)
    return request


def derive(card: Card, peer_request: bytes, ref: int = EXCHANGE_REF) -> int:
    data, sw = card.decipher(ref, ALGO_EC_DH_XKEK, peer_request)
    assert data == b""
    return sw


def status(card: Card, kd: int = XKEK_DOMAIN) -> tuple[bytes, int]:
    return card.domain(p1=0x00, domain=kd)


def kcv(card: Card, kd: int = XKEK_DOMAIN) -> bytes:
    data, sw = status(card, kd)
    assert sw == 0x9000
    return data[2:10]


@dataclass
class Member:
    card: Card
    chain: DeviceChain
    request: bytes
    """The exchange key's 67 request."""


@dataclass
class Group:
    gsk_request: bytes
    members: dict[str, Member]

    @property
    def uid(self) -> bytes:
        return group_uid(self.gsk_request)


def member_card(seed: bytes, profile: str, state_path: Path | None = None) -> Card:
    """An initialised card with 3 slots (domain 0 a DKEK domain), PIN verified."""
    if state_path is None:
        return ready_card(seed, shares=1, slots=3, profile=profile)
    card = Card(SmartCardHsmSimulator(state_path, seed=seed, profile=profile))
    card.select()
    assert card.initialise(shares=1, slots=3) == 0x9000
    assert card.verify() == 0x9000
    return card


def form_group(profile: str, names_: tuple[str, ...] = ("A", "B")) -> Group:
    """Card A holds the GSK; every named card joins the group and has an exchange key."""
    cards = {name: member_card(b"xkek " + name.encode(), profile) for name in names_}
    gsk_request = generate_gsk(cards["A"])
    members: dict[str, Member] = {}
    for name, card in cards.items():
        chain = DeviceChain.read(card)
        create_domain(card, gsk_request, issue(cards["A"], gsk_request, chain))
        members[name] = Member(card, chain, exchange_key(card))
    for member in members.values():  # every card learns every other device
        for other in members.values():
            if other is not member:
                teach(member.card, other.chain)
    return Group(gsk_request, members)


# --- the group -----------------------------------------------------------------------------


def test_create_answers_the_status_with_the_group_uid(profile: str) -> None:
    card = member_card(b"xkek create", profile)
    gsk_request = generate_gsk(card)
    chain = DeviceChain.read(card)
    created = create_domain(card, gsk_request, issue(card, gsk_request, chain))
    uid = group_uid(gsk_request)
    assert len(uid) == 64
    total = 0xFF if profile == "pico" else 0x00
    assert created == bytes([total, 0]) + bytes(8) + uid
    assert status(card) == (created, 0x9000)
    # the other accepted layouts: the whole 67 request, or the 7F21 value
    signature = issue(card, gsk_request, chain)
    inner_value = read_tlv(parse_request(gsk_request).inner).value
    for request_part in (gsk_request, inner_value):
        data = request_part + encode_tlv(0x54, signature)
        answer, sw = card.domain(p1=0x02, domain=2, data=data)
        assert sw == 0x9000 and answer == created
        assert card.domain(p1=0x03, domain=2)[1] == (0x6A88 if profile == "pico" else 0x9000)


def test_two_cards_derive_the_same_kek_and_move_a_key(profile: str) -> None:
    group = form_group(profile, ("A", "B", "C"))
    a, b, c = (group.members[name] for name in "ABC")
    for member in (a, b):
        body = parse_request(member.request).body_fields
        extension = encode_tlv(
            0x73, encode_tlv(0x06, KEY_DOMAIN_UID_OID) + encode_tlv(0x80, group.uid)
        )
        assert body[b"\x65"] == extension
        assert kcv(member.card) == bytes(8)  # no KEK yet
    # a key generated into the XKEK domain cannot leave before the KEK exists
    tags = encode_tlv(0x91, bytes([ALGO_ECDSA_SHA256, 0x92])) + encode_tlv(0x92, b"\x01")
    key_request, sw = gakp(a.card, KEY_REF, "secp256r1", tags)
    assert sw == 0x9000
    assert a.card.wrap(KEY_REF)[1] == 0x6A88

    assert derive(a.card, b.request) == 0x9000
    assert derive(b.card, a.request) == 0x9000
    kcv_ab = kcv(a.card)
    assert kcv_ab != bytes(8) and kcv(b.card) == kcv_ab
    assert status(a.card)[0][10:] == group.uid  # the UID stays
    # pairwise: A derived with C's exchange key holds another KEK, which C shares
    assert derive(a.card, c.request) == 0x9000
    assert derive(c.card, a.request) == 0x9000
    assert kcv(a.card) == kcv(c.card) != kcv_ab
    assert derive(a.card, b.request) == 0x9000
    assert kcv(a.card) == kcv_ab

    blob, sw = a.card.wrap(KEY_REF)
    assert sw == 0x9000 and blob[:8] == kcv_ab
    assert b.card.unwrap(KEY_REF, blob) == 0x9000
    message = b"signed on B with the key made on A"
    der, sw = b.card.sign(KEY_REF, ALGO_ECDSA_SHA256, message)
    assert sw == 0x9000
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), parse_request(key_request).public_key[b"\x86"]
    )
    public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    # C's KEK with A is another one: the blob does not unwrap there
    assert derive(c.card, b.request) == 0x9000
    assert c.card.unwrap(KEY_REF, blob) == 0x6A80
    # the exchange key itself stays on its card (its list lacks wrap)
    assert a.card.wrap(EXCHANGE_REF)[1] == 0x6985


def test_the_group_signer_key_is_not_exportable(profile: str) -> None:
    card = member_card(b"xkek gsk", profile)
    card.domain(data=bytes(range(32)))  # domain 0 (where the GSK falls) has a DKEK
    generate_gsk(card)
    assert card.wrap(GSK_REF)[1] == 0x6985


# --- refusals --------------------------------------------------------------------------------


def test_membership_for_another_device_is_refused(profile: str) -> None:
    signer = member_card(b"xkek signer", profile)
    member = member_card(b"xkek member", profile)
    other = member_card(b"xkek other", profile)
    gsk_request = generate_gsk(signer)
    for_other = issue(signer, gsk_request, DeviceChain.read(other))
    data = create_command_data(gsk_request, for_other)
    assert member.domain(p1=0x02, domain=XKEK_DOMAIN, data=data)[1] == 0x6985
    assert status(member)[1] == 0x6A88  # nothing created
    # a tampered signature, and a signature under another group signer key
    good = issue(signer, gsk_request, DeviceChain.read(member))
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    data = create_command_data(gsk_request, tampered)
    assert member.domain(p1=0x02, domain=XKEK_DOMAIN, data=data)[1] == 0x6985
    other_gsk = generate_gsk(signer, ref=5)
    data = create_command_data(other_gsk, good)
    assert member.domain(p1=0x02, domain=XKEK_DOMAIN, data=data)[1] == 0x6985
    # malformed: no signature, a short one, garbage
    inner = parse_request(gsk_request).inner
    for bad in (inner, inner + encode_tlv(0x54, good[:40]), b"\x01\x02\x03", b""):
        assert member.domain(p1=0x02, domain=XKEK_DOMAIN, data=bad)[1] == 0x6A80
    assert status(member)[1] == 0x6A88


def test_create_needs_a_free_slot_and_the_pin(profile: str) -> None:
    card = member_card(b"xkek slot", profile)
    gsk_request = generate_gsk(card)
    signature = issue(card, gsk_request, DeviceChain.read(card))
    data = create_command_data(gsk_request, signature)
    assert card.domain(p1=0x02, domain=0, data=data)[1] == 0x6A89  # a DKEK domain
    create_domain(card, gsk_request, signature)
    assert card.domain(p1=0x02, domain=XKEK_DOMAIN, data=data)[1] == 0x6A89
    assert card.domain(p1=0x01, domain=XKEK_DOMAIN, data=b"\x01")[1] == 0x6A89
    assert card.domain(p1=0x02, domain=3, data=data)[1] == 0x6A86
    card.select()  # logged out
    expected = 0x6985 if profile == "pico" else 0x6982
    assert card.domain(p1=0x02, domain=2, data=data)[1] == expected
    assert card.domain(p1=0x04, domain=XKEK_DOMAIN)[1] == expected
    assert card.domain(p1=0x03, domain=XKEK_DOMAIN)[1] == expected
    assert card.verify() == 0x9000
    assert status(card, 2)[1] == 0x6A88


def test_exchange_key_only_into_an_xkek_domain(profile: str) -> None:
    group = form_group(profile)
    card = group.members["A"].card
    xkek = bytes([ALGO_EC_DH_XKEK])
    for tags in (
        encode_tlv(0x91, xkek) + encode_tlv(0x92, b"\x00"),  # DKEK domain
        encode_tlv(0x91, xkek) + encode_tlv(0x92, b"\x02"),  # empty slot
        encode_tlv(0x91, xkek),  # no domain given
    ):
        assert gakp(card, 7, "brainpoolP256r1", tags)[1] == 0x6A80
    assert card.generate(7, b"")[1] == 0x6A80
    assert card.read(0xCE07)[1] == 0x6A82  # nothing was generated


def test_derive_refusals(profile: str) -> None:
    group = form_group(profile)
    a, b = group.members["A"], group.members["B"]
    # a device in another group (its domain UID is not on A)
    outsider = member_card(b"xkek outsider", profile)
    other_gsk = generate_gsk(outsider)
    outsider_chain = DeviceChain.read(outsider)
    create_domain(outsider, other_gsk, issue(outsider, other_gsk, outsider_chain))
    outsider_request = exchange_key(outsider)
    teach(a.card, outsider_chain)
    assert derive(a.card, outsider_request) == 0x6A88
    # a key that does not allow 84, a peer request without the UID extension, garbage
    restricted = encode_tlv(0x91, bytes([0x80])) + encode_tlv(0x92, b"\x01")
    assert gakp(a.card, 6, "brainpoolP256r1", restricted)[1] == 0x9000
    assert derive(a.card, b.request, ref=6) == 0x6985
    plain_request, sw = gakp(b.card, 6, "brainpoolP256r1", b"")
    assert sw == 0x9000
    assert derive(a.card, plain_request) == 0x6A80
    assert derive(a.card, b"\x67\x03\x01\x02\x03") == 0x6A80
    # an exchange key on another curve than the peer's point
    other_curve = encode_tlv(0x91, bytes([ALGO_EC_DH_XKEK])) + encode_tlv(0x92, b"\x01")
    assert gakp(a.card, 8, "secp256r1", other_curve)[1] == 0x9000
    assert derive(a.card, b.request, ref=8) == 0x6A80
    assert derive(a.card, b.request, ref=9) == 0x6A88  # no such key
    a.card.select()  # logged out
    assert derive(a.card, b.request) == 0x6982
    assert a.card.verify() == 0x9000
    assert kcv(a.card) == bytes(8)  # none of these derived anything


def test_peer_signatures_checked_by_genuine_only(profile: str) -> None:
    group = form_group(profile)
    a, b = group.members["A"], group.members["B"]
    assert derive(b.card, a.request) == 0x9000
    expected_kcv = kcv(b.card)
    # B's request with its outer signature tampered (the last byte of the 67 request)
    tampered = b.request[:-1] + bytes([b.request[-1] ^ 0x01])
    # a peer device card B was never taught
    stranger = member_card(b"xkek stranger", profile)
    stranger_chain = DeviceChain.read(stranger)
    signer = a.card
    create_domain(stranger, group.gsk_request, issue(signer, group.gsk_request, stranger_chain))
    stranger_request = exchange_key(stranger)
    fresh = member_card(b"xkek fresh", profile)  # knows no other device at all
    fresh_chain = DeviceChain.read(fresh)
    create_domain(fresh, group.gsk_request, issue(signer, group.gsk_request, fresh_chain))
    exchange_key(fresh)
    if profile == "genuine":
        assert derive(a.card, tampered) == 0x6A80
        assert derive(a.card, stranger_request) == 0x6A80
        assert derive(fresh, a.request) == 0x6A80
        assert kcv(a.card) == bytes(8) and kcv(fresh) == bytes(8)
        teach(fresh, a.chain)
        assert derive(fresh, a.request) == 0x9000
    else:  # Pico HSM's cmd_decrypt_asym checks no signature on this path
        assert derive(a.card, tampered) == 0x9000
        assert kcv(a.card) == expected_kcv
        assert derive(a.card, stranger_request) == 0x9000
        assert derive(fresh, a.request) == 0x9000


def test_clear_kek_and_delete(profile: str) -> None:
    group = form_group(profile)
    a, b = group.members["A"], group.members["B"]
    assert derive(a.card, b.request) == 0x9000
    kek_kcv = kcv(a.card)
    cleared, sw = a.card.domain(p1=0x04, domain=XKEK_DOMAIN)
    total = 0xFF if profile == "pico" else 0x00
    assert sw == 0x9000 and cleared == bytes([total, 0]) + bytes(8) + group.uid
    assert status(a.card) == (cleared, 0x9000)
    assert derive(a.card, b.request) == 0x9000  # UID and membership kept
    assert kcv(a.card) == kek_kcv
    # no DKEK share goes into an XKEK domain
    assert a.card.domain(domain=XKEK_DOMAIN, data=bytes(32))[1] == 0x6986
    # the exchange key keeps the domain
    assert a.card.domain(p1=0x03, domain=XKEK_DOMAIN)[1] == 0x6A89
    assert status(a.card)[1] == 0x9000
    assert a.card.delete(0xCC00 | EXCHANGE_REF) == 0x9000
    deleted, sw = a.card.domain(p1=0x03, domain=XKEK_DOMAIN)
    if profile == "pico":
        assert sw == 0x6A88
    else:
        assert (deleted, sw) == (bytes(10), 0x9000)
    assert status(a.card)[1] == 0x6A88
    # the slot takes a new domain of the group again
    signature = issue(a.card, group.gsk_request, a.chain)
    assert create_domain(a.card, group.gsk_request, signature)[10:] == group.uid


def test_state_file_round_trip(profile: str, tmp_path: Path) -> None:
    path_a, path_b = tmp_path / "a.json", tmp_path / "b.json"
    a = member_card(b"xkek file A", profile, path_a)
    b = member_card(b"xkek file B", profile, path_b)
    gsk_request = generate_gsk(a)
    chains = {"a": DeviceChain.read(a), "b": DeviceChain.read(b)}
    create_domain(a, gsk_request, issue(a, gsk_request, chains["a"]))
    create_domain(b, gsk_request, issue(a, gsk_request, chains["b"]))
    request_a, request_b = exchange_key(a), exchange_key(b)
    teach(a, chains["b"])
    teach(b, chains["a"])
    assert derive(a, request_b) == 0x9000
    assert derive(b, request_a) == 0x9000
    status_a = status(a)[0]

    reloaded = Card(SmartCardHsmSimulator(path_a))
    reloaded.select()
    assert reloaded.verify() == 0x9000
    assert status(reloaded) == (status_a, 0x9000)
    assert status_a[10:] == group_uid(gsk_request) and status_a[2:10] != bytes(8)
    tags = encode_tlv(0x91, bytes([ALGO_ECDSA_SHA256, 0x92])) + encode_tlv(0x92, b"\x01")
    assert gakp(reloaded, KEY_REF, "secp256r1", tags)[1] == 0x9000
    blob, sw = reloaded.wrap(KEY_REF)
    assert sw == 0x9000 and b.unwrap(KEY_REF, blob) == 0x9000
    # the UID lands in the file; a file written before XKEK (no "uid") still loads
    saved = json.loads(path_a.read_text(encoding="utf-8"))
    assert saved["key_domains"][XKEK_DOMAIN]["uid"] == group_uid(gsk_request).hex()
    for domain in saved["key_domains"]:
        if domain is not None:
            del domain["uid"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(saved), encoding="utf-8")
    old_card = Card(SmartCardHsmSimulator(old))
    old_card.select()
    assert old_card.verify() == 0x9000
    old_status, sw = status(old_card)
    assert sw == 0x9000 and old_status[:2] == b"\x00\x00" and len(old_status) == 10


def test_host_verifies_the_exchange_key_request(profile: str) -> None:
    """The exchange key's request is device-signed and self-signed, as any GAKP answer."""
    group = form_group(profile)
    a = group.members["A"]
    parsed = parse_request(a.request)
    assert parsed.outer_car == names(a.chain.device)[1]
    device = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.BrainpoolP256R1(), a.chain.device_point
    )
    signed = parsed.inner + encode_tlv(0x42, parsed.outer_car)
    device.verify(to_der(parsed.outer_signature), signed, ec.ECDSA(hashes.SHA256()))
    own = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.BrainpoolP256R1(), parsed.public_key[b"\x86"]
    )
    own.verify(to_der(parsed.inner_signature), parsed.body, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        own.verify(to_der(parsed.inner_signature), parsed.body + b"\x00", ec.ECDSA(hashes.SHA256()))


def to_der(signature: bytes) -> bytes:
    half = len(signature) // 2
    return utils.encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
