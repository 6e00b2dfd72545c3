"""INITIALIZE DEVICE: the initialisation code, wiping, key-domain configurations."""

from __future__ import annotations

from keymanager.card.apdu import LE_MAX
from keymanager.dkek.tlv import encode_tlv
from tests.simulator.conftest import SO_PIN, USER_PIN, Card, ec_request_body


def test_initialisation_code_must_match(card: Card) -> None:
    assert card.initialise(so_pin=bytes(8)) == 0x63CE
    assert card.verify(None) == 0x6A88  # still blank
    assert card.initialise() == 0x9000
    assert card.verify(None) == 0x63C3
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x63CF  # a success resets the SO counter


def test_initialise_requires_pin_and_code(card: Card) -> None:
    without_pin = encode_tlv(0x80, b"\x00\x01") + encode_tlv(0x82, SO_PIN)
    assert card.send(0x80, 0x50, 0x00, 0x00, without_pin)[1] == 0x6A80
    short_pin = encode_tlv(0x81, b"12345") + encode_tlv(0x82, SO_PIN)
    assert card.send(0x80, 0x50, 0x00, 0x00, short_pin)[1] == 0x6A80
    bad_code = encode_tlv(0x81, USER_PIN) + encode_tlv(0x82, SO_PIN[:7])
    assert card.send(0x80, 0x50, 0x00, 0x00, bad_code)[1] == 0x6A80
    bad_retries = encode_tlv(0x81, USER_PIN) + encode_tlv(0x82, SO_PIN) + encode_tlv(0x91, b"\x00")
    assert card.send(0x80, 0x50, 0x00, 0x00, bad_retries)[1] == 0x6A80
    assert card.send(0x80, 0x50, 0x01, 0x00, bad_retries)[1] == 0x6A86
    # biometric AIDs are accepted and ignored
    with_bio = (
        encode_tlv(0x81, USER_PIN)
        + encode_tlv(0x82, SO_PIN)
        + encode_tlv(0x95, b"\x01\x02")
        + encode_tlv(0x96, b"\x03")
    )
    assert card.send(0x80, 0x50, 0x00, 0x00, with_bio)[1] == 0x9000
    assert card.verify(None) == 0x63C3  # default retry counter 3


def test_reinitialisation_wipes_keys_files_and_domains(card: Card, p256: object) -> None:
    card.initialise(shares=1)
    card.verify()
    card.domain(data=bytes(range(32)))
    from keymanager.dkek.curves import curve_by_name

    assert card.generate(1, ec_request_body(curve_by_name("secp256r1")))[1] == 0x9000
    assert card.write(0xC401, b"\xa0\x00") == 0x9000
    assert card.write(0x2F03, b"token info") == 0x9000
    assert set(card.enumerate()) == {0xCC00, 0xCC01, 0xC401, 0xCE01, 0x2F03}
    chain = card.sim.device_certificates()

    assert card.initialise(pin=b"12345678") == 0x9000
    assert card.enumerate() == [0xCC00]  # the device key survives
    assert card.sim.device_certificates() == chain
    assert card.domain()[1] == 0x6D00  # no DKEK this time
    assert card.verify(None) == 0x63C3  # not logged in after initialisation
    assert card.verify(USER_PIN) == 0x63C2
    assert card.verify(b"12345678") == 0x9000


def test_dkek_configurations(card: Card) -> None:
    card.initialise()  # no 92, no 97: no DKEK at all
    assert card.domain()[1] == 0x6D00
    card.initialise(shares=3)
    data, sw = card.domain()
    assert sw == 0x9000 and data == bytes([3, 3]) + bytes(8)
    assert card.domain(domain=1)[1] == 0x6A86  # a single slot
    card.initialise(shares=0)  # random DKEK, complete at once
    data, sw = card.domain()
    assert sw == 0x9000 and data[:2] == b"\x00\x00" and data[2:] != bytes(8)
    card.initialise(slots=4)  # slots only: domain 0 is empty
    assert card.domain()[1] == 0x6A88
    assert card.domain(domain=3)[1] == 0x6A88
    assert card.domain(domain=4)[1] == 0x6A86
    card.initialise(shares=2, slots=2)
    assert card.domain()[0][:2] == b"\x02\x02"
    assert card.domain(domain=1)[1] == 0x6A88


def test_free_memory_query(card: Card) -> None:
    data, sw = card.send(0x80, 0x50, 0x00, 0x00, le=LE_MAX)
    assert sw == 0x9000 and len(data) == 7 and data[-2:] == b"\x04\x00"
