"""The vpcd bridge carries APDUs from pyscard through pcscd to an in-process card."""

from __future__ import annotations

from smartcard import scard

from tests.support.pcscd import PcscdHarness

ECHO_ATR = bytes.fromhex("3B8080010101")


class EchoCard:
    """A minimal card: answers every APDU with its own bytes reversed and 90 00."""

    def __init__(self) -> None:
        self.atr = ECHO_ATR
        self.powered_on = 0
        self.seen: list[bytes] = []

    def power_on(self) -> bytes:
        self.powered_on += 1
        return self.atr

    def process_apdu(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        return apdu[::-1] + b"\x90\x00"


def _transmit(reader: str, apdus: list[bytes]) -> tuple[bytes, list[bytes]]:
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS
    try:
        result, card, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
        result, _reader, _state, _protocol, atr = scard.SCardStatus(card)
        assert result == scard.SCARD_S_SUCCESS
        answers = []
        for apdu in apdus:
            result, response = scard.SCardTransmit(card, protocol, list(apdu))
            assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
            answers.append(bytes(response))
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        return bytes(atr), answers
    finally:
        scard.SCardReleaseContext(context)


def test_apdus_travel_through_pcscd_and_vpcd(pcscd: PcscdHarness) -> None:
    card = EchoCard()
    commands = [bytes([0x00, 0xB0, 0, 0, 0x10]), bytes(range(0x20)), bytes(300)]
    with pcscd.inserted(card) as (reader, bridge):
        atr, answers = _transmit(reader, commands)
    assert atr == ECHO_ATR
    assert answers == [command[::-1] + b"\x90\x00" for command in commands]
    assert card.seen == commands
    assert bridge.apdus_served == len(commands)


def test_card_leaves_the_reader_when_the_bridge_stops(pcscd: PcscdHarness) -> None:
    card = EchoCard()
    with pcscd.inserted(card) as (reader, _bridge):
        assert pcscd.card_present(reader)
    assert not pcscd.card_present(reader)
