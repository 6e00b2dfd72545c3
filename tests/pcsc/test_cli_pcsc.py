"""``keymanager-cli`` against a simulated card in a real PC/SC reader (pcscd + vpcd)."""

from __future__ import annotations

import json

import pytest

from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.pcscd import PcscdHarness

PIN = "648219"


def test_readers_lists_vpcd_with_and_without_a_card(
    pcscd: PcscdHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = SmartCardHsmSimulator(seed=b"cli readers")
    with pcscd.inserted(simulator) as (reader, _bridge):
        assert main(["readers", "--json"]) == 0
        readers = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
        assert readers[reader]["card"] is True
        assert readers[reader]["atr"] == simulator.atr.hex().upper()
        assert main(["readers"]) == 0
        assert f"{reader}: card present" in capsys.readouterr().out
    assert main(["readers", "--json"]) == 0
    readers = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert readers[reader]["card"] is False


def test_status_and_keys_through_a_reader(
    pcscd: PcscdHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = SmartCardHsmSimulator(seed=b"cli status over pcsc")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(bytes(32))
    hsm.verify_pin(PIN)  # Pico HSM loses a DKEK not followed by a VERIFY (pcsc-testing item 3)
    monkeypatch.setenv("TEST_PIN", PIN)
    with pcscd.inserted(simulator) as (reader, _bridge):
        assert (
            main(["status", "--reader", "virtual pcd 00 00", "--json", "--pin-env", "TEST_PIN"])
            == 0
        )
        status = json.loads(capsys.readouterr().out)
        assert status["reader"] == reader
        assert status["serial"] == simulator.serial
        assert "verified" in status["pin"].lower()
        assert status["key_domains"][0]["shares_outstanding"] == 0
        assert status["key_domains"][0]["kcv"] is not None
        assert main(["keys", "--reader", reader, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []
    assert main(["status", "--reader", "no such reader"]) == 1
    assert "no reader matches" in capsys.readouterr().err
