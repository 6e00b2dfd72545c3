"""Fault injection: removal, reset and forced status words, counted per APDU."""

from __future__ import annotations

import pytest

from keymanager.card.errors import CardRemoved, CardReset
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.card.transport import LocalTransport
from keymanager.simulator import FaultPlan
from tests.simulator.conftest import USER_PIN, Card, ready_card


def test_removal_before_the_command_has_no_effect() -> None:
    card = ready_card(b"remove")
    card.sim.faults.remove_at(2)
    assert card.write(0xCF01, b"first") == 0x9000
    with pytest.raises(CardRemoved):
        card.write(0xCF02, b"second")
    assert not card.sim.present
    with pytest.raises(CardRemoved):
        card.enumerate()
    with pytest.raises(CardRemoved):
        card.transport.reconnect(reset=True)
    card.sim.insert()
    card.transport.reconnect(reset=True)
    assert card.sim.present
    assert card.verify(None) == 0x6D00  # the applet must be selected again
    card.select()
    assert card.verify(None) == 0x63C3  # and the PIN verified again
    assert 0xCF01 in card.enumerate() and 0xCF02 not in card.enumerate()


def test_reset_clears_the_session() -> None:
    card = ready_card(b"reset")
    card.sim.faults.reset_at(1)
    with pytest.raises(CardReset):
        card.write(0xCF01, b"x")
    assert card.sim.present
    card.select()
    assert card.verify(None) == 0x63C3
    assert 0xCF01 not in card.enumerate()


def test_status_fault_answers_without_processing() -> None:
    card = ready_card(b"status")
    card.sim.faults.status_at(1, 0x6581)
    card.sim.faults.status_at(3, 0x6F00)
    assert card.write(0xCF01, b"x") == 0x6581
    assert card.write(0xCF01, b"y") == 0x9000
    assert card.write(0xCF01, b"z") == 0x6F00
    assert card.read(0xCF01)[0] == b"y"
    assert card.sim.faults.pending == 0


def test_clear_cancels_faults() -> None:
    card = ready_card(b"clear")
    card.sim.faults.remove_at(1)
    card.sim.faults.clear()
    assert card.verify(None) == 0x9000
    assert card.sim.faults.apdus_seen == 1


def test_fault_plan_counts_from_when_it_is_set(card: Card) -> None:
    card.enumerate()
    card.enumerate()
    card.sim.faults.status_at(1, 0x6400)
    assert card.send(0x80, 0x58, 0x00, 0x00, le=0)[1] == 0x6400
    plan = FaultPlan()
    with pytest.raises(ValueError):
        plan.remove_at(0)
    with pytest.raises(ValueError):
        plan.status_at(1, 0x10000)


def test_a_fault_on_a_header_hits_the_first_matching_apdu_only() -> None:
    card = ready_card(b"remove on header")
    card.sim.faults.reset_on(bytes.fromhex("00D7CF02"))
    assert card.sim.faults.pending == 1
    assert card.write(0xCF01, b"first") == 0x9000  # another file: not hit
    with pytest.raises(CardReset):
        card.write(0xCF02, b"second")
    assert card.sim.faults.pending == 0
    assert 0xCF01 in card.sim.state.files and 0xCF02 not in card.sim.state.files


def test_a_fault_on_a_header_also_hits_the_protected_apdu() -> None:
    """Inside a channel the same command goes with CLA ``0C``: ``00 D7 CF 02`` hits it."""
    simulator = ready_card(b"remove on protected header").sim
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.AUTO)
    assert hsm.connection.channel is not None
    hsm.verify_pin(USER_PIN.decode())  # the login is bound to the channel
    simulator.faults.reset_on(bytes.fromhex("00D7CF02"))
    simulator.faults.remove_on(bytes.fromhex("80 58 00 00"))
    hsm.write_file(0xCF01, b"first")  # another file: not hit
    with pytest.raises(CardReset):
        hsm.write_file(0xCF02, b"second")
    hsm.select()  # after the reset; the next command opens a new channel
    with pytest.raises(CardRemoved):
        hsm.enumerate_objects()  # 8C 58 00 00
    assert simulator.faults.pending == 0
    assert 0xCF01 in simulator.state.files and 0xCF02 not in simulator.state.files
