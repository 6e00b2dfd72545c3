"""Each PIN is checked when it is entered: a wrong current PIN or SO-PIN is asked again
(with the tries left and the reason) before the new one is asked, and nothing twice."""

from __future__ import annotations

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitOptions, InitParams, PinState
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import WrongPinEntered
from keymanager.workflows.interaction import SecretKind
from keymanager.workflows.pins import change_pin, change_so_pin, unblock_pin
from tests.support.recording import recording

PIN = "6482190"  # 7 characters: a retry counter of 5 is allowed
NEW_PIN = "7654321"
SO = DEFAULT_SO_PIN.hex()
NEW_SO = "0011223344556677"
WRONG_SO = "8877665544332211"


def card(
    options: InitOptions = InitOptions.RESET_RETRY_COUNTER, retry_counter: int = 5
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=b"pins checked first")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(
        InitParams(
            user_pin=PIN, so_pin=DEFAULT_SO_PIN, options=options, retry_counter=retry_counter
        )
    )
    return simulator, SmartCardHsm.open(LocalTransport(simulator))


def test_a_wrong_current_pin_is_asked_again_before_the_new_one() -> None:
    simulator, hsm = card()
    interaction = recording("000000", "111111", PIN, NEW_PIN)
    change_pin(hsm, interaction)
    assert interaction.finished
    # the new PIN is asked once, after the current one was accepted
    assert interaction.kinds() == [SecretKind.USER_PIN] * 3 + [SecretKind.NEW_USER_PIN]
    assert interaction.shown_tries(SecretKind.USER_PIN) == [5, 4, 3]
    reasons = [request.retry_reason for request in interaction.requests]
    assert reasons[0] == "" and reasons[3] == ""
    assert all("wrong" in reason for reason in reasons[1:3])
    assert simulator.state.user_pin == NEW_PIN.encode()
    assert simulator.state.user_pin_tries == 5  # the right entries reset the counter


def test_three_wrong_current_pins_stop_without_asking_the_new_one() -> None:
    simulator, hsm = card()
    interaction = recording("000000", "111111", "222222")
    with pytest.raises(WrongPinEntered) as raised:
        change_pin(hsm, interaction)
    assert raised.value.tries_left == 2 and "2 tries left" in str(raised.value)
    assert SecretKind.NEW_USER_PIN not in interaction.kinds()
    assert simulator.state.user_pin == PIN.encode()


def test_the_last_wrong_entry_blocks_and_says_so() -> None:
    _simulator, hsm = card(retry_counter=2)
    interaction = recording("000000", "111111")
    with pytest.raises(WrongPinEntered, match="blocked now") as raised:
        change_pin(hsm, interaction)
    assert raised.value.tries_left == 0
    assert interaction.shown_tries(SecretKind.USER_PIN) == [2, 1]
    assert hsm.pin_status().state is PinState.BLOCKED


def test_a_transport_pin_is_checked_by_the_change_and_the_new_pin_is_kept() -> None:
    simulator, hsm = card(InitOptions.RESET_RETRY_COUNTER | InitOptions.TRANSPORT_PIN)
    assert hsm.pin_status().state is PinState.TRANSPORT_PIN  # VERIFY cannot check it
    interaction = recording("000000", NEW_PIN, PIN)
    change_pin(hsm, interaction)
    assert interaction.finished
    # the new PIN typed once is kept; only the current one is asked again
    assert interaction.kinds() == [
        SecretKind.USER_PIN,
        SecretKind.NEW_USER_PIN,
        SecretKind.USER_PIN,
    ]
    # a transport PIN's status has no count (6984); the card's answer to the change has
    assert interaction.shown_tries(SecretKind.USER_PIN) == [None, 4]
    assert "wrong" in interaction.requests[2].retry_reason
    assert simulator.state.user_pin == NEW_PIN.encode()


def test_a_wrong_current_so_pin_is_asked_again_before_the_new_one() -> None:
    simulator, hsm = card()
    interaction = recording(WRONG_SO, SO, NEW_SO)
    change_so_pin(hsm, interaction)
    assert interaction.finished
    assert interaction.kinds() == [SecretKind.SO_PIN, SecretKind.SO_PIN, SecretKind.NEW_SO_PIN]
    assert interaction.shown_tries(SecretKind.SO_PIN) == [15, 14]
    assert "SO-PIN" in interaction.requests[1].retry_reason
    assert simulator.state.so_pin == bytes.fromhex(NEW_SO)
    assert simulator.state.so_pin_tries == 15


def test_unblock_and_set_checks_the_so_pin_before_the_new_pin() -> None:
    simulator, hsm = card()
    interaction = recording(WRONG_SO, SO, NEW_PIN)
    unblock_pin(hsm, interaction, set_new=True)
    assert interaction.kinds() == [SecretKind.SO_PIN, SecretKind.SO_PIN, SecretKind.NEW_USER_PIN]
    assert interaction.shown_tries(SecretKind.SO_PIN) == [15, 14]
    assert simulator.state.user_pin == NEW_PIN.encode()


def test_checking_the_so_pin_leaves_it_as_it_was() -> None:
    simulator, hsm = card()
    before = simulator.state.so_pin
    interaction = recording(SO)
    unblock_pin(hsm, interaction, set_new=False)
    assert simulator.state.so_pin == before
    hsm.change_so_pin(DEFAULT_SO_PIN, DEFAULT_SO_PIN)  # still the SO-PIN
