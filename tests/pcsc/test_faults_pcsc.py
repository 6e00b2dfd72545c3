"""Faults and a hostile card through the real PC/SC stack (pyscard → pcscd → vpcd).

The reliability matrix (``tests/reliability``) runs over the in-process transport; these
tests check that the same behaviour holds when the errors come from pcscd: a card pulled
at each APDU of a key generation is reported as removed, the user's message says what to
do, the card comes back through pcscd and the journal repairs it; a card that answers
nonsense makes ``keymanager-cli`` fail with a clear message, and works again once it
behaves.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from keymanager.card.errors import CardRemoved, NoCard
from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.pcsc import PcscTransport
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import (
    KeyAlgorithm,
    KeyJournal,
    generate_key,
    recover_interrupted,
)
from tests.reliability._faults_support import check_told, inconsistencies
from tests.support.figures import record
from tests.support.pcscd import PcscdHarness

PIN = "648219"
READER = 1


def _initialised(seed: bytes) -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(seed=seed)
    SmartCardHsm.open(LocalTransport(card)).initialize(
        InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN)
    )
    return card


def _generate(hsm: SmartCardHsm, journal: KeyJournal, label: str) -> object:
    interaction = ScriptedInteraction().answer("secret", PIN)
    return generate_key(
        hsm, interaction, KeyAlgorithm.parse("ec:prime256v1"), label, journal=journal
    )


def test_card_pulled_at_each_apdu_of_a_key_generation_through_pcscd(
    pcscd: PcscdHarness, tmp_path: Path
) -> None:
    template = _initialised(b"pcsc fault generation")
    clean = copy.deepcopy(template)
    with pcscd.inserted(clean, index=READER) as (reader, _bridge):
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            clean.faults.clear()
            _generate(hsm, KeyJournal(tmp_path / "clean"), "clean")
            total = clean.faults.apdus_seen
        finally:
            transport.close()
    assert total >= 5

    repaired = 0
    for k in range(1, total + 1):
        card = copy.deepcopy(template)
        journal = KeyJournal(tmp_path / f"journal-{k}")
        with pcscd.inserted(card, index=READER) as (reader, _bridge):
            transport = PcscTransport(reader)
            try:
                hsm = SmartCardHsm.open(transport)
                card.faults.clear()
                card.faults.remove_at(k)
                with pytest.raises((CardRemoved, NoCard)) as raised:
                    _generate(hsm, journal, f"pulled at {k}")
            finally:
                transport.close()
            check_told(raised.value, "remove", "Generating a key")
            pcscd.wait_for_card(reader, False)
            card.insert()
            pcscd.wait_for_card(reader, True)
            transport = PcscTransport(reader)
            try:
                hsm = SmartCardHsm.open(transport)
                assert not hsm.pin_status().verified  # a new session after a removal
                done = recover_interrupted(
                    hsm, ScriptedInteraction().answer("secret", PIN), journal
                )
                repaired += len(done)
                assert inconsistencies(card) == [], f"card pulled at APDU {k} of {total}"
                _generate(hsm, journal, f"again after {k}")  # the workflow runs again
            finally:
                transport.close()
    assert repaired > 0  # some points left a half-made key that the journal repaired
    record("faults", "Key generation: EC P-256 through pcscd", total, kind="remove")


def test_a_hostile_card_behind_pcscd_gives_a_clear_cli_error_and_recovers(
    pcscd: PcscdHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = _initialised(b"pcsc hostile")
    # ENUMERATE OBJECTS answers 7 bytes: no list of 2-byte file identifiers
    hostile = HostileCard(simulator, "ins:58@garbage:7")
    monkeypatch.setenv("KM_TEST_PIN", PIN)
    with pcscd.inserted(hostile, index=READER) as (reader, _bridge):
        status = main(["keys", "--reader", reader, "--pin-env", "KM_TEST_PIN"])
        out, err = capsys.readouterr()
        assert status != 0
        assert "Traceback" not in err and "Traceback" not in out
        assert "error" in err.lower() and "ENUMERATE" in err, err
        hostile.set_rules("ins:20@loop:61")  # an endless chain of 61xx on VERIFY
        status = main(["status", "--reader", reader])
        out, err = capsys.readouterr()
        assert status != 0 and "Traceback" not in err
        assert "GET RESPONSE" in err or "61" in err, err
        hostile.enabled = False
        assert main(["status", "--reader", reader]) == 0
        assert "User PIN" in capsys.readouterr().out
        assert main(["keys", "--reader", reader, "--pin-env", "KM_TEST_PIN"]) == 0
    record("hostile", "keymanager-cli through pcscd: clear error, works again afterwards", 2)
