"""Card and output options before the command, ``--reader ""``, and errors as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.cli.main import main
from keymanager.workflows.errors import WorkflowError
from tests.cli.support import run

SO_PIN = "3537363231383830"
PIN = "648219"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_SO_PIN", SO_PIN)
    monkeypatch.setenv("TEST_PIN", PIN)


def initialised(state: Path) -> Path:
    command = ["init", "--simulator", str(state), "--so-pin-env", "TEST_SO_PIN"]
    assert main([*command, "--pin-env", "TEST_PIN", "--dkek-shares", "1", "--yes"]) == 0
    return state


def subclass_names(cls: type) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= subclass_names(sub)
    return names


def test_options_before_the_command_act_as_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = initialised(tmp_path / "card.json")
    capsys.readouterr()
    after = run(capsys, "status", "--simulator", str(state), "--json")
    before = run(capsys, "--simulator", str(state), "--json", "status")
    mixed = run(capsys, "--json", "status", "--simulator", str(state))
    assert after[0] == before[0] == mixed[0] == 0
    record: dict[str, Any] = json.loads(after[1])
    assert json.loads(before[1]) == json.loads(mixed[1]) == record
    assert record["reader"] == f"Simulated card ({state.name})"
    # the same value before and after is accepted
    assert run(capsys, "--simulator", str(state), "keys", "--simulator", str(state))[0] == 0
    # nested commands take them too
    status, out, err = run(
        capsys, "--simulator", str(state), "--json", "domain", "rename", "--domain", "0",
        "--label", "Production", "--pin-env", "TEST_PIN",
    )  # fmt: skip
    assert status == 0, err
    assert json.loads(out)["label"] == "Production"


def test_the_reader_named_before_the_command_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--reader X status`` goes to PC/SC, never to the simulated card."""
    status, _, err = run(capsys, "--reader", "No such reader 4711", "status")
    assert status == 1
    assert "simulated card" not in err
    assert not (tmp_path / "state" / "keymanager" / "simulated-card.json").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--reader", "X", "readers"], "keymanager-cli readers does not take --reader"),
        (["--simulator", "s.json", "share", "inspect", "f.pbe"], "does not take --simulator"),
        (["--reader", "X", "status", "--simulator", "s.json"], "not allowed with"),
        (["--simulator", "a.json", "keys", "--simulator", "b.json"], "before and after"),
        (["--json"], "--json goes with a command"),
    ],
)
def test_an_option_the_command_does_not_take_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    status, out, err = run(capsys, *argv)
    if "--json" in argv:
        assert json.loads(out)["error"]["kind"] == "usage"
    else:
        assert out == ""
    assert status == 2
    assert words in err
    assert "usage:" in err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--reader", "", "status"],
        ["status", "--reader", ""],
        ["keys", "--reader", "  "],
        ["--reader", "", "--json", "keys"],
        ["diagnose", "--reader", ""],
    ],
)
def test_an_empty_reader_is_a_usage_error_not_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert "the reader name is empty" in err
    assert "simulated card" not in err
    assert not (tmp_path / "state" / "keymanager" / "simulated-card.json").exists()


def test_a_usage_error_with_json_is_a_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "keys", "--json", "--no-such-option")
    assert status == 2
    document = json.loads(out)
    assert document["error"]["kind"] == "usage"
    assert document["error"]["nothing_changed"] is True
    assert "--no-such-option" in document["error"]["message"]
    assert "--no-such-option" in err
    status, out, _ = run(capsys, "--json", "--reader", "", "status")
    assert status == 2
    assert json.loads(out)["error"]["kind"] == "usage"


def test_an_error_with_json_is_a_json_document_with_the_same_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = initialised(tmp_path / "card.json")
    capsys.readouterr()
    argv = ["domain", "delete", "--domain", "7", "--simulator", str(state), "--pin-env", "TEST_PIN"]
    text_status, text_out, text_err = run(capsys, *argv)
    json_status, json_out, json_err = run(capsys, *argv, "--json")
    assert text_status == json_status == 1
    assert text_out == ""
    error = json.loads(json_out)["error"]
    assert set(error) == {"kind", "message", "nothing_changed", "advice"}
    assert f"keymanager-cli: error: {error['message']}" in text_err
    assert json_err == text_err
    # the workflow's own error class, not the CLI's wrapper
    assert error["kind"] in subclass_names(WorkflowError)
    assert error["nothing_changed"] in (True, None)


def test_json_errors_say_when_nothing_was_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message saying "nothing was changed" gives ``nothing_changed: true``."""
    state = initialised(tmp_path / "card.json")
    monkeypatch.setenv("WRONG_PIN", "000000")
    capsys.readouterr()
    status, out, err = run(
        capsys, "domain", "rename", "--domain", "0", "--label", "X", "--simulator", str(state),
        "--pin-env", "WRONG_PIN", "--json",
    )  # fmt: skip
    assert status == 1
    error = json.loads(out)["error"]
    assert "nothing was changed" in error["message"]
    assert error["nothing_changed"] is True
    assert "000000" not in out + err
    # and it was not: the label is not there, the PIN counts one wrong try
    listing = run(capsys, "status", "--simulator", str(state), "--json")
    assert listing[0] == 0
    assert "2 tries" in json.loads(listing[1])["pin"].replace("tries left", "tries")


def test_an_error_without_json_prints_no_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "status", "--simulator", str(tmp_path / "card.json"), "--pin-env", "UNSET_X"
    )
    assert status == 1
    assert out == ""
    assert err.startswith("keymanager-cli: error:")


def test_import_p12_errors_are_json_documents_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import-p12 --json`` with a wrong PKCS#12 password: the error on stdout as JSON."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    state = initialised(tmp_path / "card.json")
    bundle = tmp_path / "key.p12"
    key = ec.generate_private_key(ec.SECP256R1())
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"signer", key, None, None, BestAvailableEncryption(b"right")
        )
    )
    monkeypatch.setenv("TEST_P12", "wrong")
    capsys.readouterr()
    status, out, err = run(
        capsys, "import-p12", str(bundle), "--transient", "--p12-password-env", "TEST_P12",
        "--pin-env", "TEST_PIN", "--simulator", str(state), "--json",
    )  # fmt: skip
    assert status == 1
    document = json.loads(out)
    assert set(document) == {"error"}
    assert "password" in document["error"]["message"].lower()
    assert document["error"]["kind"] != "cancelled"
    assert err.startswith("keymanager-cli: error: ")
