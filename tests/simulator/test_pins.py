"""PIN handling: status, verification, blocking, change, reset retry counter, SO-PIN."""

from __future__ import annotations

from keymanager.simulator import SmartCardHsmSimulator
from tests.simulator.conftest import SO_PIN, USER_PIN, Card


def test_blank_card_pin_status(card: Card) -> None:
    assert card.verify(None) == 0x6A88
    assert card.verify(USER_PIN) == 0x6A88
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x6A88
    assert card.send(0x00, 0x20, 0x01, 0x81)[1] == 0x6A86
    assert card.send(0x00, 0x20, 0x00, 0x82)[1] == 0x6A88


def test_verify_counts_down_and_blocks(card: Card) -> None:
    assert card.initialise(retries=3) == 0x9000
    assert card.verify(None) == 0x63C3
    assert card.verify(b"000000") == 0x63C2
    assert card.verify(b"000000") == 0x63C1
    assert card.verify(USER_PIN) == 0x9000  # a correct PIN restores the counter
    assert card.verify(None) == 0x9000
    for expected in (0x63C2, 0x63C1, 0x63C0):
        assert card.verify(b"111111") == expected
    assert card.verify(None) == 0x6983
    assert card.verify(USER_PIN) == 0x6983  # blocked: even the right PIN is refused
    assert card.verify(b"x" * 17) == 0x6983


def test_reselect_and_power_on_log_out(card: Card) -> None:
    card.initialise()
    assert card.verify() == 0x9000
    card.select()
    assert card.verify(None) == 0x63C3
    assert card.verify() == 0x9000
    card.transport.reconnect(reset=True)
    card.select()
    assert card.verify(None) == 0x63C3


def test_change_pin(card: Card) -> None:
    card.initialise()
    assert card.send(0x00, 0x24, 0x00, 0x81, b"000000" + b"1234567")[1] == 0x63C2
    assert card.send(0x00, 0x24, 0x00, 0x81, USER_PIN + b"123")[1] == 0x6700
    assert card.send(0x00, 0x24, 0x00, 0x81, USER_PIN + b"1234567")[1] == 0x9000
    assert card.verify(None) == 0x9000  # changing the PIN also verifies it
    card.select()
    assert card.verify(USER_PIN) == 0x63C2
    assert card.verify(b"1234567") == 0x9000


def test_reset_retry_counter_with_so_pin(card: Card) -> None:
    card.initialise(options=0x0001)
    for _ in range(3):
        card.verify(b"999999")
    assert card.verify(None) == 0x6983
    # P1 = 01: unblock only
    assert card.send(0x00, 0x2C, 0x01, 0x81, bytes(8))[1] == 0x63CE
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x63CE
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x9000
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x63CF  # the SO-PIN counter is back to 15
    assert card.verify(USER_PIN) == 0x9000
    # P1 = 00: new PIN
    assert card.send(0x00, 0x2C, 0x00, 0x81, SO_PIN + b"87654321")[1] == 0x9000
    assert card.verify(USER_PIN) == 0x63C2
    assert card.verify(b"87654321") == 0x9000
    assert card.send(0x00, 0x2C, 0x00, 0x81, SO_PIN + b"123")[1] == 0x6700
    assert card.send(0x00, 0x2C, 0x02, 0x81, SO_PIN)[1] == 0x6A86


def test_reset_retry_counter_options(card: Card) -> None:
    card.initialise(options=0x0000)
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x6986
    card.initialise(options=0x0021)  # RRC allowed, but it only unblocks
    assert card.send(0x00, 0x2C, 0x00, 0x81, SO_PIN + b"87654321")[1] == 0x6986
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x9000


def test_so_pin_blocks_after_fifteen_wrong_tries(card: Card) -> None:
    card.initialise()
    for tries_left in range(14, -1, -1):
        assert card.send(0x00, 0x2C, 0x01, 0x81, bytes(8))[1] == 0x63C0 | tries_left
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x6983
    assert card.send(0x00, 0x2C, 0x01, 0x81, SO_PIN)[1] == 0x6983
    assert card.initialise() == 0x6983  # and the card can no longer be re-initialised


def test_change_so_pin(card: Card) -> None:
    new_so_pin = bytes.fromhex("0102030405060708")
    assert card.send(0x00, 0x24, 0x00, 0x88, bytes(8) + new_so_pin)[1] == 0x63CE
    assert card.send(0x00, 0x24, 0x00, 0x88, SO_PIN + new_so_pin)[1] == 0x9000
    assert card.send(0x00, 0x24, 0x00, 0x88, SO_PIN)[1] == 0x6700
    assert card.initialise(so_pin=SO_PIN) == 0x63CE  # the initialisation code changed too
    assert card.initialise(so_pin=new_so_pin) == 0x9000
    assert card.send(0x00, 0x20, 0x00, 0x88, new_so_pin)[1] == 0x9000
    assert card.send(0x00, 0x20, 0x00, 0x88)[1] == 0x63CF


def test_transport_pin_mode() -> None:
    card = Card(SmartCardHsmSimulator(seed=b"transport"))
    card.select()
    assert card.initialise(options=0x0003) == 0x9000
    assert card.verify(None) == 0x6984
    assert card.verify(USER_PIN) == 0x6984
    assert card.send(0x00, 0x24, 0x00, 0x81, USER_PIN + b"13572468")[1] == 0x9000
    assert card.verify(None) == 0x9000
    assert card.select()[-5:-3] == b"\x00\x03"  # options in the FCP
