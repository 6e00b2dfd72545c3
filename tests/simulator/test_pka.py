"""Public-key authentication (PKA) in both profiles: M of N custodian keys unlock a card.

The protected card and the custodian cards are all simulators; the custodians generate
their keys with GENERATE ASYMMETRIC KEY PAIR (the authenticated request ``67``) and sign
the card's challenge with SIGN ECDSA-SHA-256 (``73``) through their own APDUs.  The
protected card is driven with raw APDUs as the host sends them
(``../shared/spec/pka-sm-xkek.md``, "PKA"; ``docs/card.md``, "Public key authentication").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import utils

from keymanager.card.apdu import LE_MAX, CommandApdu
from keymanager.card.cvc import CvCertificate, CvRequest
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.secure_messaging import SecureMessagingMode, SecureMessagingStatus
from keymanager.dkek.curves import CurveParameters, curve_by_name
from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator import SmartCardHsmSimulator
from tests.simulator.conftest import ECDSA_OID, SO_PIN, USER_PIN, Card, ec_request_body, ready_card

PKA_KEY = 0x01
ALGO_ECDSA_SHA256 = 0x73
OPTION_REPLACEABLE = 0x0008
OPTION_PKA_AND_PIN = 0x0010


@pytest.fixture(params=["genuine", "pico"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Custodian:
    """A custodian's card and what its ``.pka`` file holds."""

    card: Card
    chr: bytes
    device: bytes
    """The custodian device's CVC (7F21 TLV)."""
    dica: bytes
    request: bytes
    """The authenticated request (67 TLV)."""

    def sign(self, message: bytes) -> bytes:
        """ECDSA-SHA-256 on the custodian card, as plain r ‖ s."""
        der, sw = self.card.sign(PKA_KEY, ALGO_ECDSA_SHA256, message)
        assert sw == 0x9000
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def gakp_body(curve: CurveParameters, holder: bytes) -> bytes:
    """GAKP data with the holder as CHR and CAR (as for a PKA key)."""
    fields = {item.tag: item.value for item in iter_tlvs(ec_request_body(curve))}
    return (
        encode_tlv(0x5F29, b"\x00")
        + encode_tlv(0x42, holder)
        + encode_tlv(0x7F49, fields[b"\x7f\x49"])
        + encode_tlv(0x5F20, holder)
    )


def custodian(seed: bytes, profile: str, curve: str = "secp256r1") -> Custodian:
    card = ready_card(seed, shares=None, profile=profile)
    holder = b"UTPKA" + card.sim.state.serial.encode() + b"01"
    request, sw = card.generate(PKA_KEY, gakp_body(curve_by_name(curve), holder))
    assert sw == 0x9000
    chain = card.sim.device_certificates()
    end = read_tlv(chain, 0).next_offset
    return Custodian(card, holder, chain[:end], chain[end:], request)


def protected_card(
    profile: str,
    total: int = 3,
    required: int = 2,
    *,
    options: int = 0x0001,
    state_path: Path | None = None,
) -> Card:
    card = Card(SmartCardHsmSimulator(state_path, seed=b"protected", profile=profile))
    card.select()
    data = (
        encode_tlv(0x80, options.to_bytes(2, "big"))
        + encode_tlv(0x81, USER_PIN)
        + encode_tlv(0x82, SO_PIN)
        + encode_tlv(0x93, bytes([total, required]))
    )
    assert card.send(0x80, 0x50, 0x00, 0x00, data)[1] == 0x9000
    return card


def value(tlv: bytes) -> bytes:
    return read_tlv(tlv, 0).value


def status(card: Card) -> tuple[bytes, int]:
    return card.send(0x80, 0x54, 0x00, 0x00, le=LE_MAX)


def set_dst(card: Card, name: str | bytes) -> int:
    reference = name.encode() if isinstance(name, str) else name
    return card.send(0x00, 0x22, 0x81, 0xB6, encode_tlv(0x83, reference))[1]


