"""Initialisation checks the SO-PIN first: a wrong one is asked again (tries left shown,
the reason given) and the plan's every choice is kept; nothing else is asked before."""

from __future__ import annotations

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitOptions, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.device import DkekScheme, InitPlan, initialize_device
from keymanager.workflows.errors import WrongPinEntered
from keymanager.workflows.interaction import Cancelled, SecretKind
from tests.support.recording import RecordingInteraction

SO_PIN = DEFAULT_SO_PIN.hex()
WRONG_SO_PIN = "0011223344556677"
OLD_PIN = "648219"
PIN = "6482190"  # 7 characters: the plan's retry counter of 5 is allowed
PLAN = InitPlan(
    DkekScheme.KEY_DOMAINS,
    key_domains=3,
    retry_counter=5,
    reset_retry_counter=True,
    unblock_only=True,
    label="Second life",
)


def initialised_card() -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=b"so-pin first")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=OLD_PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=2))
    return simulator, SmartCardHsm.open(LocalTransport(simulator))


def script(*so_pins: str, confirm: bool = True) -> RecordingInteraction:
    interaction = RecordingInteraction()
    for so_pin in so_pins:
        interaction.answer("secret", so_pin)
    return interaction.answer("secret", PIN).answer("confirm", confirm)


def test_a_wrong_so_pin_then_the_right_one_initialises_with_the_plan() -> None:
    simulator, hsm = initialised_card()
    interaction = script(WRONG_SO_PIN, SO_PIN)
    result = initialize_device(hsm, interaction, PLAN)
    assert interaction.finished
    # the SO-PIN first, asked again with the card's count, then the rest once
    assert interaction.kinds() == [SecretKind.SO_PIN, SecretKind.SO_PIN, SecretKind.NEW_USER_PIN]
    assert interaction.shown_tries(SecretKind.SO_PIN) == [15, 14]
    first, again = interaction.requests[:2]
    assert first.retry_reason == "" and "SO-PIN" in again.retry_reason
    assert again.purpose == first.purpose == "initialising the device"
    # every choice of the plan was kept
    assert [slot.status for slot in hsm.key_domains()] == [None, None, None]
    assert simulator.state.user_pin_max == 5
    assert simulator.state.options == int(
        InitOptions.RESET_RETRY_COUNTER | InitOptions.RRC_UNBLOCK_ONLY
    )
    assert result.label == "Second life" and result.retry_counter == 5
    assert simulator.state.user_pin == PIN.encode()
    assert simulator.state.so_pin_tries == 15  # the right entry reset the count


def test_the_so_pin_is_checked_before_anything_is_asked_or_erased() -> None:
    simulator, hsm = initialised_card()
    interaction = script(WRONG_SO_PIN, SO_PIN, confirm=False)
    with pytest.raises(Cancelled, match="not confirmed"):
        initialize_device(hsm, interaction, PLAN)
    assert interaction.kinds()[:2] == [SecretKind.SO_PIN, SecretKind.SO_PIN]
    status = hsm.key_domain_status(0)  # not erased: the old domain is still there
    assert status is not None and status.shares_total == 2
    assert simulator.state.user_pin == OLD_PIN.encode()


def test_the_counter_shown_counts_down_to_the_last_try() -> None:
    simulator, hsm = initialised_card()
    simulator.state.so_pin_tries = 3
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    interaction = script(WRONG_SO_PIN, "0011223344556678", SO_PIN)
    initialize_device(hsm, interaction, PLAN)
    assert interaction.shown_tries(SecretKind.SO_PIN) == [3, 2, 1]  # 1: the last-try warning
    assert simulator.state.so_pin_tries == 15


def test_running_out_of_tries_says_the_device_cannot_be_initialised() -> None:
    simulator, hsm = initialised_card()
    simulator.state.so_pin_tries = 2
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    interaction = RecordingInteraction()
    interaction.answer("secret", WRONG_SO_PIN).answer("secret", "0011223344556678")
    with pytest.raises(WrongPinEntered, match="cannot be initialised again") as raised:
        initialize_device(hsm, interaction, PLAN)
    assert raised.value.tries_left == 0
    assert interaction.shown_tries(SecretKind.SO_PIN) == [2, 1]
    assert simulator.state.so_pin_tries == 0
    status = hsm.key_domain_status(0)
    assert status is not None and status.shares_total == 2


def test_a_blank_card_asks_the_so_pin_again_too() -> None:
    simulator = SmartCardHsmSimulator(seed=b"so-pin first, blank")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    interaction = script(WRONG_SO_PIN, SO_PIN)
    initialize_device(hsm, interaction, InitPlan(DkekScheme.RANDOM_DKEK))
    # a blank card's status has no count; the card's answer to the wrong one has
    assert interaction.shown_tries(SecretKind.SO_PIN) == [None, 14]
    assert simulator.state.initialised
