"""``keymanager-cli diagnose`` against a simulated card through a real pcscd, and without pcscd."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smartcard import scard

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli import diagnose
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.pcscd import PcscdHarness

READER_INDEX = 1
SO_PIN = bytes.fromhex("3537363231383830")


def run(argv: list[str]) -> int:
    """Run ``diagnose`` through its own parser (``keymanager-cli`` registers the same)."""
    parser = argparse.ArgumentParser(prog="keymanager-cli")
    diagnose.add_parsers(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(argv)
    status: int = arguments.handler(arguments)
    return status


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    status = run([*argv, "--json"])
    output: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status, output


@pytest.fixture
def card(tmp_path: Path) -> SmartCardHsmSimulator:
    simulator = SmartCardHsmSimulator(tmp_path / "card.json", seed=b"diagnose cli")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin="648219", so_pin=SO_PIN, key_domains=2))
    return simulator


@pytest.fixture
def inserted(pcscd: PcscdHarness, card: SmartCardHsmSimulator) -> Iterator[str]:
    with pcscd.inserted(card, index=READER_INDEX) as (reader, _bridge):
        yield reader


def test_diagnose_a_card_through_pcscd(inserted: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = run_json(capsys, ["diagnose", "--reader", inserted])
    assert status == 0, output["findings"]
    assert output["ok"] is True
    assert output["pcscd"]["answers"] is True
    assert output["pcscd"]["socket_exists"] is True
    assert any(r["name"] == inserted and r["card"] for r in output["readers"])
    (card,) = output["cards"]
    assert card["reader"] == inserted
    assert card["applet"] is True
    assert card["version"] == "4.0"
    assert card["options"] == ["RESET_RETRY_COUNTER"]
    assert card["serial"].startswith("UTSIM")
    assert card["user_pin"]["tries_left"] == 3
    assert card["so_pin"]["tries_left"] == 15
    assert [d["type"] for d in card["key_domains"]] == ["empty", "empty"]
    assert card["extended_length"] is True
    assert card["atr"] == "3BFE1800008131FE458031815448534D31738021408107FA"
    assert {"os", "python", "qt", "pyscard", "pcsc-lite"} <= set(output["environment"])

    assert run(["diagnose", "--reader", inserted]) == 0
    text = capsys.readouterr().out
    assert f"Card in {inserted}:" in text
    assert "User PIN        : not verified, 3 tries left" in text
    assert "Extended length : yes" in text
    assert "pcscd: answers" in text


def test_diagnose_an_empty_reader(pcscd: PcscdHarness, capsys: pytest.CaptureFixture[str]) -> None:
    empty = pcscd.vpcd_reader(READER_INDEX)
    assert not pcscd.card_present(empty)
    status, output = run_json(capsys, ["diagnose", "--reader", empty])
    assert status == 1
    messages = [f["message"] for f in output["findings"]]
    assert f"{empty}: no card." in messages
    (error,) = [f for f in output["findings"] if f["severity"] == "error"]
    assert "Insert the card" in error["advice"]


def test_diagnose_a_reader_that_is_not_there(
    pcscd: PcscdHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = run_json(capsys, ["diagnose", "--reader", "No Such Reader 9000"])
    assert status == 1
    (error,) = [f for f in output["findings"] if f["severity"] == "error"]
    assert "No reader matches" in error["message"]
    assert pcscd.vpcd_reader(0) in error["advice"]


@pytest.fixture
def held_exclusively(inserted: str) -> Iterator[str]:
    """Another program's exclusive connection to the card (as scdaemon takes one)."""
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert result == scard.SCARD_S_SUCCESS
    result, handle, _protocol = scard.SCardConnect(
        context, inserted, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T1
    )
    assert result == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(result)
    yield inserted
    scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
    scard.SCardReleaseContext(context)


def test_diagnose_names_the_program_holding_the_card(
    held_exclusively: str,
    fake_scdaemon: subprocess.Popen[bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, output = run_json(capsys, ["diagnose", "--reader", held_exclusively])
    assert status == 1
    (card,) = output["cards"]
    (finding,) = card["findings"]
    assert finding["severity"] == "error"
    assert finding["message"] == f"The card in {held_exclusively} is held by another program."
    assert f"scdaemon (pid {fake_scdaemon.pid})" in finding["advice"]
    assert "gpgconf --kill scdaemon" in finding["advice"]
    holders = {h["pid"]: h["program"] for h in output["likely_card_holders"]}
    assert holders[fake_scdaemon.pid] == "scdaemon"
    assert fake_scdaemon.poll() is None  # named, not killed

    assert run(["diagnose", "--reader", held_exclusively]) == 1
    text = capsys.readouterr().out
    assert "[ERROR] card: The card in" in text
    assert "Programs that may hold a card:" in text


def _run_in_subprocess(
    argv: list[str], environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    code = f"import sys\nfrom tests.cli.test_diagnose_cli import run\nsys.exit(run({argv!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_diagnose_without_pcscd(tmp_path: Path) -> None:
    missing = tmp_path / "no-pcscd" / "pcscd.comm"
    environment = {**os.environ, "PCSCLITE_CSOCK_NAME": str(missing)}
    started = time.monotonic()
    result = _run_in_subprocess(["diagnose", "--json"], environment)
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    output = json.loads(result.stdout)
    assert output["ok"] is False
    assert output["pcscd"]["socket"] == str(missing)
    assert output["pcscd"]["socket_exists"] is False
    (finding,) = output["findings"]
    assert finding["check"] == "pcscd" and finding["severity"] == "error"
    assert finding["message"] == f"pcscd is installed but not running (no socket {missing})."
    assert "systemctl start pcscd.socket" in finding["advice"]

    text = _run_in_subprocess(["diagnose"], environment)
    assert text.returncode == 1
    assert "[ERROR] pcscd: pcscd is installed but not running" in text.stdout
    assert "-> Start it with 'sudo systemctl start pcscd.socket'" in text.stdout


def test_diagnose_the_simulated_card(
    card: SmartCardHsmSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = run_json(capsys, ["diagnose", "--simulator", str(tmp_path / "card.json")])
    assert status == 0
    (report,) = output["cards"]
    assert report["reader"] == "Simulated card (card.json)"
    assert report["version"] == "4.0"
    assert "pcscd" not in output or output["pcscd"] == {}

    assert run(["diagnose", "--simulator", str(tmp_path / "missing.json")]) == 1
    assert "no simulated card" in capsys.readouterr().err
