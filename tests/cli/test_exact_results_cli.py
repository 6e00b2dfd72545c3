"""Issue 14, exact results on the command line: ``domain delete`` answered ``6A88``,
``init`` on a blank card naming the serial, results printed once, ``audit --csv``."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from keymanager.simulator import SmartCardHsmSimulator
from tests.cli.card_variants import (
    DELETE_KEY_DOMAIN,
    INITIALIZE,
    READ_DEVICE_CERTIFICATES,
    Refusal,
    use_card_variant,
)
from tests.cli.support import run

PIN = "648219"
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_SO_PIN", "3537363231383830")
    monkeypatch.setenv("TEST_PIN", PIN)


def init_command(state: Path, *scheme: str) -> list[str]:
    return [
        "init", "--simulator", str(state), "--so-pin-env", "TEST_SO_PIN",
        "--pin-env", "TEST_PIN", "--yes", *scheme,
    ]  # fmt: skip


def initialised(capsys: pytest.CaptureFixture[str], state: Path, *scheme: str) -> list[str]:
    """An initialised card; the CLI's card arguments."""
    status, _out, err = run(capsys, *init_command(state, *scheme))
    assert status == 0, err
    return ["--simulator", str(state), "--pin-env", "TEST_PIN"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def once(text: str, output: tuple[int, str, str]) -> None:
    """``text`` is in the command's result on stdout, and nowhere else."""
    status, out, err = output
    assert status == 0, err
    assert (out + err).count(text) == 1, (out, err)
    assert text in out


# -- domain delete answered 6A88 ------------------------------------------------------


def test_domain_delete_answered_6a88_on_success_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A card that answers ``6A88`` ("the slot is empty now") to a DELETE KEY DOMAIN it
    carried out (Pico HSM does, under both profiles here): the slot is queried again
    and the command succeeds."""
    use_card_variant(monkeypatch, domain_delete_answers_6a88=True)
    card = initialised(capsys, tmp_path / "card.json", "--key-domains", "2")
    run_json(capsys, "domain", "create", "--domain", "1", "--shares", "1", *card)
    status, out, err = run(capsys, "domain", "delete", "--domain", "1", "--yes", *card)
    assert status == 0, err
    assert "Key domain 1 deleted" in out and "6A88" not in out + err
    slots = run_json(capsys, "status", *card[:2])["key_domains"]
    assert [slot["type"] for slot in slots] == ["empty", "empty"]
    # --json: the result document, exit 0
    run_json(capsys, "domain", "create", "--domain", "1", "--shares", "1", *card)
    deleted = run_json(capsys, "domain", "delete", "--domain", "1", "--yes", *card)
    assert deleted == {
        "domain": 1, "state": "empty", "shares_total": 0, "shares_outstanding": 0, "kcv": None,
    }  # fmt: skip


def test_domain_delete_refused_with_6a88_is_an_error_when_the_domain_is_still_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``6A88`` counts as success only when the query finds the slot empty."""
    variant = use_card_variant(monkeypatch, refusals=[Refusal(DELETE_KEY_DOMAIN, 0x6A88)])
    card = initialised(capsys, tmp_path / "card.json", "--key-domains", "2")
    run_json(capsys, "domain", "create", "--domain", "1", "--shares", "1", *card)
    status, out, err = run(capsys, "domain", "delete", "--domain", "1", "--yes", *card)
    assert status == 1
    assert "6A88" in err and "deleted" not in out + err
    assert variant.refused == [DELETE_KEY_DOMAIN + b"\x01"]
    slots = run_json(capsys, "status", *card[:2])["key_domains"]
    assert slots[1]["type"] == "DKEK" and slots[1]["shares_total"] == 1


# -- init on a blank card whose serial cannot be read before ----------------------------


def test_init_on_a_blank_card_names_the_serial_read_after_initialisation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "blank.json"
    serial = SmartCardHsmSimulator(state).serial  # a blank card, saved
    variant = use_card_variant(
        monkeypatch,
        refusals=[Refusal(READ_DEVICE_CERTIFICATES, 0x6A82, until=INITIALIZE)],
    )
    status, out, err = run(capsys, *init_command(state, "--dkek-shares", "1"))
    assert status == 0, err
    assert READ_DEVICE_CERTIFICATES in variant.refused  # unreadable before INITIALIZE
    assert f"Device initialised: SmartCard-HSM {serial} in 'Simulated card (blank.json)'" in out
    assert "unknown serial" not in out + err
    # --json names it too (another blank card, the same refusal)
    state = tmp_path / "blank-json.json"
    serial = SmartCardHsmSimulator(state).serial
    assert run_json(capsys, *init_command(state))["serial"] == serial


# -- results printed once ----------------------------------------------------------------


def test_init_and_the_domain_actions_print_their_result_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "once.json"
    output = run(capsys, *init_command(state, "--dkek-shares", "2"))
    once("Device initialised: SmartCard-HSM UTSIM", output)
    once("DKEK share(s)", output)
    assert "Initialised the" not in output[2]

    output = run(capsys, *init_command(state, "--key-domains", "2"))
    once("Device initialised", output)
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    output = run(capsys, "domain", "create", "--domain", "0", "--shares", "1", *card)
    once("Key domain 0: 1 share(s), 1 outstanding.", output)
    assert "Created key domain" not in output[2]
    output = run(capsys, "domain", "clear-kek", "--domain", "0", "--yes", *card)
    once("Key domain 0: 1 share(s), 1 outstanding.", output)
    assert "KEK cleared" not in output[2]
    output = run(capsys, "domain", "delete", "--domain", "0", "--yes", *card)
    once("Key domain 0 deleted", output)
    # --json: the document alone, no result line on stderr
    status, out, err = run(capsys, "domain", "create", "--shares", "1", *card, "--json")
    assert status == 0 and json.loads(out)["domain"] == 0
    assert err == ""
    output = run(capsys, "domain", "rename", "--domain", "0", "--label", "Ops", *card)
    once("labelled 'Ops'", output)


def test_share_import_prints_its_result_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    vectors: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])
    share = tmp_path / "custodian.pbe"
    share.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    card = initialised(capsys, tmp_path / "card.json", "--dkek-shares", "2")
    share_import = ["share", "import", str(share), "--password-env", "TEST_SHARE_PASSWORD"]
    output = run(capsys, *share_import, *card)
    once("Share 1 of 2 imported", output)
    assert "still outstanding" in output[1]
    assert "Key domain 0: 2 of 2 share(s) outstanding." in output[2]  # before the import
    output = run(capsys, *share_import, *card)
    once("Share 2 of 2 imported", output)
    once("All shares imported", output)
    assert "complete" not in output[2]


