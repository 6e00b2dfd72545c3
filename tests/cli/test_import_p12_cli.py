"""``keymanager-cli import-p12`` on a simulated card kept in a state file."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.cli import p12
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.import_p12 import ImportJournal, default_journal_path
from tests.workflows.p12_support import P12_PASSWORD, PIN, SO_PIN, host_key, write_p12


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="keymanager-cli")
    p12.add_parsers(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(argv)
    status: int = arguments.handler(arguments)
    return status


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vectors: dict[str, Any]) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_P12", P12_PASSWORD)
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])
    return tmp_path


@pytest.fixture
def card_state(environment: Path, vectors: dict[str, Any]) -> Path:
    """A card whose domain 0 holds the published share file's DKEK, 3 more empty slots."""
    state = environment / "card.json"
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state, seed=b"cli p12")))
    hsm.initialize(InitParams(PIN, SO_PIN, dkek_shares=1, key_domains=4))
    hsm.import_dkek_share(bytes.fromhex(vectors["share_file"]["share_hex"]), 0)
    hsm.verify_pin(PIN)  # Pico HSM loses a DKEK not followed by a VERIFY (pcsc-testing item 3)
    return state


@pytest.fixture
def p12_file(environment: Path) -> Path:
    path = environment / "key.p12"
    write_p12(path, host_key("p256"), common_name="cli key", with_chain=True)
    return path


def reopen(state: Path) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    card = SmartCardHsmSimulator(state)
    return card, SmartCardHsm.open(LocalTransport(card))


def test_classic_import_with_share_file(
    card_state: Path,
    p12_file: Path,
    environment: Path,
    vectors: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    share = environment / "custodian.pbe"
    share.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    status = cli(
        "import-p12", str(p12_file), "--simulator", str(card_state),
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN",
        "--share", str(share), "--share-password-env", "TEST_SHARE_PASSWORD", "--json",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    output = json.loads(captured.out)
    assert output["recovery"]["found"] is False
    result = output["import"]
    assert result["ok"] and not result["transient"] and result["domain"] == 0
    assert (
        result["kcv"] == vectors["share_file"]["kcv_of_dkek_made_of_this_share_alone_hex"].upper()
    )
    [file] = result["files"]
    [key] = file["keys"]
    assert key["label"] == "cli key" and key["proven"] and key["key_reference"] == 1
    assert len(file["ca_certificates"]) == 2
    _card, hsm = reopen(card_state)
    hsm.verify_pin(PIN)
    assert [info.label for info in KeyStore(hsm).list_keys()] == ["cli key"]


def test_transient_import_text_output(
    card_state: Path, p12_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli(
        "import-p12", str(p12_file), "--simulator", str(card_state),
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN", "--transient",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "cli key: EC secp256r1 key imported as key 1" in captured.out
    assert "transient KEK of key domain 1 was deleted" in captured.out
    card, _hsm = reopen(card_state)
    domain = card.state.key_domains[1]  # type: ignore[index]
    assert domain is not None and domain.outstanding == 1


def test_recovers_leftovers_first(
    card_state: Path, p12_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transient domain an earlier run left with its KEK is removed before the import."""
    card, hsm = reopen(card_state)
    hsm.verify_pin(PIN)
    ImportJournal(default_journal_path()).begin_transient(hsm.serial(), 1)
    hsm.create_dkek_domain(1, 1)
    hsm.import_dkek_share(bytes(range(32)), 1)
    hsm.verify_pin(PIN)
    status = cli(
        "import-p12", str(p12_file), "--simulator", str(card_state), "--yes", "--json",
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN", "--transient",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    output = json.loads(captured.out)
    assert output["recovery"]["found"] and output["recovery"]["domain_deleted"]
    assert output["import"]["domain"] == 1  # the freed slot is used again
    assert "Cleaned up the interrupted import" in captured.err
    card, _hsm = reopen(card_state)
    assert [d is not None and d.outstanding == 0 for d in card.state.key_domains or []] == [
        True,
        False,
        False,
        False,
    ]


def _contents(state: Path) -> dict[str, Any]:
    data = SmartCardHsmSimulator(state).state.to_json()
    return {name: data[name] for name in ("files", "keys", "key_domains")}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"TEST_P12": "wrong"}, "PKCS#12 password is wrong"),
        ({"TEST_PIN": "000000"}, "wrong user PIN, 2 tries left; nothing was changed"),
    ],
    ids=["wrong p12 password", "wrong PIN"],
)
def test_bad_secrets_fail_with_one_line(
    card_state: Path,
    p12_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    message: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    before = _contents(card_state)
    status = cli(
        "import-p12", str(p12_file), "--simulator", str(card_state),
        "--p12-password-env", "TEST_P12", "--pin-env", "TEST_PIN", "--transient",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("keymanager-cli: error:")
    assert captured.out == ""
    assert _contents(card_state) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give --transient, or the key domain's shares"),
        (("--share", "a.pbe"), "give one --share-password-env per --share"),
    ],
)
def test_usage_errors(
    card_state: Path,
    p12_file: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    status = cli("import-p12", str(p12_file), "--simulator", str(card_state), *extra)
    assert status == 1
    assert message in capsys.readouterr().err
