"""The host side of secure messaging, byte by byte: padding, wrapping, checking answers.

The card's side is computed here from the protocol text (docs/card.md, "Secure
messaging"): the SSC, IV = AES-ECB(Kenc, SSC), DO87/DO99/DO8E and the CMAC, so a test
fails when the host drifts from the protocol, not only when it drifts from itself.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keymanager.card.secure_messaging import (
    ChannelEndedByCard,
    ResponseMacInvalid,
    ResponseNotProtected,
    SecureChannel,
    UnprotectedRefusal,
    authentication_token,
    derive_keys,
    pad,
    unpad,
)
from keymanager.dkek.tlv import iter_tlvs

KENC = bytes(range(16))
KMAC = bytes(range(16, 32))


def _cmac8(data: bytes) -> bytes:
    signer = cmac.CMAC(algorithms.AES(KMAC))
    signer.update(data)
    return signer.finalize()[:8]


def _iv(ssc: int) -> bytes:
    encryptor = Cipher(algorithms.AES(KENC), modes.ECB()).encryptor()
    return encryptor.update(ssc.to_bytes(16, "big")) + encryptor.finalize()


def _cbc(ssc: int, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(KENC), modes.CBC(_iv(ssc)))
    context = cipher.encryptor() if encrypt else cipher.decryptor()
    return context.update(data) + context.finalize()


def _iso_pad(data: bytes) -> bytes:
    data += b"\x80"
    return data + bytes(-len(data) % 16)


def _card_answer(ssc: int, data: bytes, sw: int) -> bytes:
    """What a card sends back for the command counted ``ssc - 1``."""
    objects = b""
    if data:
        cryptogram = b"\x01" + _cbc(ssc, _iso_pad(data), encrypt=True)
        objects += bytes([0x87, len(cryptogram)]) + cryptogram
    objects += b"\x99\x02" + sw.to_bytes(2, "big")
    return objects + b"\x8e\x08" + _cmac8(ssc.to_bytes(16, "big") + _iso_pad(objects))


def test_padding_is_iso_and_tolerates_a_whole_zero_block() -> None:
    assert pad(b"") == b"\x80" + bytes(15)
    assert len(pad(bytes(15))) == 16 and len(pad(bytes(16))) == 32
    assert unpad(pad(b"abc")) == b"abc"
    assert unpad(b"abc\x80" + bytes(12) + bytes(16)) == b"abc"  # Pico's extra block
    with pytest.raises(ValueError, match="padding"):
        unpad(bytes(16))


def test_session_keys_and_token_follow_tr_03110() -> None:
    kenc, kmac = derive_keys(b"K" * 32, b"N" * 8)
    assert kenc != kmac and len(kenc) == len(kmac) == 16
    token = authentication_token(kmac, b"\x04" + bytes(64))
    assert len(token) == 8
    assert authentication_token(kmac, b"\x04" + bytes(63) + b"\x01") != token


def test_a_command_is_encrypted_and_its_header_and_objects_maced() -> None:
    channel = SecureChannel(KENC, KMAC)
    pin = b"648219"
    protected = channel.wrap(0x00, 0x20, 0x00, 0x81, pin, None, extended=True)
    assert protected.cla == 0x0C
    objects = list(iter_tlvs(protected.data))
    assert [item.tag for item in objects] == [b"\x87", b"\x8e"]  # no Le: no DO97
    body = objects[0].value
    assert body[0] == 0x01 and pin not in protected.data
    assert unpad(_cbc(1, body[1:], encrypt=False)) == pin
    mac_input = (1).to_bytes(16, "big") + _iso_pad(bytes([0x0C, 0x20, 0x00, 0x81]))
    mac_input += _iso_pad(protected.data[:-10])
    assert objects[1].value == _cmac8(mac_input)


def test_odd_ins_carries_do85_and_le_goes_into_do97() -> None:
    channel = SecureChannel(KENC, KMAC)
    protected = channel.wrap(0x00, 0xB1, 0x2F, 0x02, b"\x54\x02\x00\x00", -1, extended=False)
    tags = [item.tag for item in iter_tlvs(protected.data)]
    assert tags == [b"\x85", b"\x97", b"\x8e"]
    assert list(iter_tlvs(protected.data))[1].value == b"\x00"
    extended = channel.wrap(0x80, 0x58, 0, 0, b"", -1, extended=True)
    assert [item.tag for item in iter_tlvs(extended.data)] == [b"\x97", b"\x8e"]
    assert next(iter_tlvs(extended.data)).value == b"\x00\x00"
    assert extended.cla == 0x8C


def test_a_response_is_checked_and_decrypted() -> None:
    channel = SecureChannel(KENC, KMAC)
    channel.wrap(0x00, 0xB1, 0x2F, 0x02, b"\x54\x02\x00\x00", -1, extended=True)
    data, sw = channel.unwrap(_card_answer(2, b"certificate bytes", 0x9000), 0x9000, "READ")
    assert (data, sw) == (b"certificate bytes", 0x9000)
    channel.wrap(0x00, 0x20, 0x00, 0x81, b"", None, extended=True)
    assert channel.unwrap(_card_answer(4, b"", 0x63C2), 0x63C2, "VERIFY") == (b"", 0x63C2)


@pytest.mark.parametrize("position", [0, 3, 20, -12, -1])
def test_one_altered_byte_of_a_response_ends_the_channel(position: int) -> None:
    channel = SecureChannel(KENC, KMAC)
    channel.wrap(0x00, 0xB1, 0x2F, 0x02, b"\x54\x02\x00\x00", -1, extended=True)
    answer = bytearray(_card_answer(2, b"sixteen bytes!!!" * 2, 0x9000))
    answer[position] ^= 0x01
    with pytest.raises((ResponseMacInvalid, ResponseNotProtected)):
        channel.unwrap(bytes(answer), 0x9000, "READ")


def test_a_replayed_response_does_not_verify() -> None:
    channel = SecureChannel(KENC, KMAC)
    channel.wrap(0x00, 0x20, 0x00, 0x81, b"", None, extended=True)
    first = _card_answer(2, b"", 0x9000)
    channel.unwrap(first, 0x9000, "VERIFY")
    channel.wrap(0x00, 0x20, 0x00, 0x81, b"", None, extended=True)
    with pytest.raises(ResponseMacInvalid, match="altered"):
        channel.unwrap(first, 0x9000, "VERIFY")


def test_unprotected_answers_are_never_taken() -> None:
    channel = SecureChannel(KENC, KMAC)
    channel.wrap(0x00, 0x20, 0x00, 0x81, b"", None, extended=True)
    with pytest.raises(ChannelEndedByCard) as ended:
        channel.unwrap(b"", 0x6988, "VERIFY")
    assert ended.value.sw == 0x6988
    refusing = SecureChannel(KENC, KMAC)
    refusing.wrap(0x00, 0xB1, 0x2F, 0x02, b"\x54\x02\x00\x00", -1, extended=True)
    with pytest.raises(UnprotectedRefusal) as refusal:
        refusing.unwrap(b"", 0x6A82, "READ")
    assert refusal.value.sw == 0x6A82
    for data, sw in ((b"", 0x9000), (b"\x99\x02\x90\x00", 0x9000), (b"\x01\x02", 0x9000)):
        fresh = SecureChannel(KENC, KMAC)
        fresh.wrap(0x00, 0x20, 0x00, 0x81, b"", None, extended=True)
        with pytest.raises(ResponseNotProtected):
            fresh.unwrap(data, sw, "VERIFY")
