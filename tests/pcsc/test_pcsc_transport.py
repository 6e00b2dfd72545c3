"""The PC/SC transport against pcscd: removal, resets, a card held by another program,
and the simulator's own ``--vpcd`` process surviving a pcscd restart.

These tests use vpcd's second reader (``Virtual PCD 00 01``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from smartcard import scard

from keymanager.card.errors import CardInUse, CardRemoved, CardReset, NoCard, TransportError
from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.pcsc import PcscTransport, list_readers
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.pcscd import PcscdHarness

PIN = "648219"
READER = 1


def initialised_simulator(seed: bytes) -> SmartCardHsmSimulator:
    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    return simulator


def test_card_pulled_mid_job_is_card_removed_and_comes_back(pcscd: PcscdHarness) -> None:
    simulator = initialised_simulator(b"removal over pcsc")
    with pcscd.inserted(simulator, index=READER) as (reader, _bridge):
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            hsm.verify_pin(PIN)
            simulator.faults.remove_at(2)
            hsm.enumerate_objects()
            with pytest.raises((CardRemoved, NoCard)):
                hsm.enumerate_objects()
                hsm.get_challenge(8)
            pcscd.wait_for_card(reader, False)
            assert not next(r for r in list_readers() if r.name == reader).has_card
        finally:
            transport.close()
        simulator.insert()
        pcscd.wait_for_card(reader, True)
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            # the card was powered off: the PIN must be verified again, state is intact
            assert not hsm.pin_status().verified
            hsm.verify_pin(PIN)
            assert hsm.key_domain_status(0) is not None
        finally:
            transport.close()


def test_reset_by_another_program_is_reported_and_reconnect_recovers(
    pcscd: PcscdHarness,
) -> None:
    simulator = initialised_simulator(b"reset over pcsc")
    with pcscd.inserted(simulator, index=READER) as (reader, _bridge):
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            hsm.verify_pin(PIN)
            # another program resets the card
            result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            result, card, _protocol = scard.SCardConnect(
                context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
            )
            assert result == scard.SCARD_S_SUCCESS
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
            scard.SCardReleaseContext(context)
            with pytest.raises(CardReset):
                hsm.pin_status()
            transport.reconnect()
            hsm.select()
            assert not hsm.pin_status().verified
        finally:
            transport.close()


def test_card_held_exclusively_by_another_program_is_card_in_use(pcscd: PcscdHarness) -> None:
    simulator = initialised_simulator(b"card in use")
    with pcscd.inserted(simulator, index=READER) as (reader, _bridge):
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        result, card, _protocol = scard.SCardConnect(
            context, reader, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T1
        )
        assert result == scard.SCARD_S_SUCCESS
        try:
            with pytest.raises(CardInUse) as caught:
                PcscTransport(reader)
            assert "another program" in str(caught.value)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            scard.SCardReleaseContext(context)
        transport = PcscTransport(reader)
        try:
            assert SmartCardHsm.open(transport).info.version == (4, 0)
        finally:
            transport.close()


def test_simulator_process_serves_vpcd_and_survives_a_pcscd_restart(
    pcscd: PcscdHarness, tmp_path: Path
) -> None:
    if pcscd.process is None:
        pytest.skip("pcscd was not started by the tests, so they may not restart it")
    state = tmp_path / "card.json"
    initialised = SmartCardHsmSimulator(state, seed=b"vpcd process")
    SmartCardHsm.open(LocalTransport(initialised)).initialize(
        InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN)
    )
    reader = pcscd.vpcd_reader(READER)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keymanager.simulator",
            "--vpcd",
            "--port",
            "35964",
            "--state",
            str(state),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        pcscd.wait_for_card(reader, True, timeout=15)
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            hsm.verify_pin(PIN)
            serial = hsm.serial()
        finally:
            transport.close()

        pcscd.stop()
        time.sleep(0.5)
        pcscd.start()
        reader = pcscd.vpcd_reader(READER)
        pcscd.wait_for_card(reader, True, timeout=15)
        transport = PcscTransport(reader)
        try:
            hsm = SmartCardHsm.open(transport)
            assert hsm.serial() == serial
            hsm.verify_pin(PIN)
        finally:
            transport.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    pcscd.wait_for_card(reader, False)
    assert process.returncode in (0, -15), process.stderr.read() if process.stderr else ""


def test_transport_errors_name_the_reader(pcscd: PcscdHarness) -> None:
    reader = pcscd.vpcd_reader(READER)
    with pytest.raises(TransportError) as caught:
        PcscTransport(reader)
    assert reader in str(caught.value)