def learn_chain(card: Card, who: Custodian) -> None:
    """DICA, then device CVC: MSE SET DST (known?), else MSE SET DST CAR + PSO VERIFY."""
    for encoded in (who.dica, who.device):
        certificate = CvCertificate.parse(encoded)
        if set_dst(card, certificate.chr) == 0x9000:
            continue
        assert certificate.car is not None
        assert set_dst(card, certificate.car) == 0x9000
        assert card.send(0x00, 0x2A, 0x00, 0xBE, value(encoded))[1] == 0x9000


def register(card: Card, who: Custodian, slot: int | None = None) -> tuple[bytes, int]:
    learn_chain(card, who)
    outer_car = CvRequest.parse(who.request).outer_car
    assert outer_car is not None
    assert set_dst(card, outer_car) == 0x9000
    if slot is None:
        return card.send(0x80, 0x54, 0x00, 0x00, value(who.request), LE_MAX)
    return card.send(0x80, 0x54, 0x01, slot, value(who.request), LE_MAX)


def listed(card: Card, slot: int) -> tuple[bytes, int]:
    return card.send(0x80, 0x54, 0x02, slot, le=LE_MAX)


def challenge(card: Card) -> bytes:
    data, sw = card.send(0x00, 0x84, 0x00, 0x00, le=8)
    assert sw == 0x9000 and len(data) == 8
    return data


def authenticate(card: Card, who: Custodian, nonce: bytes) -> int:
    sw = card.send(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, who.chr))[1]
    if sw != 0x9000:
        return sw
    signature = who.sign(card.sim.device_chr + nonce)
    return card.send(0x00, 0x82, 0x00, 0x00, signature)[1]


def needs_pin(card: Card) -> int:
    """A command that needs the user: generate an EC key in slot 5."""
    return card.generate(5, ec_request_body(curve_by_name("secp256r1")))[1]


@pytest.fixture
def custodians(profile: str) -> list[Custodian]:
    return [custodian(f"custodian {index}".encode(), profile) for index in range(4)]


def test_two_of_three_unlock_the_card_and_select_locks_it_again(
    profile: str, custodians: list[Custodian]
) -> None:
    card = protected_card(profile)
    assert status(card) == (bytes([3, 3, 2, 0]), 0x9000)
    assert listed(card, 0)[1] == 0x6A88
    for index, who in enumerate(custodians[:3]):
        assert register(card, who) == (bytes([3, 2 - index, 2, 0]), 0x9000)
        assert listed(card, index) == (who.chr, 0x9000)
    assert listed(card, 3)[1] == 0x6A86
    assert needs_pin(card) == 0x6982
    assert card.verify(None) == 0x63C3

    nonce = challenge(card)
    assert authenticate(card, custodians[0], nonce) == 0x9000
    assert status(card) == (bytes([3, 0, 2, 1]), 0x9000)
    assert needs_pin(card) == 0x6982  # one of two is not enough
    assert authenticate(card, custodians[2], nonce) == 0x9000
    assert status(card) == (bytes([3, 0, 2, 2]), 0x9000)
    assert [listed(card, slot)[1] for slot in range(3)] == [0x9001, 0x9000, 0x9001]
    assert card.verify(None) == 0x9000
    assert needs_pin(card) == 0x9000  # no PIN was verified

    again = 0x6985 if profile == "pico" else 0x9000
    assert card.send(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, custodians[0].chr))[1] == again

    card.select()
    assert status(card) == (bytes([3, 0, 2, 0]), 0x9000)
    assert card.verify(None) == 0x63C3
    assert needs_pin(card) == 0x6982

    nonce = challenge(card)
    assert authenticate(card, custodians[1], nonce) == 0x9000
    assert status(card)[0][3] == 1
    card.sim.power_on()  # a reset
    card.select()
    assert status(card) == (bytes([3, 0, 2, 0]), 0x9000)
    assert authenticate(card, custodians[0], nonce) == 0x6985  # no challenge any more


