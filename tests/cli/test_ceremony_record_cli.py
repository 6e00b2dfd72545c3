"""A full key ceremony through ``keymanager-cli`` (issue 18): initialise with 2 shares,
two custodians create and import shares, a PKCS#12 import, a backup; close, verify
(every line's one-byte change found), report; rehearsal and real-ceremony rules."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from keymanager.card.hsm_types import DEFAULT_SO_PIN
from tests.cli.support import run
from tests.support.fake_terminal import install_terminal
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

PIN = "648219"
PEOPLE = ("Olga Officer:security officer", "Alice:custodian", "Bob:custodian", "Wanda:witness")


@pytest.fixture
def ceremony(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_SO_PIN", DEFAULT_SO_PIN.hex())
    monkeypatch.setenv("ALICE_PASSWORD", "alice's long share passphrase")
    monkeypatch.setenv("BOB_PASSWORD", "bob's long share passphrase")
    monkeypatch.setenv("TEST_P12", P12_PASSWORD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def step(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    actor: str,
    *argv: str,
    witness: str | None = None,
) -> str:
    terminal = install_terminal(monkeypatch, [witness] if witness else [])
    status, out, err = run(capsys, *argv, "--ceremony", "record.jsonl", "--as", actor)
    assert status == 0, err + terminal.screen
    return out


def test_a_full_ceremony(
    ceremony: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    card = ["--simulator", "card.json"]
    participants = [word for person in PEOPLE for word in ("--participant", person)]
    status, out, err = run(
        capsys, "ceremony", "start", "record.jsonl", "--title", "Root ceremony", "--rehearse",
        *participants, *card,
    )  # fmt: skip
    assert status == 0, err and "Rehearsal record record.jsonl started" in out
    init = ["init", *card, "--dkek-shares", "2", "--so-pin-env", "TEST_SO_PIN"]
    step(capsys, monkeypatch, "Olga Officer", *init, "--pin-env", "TEST_PIN", "--yes",
         witness="Wanda")  # fmt: skip
    for who, variable in (("Alice", "ALICE_PASSWORD"), ("Bob", "BOB_PASSWORD")):
        step(capsys, monkeypatch, who, "share", "create", f"{who}.pbe", "--password-env",
             variable, *card, witness="Wanda")  # fmt: skip
    for who, variable in (("Alice", "ALICE_PASSWORD"), ("Bob", "BOB_PASSWORD")):
        step(capsys, monkeypatch, who, "share", "import", f"{who}.pbe", "--password-env",
             variable, "--pin-env", "TEST_PIN", *card, witness="Wanda")  # fmt: skip
    write_p12(ceremony / "server.p12", host_key("p256"), common_name="TLS server")
    step(capsys, monkeypatch, "Olga Officer", "import-p12", "server.p12", "--p12-password-env",
         "TEST_P12", "--pin-env", "TEST_PIN", "--share", "Alice.pbe", "--share-password-env",
         "ALICE_PASSWORD", "--share", "Bob.pbe", "--share-password-env", "BOB_PASSWORD", *card,
         "--yes", witness="Wanda")  # fmt: skip
    step(capsys, monkeypatch, "Olga Officer", "backup", "--key", "1", "--out", "server.wky",
         "--pin-env", "TEST_PIN", *card)  # fmt: skip
    out = step(capsys, monkeypatch, "Olga Officer", "generate", "ec:prime256v1", "--label",
               "ceremony seal", "--pin-env", "TEST_PIN", *card, "--json")  # fmt: skip
    seal = json.loads(out)["key_reference"]
    status, out, err = run(
        capsys, "ceremony", "close", "record.jsonl", "--key", str(seal), "--pin-env", "TEST_PIN",
        *card,
    )  # fmt: skip
    assert status == 0, err
    assert "closed" in out and "Olga Officer" in out

    record = ceremony / "record.jsonl"
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    steps = [e for e in entries if e["type"] == "step"]
    assert [s["workflow"] for s in steps] == [
        "initialise",
        "create share",
        "create share",
        "import shares",
        "import shares",
        "PKCS#12 import",
        "back up key",
        "generate key",
    ]
    assert [s["actor"] for s in steps[1:5]] == ["Alice", "Bob", "Alice", "Bob"]
    assert all(s["witness"] == "Wanda" for s in steps[:6])
    assert all(s["result"] == "done" for s in steps)
    kcv_after = steps[4]["changes"]["domains"]["0"]["after"]
    assert "0 outstanding" in kcv_after
    assert any("TLS server" in check and "signature" in check for check in steps[5]["checks"])
    assert entries[0]["rehearsal"] is True
    for secret in (PIN, DEFAULT_SO_PIN.hex(), "alice's long", "bob's long", P12_PASSWORD):
        assert secret not in record.read_text()

    status, out, _ = run(capsys, "ceremony", "verify", "record.jsonl", "--json")
    assert status == 0 and json.loads(out)["valid"] is True
    original = record.read_bytes()
    starts = [0, *[i + 1 for i, byte in enumerate(original) if byte == 0x0A][:-1]]
    for number, start in enumerate(starts, start=1):
        for offset in (start + 2, start + len(original[start:].split(b"\n", 1)[0]) // 2):
            changed = bytearray(original)
            changed[offset] ^= 0x01
            record.write_bytes(bytes(changed))
            status, out, _ = run(capsys, "ceremony", "verify", "record.jsonl", "--json")
            verdict = json.loads(out)
            assert status == 1 and verdict["first_altered_line"] == number, (number, verdict)
    record.write_bytes(original)

    status, out, err = run(capsys, "ceremony", "report", "record.jsonl", "--pdf", "report.pdf")
    assert status == 0, err
    reader = PdfReader(io.BytesIO((ceremony / "report.pdf").read_bytes()))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Root ceremony" in text and "REHEARSAL" in text and "Wanda (witness)" in text
    assert "record intact" in text


def test_refusals_before_the_card_is_touched(
    ceremony: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    participants = [word for person in PEOPLE for word in ("--participant", person)]
    status, _, err = run(
        capsys, "ceremony", "start", "real.jsonl", "--title", "Real", *participants
    )
    assert status == 0, err
    terminal = install_terminal(monkeypatch, ["Wanda"])  # stderr is the terminal now
    status, _, err = run(
        capsys, "init", "--simulator", "card.json", "--dkek-shares", "1", "--so-pin-env",
        "TEST_SO_PIN", "--pin-env", "TEST_PIN", "--yes", "--ceremony", "real.jsonl", "--as",
        "Olga Officer",
    )  # fmt: skip
    assert status == 1 and "simulated card cannot take part" in terminal.screen
    assert not (ceremony / "card.json").exists()
    status, _, err = run(capsys, "keys", "--simulator", "card.json", "--ceremony", "real.jsonl",
                         "--as", "Mallory")  # fmt: skip
    assert status == 1 and "not a participant" in terminal.screen
    status, _, err = run(capsys, "keys", "--simulator", "card.json", "--ceremony", "real.jsonl")
    assert status == 1 and "--as NAME" in terminal.screen
    status, _, err = run(capsys, "keys", "--simulator", "card.json", "--as", "Olga Officer")
    assert status == 1 and "give --ceremony RECORD too" in terminal.screen
    lines = (ceremony / "real.jsonl").read_text().splitlines()
    assert len(lines) == 1  # nothing recorded
    status, out, _ = run(capsys, "ceremony", "verify", "real.jsonl")
    assert status == 1 and "not closed" in out
