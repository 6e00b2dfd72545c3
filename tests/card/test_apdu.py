"""APDU encoding and the command/response protocol, byte for byte against a script."""

from __future__ import annotations

import logging

import pytest

from keymanager.card.apdu import LE_MAX, TRAFFIC, ApduConnection, CommandApdu, ResponseApdu
from keymanager.card.errors import (
    ApduError,
    ExtendedLengthUnsupported,
    FileNotFound,
    MalformedResponse,
    PinBlocked,
    SecurityStatusNotSatisfied,
    WrongPin,
    error_for_status,
)
from tests.card.scripted import ScriptedTransport, unhex

# --- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # case 1
        (CommandApdu(0x00, 0x20, 0x00, 0x81), "00 20 00 81"),
        # case 2 short: Le 1..255, and 256 / LE_MAX as 00
        (CommandApdu(0x00, 0x84, 0x00, 0x00, le=8), "00 84 00 00 08"),
        (CommandApdu(0x00, 0x84, 0x00, 0x00, le=256), "00 84 00 00 00"),
        (CommandApdu(0x80, 0x58, 0x00, 0x00, le=LE_MAX), "80 58 00 00 00"),
        # case 3 short
        (CommandApdu(0x00, 0xE4, 0x02, 0x00, b"\xcc\x01"), "00 E4 02 00 02 CC01"),
        # case 4 short
        (CommandApdu(0x80, 0x52, 0x00, 0x00, b"\x11" * 3, le=LE_MAX), "80 52 00 00 03 111111 00"),
        # case 2 extended: Le > 256 forces it; 65536 and LE_MAX are 0000
        (CommandApdu(0x00, 0x84, 0x00, 0x00, le=1024), "00 84 00 00 00 0400"),
        (CommandApdu(0x00, 0x84, 0x00, 0x00, le=65536), "00 84 00 00 00 0000"),
    ],
)
def test_short_and_size_driven_encodings(command: CommandApdu, expected: str) -> None:
    assert command.encode() == unhex(expected)


def test_extended_encodings_of_every_case() -> None:
    assert CommandApdu(0x80, 0x74, 0x01, 0x93).encode(extended=True) == unhex("80 74 01 93")
    assert CommandApdu(0x80, 0x58, 0, 0, le=LE_MAX).encode(extended=True) == unhex(
        "80 58 00 00 00 00 00"
    )
    data = bytes(range(256)) + b"\x01"
    assert CommandApdu(0x80, 0x74, 0x05, 0x93, data).encode() == (
        unhex("80 74 05 93 00 0101") + data
    )
    assert CommandApdu(0x80, 0x68, 0x01, 0x73, data, le=LE_MAX).encode() == (
        unhex("80 68 01 73 00 0101") + data + unhex("0000")
    )
    assert CommandApdu(0x80, 0x68, 0x01, 0x73, b"\xaa", le=512).encode() == unhex(
        "80 68 01 73 00 0001 AA 0200"
    )


def test_oversized_short_encoding_is_refused() -> None:
    with pytest.raises(ValueError):
        CommandApdu(0, 0xD7, 0, 0, bytes(300)).encode(extended=False)
    with pytest.raises(ValueError):
        CommandApdu(0, 0xD7, 0, 0, bytes(65536)).encode()


def test_response_parse() -> None:
    assert ResponseApdu.parse(unhex("0102 9000")) == ResponseApdu(b"\x01\x02", 0x9000)
    with pytest.raises(MalformedResponse):
        ResponseApdu.parse(b"\x90")


# --- the connection -----------------------------------------------------------------------


def test_send_returns_data_and_counts_apdus() -> None:
    transport = ScriptedTransport([("00 84 00 00 04", "DEADBEEF 9000")])
    connection = ApduConnection(transport)
    assert connection.send(CommandApdu(0, 0x84, 0, 0, le=4)) == unhex("DEADBEEF")
    assert connection.apdu_count == 1
    transport.assert_done()