def test_registration_refusals(profile: str, custodians: list[Custodian]) -> None:
    card = protected_card(profile)
    assert register(card, custodians[0])[1] == 0x9000
    assert register(card, custodians[0])[1] == 0x6A89  # the same key again
    assert register(card, custodians[1])[1] == 0x9000
    assert register(card, custodians[2])[1] == 0x9000
    assert register(card, custodians[3])[1] == 0x6A84  # no free slot
    assert register(card, custodians[3], slot=0)[1] == 0x6985  # not replaceable
    assert status(card) == (bytes([3, 0, 2, 0]), 0x9000)
    assert listed(card, 0) == (custodians[0].chr, 0x9000)


def test_a_chain_or_request_that_does_not_verify_is_refused(
    profile: str, custodians: list[Custodian]
) -> None:
    card = protected_card(profile)
    who = custodians[0]
    dica = CvCertificate.parse(who.dica)
    assert set_dst(card, dica.chr) == 0x6A88
    assert dica.car is not None and set_dst(card, dica.car) == 0x9000
    tampered = bytearray(value(who.dica))
    tampered[-1] ^= 0x01  # the last byte of the signature
    assert card.send(0x00, 0x2A, 0x00, 0xBE, bytes(tampered))[1] == 0x6A80
    assert set_dst(card, dica.chr) == 0x6A88  # nothing learned

    # without the custodian device's chain the outer signature cannot be checked
    assert card.send(0x80, 0x54, 0x00, 0x00, value(who.request), LE_MAX)[1] == 0x6A80
    learn_chain(card, who)
    request = bytearray(value(who.request))
    request[-1] ^= 0x01  # the outer (device) signature
    assert card.send(0x80, 0x54, 0x00, 0x00, bytes(request), LE_MAX)[1] == 0x6A80
    # a device CVC of another custodian does not verify the request of this one
    learn_chain(card, custodians[1])
    outer = CvRequest.parse(custodians[1].request)
    forged = who.request[: -len(outer.outer_signature or b"")] + (outer.outer_signature or b"")
    assert card.send(0x80, 0x54, 0x00, 0x00, value(forged), LE_MAX)[1] == 0x6A80
    assert status(card) == (bytes([3, 3, 2, 0]), 0x9000)


def test_replace_with_option_0008(profile: str, custodians: list[Custodian]) -> None:
    card = protected_card(profile, 2, 1, options=0x0001 | OPTION_REPLACEABLE)
    assert register(card, custodians[0])[1] == 0x9000
    assert register(card, custodians[1])[1] == 0x9000
    nonce = challenge(card)
    assert authenticate(card, custodians[1], nonce) == 0x9000
    assert register(card, custodians[0], slot=1)[1] == 0x6A89  # registered in slot 0
    assert register(card, custodians[2], slot=1) == (bytes([2, 0, 1, 0]), 0x9000)
    assert listed(card, 1) == (custodians[2].chr, 0x9000)
    assert register(card, custodians[3], slot=2)[1] == 0x6A86
    assert authenticate(card, custodians[1], nonce) == 0x6A88  # replaced
    assert authenticate(card, custodians[2], nonce) == 0x9000
    assert needs_pin(card) == 0x9000


def test_pka_and_pin_with_option_0010(profile: str, custodians: list[Custodian]) -> None:
    card = protected_card(profile, 2, 2, options=0x0001 | OPTION_PKA_AND_PIN)
    for who in custodians[:2]:
        assert register(card, who)[1] == 0x9000
    nonce = challenge(card)
    for who in custodians[:2]:
        assert authenticate(card, who, nonce) == 0x9000
    assert needs_pin(card) == 0x6982
    assert card.verify(None) == 0x63C3
    assert card.verify() == 0x9000
    assert card.verify(None) == 0x9000
    assert needs_pin(card) == 0x9000

    card.select()
    assert card.verify() == 0x9000  # the PIN alone is not enough either
    assert needs_pin(card) == 0x6982


