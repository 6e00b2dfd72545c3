"""APDU framing: short/extended cases, chaining, 61xx + GET RESPONSE, status-word hygiene."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keymanager.card.apdu import LE_MAX
from keymanager.dkek.curves import curve_by_name
from keymanager.simulator import AID, ATR, SmartCardHsmSimulator
from keymanager.simulator.card import parse_apdu
from tests.simulator.conftest import Card, ec_request_body, ready_card


def test_atr_and_applet_fcp(card: Card) -> None:
    assert card.transport.atr == ATR
    fcp = card.select()
    assert fcp[0] == 0x62
    assert bytes([0x84, len(AID)]) + AID in fcp
    # tag 85: options (2 bytes, blank card: 0), applet type 00, version 4.0
    assert fcp.endswith(bytes.fromhex("85050000000400"))


def test_select_variants(card: Card) -> None:
    data, sw = card.send(0x00, 0xA4, 0x04, 0x0C, AID)
    assert (data, sw) == (b"", 0x9000)
    assert card.send(0x00, 0xA4, 0x04, 0x04, AID, LE_MAX)[0][0] == 0x62
    assert card.send(0x00, 0xA4, 0x04, 0x00, AID[:-1] + b"\x02", LE_MAX)[1] == 0x6A82
    assert card.send(0x00, 0xA4, 0x04, 0x01, AID, LE_MAX)[1] == 0x6A86
    assert card.send(0x00, 0xA4, 0x08, 0x00, b"\x2f\x02", LE_MAX)[1] == 0x6A86
    assert card.send(0x00, 0xA4, 0x00, 0x00, b"\x2f", LE_MAX)[1] == 0x6700
    assert card.send(0x00, 0xA4, 0x00, 0x00, b"\x2f\x99", LE_MAX)[1] == 0x6A82
    fcp, sw = card.send(0x00, 0xA4, 0x00, 0x00, b"\x2f\x02", LE_MAX)
    assert sw == 0x9000 and fcp[0] == 0x62 and b"\x83\x02\x2f\x02" in fcp


def test_commands_before_select_are_refused() -> None:
    simulator = SmartCardHsmSimulator(seed=b"x")
    simulator.power_on()
    assert simulator.process_apdu(bytes.fromhex("0020008100")) == bytes.fromhex("6D00")
    assert simulator.process_apdu(bytes.fromhex("00A4040C0B") + AID) == bytes.fromhex("9000")
    assert simulator.process_apdu(bytes.fromhex("00200081")) == bytes.fromhex("6A88")


def test_status_word_hygiene(card: Card) -> None:
    assert card.raw(bytes.fromhex("00FF0000"))[1] == 0x6D00  # unknown INS
    assert card.raw(bytes.fromhex("40200081"))[1] == 0x6E00  # bad CLA
    assert card.raw(bytes.fromhex("0C200081"))[1] == 0x6882  # secure messaging, no channel
    assert card.raw(bytes.fromhex("04200081"))[1] == 0x6E00  # half a secure-messaging CLA
    assert card.raw(bytes.fromhex("80580102"))[1] == 0x6A86  # wrong P1/P2
    assert card.raw(bytes.fromhex("002000"))[1] == 0x6700  # too short
    assert card.raw(bytes.fromhex("0020008105AABB"))[1] == 0x6700  # Lc disagrees
    assert card.raw(bytes.fromhex("0020008100000001"))[1] == 0x6700  # extended Lc = 0
    assert card.raw(bytes.fromhex("805000000481"))[1] == 0x6700  # Lc 4 but 1 byte
    # malformed TLV in INITIALIZE
    assert card.raw(bytes.fromhex("8050000003810501"))[1] == 0x6A80


def test_parse_apdu_cases() -> None:
    assert parse_apdu(bytes.fromhex("00840000")).ne is None
    case2 = parse_apdu(bytes.fromhex("0084000000"))
    assert (case2.ne, case2.le_max) == (256, True)
    case4 = parse_apdu(bytes.fromhex("00B100000454020000FF"))
    assert (case4.data, case4.ne) == (bytes.fromhex("54020000"), 255)
    extended2 = parse_apdu(bytes.fromhex("80580000000000"))
    assert (extended2.ne, extended2.le_max) == (65536, True)
    extended4 = parse_apdu(bytes.fromhex("8068017000000301020304B0"))
    assert (extended4.data, extended4.ne) == (b"\x01\x02\x03", 0x04B0)
    extended3 = parse_apdu(bytes.fromhex("807401930000020102"))
    assert (extended3.data, extended3.ne) == (b"\x01\x02", None)


def test_long_answer_to_a_short_command_uses_get_response(card: Card) -> None:
    chain = card.sim.device_certificates()
    assert len(chain) > 256
    card.send(0x00, 0xA4, 0x00, 0x0C, b"\x2f\x02")
    # Le = 00 (short): at most 256 bytes come back, the card reads until the end of file
    first, sw = card.raw(bytes.fromhex("00B100000454020000") + b"\x00")
    assert (first, sw) == (chain[:256], 0x9000)
    # a challenge of 300 bytes asked with a short Le of 0x10 comes back in pieces
    data, sw = card.raw(bytes.fromhex("80580000") + b"\x00")
    assert sw == 0x9000 and data == b"\xcc\x00"
    # GET RESPONSE without anything pending
    assert card.raw(bytes.fromhex("00C0000000"))[1] == 0x6985


def test_61xx_then_get_response_collects_the_whole_answer() -> None:
    card = ready_card()
    card.write(0xCF01, bytes(range(256)) * 3)
    for fid in range(0xCF02, 0xCF02 + 200):
        assert card.write(fid, b"") == 0x9000
    # ENUMERATE as a short case 2 with Le = 0x10: 16 bytes, then 61xx
    data, sw = card.raw(bytes.fromhex("8058000010"))
    assert len(data) == 16 and sw & 0xFF00 == 0x6100
    collected = bytearray(data)
    while sw & 0xFF00 == 0x6100:
        part, sw = card.raw(bytes.fromhex("00C00000") + bytes([sw & 0xFF]))
        collected += part
    assert sw == 0x9000
    assert bytes(collected) == b"".join(f.to_bytes(2, "big") for f in card.enumerate())
    # any other command drops the pending response
    card.raw(bytes.fromhex("8058000010"))
    card.raw(bytes.fromhex("00200081"))
    assert card.raw(bytes.fromhex("00C0000000"))[1] == 0x6985


def test_extended_and_chained_updates_are_equivalent() -> None:
    card = ready_card()
    content = bytes(range(256)) * 4
    assert card.write(0xCF10, content) == 0x9000  # extended APDU through ApduConnection
    data = bytes.fromhex("54020000") + bytes.fromhex("53820400") + content
    parts = [data[i : i + 200] for i in range(0, len(data), 200)]
    for part in parts[:-1]:
        apdu = bytes([0x10, 0xD7, 0xCF, 0x11, len(part)]) + part
        assert card.raw(apdu)[1] == 0x9000
    last = parts[-1]
    assert card.raw(bytes([0x00, 0xD7, 0xCF, 0x11, len(last)]) + last)[1] == 0x9000
    assert card.read(0xCF11)[0] == card.read(0xCF10)[0] == content


def test_chaining_through_apdu_connection_without_extended_length() -> None:
    card = ready_card()
    card.transport.__class__ = type(
        "ShortOnly", (type(card.transport),), {"supports_extended_length": False}
    )
    content = bytes(range(200)) * 3
    assert card.write(0xCF20, content) == 0x9000  # sent with command chaining
    card.sim.power_on()
    card.select()
    collected = b""
    while True:  # short Le = 00 reads at most 256 bytes per command, as on a real card
        data, sw = card.read(0xCF20, len(collected), LE_MAX)
        assert sw == 0x9000
        if not data:
            break
        collected += data
    assert collected == content
    assert card.read(0xCF20, len(content) + 1, LE_MAX)[1] == 0x6B00


def test_get_challenge(card: Card) -> None:
    first, sw = card.send(0x00, 0x84, 0x00, 0x00, le=8)
    assert sw == 0x9000 and len(first) == 8
    second = card.send(0x00, 0x84, 0x00, 0x00, le=8)[0]
    assert first != second
    large, sw = card.send(0x00, 0x84, 0x00, 0x00, le=1500)
    assert sw == 0x9000 and len(large) == 1500
    assert card.raw(bytes.fromhex("00840000"))[1] == 0x6700
    assert card.raw(bytes.fromhex("0084010008"))[1] == 0x6A86


def test_seeded_cards_are_reproducible() -> None:
    first = Card(SmartCardHsmSimulator(seed=b"same"))
    second = Card(SmartCardHsmSimulator(seed=b"same"))
    other = Card(SmartCardHsmSimulator(seed=b"other"))
    for item in (first, second, other):
        item.select()
    challenges = [c.send(0x00, 0x84, 0x00, 0x00, le=32)[0] for c in (first, second, other)]
    assert challenges[0] == challenges[1] != challenges[2]
    assert first.sim.device_certificates() == second.sim.device_certificates()
    assert first.sim.serial == second.sim.serial != other.sim.serial


_INSTRUCTIONS = bytes.fromhex("A420242C505258B1D7E4844648727468 62C000FF".replace(" ", ""))
_apdu_headers = st.tuples(
    st.sampled_from([0x00, 0x80, 0x10, 0x90, 0x0C, 0xFF]),
    st.sampled_from(list(_INSTRUCTIONS)),
    st.one_of(st.integers(0, 3), st.integers(0, 255)),
    st.integers(0, 255),
)


def _fuzz_card() -> Card:
    card = ready_card(b"fuzz", shares=0, slots=3)
    card.write(0xCF01, b"public data")
    assert card.generate(1, ec_request_body(curve_by_name("secp256r1")))[1] == 0x9000
    assert card.send(0x00, 0x48, 0x02, 0xB0)[1] == 0x9000
    return card


def test_random_apdus_never_crash_the_card() -> None:
    cards = [_fuzz_card()]

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(
        raw=st.binary(max_size=300),
        header=_apdu_headers,
        body=st.binary(max_size=80),
        tail=st.sampled_from([b"", b"\x00", b"\x00\x00", b"\x10"]),
    )
    def check(raw: bytes, header: tuple[int, int, int, int], body: bytes, tail: bytes) -> None:
        card = cards[0]
        for apdu in (raw, bytes(header) + (bytes([len(body)]) + body if body else b"") + tail):
            response = card.sim.process_apdu(apdu)
            assert isinstance(response, bytes) and len(response) >= 2
            sw = int.from_bytes(response[-2:], "big")
            assert sw != 0x6F00, f"internal error for {apdu.hex()}"
        card.select()
        if card.verify() != 0x9000 or 0xCC01 not in card.enumerate():
            cards[0] = _fuzz_card()  # the fuzzer blocked the PIN or wiped the card

    check()