# -- audit --csv -------------------------------------------------------------------------


def documented_csv_columns() -> list[str]:
    """The columns docs/reference.md names under "Audit CSV", in order."""
    text = REFERENCE.read_text()
    section = text[text.index("### Audit CSV") :]
    section = section[: section.index("\n#", 1)]
    columns: list[str] = []
    for quoted in re.findall(r"`([a-z_,]+)`", section):
        if "," in quoted:
            columns.extend(quoted.split(","))
    return columns


def test_audit_csv_prints_the_documented_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = initialised(capsys, tmp_path / "csv.json", "--key-domains", "2")
    run_json(capsys, "domain", "create", "--domain", "0", "--shares", "0", *card)
    run_json(capsys, "generate", "ec:prime256v1", "--label", "in 0", "--domain", "0", *card)
    run_json(capsys, "generate", "ec:prime256v1", "--label", "second", "--domain", "0", *card)
    status, out, err = run(capsys, "audit", "--csv", *card)
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    header = documented_csv_columns()
    assert rows[0] == header  # the reference names every column, in order
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    report = run_json(capsys, "audit", *card)
    assert [(r["domain"], r["key_label"]) for r in records] == [
        ("0", "in 0"),
        ("0", "second"),
        ("1", ""),
    ]
    assert {r["serial"] for r in records} == {report["serial"]}
    (domain0, domain1) = report["key_domains"]
    assert records[0]["kcv_status"] == ("known" if domain0["kcv"] else "none")
    assert records[0]["kcv"] == (domain0["kcv"] or "")
    assert records[0]["domain_keys"] == "2" and records[2]["domain_state"] == "empty"
    assert domain1["state"] == "empty"


@pytest.mark.parametrize(
    "argv",
    [
        ("audit", "--csv", "--json"),
        ("audit", "--json", "--csv"),
        ("--json", "audit", "--csv"),
    ],
)
def test_audit_csv_with_json_is_a_usage_error(
    argv: Sequence[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    status, out, err = run(capsys, *argv, "--simulator", str(state))
    assert status == 2
    assert "--csv" in err and "--json" in err
    assert not state.exists()  # no card was opened
    if out:  # with --json a usage error is a JSON document too
        assert json.loads(out)["error"]["kind"] == "usage"
