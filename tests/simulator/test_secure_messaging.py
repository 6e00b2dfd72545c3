"""Secure messaging in the simulator, driven with raw APDUs by the reference host of sm_host.

Both profiles: the channel opens against the device key of EF 2F02, wrapped commands
work as plain ones do (PINs, share import, UNWRAP, long answers, chaining), and every
failure mode ends the channel and the authentication bound to it.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.dkek import Dkek
from keymanager.dkek.keyblob import encode_key
from keymanager.dkek.tlv import encode_tlv, iter_tlvs
from keymanager.simulator import AID
from tests.simulator.conftest import USER_PIN, Card, device_public_key, ready_card
from tests.simulator.sm_host import MSE_SET_AT, HostChannel

PROFILES = ["genuine", "pico"]
SHARE = bytes(range(32))
VERIFY_STATUS = bytes.fromhex("00200081")


def send(card: Card, apdu: bytes) -> tuple[bytes, int]:
    response = card.transport.transmit(apdu)
    return response[:-2], int.from_bytes(response[-2:], "big")


def open_channel(card: Card) -> HostChannel:
    host = HostChannel(device_public_key(card))
    assert send(card, MSE_SET_AT) == (b"", 0x9000)
    answer, sw = send(card, host.general_authenticate())
    assert sw == 0x9000 and len(answer) == 22 and answer[:4] == bytes.fromhex("7C148108")
    host.complete(answer)  # checks the token
    return host


def collect(card: Card, data: bytes, sw: int) -> tuple[bytes, int]:
    """Fetch the rest of an answer with plain GET RESPONSE."""
    while sw >> 8 == 0x61:
        more, sw = send(card, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
        data += more
    return data, sw


def protected(card: Card, host: HostChannel, apdu: bytes) -> tuple[bytes, int, int]:
    """Send a wrapped APDU: (inner data, inner SW, outer SW)."""
    data, sw = collect(card, *send(card, apdu))
    assert data, f"a plain answer {sw:04X} to a protected command"
    plain, inner_sw = host.unwrap(data)
    return plain, inner_sw, sw


def outer(profile: str, inner_sw: int) -> int:
    return inner_sw if profile == "pico" else 0x9000


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_channel_opens_and_pin_is_bound_to_it(profile: str) -> None:
    card = ready_card(b"sm-open", profile=profile)
    host = open_channel(card)
    # opening the channel logged the plain VERIFY out
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81)) == (
        b"",
        0x63C3,
        outer(profile, 0x63C3),
    )
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN)) == (
        b"",
        0x9000,
        0x9000,
    )
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81))[1] == 0x9000
    # a plain status query ends the channel and answers for an unauthenticated card
    assert send(card, VERIFY_STATUS) == (b"", 0x63C3)
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)


def test_wrong_pin_inside_the_channel_and_outer_status_word(profile: str) -> None:
    card = ready_card(b"sm-wrong", profile=profile)
    host = open_channel(card)
    wrong = host.wrap(0x00, 0x20, 0x00, 0x81, b"000000")
    assert protected(card, host, wrong) == (b"", 0x63C2, outer(profile, 0x63C2))
    # the channel goes on after an error answer
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000


def test_open_channel_refusals(profile: str) -> None:
    card = ready_card(b"sm-refusals", profile=profile)
    host = HostChannel(device_public_key(card))
    assert send(card, host.general_authenticate()) == (b"", 0x6985)  # no MSE SET AT yet
    other_oid = bytes.fromhex("002241A40C800A04007F00070202030201")
    assert send(card, other_oid) == (b"", 0x6A80)
    assert send(card, bytes.fromhex("002241B603800100")) == (b"", 0x6A86)
    with_key_ref = bytes.fromhex("002241A40F") + MSE_SET_AT[5:] + bytes.fromhex("840101")
    assert send(card, with_key_ref) == (b"", 0x9000)
    off_curve = bytearray(host.general_authenticate())
    off_curve[-2] ^= 0x01  # last byte of Y
    assert send(card, bytes(off_curve)) == (b"", 0x6A80)
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    stranger = HostChannel(p256)  # a point on another curve
    assert send(card, stranger.general_authenticate()) == (b"", 0x6A80)
    answer, sw = send(card, host.general_authenticate())  # the MSE choice is still there
    assert sw == 0x9000
    host.complete(answer)
    # no re-keying inside the channel: protected MSE / GA answer 6985 wrapped
    assert protected(card, host, host.wrap(0x00, 0x22, 0x41, 0xA4, MSE_SET_AT[5:], None))[1:] == (
        0x6985,
        outer(profile, 0x6985),
    )
    again = HostChannel(device_public_key(card)).general_authenticate()[5:-1]
    assert protected(card, host, host.wrap(0x00, 0x86, 0x00, 0x00, again, b"\x00"))[1] == 0x6985
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000


def test_protected_command_without_a_channel() -> None:
    card = ready_card(b"sm-none")
    assert send(card, bytes.fromhex("0C200081")) == (b"", 0x6882)
    assert send(card, bytes.fromhex("8C520000")) == (b"", 0x6882)
    assert send(card, VERIFY_STATUS) == (b"", 0x9000)  # nothing else changed


def test_wrong_mac_ends_the_channel(profile: str) -> None:
    card = ready_card(b"sm-mac", profile=profile)
    host = open_channel(card)
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    tampered = bytearray(host.wrap(0x00, 0x20, 0x00, 0x81))
    tampered[-3] ^= 0x40  # inside the MAC
    assert send(card, bytes(tampered)) == (b"", 0x6988)
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)
    host = open_channel(card)
    header = bytearray(host.wrap(0x00, 0x20, 0x00, 0x81))
    header[3] = 0x88  # a different P2 under the same MAC
    assert send(card, bytes(header)) == (b"", 0x6988)
    assert send(card, VERIFY_STATUS) == (b"", 0x63C3)


def test_replayed_command_is_refused(profile: str) -> None:
    card = ready_card(b"sm-replay", profile=profile)
    host = open_channel(card)
    command = host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN)
    assert protected(card, host, command)[1] == 0x9000
    assert send(card, command) == (b"", 0x6988)
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)


def test_missing_mac_and_bad_objects(profile: str) -> None:
    card = ready_card(b"sm-objects", profile=profile)
    host = open_channel(card)
    field = host.wrap_data(0x00, 0x20, 0x00, 0x81, USER_PIN, None, pico=False)
    without_mac = field[:-10]
    assert send(card, bytes([0x0C, 0x20, 0x00, 0x81, len(without_mac)]) + without_mac) == (
        b"",
        0x6987,
    )
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)
    assert send(card, bytes.fromhex("0C200081")) == (b"", 0x6882)

    # a DO87 with a valid MAC but padding indicator 02
    host = open_channel(card)
    ssc = (host.ssc + 1).to_bytes(16, "big")
    cryptogram = b"\x02" + bytes(16)
    body = encode_tlv(0x87, cryptogram)
    header = bytes([0x0C, 0x20, 0x00, 0x81])
    mac = host.mac(
        ssc + header + b"\x80" + bytes(11) + body + b"\x80" + bytes(-(len(body) + 1) % 16)
    )
    data = body + encode_tlv(0x8E, mac)
    assert send(card, header + bytes([len(data)]) + data) == (b"", 0x6988)
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)


def test_long_answer_comes_through_get_response(profile: str) -> None:
    card = ready_card(b"sm-long", profile=profile)
    chain = card.sim.device_certificates()
    assert len(chain) > 256
    host = open_channel(card)
    read = host.wrap(0x00, 0xB1, 0x2F, 0x02, encode_tlv(0x54, b"\x00\x00"), b"\x00\x00")
    assert read[-1:] == b"\x00" and read[4] == len(read) - 6  # short Lc, short Le 00
    first, sw = send(card, read)
    assert len(first) == 256 and sw >> 8 == 0x61
    piece, sw = send(card, bytes.fromhex("00C0000010"))  # a small piece first
    assert len(piece) == 16 and sw >> 8 == 0x61
    rest, sw = collect(card, b"", sw)
    assert sw == 0x9000
    assert host.unwrap(first + piece + rest) == (chain, 0x9000)
    # an extended outer Le takes it in one go
    read = host.wrap(0x00, 0xB1, 0x2F, 0x02, encode_tlv(0x54, b"\x00\x00"), extended=True)
    data, sw = send(card, read)
    assert sw == 0x9000 and host.unwrap(data) == (chain, 0x9000)


def test_plain_get_response_keeps_the_channel(profile: str) -> None:
    card = ready_card(b"sm-getresponse", profile=profile)
    chain = card.sim.device_certificates()
    host = open_channel(card)
    read = host.wrap(0x00, 0xB1, 0x2F, 0x02, encode_tlv(0x54, b"\x00\x00"))
    data, sw = collect(card, *send(card, read))
    assert sw == 0x9000 and host.unwrap(data) == (chain, 0x9000)
    assert send(card, bytes.fromhex("00C0000000")) == (b"", 0x6985)  # nothing pending
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    # a short inner Le (DO97 = 10) reads 10 bytes
    short = host.wrap(0x00, 0xB1, 0x2F, 0x02, encode_tlv(0x54, b"\x00\x00"), b"\x0a")
    assert protected(card, host, short) == (chain[:10], 0x9000, 0x9000)


def test_chained_protected_command(profile: str) -> None:
    card = ready_card(b"sm-chain", profile=profile)
    host = open_channel(card)
    content = bytes(range(256)) * 2
    data = encode_tlv(0x54, b"\x00\x00") + encode_tlv(0x53, content)
    field = host.wrap_data(0x00, 0xD7, 0xCF, 0x01, data, None, pico=False)
    pieces = [field[i : i + 200] for i in range(0, len(field), 200)]
    assert len(pieces) > 2
    for piece in pieces[:-1]:
        assert send(card, bytes([0x1C, 0xD7, 0xCF, 0x01, len(piece)]) + piece) == (b"", 0x9000)
    last = pieces[-1]
    answer, sw = collect(card, *send(card, bytes([0x0C, 0xD7, 0xCF, 0x01, len(last)]) + last))
    # no PIN in this channel yet: UPDATE BINARY refused, but the whole command was unwrapped
    assert host.unwrap(answer) == (b"", 0x6982)
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    field = host.wrap_data(0x00, 0xD7, 0xCF, 0x01, data, None, pico=False)
    pieces = [field[i : i + 200] for i in range(0, len(field), 200)]
    for piece in pieces[:-1]:
        assert send(card, bytes([0x1C, 0xD7, 0xCF, 0x01, len(piece)]) + piece) == (b"", 0x9000)
    last = pieces[-1]
    answer, sw = collect(card, *send(card, bytes([0x0C, 0xD7, 0xCF, 0x01, len(last)]) + last))
    assert host.unwrap(answer) == (b"", 0x9000) and sw == 0x9000
    read = host.wrap(0x00, 0xB1, 0xCF, 0x01, encode_tlv(0x54, b"\x00\x00"))
    assert protected(card, host, read)[:2] == (content, 0x9000)


def test_share_import_and_unwrap_through_the_channel(profile: str) -> None:
    card = ready_card(b"sm-dkek", profile=profile)
    host = open_channel(card)
    status, sw, _ = protected(card, host, host.wrap(0x80, 0x52, 0x00, 0x00, SHARE, b"\x00"))
    with Dkek.from_shares([SHARE]) as dkek:
        assert sw == 0x9000 and status[:2] == b"\x01\x00"
        assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
        query, sw, _ = protected(card, host, host.wrap(0x80, 0x52, 0x00, 0x00))
        assert sw == 0x9000 and query[2:10] == dkek.kcv()
        host_key = ec.generate_private_key(ec.SECP256R1())
        blob = encode_key(dkek, host_key, allowed_algorithms=b"\x73\x92")
    unwrap = host.wrap(0x80, 0x74, 0x0A, 0x93, blob, None, extended=True)
    assert unwrap[4:7] == b"\x00" + (len(unwrap) - 9).to_bytes(2, "big")
    assert protected(card, host, unwrap) == (b"", 0x9000, 0x9000)
    listing, sw, _ = protected(card, host, host.wrap(0x80, 0x58, 0x00, 0x00))
    assert sw == 0x9000 and b"\xcc\x0a" in listing
    again = host.wrap(0x80, 0x74, 0x0A, 0x93, blob, None, extended=True)
    assert protected(card, host, again) == (b"", 0x6A89, outer(profile, 0x6A89))


def test_pico_host_padding_is_tolerated(profile: str) -> None:
    card = ready_card(b"sm-padding", profile=profile)
    host = open_channel(card)
    verify = host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN, pico=True)
    assert protected(card, host, verify)[1] == 0x9000
    content = bytes(range(9))  # 54 02 0000 53 09 ... is 15 bytes: pypicohsm pads 32
    data = encode_tlv(0x54, b"\x00\x00") + encode_tlv(0x53, content)
    assert len(data) % 16 == 15
    write = host.wrap(0x00, 0xD7, 0xCF, 0x02, data, None, pico=True)
    assert len(next(iter_tlvs(write[5:-1])).value) == 32  # DO85: INS D7 is odd
    assert protected(card, host, write)[1] == 0x9000
    status = host.wrap(0x00, 0x20, 0x00, 0x81, pico=True)  # an empty body, padded to a block
    assert protected(card, host, status)[1] == 0x9000
    # the answer side: 15 bytes of data, padded with a whole extra block on Pico HSM
    fifteen = bytes(range(15))
    assert (
        protected(
            card,
            host,
            host.wrap(
                0x00,
                0xD7,
                0xCF,
                0x03,
                encode_tlv(0x54, b"\x00\x00") + encode_tlv(0x53, fifteen),
                None,
            ),
        )[1]
        == 0x9000
    )
    raw, _ = collect(
        card, *send(card, host.wrap(0x00, 0xB1, 0xCF, 0x03, encode_tlv(0x54, b"\x00\x00")))
    )
    cryptogram = next(iter_tlvs(raw)).value
    assert len(cryptogram) == 1 + (32 if profile == "pico" else 16)
    assert host.unwrap(raw) == (fifteen, 0x9000)


def test_select_and_power_on_end_the_channel(profile: str) -> None:
    card = ready_card(b"sm-end", profile=profile)
    host = open_channel(card)
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    assert send(card, bytes([0x00, 0xA4, 0x04, 0x00, len(AID)]) + AID + b"\x00")[1] == 0x9000
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)
    assert send(card, VERIFY_STATUS) == (b"", 0x63C3)

    host = open_channel(card)
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    card.transport.reconnect(reset=True)
    card.select()
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)
    # and MSE SET AT is forgotten by the reset too
    assert send(card, HostChannel(device_public_key(card)).general_authenticate())[1] == 0x6985

    # a protected SELECT stays inside the channel (and logs out, as SELECT does)
    host = open_channel(card)
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
    select = host.wrap(0x00, 0xA4, 0x04, 0x0C, AID, None)
    assert protected(card, host, select)[1] == (0x6A86 if profile == "pico" else 0x9000)
    expected = 0x9000 if profile == "pico" else 0x63C3  # pico refused that SELECT
    assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81))[1] == expected


def test_seeded_cards_open_the_same_channel() -> None:
    first = ready_card(b"sm-seed")
    second = ready_card(b"sm-seed")
    host = HostChannel(device_public_key(first))
    answers = []
    for card in (first, second):
        assert send(card, MSE_SET_AT)[1] == 0x9000
        answers.append(send(card, host.general_authenticate()))
    assert answers[0] == answers[1] and answers[0][1] == 0x9000


def test_anything_unreadable_ends_the_channel(profile: str) -> None:
    card = ready_card(b"sm-unreadable", profile=profile)
    for interruption in (bytes.fromhex("002000"), bytes.fromhex("04200081"), VERIFY_STATUS):
        host = open_channel(card)
        assert protected(card, host, host.wrap(0x00, 0x20, 0x00, 0x81, USER_PIN))[1] == 0x9000
        send(card, interruption)  # too short / half an SM class byte / plain
        assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)
    # an unknown SM data object under a valid MAC
    host = open_channel(card)
    ssc = (host.ssc + 1).to_bytes(16, "big")
    header = bytes([0x0C, 0x20, 0x00, 0x81])
    body = encode_tlv(0x81, USER_PIN)
    mac = host.mac(
        ssc + header + b"\x80" + bytes(11) + body + b"\x80" + bytes(-(len(body) + 1) % 16)
    )
    data = body + encode_tlv(0x8E, mac)
    assert send(card, header + bytes([len(data)]) + data) == (b"", 0x6988)
    assert send(card, host.wrap(0x00, 0x20, 0x00, 0x81)) == (b"", 0x6882)


def test_wrapped_commands_carry_no_secret_in_the_clear() -> None:
    card = ready_card(b"sm-clear")
    host = open_channel(card)
    apdus: list[bytes] = []
    responses: list[bytes] = []
    for cla, ins, data, le in ((0x00, 0x20, USER_PIN, None), (0x80, 0x52, SHARE, b"\x00")):
        apdus.append(host.wrap(cla, ins, 0x00, 0x00 if ins == 0x52 else 0x81, data, le))
        answer, _ = collect(card, *send(card, apdus[-1]))
        responses.append(answer)
        assert host.unwrap(answer)[1] == 0x9000
    with Dkek.from_shares([SHARE]) as dkek:
        kcv = dkek.kcv()
    for secret in (USER_PIN, SHARE, SHARE[:8], kcv):
        assert not any(secret in apdu for apdu in apdus)
    assert not any(kcv in response for response in responses)
