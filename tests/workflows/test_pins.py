"""PIN workflows against the simulated card: tries left, last-try warnings, RRC options."""

from __future__ import annotations

import pytest

from keymanager.card.errors import CardRemoved, WrongPin
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitOptions, InitParams, PinState
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import PinNotVerified, WorkflowError, WrongPinEntered
from keymanager.workflows.interaction import MessageLevel, ScriptedInteraction
from keymanager.workflows.pins import change_pin, change_so_pin, unblock_pin, verify_pin

PIN = "648219"
NEW_PIN = "1234567"
SO = DEFAULT_SO_PIN.hex()


def card(
    options: InitOptions = InitOptions.RESET_RETRY_COUNTER,
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=b"pins")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, options=options))
    return simulator, hsm


def script(*secrets: str) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for secret in secrets:
        interaction.answer("secret", secret)
    return interaction


def test_verify_reports_tries_and_warns_before_the_last() -> None:
    _simulator, hsm = card()
    interaction = script("000000", "111111", PIN)
    result = verify_pin(hsm, interaction)
    assert result.pin == "verified"
    warnings = interaction.texts(MessageLevel.WARNING)
    assert "Wrong PIN: 2 tries left." in warnings and "Wrong PIN: 1 try left." in warnings
    _simulator, hsm = card()
    hsm.verify_pin(PIN)  # reset nothing; now make one wrong attempt across sessions
    for _ in range(2):
        with pytest.raises(WrongPin):
            hsm.verify_pin("999999")
    last = script(PIN)
    verify_pin(SmartCardHsm.open(hsm.transport), last)
    assert any("last try" in w for w in last.texts(MessageLevel.WARNING))


def test_change_pin_and_wrong_current_pin() -> None:
    _simulator, hsm = card()
    with pytest.raises(WrongPinEntered, match="blocked now") as raised:  # three wrong
        change_pin(hsm, script("000000", "111111", "222222"))
    assert raised.value.tries_left == 0
    _simulator, hsm = card()
    result = change_pin(hsm, script(PIN, NEW_PIN))
    assert result.action == "change"
    hsm.verify_pin(NEW_PIN)
    with pytest.raises(WorkflowError, match=r"6 to 16|at least"):
        change_pin(hsm, script(NEW_PIN, "12"))


def test_unblock_and_set_with_the_so_pin() -> None:
    _simulator, hsm = card()
    for _ in range(3):
        with pytest.raises(WrongPin):
            hsm.verify_pin("000000")
    assert hsm.pin_status().state is PinState.BLOCKED
    with pytest.raises(PinNotVerified, match="blocked"):
        change_pin(hsm, script(PIN, NEW_PIN))
    result = unblock_pin(hsm, script(SO), set_new=False)
    assert result.user_tries_left == 3
    hsm.verify_pin(PIN)
    set_result = unblock_pin(hsm, script(SO, NEW_PIN), set_new=True)
    assert set_result.action == "set"
    hsm.verify_pin(NEW_PIN)
    wrong = ("0011223344556677", "0011223344556678", "0011223344556679")
    with pytest.raises(WrongPinEntered) as raised:  # asked three times, then it stops
        unblock_pin(hsm, script(*wrong), set_new=False)
    assert raised.value.tries_left == 12 and "12 tries left" in str(raised.value)
    with pytest.raises(WorkflowError, match="16 hex"):
        unblock_pin(hsm, script("xyz"), set_new=False)


def test_unblock_not_allowed_by_the_options() -> None:
    _simulator, hsm = card(InitOptions.NONE)
    with pytest.raises(WorkflowError, match="without RESET RETRY COUNTER"):
        unblock_pin(hsm, script(SO), set_new=False)
    simulator, hsm = card(InitOptions.RESET_RETRY_COUNTER | InitOptions.RRC_UNBLOCK_ONLY)
    unblock_pin(hsm, script(SO), set_new=False)
    if not simulator.profile.rrc_unblock_only_enforced:  # Pico HSM (pcsc-testing item 12)
        assert unblock_pin(hsm, script(SO, NEW_PIN), set_new=True).action == "set"
        return
    with pytest.raises(WorkflowError, match="unblock only"):
        unblock_pin(hsm, script(SO, NEW_PIN), set_new=True)


def test_change_so_pin() -> None:
    simulator, hsm = card()
    change_so_pin(hsm, script(SO, "0011223344556677"))
    assert simulator.state.so_pin == bytes.fromhex("0011223344556677")
    with pytest.raises(WrongPinEntered):
        change_so_pin(hsm, script(SO, SO, SO))  # the old one, three times
    assert simulator.state.so_pin == bytes.fromhex("0011223344556677")


def test_pin_change_with_the_card_removed_at_each_apdu() -> None:
    simulator, hsm = card()
    simulator.faults.clear()
    change_pin(hsm, script(PIN, NEW_PIN))
    points = simulator.faults.apdus_seen
    for k in range(1, points + 1):
        simulator, hsm = card()
        simulator.faults.remove_at(k)
        with pytest.raises(CardRemoved):
            change_pin(hsm, script(PIN, NEW_PIN))
        simulator.insert()
        hsm = SmartCardHsm.open(LocalTransport(simulator))
        assert simulator.state.user_pin in (PIN.encode(), NEW_PIN.encode())
        hsm.verify_pin(simulator.state.user_pin)
        assert hsm.pin_status().verified
    print(f"PIN change: {points} fault points")
