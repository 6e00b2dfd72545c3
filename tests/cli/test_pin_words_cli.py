"""Issue 14, PINs on the command line: the last try, one line per wrong PIN, what the
card's options allow the SO-PIN, and leaving transport-PIN mode (both profiles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.card_variants import (
    RESET_RETRY_COUNTER_NEW_PIN,
    RESET_RETRY_COUNTER_UNBLOCK,
    Refusal,
    use_card_variant,
)
from tests.cli.support import run
from tests.support.profiles import current_profile

PIN = "648219"
NEW_PIN = "7654321"

# commands that verify the user PIN from --pin-env (pin change asks it first too)
PIN_COMMANDS = [
    ("status",),
    ("keys",),
    ("audit",),
    ("pin", "verify"),
    ("pin", "change", "--new-pin-env", "NEW_PIN"),
    ("generate", "ec:prime256v1", "--label", "k"),  # the key commands take --yes too
]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_SO_PIN", "3537363231383830")
    monkeypatch.setenv("WRONG_SO_PIN", "0011223344556677")
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("WRONG_PIN", "000000")
    monkeypatch.setenv("NEW_PIN", NEW_PIN)


def initialised(capsys: pytest.CaptureFixture[str], state: Path, *options: str) -> list[str]:
    """An initialised card (the PIN not verified by the commands that follow)."""
    status, _out, err = run(
        capsys, "init", "--simulator", str(state), "--so-pin-env", "TEST_SO_PIN",
        "--pin-env", "TEST_PIN", "--yes", *options,
    )  # fmt: skip
    assert status == 0, err
    return ["--simulator", str(state)]


def pin_state(capsys: pytest.CaptureFixture[str], card: list[str]) -> dict[str, Any]:
    status, out, err = run(capsys, "status", *card, "--json")
    assert status == 0, err
    record: dict[str, Any] = json.loads(out)
    return record


def error_lines(err: str) -> list[str]:
    lines = err.splitlines()
    assert all(line.startswith("keymanager-cli: error: ") for line in lines), lines
    return lines


# -- one line per wrong PIN; the last try ---------------------------------------------


@pytest.mark.parametrize("command", PIN_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_wrong_pin_from_a_variable_is_one_line_with_the_tries_left(
    command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json")
    status, out, err = run(capsys, *command, *card, "--pin-env", "WRONG_PIN")
    assert status == 1 and out == ""
    (line,) = error_lines(err)
    assert "2 tries left" in line and "WRONG_PIN" in line and "nothing was changed" in line
    assert PIN not in err and "000000" not in err
    assert pin_state(capsys, card)["pin"] == "not verified, 2 tries left"


@pytest.mark.parametrize("command", PIN_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_the_last_try_from_a_variable_needs_yes_and_blocks_the_pin_in_one_line(
    command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json")
    for _ in range(2):
        assert run(capsys, "pin", "verify", *card, "--pin-env", "WRONG_PIN")[0] == 1
    assert pin_state(capsys, card)["pin"] == "not verified, 1 try left"

    # without --yes the PIN from the variable is not sent: the try is kept
    status, out, err = run(capsys, *command, *card, "--pin-env", "WRONG_PIN")
    assert status == 1 and out == ""
    (line,) = error_lines(err)
    assert "1 try left" in line and "not sent without --yes" in line
    assert "nothing was changed" in line
    assert pin_state(capsys, card)["pin"] == "not verified, 1 try left"

    # with --yes it is: a wrong one blocks the PIN, and the error says so
    status, out, err = run(capsys, *command, *card, "--pin-env", "WRONG_PIN", "--yes")
    assert status == 1 and out == ""
    wrong = [line for line in err.splitlines() if "wrong user pin" in line.lower()]
    assert wrong == [
        "keymanager-cli: error: wrong user PIN: it is blocked now (unblock it with the "
        "SO-PIN: pin unblock); nothing was changed"
    ], err
    assert pin_state(capsys, card)["pin"] == "blocked"


def test_the_blocked_pin_is_a_pin_blocked_now_error_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json", "--retry-counter", "1")
    status, out, _err = run(capsys, "status", *card, "--pin-env", "WRONG_PIN", "--yes", "--json")
    assert status == 1
    error = json.loads(out)["error"]
    assert error["kind"] == "PinBlockedNow"
    assert "it is blocked now" in error["message"] and error["nothing_changed"] is True
    # the right PIN on a blocked card: blocked, not "wrong"
    status, _out, err = run(capsys, "status", *card, "--pin-env", "TEST_PIN", "--yes")
    assert status == 1 and "the user PIN is blocked" in err


def test_the_last_try_of_the_so_pin_from_a_variable_needs_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json")
    for left in range(14, 0, -1):
        status, _out, err = run(capsys, "pin", "unblock", *card, "--so-pin-env", "WRONG_SO_PIN")
        assert status == 1
        (line,) = error_lines(err)
        assert f"{left} {'try' if left == 1 else 'tries'} left" in line
    assert pin_state(capsys, card)["so_pin"] == "not verified, 1 try left"
    status, _out, err = run(capsys, "pin", "unblock", *card, "--so-pin-env", "WRONG_SO_PIN")
    assert status == 1
    (line,) = error_lines(err)
    assert "the SO-PIN has 1 try left" in line and "not sent without --yes" in line
    assert pin_state(capsys, card)["so_pin"] == "not verified, 1 try left"
    # the right SO-PIN on its last try is used with --yes (and resets its counter)
    status, out, err = run(capsys, "pin", "unblock", *card, "--so-pin-env", "TEST_SO_PIN", "--yes")
    assert status == 0, err
    assert "SO-PIN          : not verified, 15 tries left" in out


# -- what the card's options allow the SO-PIN ------------------------------------------


def test_pin_unblock_refused_by_a_card_that_allows_setting_a_new_pin_suggests_pin_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The card's options allow RESET RETRY COUNTER with a new PIN, but it refuses the
    unblock without one (``6986``): the message says so and suggests ``pin set``."""
    variant = use_card_variant(monkeypatch, refusals=[Refusal(RESET_RETRY_COUNTER_UNBLOCK, 0x6986)])
    card = initialised(capsys, tmp_path / "card.json")
    status, out, err = run(capsys, "pin", "unblock", *card, "--so-pin-env", "TEST_SO_PIN")
    assert status == 1 and out == ""
    (line,) = error_lines(err)
    assert variant.refused == [RESET_RETRY_COUNTER_UNBLOCK]
    assert "refused to unblock the user PIN keeping it (SW 6986)" in line
    assert "allow RESET RETRY COUNTER with a new PIN (options 0001)" in line
    assert "(pin set)" in line and "nothing was changed" in line
    assert "initialised without" not in line
    # the suggestion applies
    status, out, err = run(
        capsys, "pin", "set", *card, "--so-pin-env", "TEST_SO_PIN", "--new-pin-env", "NEW_PIN"
    )
    assert status == 0, err
    assert "The user PIN was unblocked and set." in out


