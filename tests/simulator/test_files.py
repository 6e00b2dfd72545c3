"""Files: ENUMERATE, SELECT, odd-INS READ / UPDATE BINARY, DELETE FILE and access rules."""

from __future__ import annotations

from keymanager.card.apdu import LE_MAX
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.tlv import encode_tlv
from tests.simulator.conftest import Card, ec_request_body, ready_card


def test_blank_card_lists_the_device_key(card: Card) -> None:
    assert card.enumerate() == [0xCC00]


def test_write_read_and_delete() -> None:
    card = ready_card()
    assert card.write(0xCF01, b"") == 0x9000  # an empty write creates the file
    assert card.read(0xCF01) == (b"", 0x9000)
    assert card.write(0xCF01, b"hello world") == 0x9000
    assert card.write(0xCF01, b"W", offset=6) == 0x9000
    assert card.read(0xCF01)[0] == b"hello World"
    assert card.write(0xCF01, b"!", offset=11) == 0x9000  # append at the end
    assert card.write(0xCF01, b"?", offset=20) == 0x6B00
    assert card.read(0xCF01, offset=6)[0] == b"World!"
    assert 0xCF01 in card.enumerate()
    assert card.delete(0xCF01) == 0x9000
    assert card.delete(0xCF01) == 0x6A82
    assert card.read(0xCF01)[1] == 0x6A82
    assert card.send(0x00, 0xE4, 0x02, 0x01, b"\xcf\x01")[1] == 0x6A86
    assert card.send(0x00, 0xE4, 0x02, 0x00, b"\xcf")[1] == 0x6700


def test_read_past_the_end_answers_6282() -> None:
    card = ready_card()
    card.write(0xCF02, bytes(range(100)))
    data, sw = card.read(0xCF02, le=150)  # explicit Le larger than what is left
    assert (data, sw) == (bytes(range(100)), 0x6282)
    data, sw = card.read(0xCF02, offset=100, le=10)
    assert (data, sw) == (b"", 0x6282)
    data, sw = card.read(0xCF02, offset=90, le=10)
    assert (data, sw) == (bytes(range(90, 100)), 0x9000)
    assert card.read(0xCF02, offset=101, le=10)[1] == 0x6B00


def test_current_ef_with_p1p2_zero() -> None:
    card = ready_card()
    card.write(0xCF03, b"selected")
    card.write(0xCF04, b"other")
    assert card.send(0x00, 0xA4, 0x00, 0x00, b"\xcf\x03", LE_MAX)[1] == 0x9000
    assert card.read(0x0000)[0] == b"selected"
    data = encode_tlv(0x54, b"\x00\x00") + encode_tlv(0x53, b"S")
    assert card.send(0x00, 0xD7, 0x00, 0x00, data)[1] == 0x9000
    assert card.read(0xCF03)[0] == b"Selected"
    card.select()  # reselecting the applet forgets the current EF
    assert card.read(0x0000)[1] == 0x6986


def test_access_rules(card: Card) -> None:
    assert card.initialise() == 0x9000
    # public reads without the PIN
    data, sw = card.read(0x2F02)
    assert sw == 0x9000 and data == card.sim.device_certificates()
    # writes and deletes need the PIN
    assert card.write(0xCF05, b"x") == 0x6982
    assert card.delete(0x2F03) == 0x6982
    card.verify()
    assert card.write(0xCD01, b"private") == 0x9000
    assert card.write(0xCF05, b"public") == 0x9000
    card.select()
    assert card.read(0xCD01)[1] == 0x6982  # private data object
    assert card.read(0xCF05)[0] == b"public"
    card.verify()
    assert card.read(0xCD01)[0] == b"private"
    # key files and the device certificate cannot be written, read or deleted
    assert card.write(0xCC01, b"key") == 0x6986
    assert card.write(0x2F02, b"cert") == 0x6986
    assert card.read(0xCC00)[1] == 0x6982
    assert card.delete(0xCC00) == 0x6986
    assert card.delete(0x2F02) == 0x6986
    # malformed odd-INS data
    assert card.send(0x00, 0xB1, 0xCF, 0x05, b"\x53\x00", LE_MAX)[1] == 0x6A80
    assert card.send(0x00, 0xD7, 0xCF, 0x05, encode_tlv(0x54, b"\x00\x00"))[1] == 0x6A80
    assert card.send(0x00, 0xB1, 0xCF, 0x05, b"\x54\x05\x00", LE_MAX)[1] == 0x6A80


def test_deleting_a_key_file_deletes_the_key() -> None:
    card = ready_card()
    assert card.generate(3, ec_request_body(curve_by_name("secp256r1")))[1] == 0x9000
    assert {0xCC03, 0xCE03} <= set(card.enumerate())
    assert card.delete(0xCC03) == 0x9000
    assert 0xCC03 not in card.enumerate()
    assert card.sign(3, 0x70, bytes(32))[1] == 0x6A88
