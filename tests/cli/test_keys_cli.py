"""``keymanager-cli backup | restore | generate | delete | export | pin …`` on simulated cards."""

from __future__ import annotations

import argparse
import json
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli import main as main_module
from keymanager.dkek.wky import parse_backup
from keymanager.simulator import SmartCardHsmSimulator

PIN = "648219"
SHARE = bytes(range(32))
Cli = Callable[[Sequence[str]], int]


KEY_COMMANDS = ("backup", "restore", "generate", "delete", "export", "pin")
PIN_SUBCOMMANDS = ("verify", "change", "unblock", "set", "change-so")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1, "expected one set of subcommands"
    choices: dict[str, argparse.ArgumentParser] = actions[0].choices
    return choices


def test_the_real_parser_registers_the_key_and_pin_commands() -> None:
    """The commands tested here are main's own, not added by the test."""
    commands = _subcommands(main_module.build_parser())
    assert set(KEY_COMMANDS) <= set(commands), sorted(commands)
    assert set(PIN_SUBCOMMANDS) <= set(_subcommands(commands["pin"]))


def test_the_console_script_runs_main() -> None:
    [entry] = [e for e in entry_points(group="console_scripts") if e.name == "keymanager-cli"]
    assert entry.load() is main_module.main
    script = Path(sys.executable).parent / "keymanager-cli"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in KEY_COMMANDS:
        assert command in result.stdout


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_SO_PIN", DEFAULT_SO_PIN.hex())
    return main_module.main


def make_card(state: Path, shares: Sequence[bytes] = (SHARE,)) -> None:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state, seed=state.name.encode())))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=len(shares)))
    for share in shares:
        hsm.import_dkek_share(share)
    hsm.verify_pin(PIN)  # Pico HSM loses a DKEK not followed by a VERIFY (pcsc-testing item 3)


def run_json(cli: Cli, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert cli([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_generate_backup_restore_export_delete(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "source.json", tmp_path / "target.json"
    make_card(source)
    make_card(target)
    card = ["--simulator", str(source), "--pin-env", "TEST_PIN"]
    generated = run_json(cli, capsys, "generate", "ec:prime256v1", "--label", "cli key", *card)
    assert generated["key_reference"] == 1 and generated["algorithm"] == "EC secp256r1"
    aes = run_json(cli, capsys, "generate", "aes:128", "--label", "aes", "--domain", "0", *card)
    assert aes["key_reference"] == 2 and aes["domain"] == 0

    out = tmp_path / "key.wky"
    backup = run_json(cli, capsys, "backup", "--key", "1", "--out", str(out), *card)
    assert backup["label"] == "cli key" and backup["certificate"] == "cv-request"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert parse_backup(out.read_bytes()).has_cv_request

    restored = run_json(
        cli,
        capsys,
        "restore",
        str(out),
        "--key",
        "5",
        "--simulator",
        str(target),
        "--pin-env",
        "TEST_PIN",
    )
    assert restored["key_reference"] == 5 and restored["label"] == "cli key"

    assert cli(["export", "--key", "5", "--public-key", "--simulator", str(target)]) == 0
    pem = capsys.readouterr().out.encode()
    assert cli(["export", "--key", "1", "--public-key", "--simulator", str(source)]) == 0
    assert capsys.readouterr().out.encode() == pem
    serialization.load_pem_public_key(pem)
    assert cli(["export", "--key", "1", "--certificate", "--simulator", str(source)]) == 1
    assert "no X.509 certificate" in capsys.readouterr().err

    assert cli(["delete", "--key", "1", *card]) == 1
    assert "--yes" in capsys.readouterr().err
    deleted = run_json(cli, capsys, "delete", "--key", "1", "--yes", *card)
    assert deleted == {
        "key_reference": 1,
        "label": "cli key",
        "deleted": True,
        "removed": ["cv-request", "description", "key"],
    }
    assert cli(["backup", "--key", "1", "--out", str(tmp_path / "gone.wky"), *card]) == 1
    assert "no key with reference 1" in capsys.readouterr().err
    _ = x509


def test_restore_for_another_dkek_and_wrong_pin(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, other = tmp_path / "a.json", tmp_path / "b.json"
    make_card(source)
    make_card(other, [bytes(32 * [7])])
    card = ["--simulator", str(source), "--pin-env", "TEST_PIN"]
    assert cli(["generate", "ec:secp384r1", "--label", "x", *card]) == 0
    out = tmp_path / "x.wky"
    assert cli(["backup", "--key", "1", "--out", str(out), *card]) == 0
    capsys.readouterr()
    before = other.read_bytes()
    assert cli(["restore", str(out), "--simulator", str(other), "--pin-env", "TEST_PIN"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "another DKEK" in error and "nothing was changed" in error
    assert json.loads(other.read_bytes())["keys"] == json.loads(before)["keys"]

    monkeypatch.setenv("BAD_PIN", "000000")
    assert (
        cli(
            [
                "generate",
                "aes:256",
                "--label",
                "y",
                "--simulator",
                str(source),
                "--pin-env",
                "BAD_PIN",
            ]
        )
        == 1
    )
    error = capsys.readouterr().err
    assert "keymanager-cli: error: Wrong PIN: 2 tries left (the user PIN from BAD_PIN)" in error


def test_pin_commands(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "pins.json"
    make_card(state)
    card = ["--simulator", str(state)]
    assert (
        run_json(cli, capsys, "pin", "verify", "--pin-env", "TEST_PIN", *card)["pin"] == "verified"
    )
    monkeypatch.setenv("NEW_PIN", "7654321")
    changed = run_json(
        cli, capsys, "pin", "change", "--pin-env", "TEST_PIN", "--new-pin-env", "NEW_PIN", *card
    )
    assert changed["action"] == "change"
    monkeypatch.setenv("WRONG", "000000")
    assert cli(["pin", "change", "--pin-env", "WRONG", "--new-pin-env", "NEW_PIN", *card]) == 1
    assert "wrong user PIN: 2 tries left" in capsys.readouterr().err
    assert (
        run_json(cli, capsys, "pin", "unblock", "--so-pin-env", "TEST_SO_PIN", *card)["tries_left"]
        == 3
    )
    assert (
        run_json(
            cli,
            capsys,
            "pin",
            "set",
            "--so-pin-env",
            "TEST_SO_PIN",
            "--new-pin-env",
            "TEST_PIN",
            *card,
        )["action"]
        == "set"
    )
    monkeypatch.setenv("NEW_SO", "0011223344556677")
    assert (
        cli(
            ["pin", "change-so", "--so-pin-env", "TEST_SO_PIN", "--new-so-pin-env", "NEW_SO", *card]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "SO-PIN" in out.out and "0011223344556677" not in out.out + out.err