def test_pin_set_on_an_unblock_only_card_suggests_pin_unblock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options ``0021`` (RESET RETRY COUNTER, unblock only): ``pin set`` is refused and
    the message names the options and ``pin unblock`` (Pico HSM does not enforce the
    option, pcsc-testing item 12: its card is made to refuse as a genuine one does)."""
    if not current_profile().rrc_unblock_only_enforced:
        use_card_variant(monkeypatch, refusals=[Refusal(RESET_RETRY_COUNTER_NEW_PIN, 0x6986)])
    card = initialised(capsys, tmp_path / "card.json", "--unblock-only")
    status, out, err = run(
        capsys, "pin", "set", *card, "--so-pin-env", "TEST_SO_PIN", "--new-pin-env", "NEW_PIN"
    )
    assert status == 1 and out == ""
    (line,) = error_lines(err)
    assert "initialised with RESET RETRY COUNTER 'unblock only' (options 0021)" in line
    assert "Unblock it instead (pin unblock)" in line and "nothing was changed" in line
    status, out, err = run(capsys, "pin", "unblock", *card, "--so-pin-env", "TEST_SO_PIN")
    assert status == 0, err
    assert "The user PIN was unblocked (the PIN is unchanged)." in out


def test_pin_unblock_and_set_on_a_card_without_reset_retry_counter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json", "--no-reset-retry-counter")
    for command in (("unblock",), ("set", "--new-pin-env", "NEW_PIN")):
        status, _out, err = run(capsys, "pin", *command, *card, "--so-pin-env", "TEST_SO_PIN")
        assert status == 1
        (line,) = error_lines(err)
        assert "initialised without RESET RETRY COUNTER (options 0000)" in line
        assert "can neither unblock nor set the user PIN" in line


# -- pin change of a transport PIN ----------------------------------------------------


def test_pin_change_of_a_transport_pin_says_whether_the_card_left_transport_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json", "--transport-pin")
    assert pin_state(capsys, card)["pin"] == "transport PIN: change it before use"
    change = ["pin", "change", *card, "--pin-env", "TEST_PIN", "--new-pin-env", "NEW_PIN"]
    status, out, err = run(capsys, *change)
    assert status == 0, err
    left = current_profile().transport_pin_clearable  # Pico HSM never leaves it
    said = (
        "The transport PIN was replaced: the card left transport-PIN mode."
        if left
        else "The user PIN was changed, but the card is still in transport-PIN mode"
    )
    assert out.splitlines()[0].startswith(said)
    assert (out + err).count("transport-PIN mode") == 1  # said once
    still = pin_state(capsys, card)["pin"] == "transport PIN: change it before use"
    assert still is not left
    # --json: left_transport_mode
    change = ["pin", "change", *card, "--pin-env", "NEW_PIN", "--new-pin-env", "TEST_PIN"]
    status, out, err = run(capsys, *change, "--json")
    assert status == 0, err
    assert json.loads(out)["left_transport_mode"] is (None if left else False)


def test_pin_change_of_an_ordinary_pin_says_nothing_of_transport_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "card.json")
    change = ["pin", "change", *card, "--pin-env", "TEST_PIN", "--new-pin-env", "NEW_PIN"]
    status, out, err = run(capsys, *change)
    assert status == 0, err
    assert out.splitlines()[0] == "The user PIN was changed."
    assert "transport" not in (out + err).lower()
    assert "changed" not in err  # printed once, on stdout
    status, out, _err = run(
        capsys, "pin", "change", *card, "--pin-env", "NEW_PIN", "--new-pin-env", "TEST_PIN",
        "--json",
    )  # fmt: skip
    assert status == 0 and json.loads(out)["left_transport_mode"] is None
