"""A session on secure messaging against the simulator (both profiles): opening, keeping
and re-opening the channel, and never falling back to the clear once it ran."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keymanager.card.errors import CardError
from keymanager.card.hsm import AID, SmartCardHsm
from keymanager.card.hsm_types import PinState
from keymanager.card.secure_messaging import (
    DeviceAuthenticationFailed,
    SecureMessagingMode,
    SecureMessagingStatus,
    SecureMessagingUnavailable,
)
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from tests.card.sm_card import PIN, initialised
from tests.support.profiles import pytest_configure, simulator_profile

__all__ = ["pytest_configure", "simulator_profile"]

AUTO = SecureMessagingMode.AUTO


def recording(card: SmartCardHsmSimulator | HostileCard) -> list[bytes]:
    """Every command APDU the card gets from now on."""
    seen: list[bytes] = []
    original: Callable[[bytes], bytes] = card.process_apdu

    def process(apdu: bytes) -> bytes:
        seen.append(bytes(apdu))
        return original(apdu)

    card.process_apdu = process  # type: ignore[method-assign]
    return seen


def plain(apdus: list[bytes], ins: int) -> list[bytes]:
    return [apdu for apdu in apdus if apdu[1] == ins and not apdu[0] & 0x0C]


def test_a_session_runs_on_a_channel_and_the_pin_never_goes_in_the_clear() -> None:
    simulator = initialised()
    apdus = recording(simulator)
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=AUTO)
    assert hsm.secure_messaging.status is SecureMessagingStatus.ACTIVE
    assert hsm.secure_messaging.text.startswith("active")
    hsm.verify_pin(PIN)
    assert hsm.pin_status().state is PinState.VERIFIED
    assert hsm.key_domain_status(0) is not None
    assert plain(apdus, 0x20) == [] and plain(apdus, 0x52) == []
    assert not any(PIN.encode() in apdu for apdu in apdus)
    assert [apdu[1] for apdu in apdus if not apdu[0] & 0x0C] == [0xA4, 0xB1, 0x22, 0x86]


def test_select_ends_the_channel_and_the_next_command_opens_a_new_one() -> None:
    hsm = SmartCardHsm.open(LocalTransport(initialised()), secure_messaging=AUTO)
    hsm.verify_pin(PIN)
    first = hsm.connection.channel
    hsm.select()  # logs out, as it always did
    assert hsm.connection.channel is None
    assert hsm.pin_status().state is not PinState.VERIFIED
    assert hsm.connection.channel is not None and hsm.connection.channel is not first
    hsm.verify_pin(PIN)
    assert hsm.pin_status().state is PinState.VERIFIED


def test_after_a_card_reset_a_new_channel_carries_the_command() -> None:
    simulator = initialised()
    transport = LocalTransport(simulator)
    hsm = SmartCardHsm.open(transport, secure_messaging=AUTO)
    hsm.verify_pin(PIN)
    transport.reconnect(reset=True)  # the card forgot the channel and the login
    hsm.select()
    assert hsm.enumerate_objects()  # answered on a new channel
    assert hsm.pin_status().state is not PinState.VERIFIED
    # another program selected the applet in between: the card ended the channel the
    # session still holds, answers 6882, and a new channel carries the command again
    channel = hsm.connection.channel
    assert simulator.process_apdu(bytes.fromhex("00A404000B") + AID + b"\x00")[-2:] == b"\x90\x00"
    assert hsm.enumerate_objects()
    assert hsm.connection.channel is not None and hsm.connection.channel is not channel


def test_off_sends_no_chip_authentication_and_says_so() -> None:
    simulator = initialised()
    apdus = recording(simulator)
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.OFF)
    hsm.verify_pin(PIN)
    assert hsm.secure_messaging.status is SecureMessagingStatus.OFF
    assert not [apdu for apdu in apdus if apdu[1] in (0x22, 0x86) or apdu[0] & 0x0C]


def test_the_environment_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYMANAGER_SECURE_MESSAGING", "off")
    assert SmartCardHsm.open(LocalTransport(initialised())).secure_messaging.status.value == "off"
    monkeypatch.setenv("KEYMANAGER_SECURE_MESSAGING", "auto")
    hsm = SmartCardHsm.open(LocalTransport(initialised()))
    assert hsm.secure_messaging.status.value == "active"
    monkeypatch.setenv("KEYMANAGER_SECURE_MESSAGING", "sometimes")
    with pytest.raises(ValueError, match="KEYMANAGER_SECURE_MESSAGING"):
        SmartCardHsm.open(LocalTransport(initialised()))


def test_a_card_without_it_goes_on_in_the_clear_and_says_why() -> None:
    card = HostileCard(initialised(), "ins:22@sw:6D00")
    hsm = SmartCardHsm.open(LocalTransport(card), secure_messaging=AUTO)
    assert hsm.secure_messaging.status is SecureMessagingStatus.UNAVAILABLE
    assert "does not support chip authentication" in hsm.secure_messaging.reason
    assert "in the clear" in hsm.secure_messaging.text
    hsm.verify_pin(PIN)
    assert hsm.pin_status().state is PinState.VERIFIED


def test_once_a_channel_ran_nothing_falls_back_to_the_clear() -> None:
    card = HostileCard(initialised(), "ins:22,nth:2@sw:6D00")  # the second MSE is refused
    hsm = SmartCardHsm.open(LocalTransport(card), secure_messaging=AUTO)
    assert hsm.secure_messaging.status is SecureMessagingStatus.ACTIVE
    hsm.select()
    apdus = recording(card)
    with pytest.raises(SecureMessagingUnavailable, match="nothing is sent in the clear"):
        hsm.verify_pin(PIN)
    assert plain(apdus, 0x20) == []


def test_a_card_that_cannot_prove_the_device_key_is_refused() -> None:
    card = HostileCard(initialised(), "ins:86@flip:16")  # one byte of the token
    with pytest.raises(DeviceAuthenticationFailed, match="does not hold the private key"):
        SmartCardHsm.open(LocalTransport(card), secure_messaging=AUTO)
    assert issubclass(DeviceAuthenticationFailed, CardError)
