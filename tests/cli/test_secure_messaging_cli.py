"""``keymanager-cli`` says whether a command ran on secure messaging, and what a broken
channel means (both simulator profiles).

``status --json`` field ``"secure_messaging"``: ``active`` by default against the
simulator, ``off`` with ``--no-secure-messaging`` (after or before the command) and with
``KEYMANAGER_SECURE_MESSAGING=off``, ``unavailable`` on a card that answers MSE SET AT
with ``6D00``, where the command goes on in the clear and works.  The card behind
``--simulator`` is made hostile by opening it through
:class:`~keymanager.simulator.hostile.HostileCard` (the session, the workflows and the
CLI run on it unchanged).  Every test sets the variable itself, so it says the same in
the directory's ``[sm]`` and ``[clear]`` runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.secure_messaging import MODE_VARIABLE
from keymanager.card.transport import LocalTransport, Transport
from keymanager.cli import device
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard

SO_PIN = "3537363231383830"
PIN = "648219"
ACTIVE = "active: PINs and shares cross the reader encrypted"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised simulated card in a state file."""
    monkeypatch.setenv("TEST_SO_PIN", SO_PIN)
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    path = tmp_path / "card.json"
    argv = ["init", "--simulator", str(path), "--so-pin-env", "TEST_SO_PIN"]
    assert main([*argv, "--pin-env", "TEST_PIN", "--yes"]) == 0
    return path


def hostile(monkeypatch: pytest.MonkeyPatch, spec: str) -> list[HostileCard]:
    """From now on ``--simulator STATE`` opens the card behind a hostile wrapper."""
    made: list[HostileCard] = []

    def transport(path: Path | None) -> Transport:
        assert path is not None
        card = HostileCard(SmartCardHsmSimulator(path), spec)
        made.append(card)
        return LocalTransport(card, name=f"Simulated card ({path.name})")

    monkeypatch.setattr(device, "_simulator_transport", transport)
    return made


def run_json(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> Any:
    assert main([*argv, "--json"]) == status, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_status_is_active_by_default(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = run_json(capsys, "status", "--simulator", str(state))
    assert record["secure_messaging"] == "active"
    assert record["secure_messaging_text"] == ACTIVE
    assert main(["status", "--simulator", str(state)]) == 0
    assert f"Secure messaging: {ACTIVE}" in capsys.readouterr().out.splitlines()


def test_status_is_off_when_turned_off(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in (
        ["status", "--simulator", str(state), "--no-secure-messaging"],
        ["--no-secure-messaging", "status", "--simulator", str(state)],
    ):
        record = run_json(capsys, *argv)
        assert record["secure_messaging"] == "off", argv
        assert record["secure_messaging_text"].startswith("off")
    monkeypatch.setenv(MODE_VARIABLE, "off")
    assert run_json(capsys, "status", "--simulator", str(state))["secure_messaging"] == "off"


@pytest.mark.secrets_in_the_clear  # the card has no secure messaging
def test_a_card_without_secure_messaging_is_unavailable_and_works_in_the_clear(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = hostile(monkeypatch, "ins:22@sw:6D00")
    record = run_json(capsys, "status", "--simulator", str(state))
    assert record["secure_messaging"] == "unavailable"
    assert "does not support chip authentication" in record["secure_messaging_text"]
    assert main(["pin", "verify", "--simulator", str(state), "--pin-env", "TEST_PIN"]) == 0
    capsys.readouterr()
    report = run_json(capsys, "audit", "--simulator", str(state), "--pin-env", "TEST_PIN")
    assert report["secure_messaging"] == "unavailable"
    assert report["secure_messaging_text"] == record["secure_messaging_text"]
    assert all(card.log.replaced == 1 for card in cards)  # MSE SET AT only: the rest worked


def test_audit_records_secure_messaging(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, "audit", "--simulator", str(state))
    assert (report["secure_messaging"], report["secure_messaging_text"]) == ("active", ACTIVE)
    assert main(["audit", "--simulator", str(state), "--csv", "--no-secure-messaging"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    column = header.split(",").index("secure_messaging")
    assert first.split(",")[column] == "off"


def test_a_broken_channel_says_the_effect_is_unknown(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile(monkeypatch, "ins:58@flip:3")  # ENUMERATE OBJECTS' protected answer altered
    document = run_json(capsys, "keys", "--simulator", str(state), status=1)
    error = document["error"]
    assert error["kind"] == "ResponseMacInvalid"
    assert error["nothing_changed"] is None
    assert error["advice"].startswith("the secure channel to the card broke: the card may")
    assert "may or may not have carried out the command" in error["advice"]
    assert "something between the host and the card" in error["advice"]
    main(["keys", "--simulator", str(state)])
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("keymanager-cli: the secure channel to the card broke: ")
    assert "keymanager-cli status" in lines[-1]


def test_a_card_failing_chip_authentication_is_named(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile(monkeypatch, "ins:86@flip:20")  # the last byte of the authentication token
    error = run_json(capsys, "status", "--simulator", str(state), status=1)["error"]
    assert error["kind"] == "DeviceAuthenticationFailed"
    assert error["advice"].startswith(
        "the card failed to prove it is the device its certificate names: the card could not"
    )
    assert error["nothing_changed"] is None