def test_get_response_collects_61xx_with_cla_00() -> None:
    transport = ScriptedTransport(
        [
            ("80 58 00 00 00", "CC00 CC01 61 04"),
            ("00 C0 00 00 04", "C401 CE01 61 00"),
            ("00 C0 00 00 00", "2F02 9000"),
        ]
    )
    data = ApduConnection(transport).send(CommandApdu(0x80, 0x58, 0, 0, le=LE_MAX))
    assert data == unhex("CC00 CC01 C401 CE01 2F02")
    transport.assert_done()


def test_6cxx_repeats_with_the_right_le() -> None:
    transport = ScriptedTransport([("00 B0 00 00 00", "6C 03"), ("00 B0 00 00 03", "010203 9000")])
    response = ApduConnection(transport).transmit(CommandApdu(0, 0xB0, 0, 0, le=LE_MAX))
    assert response == ResponseApdu(unhex("010203"), 0x9000)
    transport.assert_done()


def test_prefer_extended_uses_extended_le_when_the_reader_can() -> None:
    transport = ScriptedTransport([("80 58 00 00 00 00 00", "CC01 9000")])
    command = CommandApdu(0x80, 0x58, 0, 0, le=LE_MAX, prefer_extended=True)
    assert ApduConnection(transport).send(command) == unhex("CC01")
    transport.assert_done()


def test_prefer_extended_is_short_without_extended_length() -> None:
    transport = ScriptedTransport([("80 58 00 00 00", "CC01 9000")], extended=False)
    command = CommandApdu(0x80, 0x58, 0, 0, le=LE_MAX, prefer_extended=True)
    assert ApduConnection(transport).send(command) == unhex("CC01")
    transport.assert_done()


def test_chaining_when_the_reader_lacks_extended_length() -> None:
    data = bytes(range(256)) * 2 + b"\xee" * 10  # 522 bytes: 255 + 255 + 12
    transport = ScriptedTransport(
        [
            ("90 74 01 93 FF" + data[:255].hex(), "9000"),
            ("90 74 01 93 FF" + data[255:510].hex(), "9000"),
            ("80 74 01 93 0C" + data[510:].hex(), "9000"),
        ],
        extended=False,
    )
    ApduConnection(transport).send(CommandApdu(0x80, 0x74, 0x01, 0x93, data))
    transport.assert_done()


def test_chaining_refused_by_the_card_raises() -> None:
    data = bytes(300)
    transport = ScriptedTransport([("90 74 01 93 FF" + data[:255].hex(), "6884")], extended=False)
    with pytest.raises(ExtendedLengthUnsupported):
        ApduConnection(transport).send(CommandApdu(0x80, 0x74, 0x01, 0x93, data))
    transport.assert_done()


def test_chained_command_with_large_le_asks_short_le_and_collects() -> None:
    data = bytes(260)
    transport = ScriptedTransport(
        [
            ("10 68 01 20 FF" + data[:255].hex(), "9000"),
            ("00 68 01 20 05" + data[255:].hex() + "00", "AA" * 256 + "6104"),
            ("00 C0 00 00 04", "BBBBBBBB 9000"),
        ],
        extended=False,
    )
    result = ApduConnection(transport).send(CommandApdu(0x00, 0x68, 0x01, 0x20, data, le=512))
    assert result == b"\xaa" * 256 + b"\xbb" * 4
    transport.assert_done()


def test_falls_back_to_short_after_the_transport_rejects_extended() -> None:
    transport = ScriptedTransport(
        [
            ("80 58 00 00 00 00 00", ExtendedLengthUnsupported("reader says no")),
            ("80 58 00 00 00", "CC01 CE01 9000"),
        ]
    )
    connection = ApduConnection(transport)
    command = CommandApdu(0x80, 0x58, 0, 0, le=LE_MAX, prefer_extended=True)
    assert connection.send(command) == unhex("CC01 CE01")
    assert not transport.supports_extended_length
    transport.assert_done()


