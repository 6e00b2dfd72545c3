"""Setting up PKA cards through pcscd with ``keymanager-cli`` (shared by the PKA PC/SC tests).

The device being protected sits in vpcd's first reader (``Virtual PCD 00 00``), the
custodian cards take turns in the second (``Virtual PCD 00 01``).  Each card is a
simulated card kept in ``DIRECTORY/NAME.json``; :func:`make_custodian` initialises a
custodian card and makes its key and ``.pka`` file, :func:`pka_device` initialises the
device ``--pka 3/2`` (custodians alone unlock it) and registers the custodians' files.
The PINs are test constants, read by the commands from the ``T_*`` variables
(:func:`set_pin_variables`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.pcscd import PcscdHarness
from tests.workflows.p12_support import P12_PASSWORD

PIN = "123456"
SO_PIN = "3537363231383830"
CUSTODIAN_PIN = "648219"
DEVICE_READER = 0
CUSTODIAN_READER = 1


def set_pin_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PINs the commands read with ``--pin-env`` and friends (test constants)."""
    monkeypatch.setenv("T_SO", SO_PIN)
    monkeypatch.setenv("T_PIN", PIN)
    monkeypatch.setenv("T_CPIN", CUSTODIAN_PIN)
    monkeypatch.setenv("T_P12", P12_PASSWORD)


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[str, str]:
    """Run ``keymanager-cli ARGV`` in-process; it must succeed."""
    words = [str(word) for word in argv]
    status = main(words)
    captured = capsys.readouterr()
    assert status == 0, f"keymanager-cli {' '.join(words)}\n{captured.out}\n{captured.err}"
    assert "Traceback" not in captured.err
    return captured.out, captured.err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, Any]:
    out, _err = cli(capsys, *argv, "--json")
    data: dict[str, Any] = json.loads(out)
    return data


def card_in(directory: Path, name: str) -> SmartCardHsmSimulator:
    """The simulated card kept in ``directory/name.json`` (made on first use)."""
    return SmartCardHsmSimulator(directory / f"{name}.json", seed=f"pka pcsc {name}".encode())


def make_custodian(
    pcscd: PcscdHarness, capsys: pytest.CaptureFixture[str], directory: Path, number: int
) -> dict[str, Any]:
    """Custodian card ``number`` in the custodian reader: ``init``, ``pka create-key``."""
    card = card_in(directory, f"custodian{number}")
    with pcscd.inserted(card, index=CUSTODIAN_READER) as (reader, _bridge):
        cli(capsys, "init", "--reader", reader, "--so-pin-env", "T_SO",
            "--pin-env", "T_CPIN", "--yes")  # fmt: skip
        key = cli_json(capsys, "pka", "create-key", "--reader", reader, "--label",
                       f"custodian {number}", "--out", directory / f"custodian{number}.pka",
                       "--pin-env", "T_CPIN")  # fmt: skip
    assert key["device_serial"] == card.serial
    return key


def pka_device(
    pcscd: PcscdHarness, capsys: pytest.CaptureFixture[str], directory: Path, custodians: int
) -> dict[str, Any]:
    """The device in the device reader: ``init --pka 3/2`` (no ``--pka-and-pin``), then
    ``pka register`` of ``custodian1.pka`` … ``custodianN.pka``; its ``pka status``."""
    with pcscd.inserted(card_in(directory, "device"), index=DEVICE_READER) as (device, _bridge):
        init = cli_json(capsys, "init", "--reader", device, "--so-pin-env", "T_SO",
                        "--pin-env", "T_PIN", "--key-domains", "4", "--pka", "3/2",
                        "--yes")  # fmt: skip
        assert init["pka"] == {"total": 3, "required": 2, "replaceable": False, "pin_too": False}
        for number in range(1, custodians + 1):
            cli(capsys, "pka", "register", directory / f"custodian{number}.pka",
                "--reader", device)  # fmt: skip
        status: dict[str, Any] = cli_json(capsys, "pka", "status", "--reader", device)["pka"]
    return status
