"""Issue 14: a card or key domain without DKEK is "no DKEK: keys cannot be backed up" in
``status``, ``audit`` (text, ``--json``, ``--csv``), never "KCV hidden until login"
once the PIN is verified (both profiles)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.workflows.outline import NO_DKEK_TEXT
from tests.cli.card_variants import use_card_variant

PIN = "648219"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TEST_SO_PIN", "3537363231383830")
    monkeypatch.setenv("TEST_PIN", PIN)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return json.loads(run(capsys, *argv, "--json")[0])


def csv_records(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(run(capsys, "audit", "--csv", *argv)[0])))


def test_a_card_initialised_without_dkek(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    run(
        capsys, "init", "--simulator", str(state), "--so-pin-env", "TEST_SO_PIN",
        "--pin-env", "TEST_PIN", "--yes",
    )  # fmt: skip
    card = ["--simulator", str(state)]
    line = f"Key domains     : none ({NO_DKEK_TEXT})"
    for pin in ([], ["--pin-env", "TEST_PIN"]):
        assert line in run(capsys, "status", *card, *pin)[0].splitlines()
        assert line in run(capsys, "audit", *card, *pin)[0].splitlines()
    assert run_json(capsys, "status", *card)["key_domains"] == []
    assert run_json(capsys, "audit", *card)["key_domains"] == []
    (record,) = csv_records(capsys, *card)  # one row of device columns
    assert record["domain"] == "" and record["kcv_status"] == ""


@pytest.fixture
def unrecorded_domain_without_dkek(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Domain 0 made with 0 shares by a card that makes no DKEK then (Pico HSM; the
    genuine profile here made to behave so), by another program: keymanager has no
    record of it.  Domain 1 is empty."""
    variant = use_card_variant(monkeypatch, zero_share_domain_has_dkek=False)
    state = tmp_path / "card.json"
    hsm = SmartCardHsm.open(LocalTransport(variant(state)))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, key_domains=2))
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(0, 0)
    return ["--simulator", str(state)]


def test_a_domain_without_dkek_once_the_pin_is_verified(
    unrecorded_domain_without_dkek: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    card = unrecorded_domain_without_dkek
    pin = ["--pin-env", "TEST_PIN"]
    out = run(capsys, "status", *card, *pin)[0]
    assert f"Key domain 0    : DKEK, 0 share(s), 0 outstanding, {NO_DKEK_TEXT}" in out
    assert "hidden" not in out
    domain = run_json(capsys, "status", *card, *pin)["key_domains"][0]
    assert (domain["no_dkek"], domain["kcv_hidden"], domain["kcv"]) == (True, False, None)

    out = run(capsys, "audit", *card, *pin)[0]
    assert f"Key domain 0: DKEK, 0 share(s), 0 outstanding, {NO_DKEK_TEXT}" in out
    assert "hidden" not in out
    domain = run_json(capsys, "audit", *card, *pin)["key_domains"][0]
    assert (domain["no_dkek"], domain["kcv_hidden"], domain["kcv"]) == (True, False, None)
    records = csv_records(capsys, *card, *pin)
    assert [(r["domain"], r["kcv"], r["kcv_status"]) for r in records] == [
        ("0", "", "none"),
        ("1", "", "empty"),
    ]

    # without the PIN and a record a zero KCV may only be hidden (Pico HSM): not decided
    domain = run_json(capsys, "status", *card)["key_domains"][0]
    assert (domain["no_dkek"], domain["kcv_hidden"]) == (False, True)


def test_a_domain_created_with_0_shares_on_a_card_that_makes_no_dkek(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keymanager records the domain as one without DKEK: said so without the PIN too."""
    use_card_variant(monkeypatch, zero_share_domain_has_dkek=False)
    state = tmp_path / "card.json"
    run(
        capsys, "init", "--simulator", str(state), "--so-pin-env", "TEST_SO_PIN",
        "--pin-env", "TEST_PIN", "--yes", "--key-domains", "2",
    )  # fmt: skip
    card = ["--simulator", str(state)]
    out, err = run(capsys, "domain", "create", "--shares", "0", *card, "--pin-env", "TEST_PIN")
    assert "made no DKEK for key domain 0" in err
    assert out == "Key domain 0: 0 share(s), 0 outstanding.\n"
    for pin in ([], ["--pin-env", "TEST_PIN"]):
        out = run(capsys, "status", *card, *pin)[0]
        assert f"Key domain 0    : DKEK, 0 share(s), 0 outstanding, {NO_DKEK_TEXT}" in out
        assert "hidden" not in out
        out = run(capsys, "audit", *card, *pin)[0]
        assert f"Key domain 0: DKEK, 0 share(s), 0 outstanding, {NO_DKEK_TEXT}" in out
        assert "purpose domain without DKEK" in out and "hidden" not in out
        domain = run_json(capsys, "audit", *card, *pin)["key_domains"][0]
        assert (domain["no_dkek"], domain["purpose"]) == (True, "no_dkek")
        (record, _empty) = csv_records(capsys, *card, *pin)
        assert (record["kcv_status"], record["domain_purpose"]) == ("none", "no_dkek")