def test_send_raises_the_typed_error_and_accepts_listed_sws() -> None:
    transport = ScriptedTransport(
        [("00 A4 00 00 02 C401", "6A82"), ("00 B1 C4 01 04 54020000 00", "0102 6282")]
    )
    connection = ApduConnection(transport)
    with pytest.raises(FileNotFound) as caught:
        connection.send(CommandApdu(0, 0xA4, 0, 0, b"\xc4\x01", name="SELECT"))
    assert caught.value.sw == 0x6A82
    assert "SELECT" in str(caught.value)
    data = connection.send(
        CommandApdu(0, 0xB1, 0xC4, 0x01, unhex("54020000"), le=LE_MAX), accept=(0x6282,)
    )
    assert data == unhex("0102")
    transport.assert_done()


@pytest.mark.parametrize(
    ("sw", "cls"),
    [(0x6982, SecurityStatusNotSatisfied), (0x6983, PinBlocked), (0x6A82, FileNotFound)],
)
def test_error_for_status_mapping(sw: int, cls: type[ApduError]) -> None:
    error = error_for_status(sw, "X")
    assert type(error) is cls
    assert error.sw == sw


def test_error_for_status_unknown_sw_is_plain_apdu_error() -> None:
    error = error_for_status(0x6F12)
    assert type(error) is ApduError
    assert "6F12" in str(error)


@pytest.mark.parametrize(("sw", "tries"), [(0x63C2, 2), (0x63C1, 1), (0x63C0, 0)])
def test_wrong_pin_tries_left(sw: int, tries: int) -> None:
    error = error_for_status(sw, "VERIFY")
    assert isinstance(error, WrongPin)
    assert error.tries_left == tries
    assert f"{tries} {'try' if tries == 1 else 'tries'} left" in str(error)


# --- TRAFFIC log ------------------------------------------------------------------------


def test_traffic_log_shows_commands_and_responses(caplog: pytest.LogCaptureFixture) -> None:
    transport = ScriptedTransport([("00 84 00 00 04", "0A0B0C0D 9000")])
    with caplog.at_level(TRAFFIC, logger="keymanager.card.apdu"):
        ApduConnection(transport).send(CommandApdu(0, 0x84, 0, 0, le=4, name="GET CHALLENGE"))
    text = caplog.text
    assert "GET CHALLENGE: 00 84 00 00 Le=4" in text
    assert "RECV 0A0B0C0D SW=9000" in text
    assert all(record.levelno == TRAFFIC for record in caplog.records)


def test_traffic_log_redacts_sensitive_data(caplog: pytest.LogCaptureFixture) -> None:
    pin = b"648219"
    secret = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    transport = ScriptedTransport(
        [
            ("00 20 00 81 06" + pin.hex(), "63C2"),
            ("80 72 01 92 00", secret.hex() + "61 02"),
            ("00 C0 00 00 02", "F00D 9000"),
        ]
    )
    connection = ApduConnection(transport)
    with caplog.at_level(TRAFFIC, logger="keymanager.card.apdu"):
        connection.transmit(CommandApdu(0, 0x20, 0, 0x81, pin, name="VERIFY", sensitive_data=True))
        connection.send(CommandApdu(0x80, 0x72, 1, 0x92, le=LE_MAX, sensitive_response=True))
    text = caplog.text
    for forbidden in ("648219", pin.hex(), pin.hex().upper(), secret.hex().upper(), "F00D"):
        assert forbidden not in text
    assert "<6 bytes redacted>" in text
    assert "<16 bytes redacted>" in text
    assert "<2 bytes redacted>" in text
    transport.assert_done()


def test_nothing_is_logged_above_traffic(caplog: pytest.LogCaptureFixture) -> None:
    transport = ScriptedTransport([("00 84 00 00 01", "01 9000")])
    with caplog.at_level(logging.DEBUG, logger="keymanager.card.apdu"):
        ApduConnection(transport).send(CommandApdu(0, 0x84, 0, 0, le=1))
    assert caplog.records == []


def test_63cx_is_a_wrong_pin_only_for_pin_commands() -> None:
    assert isinstance(error_for_status(0x63C2, "CHANGE SO-PIN"), WrongPin)
    error = error_for_status(0x63C2, "READ BINARY")
    assert type(error) is ApduError
    assert "PIN" not in str(error) and "63C2" in str(error)