def test_the_pin_alone_still_authenticates_without_0010(
    profile: str, custodians: list[Custodian]
) -> None:
    card = protected_card(profile, 1, 1)
    assert card.verify() == 0x9000
    assert needs_pin(card) == 0x9000


def test_authentication_refusals(profile: str, custodians: list[Custodian]) -> None:
    card = protected_card(profile)
    for who in custodians[:2]:
        assert register(card, who)[1] == 0x9000
    assert authenticate(card, custodians[3], challenge(card)) == 0x6A88  # not registered
    nonce = challenge(card)
    who = custodians[0]
    assert card.send(0x00, 0x82, 0x00, 0x00, bytes(64))[1] == 0x6985  # no MSE SET AT
    assert card.send(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, who.chr))[1] == 0x9000
    wrong = who.sign(card.sim.device_chr + bytes(8))  # over another challenge
    assert card.send(0x00, 0x82, 0x00, 0x00, wrong)[1] == 0x6300
    assert status(card)[0][3] == 0
    # another custodian's signature does not pass for this one
    assert card.send(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, who.chr))[1] == 0x9000
    other = custodians[1].sign(card.sim.device_chr + nonce)
    assert card.send(0x00, 0x82, 0x00, 0x00, other)[1] == 0x6300
    assert authenticate(card, who, nonce) == 0x9000
    assert authenticate(card, custodians[1], nonce) == 0x9000
    assert status(card)[0][3] == 2
    challenge(card)  # a new challenge: the old signatures are worthless
    card.select()
    assert authenticate(card, who, nonce) == 0x6985  # no challenge after SELECT


def test_a_card_without_pka(profile: str) -> None:
    card = ready_card(b"no pka", profile=profile)
    assert status(card)[1] == 0x6A88
    assert listed(card, 0)[1] == 0x6A88
    assert card.send(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, b"UTPKA00000001"))[1] == 0x6A88
    assert set_dst(card, "UTSRCACC100001") == 0x9000  # the roots are known regardless
    assert set_dst(card, "DESRCACC100001") == 0x9000


def test_pka_only_without_a_user_pin(profile: str, custodians: list[Custodian]) -> None:
    card = Card(SmartCardHsmSimulator(seed=b"pka only", profile=profile))
    card.select()
    data = (
        encode_tlv(0x80, b"\x00\x00") + encode_tlv(0x82, SO_PIN) + encode_tlv(0x93, bytes([1, 1]))
    )
    assert card.send(0x80, 0x50, 0x00, 0x00, data)[1] == 0x9000
    assert card.verify(None) == 0x6984
    assert card.verify() == 0x6984
    assert register(card, custodians[0])[1] == 0x9000
    assert authenticate(card, custodians[0], challenge(card)) == 0x9000
    assert card.verify(None) == 0x9000
    assert needs_pin(card) == 0x9000


def test_registered_keys_persist_in_the_state_file(
    profile: str, custodians: list[Custodian], tmp_path: Path
) -> None:
    path = tmp_path / "card.json"
    card = protected_card(profile, state_path=path)
    for who in custodians[:2]:
        assert register(card, who)[1] == 0x9000
    reloaded = Card(SmartCardHsmSimulator(path))
    reloaded.select()
    assert status(reloaded) == (bytes([3, 1, 2, 0]), 0x9000)
    assert listed(reloaded, 1) == (custodians[1].chr, 0x9000)
    device = CvCertificate.parse(custodians[2].device)
    assert set_dst(reloaded, device.car or "") == 0x9000  # the DICA learned is kept
    assert register(reloaded, custodians[2])[1] == 0x9000
    nonce = challenge(reloaded)
    assert authenticate(reloaded, custodians[0], nonce) == 0x9000
    assert authenticate(reloaded, custodians[2], nonce) == 0x9000
    assert needs_pin(reloaded) == 0x9000


