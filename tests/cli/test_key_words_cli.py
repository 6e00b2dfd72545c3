"""Issue 14 on the command line: the ``--algorithms`` help, the warnings of ``generate``,
results printed once, and a restore of a key that is already on the card."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli import main as main_module
from keymanager.simulator import SmartCardHsmSimulator

PIN = "648219"
SHARE = bytes(range(32))
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
Cli = Callable[[Sequence[str]], int]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_PIN", PIN)
    return main_module.main


def make_card(state: Path) -> list[str]:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state, seed=state.name.encode())))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(SHARE)
    hsm.verify_pin(PIN)
    return ["--simulator", str(state), "--pin-env", "TEST_PIN"]


def test_the_algorithms_help_and_reference_name_wrap_as_92(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "7391" not in help_text
    assert "707392 (70 ECDSA, 73 ECDSA-SHA256, 92 wrap)" in help_text
    assert "92 wrap (needed for backup)" in help_text and "71-75 ECDSA-SHA1" in help_text
    reference = REFERENCE.read_text()
    assert "7391" not in reference
    assert "`707392` (`70` ECDSA, `73` ECDSA-SHA256, `92` wrap)" in reference


def test_generate_warns_about_a_list_that_cannot_be_backed_up_or_used(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = make_card(tmp_path / "algorithms")
    assert cli(["generate", "ec:prime256v1", "--label", "k", "--algorithms", "73", *card]) == 0
    err = capsys.readouterr().err
    assert "warning: The algorithm list leaves out wrap (92)" in err
    assert "only hash-specific ids (73 ECDSA-SHA256)" in err
    assert cli(["generate", "ec:prime256v1", "--label", "j", "--algorithms", "707392", *card]) == 0
    assert "warning" not in capsys.readouterr().err


def _once(text: str, output: tuple[str, str]) -> None:
    out, err = output
    assert (out + err).count(text) == 1, (out, err)
    assert text in out


def test_backup_restore_generate_delete_print_their_result_once(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = make_card(tmp_path / "once")
    assert cli(["generate", "ec:prime256v1", "--label", "once", *card]) == 0
    _once("key 'once' in reference 1", capsys.readouterr())
    out = tmp_path / "once.wky"
    assert cli(["backup", "--key", "1", "--out", str(out), *card]) == 0
    _once(f"Key 1 (once) backed up to {out}", capsys.readouterr())
    assert cli(["delete", "--key", "1", "--yes", *card]) == 0
    _once("Key 1 (once) deleted", capsys.readouterr())
    assert cli(["restore", str(out), *card]) == 0
    _once("Key restored into reference 1: once (EC)", capsys.readouterr())
    # --json: the result is the JSON document alone
    assert cli(["delete", "--key", "1", "--yes", "--json", *card]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["key_reference"] == 1
    assert "deleted" not in captured.err


def test_restoring_a_key_already_on_the_card_needs_yes_without_a_terminal(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = make_card(tmp_path / "twice")
    assert cli(["generate", "ec:prime256v1", "--label", "twice", *card]) == 0
    out = tmp_path / "twice.wky"
    assert cli(["backup", "--key", "1", "--out", str(out), *card]) == 0
    capsys.readouterr()
    assert cli(["restore", str(out), *card]) == 1
    err = capsys.readouterr().err
    assert "already on the card: key 1 (twice)" in err and "--yes" in err
    keys = json.loads(_run(cli, capsys, "keys", *card[:2]))
    assert [k["key_reference"] for k in keys] == [1]
    assert cli(["restore", str(out), "--yes", *card]) == 0
    _once("Key restored into reference 2: twice (EC)", capsys.readouterr())


def _run(cli: Cli, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli([*argv, "--json"]) == 0, capsys.readouterr().err
    return capsys.readouterr().out
