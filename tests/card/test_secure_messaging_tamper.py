"""Something between the host and the card alters the channel (both simulator profiles).

:class:`ManInTheMiddle` is a transport between the session and the simulated card that
changes one byte of one protected answer, the MAC of protected commands, or plays an
old answer again.  Every alteration ends the channel with its typed error (never a
result taken from the altered answer); the next command goes on a new channel and works.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keymanager.card.errors import SecurityStatusNotSatisfied, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import PinState
from keymanager.card.secure_messaging import (
    ChannelBroken,
    ChannelEndedByCard,
    ResponseMacInvalid,
    ResponseNotProtected,
    SecureMessagingMode,
)
from keymanager.card.transport import LocalTransport, Transport
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.interaction import PaperKeyShareInput, ScriptedInteraction
from keymanager.workflows.pins import verify_pin
from tests.card.sm_card import PIN, initialised
from tests.support.profiles import pytest_configure, simulator_profile

__all__ = ["pytest_configure", "simulator_profile"]

SHARE = bytes(range(32))


def _protected(apdu: bytes) -> bool:
    return len(apdu) >= 4 and apdu[0] & 0x0C == 0x0C


def _data_offset(apdu: bytes) -> int:
    """Where the data of a command with data starts (short or extended Lc)."""
    return 5 if apdu[4] else 7


class ManInTheMiddle(Transport):
    """Passes APDUs to ``inner`` and alters the ones it is told to.

    :meth:`alter_answer` flips one byte of the data of the next protected answer to a
    command with the given INS (``with_data``: a command that carries data);
    :meth:`spoil_command_macs` flips a byte of the MAC of the next ``count`` protected
    commands; :meth:`replay_answer` answers the next protected command with the answer
    to the one before it.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self._answer: tuple[int, int] | None = None
        self._answer_with_data = False
        self._spoil = 0
        self._replay = False
        self._last_answer = b""
        self.altered: list[bytes] = []
        """The headers of the APDUs (or answers to them) that were altered."""

    @property
    def name(self) -> str:
        return f"{self.inner.name} (with a man in the middle)"

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def alter_answer(self, ins: int, position: int, *, with_data: bool = False) -> None:
        self._answer = (ins, position)
        self._answer_with_data = with_data

    def spoil_command_macs(self, count: int) -> None:
        self._spoil = count

    def replay_answer(self) -> None:
        self._replay = True

    def transmit(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        if _protected(apdu) and self._spoil:
            self._spoil -= 1
            command = bytearray(apdu)
            offset = _data_offset(apdu)
            length = int.from_bytes(apdu[offset - 2 : offset], "big") if offset == 7 else apdu[4]
            command[offset + length - 1] ^= 0x01  # the last byte of DO8E, the MAC
            self.altered.append(apdu[:4])
            apdu = bytes(command)
        answer = self.inner.transmit(apdu)
        if _protected(apdu) and self._replay and self._last_answer:
            self._replay = False
            self.altered.append(apdu[:4])
            return self._last_answer
        if _protected(apdu) and self._answer is not None and apdu[1] == self._answer[0]:
            if self._answer_with_data and apdu[_data_offset(apdu)] not in (0x85, 0x87):
                self._last_answer = answer
                return answer
            position = self._answer[1]
            self._answer = None
            altered = bytearray(answer)
            altered[position if position >= 0 else len(answer) - 2 + position] ^= 0x01
            self.altered.append(apdu[:4])
            return bytes(altered)
        if _protected(apdu):
            self._last_answer = answer
        return answer

    def reconnect(self, *, reset: bool = False) -> None:
        self.inner.reconnect(reset=reset)

    def close(self) -> None:
        self.inner.close()


def on_a_channel(simulator: SmartCardHsmSimulator) -> tuple[SmartCardHsm, ManInTheMiddle]:
    middle = ManInTheMiddle(LocalTransport(simulator))
    hsm = SmartCardHsm.open(middle, secure_messaging=SecureMessagingMode.AUTO)
    assert hsm.connection.channel is not None
    return hsm, middle


# Positions in the protected answer ``87 L 01 <cryptogram> 99 02 SW SW 8E 08 <MAC>`` of
# KEY DOMAIN STATUS (data ‖ SW; negative from the end of the data).
ANSWER_BYTES = [
    pytest.param(0, ResponseNotProtected, id="the tag of DO87"),
    pytest.param(1, ResponseNotProtected, id="the length of DO87"),
    pytest.param(2, ResponseNotProtected, id="the padding indicator"),
    pytest.param(3, ResponseMacInvalid, id="the cryptogram"),
    pytest.param(-11, ResponseMacInvalid, id="the card's status word in DO99"),
    pytest.param(-10, ResponseNotProtected, id="the tag of DO8E"),
    pytest.param(-1, ResponseMacInvalid, id="the MAC"),
]


@pytest.mark.parametrize(("position", "error"), ANSWER_BYTES)
def test_one_altered_byte_of_an_answer_ends_the_channel(
    position: int, error: type[ChannelBroken]
) -> None:
    hsm, middle = on_a_channel(initialised())
    hsm.verify_pin(PIN)
    channel = hsm.connection.channel
    expected = hsm.key_domain_status(0)
    middle.alter_answer(0x52, position)
    with pytest.raises(error) as raised:
        hsm.key_domain_status(0)
    assert middle.altered == [bytes.fromhex("8C520000")]
    assert "KEY DOMAIN STATUS" in str(raised.value)
    assert hsm.connection.channel is None  # ended, never used again
    # the next command opens a new channel and works; the login was bound to the old one
    assert hsm.key_domain_status(0) == expected
    assert hsm.connection.channel is not None and hsm.connection.channel is not channel
    assert hsm.pin_status().state is not PinState.VERIFIED
    hsm.verify_pin(PIN)
    assert hsm.pin_status().state is PinState.VERIFIED


def test_an_altered_answer_to_verify_is_not_taken_as_a_wrong_pin() -> None:
    """The altered status word (9000 made 9001) is never read: ResponseMacInvalid; the
    card did verify the PIN, on the channel that ended, so the login is gone with it."""
    hsm, middle = on_a_channel(initialised())
    middle.alter_answer(0x20, -11, with_data=True)  # VERIFY's status word, in DO99
    with pytest.raises(ResponseMacInvalid, match="VERIFY"):
        verify_pin(hsm, ScriptedInteraction().answer("secret", PIN))
    assert hsm.connection.channel is None
    assert hsm.pin_status().state is PinState.NOT_VERIFIED
    assert hsm.pin_status().tries_left == 3  # the right PIN: no try was used
    verify_pin(hsm, ScriptedInteraction().answer("secret", PIN))
    assert hsm.pin_status().state is PinState.VERIFIED


def test_an_altered_answer_during_a_share_import_stops_the_workflow() -> None:
    """The ceremony's error is the channel's; the share is imported on the next try."""
    simulator = initialised()
    hsm, middle = on_a_channel(simulator)

    def script() -> ScriptedInteraction:
        share = PaperKeyShareInput(list(encode_paperkey(SHARE).lines))
        return ScriptedInteraction().answer("secret", PIN).answer("share", share)

    middle.alter_answer(0x52, -1)  # the first KEY DOMAIN command of the workflow
    with pytest.raises(ResponseMacInvalid):
        import_shares(hsm, script(), 0)
    assert hsm.connection.channel is None
    result = import_shares(hsm, script(), 0)
    assert result.complete and result.kcv


def test_a_replayed_answer_ends_the_channel() -> None:
    hsm, middle = on_a_channel(initialised())
    hsm.verify_pin(PIN)
    hsm.key_domain_status(0)
    middle.replay_answer()  # the answer to KEY DOMAIN STATUS, for PIN status
    with pytest.raises(ResponseMacInvalid, match="altered"):
        hsm.pin_status()
    assert hsm.connection.channel is None
    assert hsm.pin_status().state is not PinState.VERIFIED  # a new channel, no login


def test_a_wrong_mac_from_the_host_is_answered_6988_and_ends_the_channel() -> None:
    """One spoilt command: the card answers a plain ``6988`` and drops the channel; the
    session sends the command again on a new channel, once.  Spoilt again: the host
    raises :class:`ChannelEndedByCard` and sends nothing in the clear."""
    simulator = initialised()
    hsm, middle = on_a_channel(simulator)
    seen: list[bytes] = []
    original: Callable[[bytes], bytes] = simulator.process_apdu

    def answer(apdu: bytes) -> bytes:
        response = original(apdu)
        seen.append(apdu[:2] + response[-2:])
        return response

    simulator.process_apdu = answer  # type: ignore[method-assign]
    first = hsm.connection.channel
    middle.spoil_command_macs(1)
    assert hsm.key_domain_status(0) is not None  # on a new channel
    assert hsm.connection.channel is not None and hsm.connection.channel is not first
    assert seen[0] == bytes.fromhex("8C52 6988")
    assert [entry[1] for entry in seen[1:3]] == [0x22, 0x86]  # chip authentication again
    seen.clear()
    middle.spoil_command_macs(2)
    with pytest.raises(ChannelEndedByCard) as ended:
        hsm.verify_pin(PIN)
    assert ended.value.sw == 0x6988
    assert hsm.connection.channel is None
    assert [entry.hex().upper() for entry in seen if entry[0] & 0x0C] == ["0C206988"] * 2
    assert not [entry for entry in seen if entry[1] == 0x20 and not entry[0] & 0x0C]
    hsm.verify_pin(PIN)  # nothing spoilt: a new channel, and it works
    assert hsm.pin_status().state is PinState.VERIFIED
    assert isinstance(ended.value, ChannelBroken) and not isinstance(ended.value, TransportError)


def test_a_command_needing_the_login_after_a_broken_channel_is_refused() -> None:
    """The re-opened channel has no login: the card refuses, and the session says so."""
    hsm, middle = on_a_channel(initialised())
    hsm.verify_pin(PIN)
    middle.alter_answer(0x58, -1)
    with pytest.raises(ResponseMacInvalid):
        hsm.enumerate_objects()
    with pytest.raises(SecurityStatusNotSatisfied):
        hsm.write_file(0xCF01, b"needs the PIN")