def test_brainpool_custodian_key(profile: str) -> None:
    who = custodian(b"brainpool custodian", profile, "brainpoolP256r1")
    card = protected_card(profile, 1, 1)
    assert register(card, who)[1] == 0x9000
    assert authenticate(card, who, challenge(card)) == 0x9000
    assert needs_pin(card) == 0x9000


def _protected(
    hsm: SmartCardHsm, ins: int, p1: int, p2: int, data: bytes = b"", le: int = LE_MAX
) -> tuple[bytes, int]:
    """One command through the session's connection (wrapped while a channel runs)."""
    cla = 0x80 if ins == 0x54 else 0x00
    response = hsm.connection.transmit(CommandApdu(cla, ins, p1, p2, data, le=le))
    return response.data, response.sw


def test_pka_inside_secure_messaging_and_a_new_channel_clears_it(
    profile: str, custodians: list[Custodian]
) -> None:
    card = protected_card(profile, 2, 2)
    hsm = SmartCardHsm.open(card.transport, secure_messaging=SecureMessagingMode.AUTO)
    assert hsm.secure_messaging.status is SecureMessagingStatus.ACTIVE
    seen: list[bytes] = []
    process = card.sim.process_apdu

    def recording(apdu: bytes) -> bytes:
        seen.append(bytes(apdu))
        return process(apdu)

    card.sim.process_apdu = recording  # type: ignore[method-assign]
    for who in custodians[:2]:
        for encoded in (who.dica, who.device):
            certificate = CvCertificate.parse(encoded)
            reference = encode_tlv(0x83, certificate.chr.encode())
            if _protected(hsm, 0x22, 0x81, 0xB6, reference)[1] != 0x9000:
                car = encode_tlv(0x83, (certificate.car or "").encode())
                assert _protected(hsm, 0x22, 0x81, 0xB6, car)[1] == 0x9000
                assert _protected(hsm, 0x2A, 0x00, 0xBE, value(encoded))[1] == 0x9000
        assert _protected(hsm, 0x54, 0x00, 0x00, value(who.request))[1] == 0x9000
    nonce, sw = _protected(hsm, 0x84, 0x00, 0x00, le=8)
    assert sw == 0x9000 and len(nonce) == 8
    for who in custodians[:2]:
        assert _protected(hsm, 0x22, 0x81, 0xA4, encode_tlv(0x83, who.chr))[1] == 0x9000
        signature = who.sign(card.sim.device_chr + nonce)
        assert _protected(hsm, 0x82, 0x00, 0x00, signature)[1] == 0x9000
    assert _protected(hsm, 0x54, 0x00, 0x00)[0] == bytes([2, 0, 2, 2])
    assert hsm.pin_status().verified
    sent = {(apdu[0], apdu[1]) for apdu in seen}
    assert {(0x0C, 0x22), (0x0C, 0x2A), (0x8C, 0x54), (0x0C, 0x84), (0x0C, 0x82)} <= sent
    assert not sent & {(0x00, 0x22), (0x00, 0x2A), (0x80, 0x54), (0x00, 0x82)}
    hsm.start_secure_messaging()  # a new channel
    assert _protected(hsm, 0x54, 0x00, 0x00)[0] == bytes([2, 0, 2, 0])
    assert not hsm.pin_status().verified


def test_ecdsa_oid_of_the_request(custodians: list[Custodian]) -> None:
    """The custodian request carries id-TA-ECDSA-SHA-256 and CAR = CHR (Pico's pitfall)."""
    request = CvRequest.parse(custodians[0].request)
    assert request.public_key.oid == ECDSA_OID
    assert request.certificate.car == request.chr == custodians[0].chr.decode()
