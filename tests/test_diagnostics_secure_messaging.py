"""Diagnose says whether the card's session runs on secure messaging (both profiles).

``probe_card`` records the status word and the words of the outline; a card without
secure messaging (MSE SET AT answered ``6D00``) is an INFO finding with the reason and
is probed in the clear; a card that fails chip authentication is an ERROR finding and
the rest of the card is still read (in the clear).  ``keymanager-cli diagnose
--simulator`` prints the line, and ``--no-secure-messaging`` (before or after the
command) and ``KEYMANAGER_SECURE_MESSAGING=off`` turn it off.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.secure_messaging import MODE_VARIABLE, SecureMessagingMode
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main as cli_main
from keymanager.diagnostics import CardReport, Finding, Severity, probe_card
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard

PIN = "648219"
ACTIVE = "active: PINs and shares cross the reader encrypted"


@pytest.fixture(params=["genuine", "pico"])
def card(request: pytest.FixtureRequest, tmp_path: Path) -> HostileCard:
    """An initialised simulated card of each profile, kept in a state file, behind a
    hostile wrapper without rules."""
    simulator = SmartCardHsmSimulator(tmp_path / "card.json", profile=str(request.param))
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    return HostileCard(simulator)


def _secure_messaging_findings(report: CardReport) -> list[Finding]:
    return [finding for finding in report.findings if finding.check == "secure messaging"]


def test_the_probe_says_active_or_off(card: HostileCard) -> None:
    on = probe_card(LocalTransport(card, name="Sim"), secure_messaging=SecureMessagingMode.AUTO)
    assert (on.secure_messaging, on.secure_messaging_text) == ("active", ACTIVE)
    assert not _secure_messaging_findings(on)
    assert on.as_dict()["secure_messaging"] == "active"
    off = probe_card(LocalTransport(card, name="Sim"), secure_messaging=SecureMessagingMode.OFF)
    assert off.secure_messaging == "off"
    assert off.secure_messaging_text is not None and off.secure_messaging_text.startswith("off")
    assert not _secure_messaging_findings(off)
    assert on.user_pin == off.user_pin and on.key_domains == off.key_domains


def test_the_probe_of_a_card_without_secure_messaging_names_the_reason(
    card: HostileCard,
) -> None:
    card.set_rules("ins:22@sw:6D00")
    report = probe_card(LocalTransport(card, name="Sim"), secure_messaging=SecureMessagingMode.AUTO)
    assert report.secure_messaging == "unavailable"
    assert report.secure_messaging_text is not None
    assert "does not support chip authentication" in report.secure_messaging_text
    (finding,) = _secure_messaging_findings(report)
    assert finding.severity is Severity.INFO
    assert "does not support chip authentication" in finding.message
    assert report.user_pin is not None and report.objects is not None  # probed in the clear


def test_the_probe_of_a_card_failing_chip_authentication_is_an_error(card: HostileCard) -> None:
    card.set_rules("ins:86@flip:20")  # the last byte of the authentication token
    report = probe_card(LocalTransport(card, name="Sim"), secure_messaging=SecureMessagingMode.AUTO)
    (finding,) = _secure_messaging_findings(report)
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(
        "The card failed to prove it is the device its certificate names"
    )
    assert "something between the host and the card" in finding.advice
    assert report.secure_messaging == "unavailable"
    assert (report.secure_messaging_text or "").startswith("failed: ")
    assert report.user_pin is not None and report.key_domains is not None  # the rest is read


def _diagnose(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert cli_main([*argv, "--json"]) == 0, capsys.readouterr().err
    document = json.loads(capsys.readouterr().out)
    (card,) = document["cards"]
    return dict(card)


def test_cli_diagnose_prints_and_records_secure_messaging(
    card: HostileCard, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = str(card.state_path)
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    assert cli_main(["diagnose", "--simulator", state]) == 0
    assert f"  Secure messaging: {ACTIVE}" in capsys.readouterr().out.splitlines()
    assert _diagnose(capsys, "diagnose", "--simulator", state)["secure_messaging"] == "active"
    for argv in (
        ["diagnose", "--simulator", state, "--no-secure-messaging"],
        ["--no-secure-messaging", "diagnose", "--simulator", state],
    ):
        assert _diagnose(capsys, *argv)["secure_messaging"] == "off"
    monkeypatch.setenv(MODE_VARIABLE, "off")
    assert _diagnose(capsys, "diagnose", "--simulator", state)["secure_messaging"] == "off"
