"""``keymanager-cli init | domain | audit | share create --n-of-m/--paperkey`` end to end."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.dkek import format_kcv, kcv_of, share_fingerprint
from keymanager.dkek.paperkey import decode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import NofMShareInput, ScriptedInteraction
from keymanager.workflows.shares import read_share
from tests.support.profiles import current_profile

PIN = "648219"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SO_PIN", "3537363231383830")
    monkeypatch.setenv("TEST_PIN", PIN)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def init(capsys: pytest.CaptureFixture[str], state: Path, *extra: str) -> Any:
    return run_json(
        capsys,
        "init",
        "--simulator",
        str(state),
        "--so-pin-env",
        "TEST_SO_PIN",
        "--pin-env",
        "TEST_PIN",
        "--yes",
        *extra,
    )


def test_init_schemes_label_and_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "card.json"
    result = init(capsys, state, "--key-domains", "3", "--retry-counter", "3", "--label", "Ops")
    assert result["scheme"] == "key-domains" and result["key_domains"] == 3
    # a Pico HSM cannot store the label (pcsc-testing item 11)
    assert result["label_written"] is not current_profile().token_label_write_fails
    assert result["serial"].startswith("UTSIM")
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    if not current_profile().zero_share_domain_has_dkek:
        # Pico HSM makes no DKEK for a 0-share domain (pcsc-testing item 10): said so
        assert main(["domain", "create", "--shares", "0", *card, "--json"]) == 0
        output = capsys.readouterr()
        assert json.loads(output.out)["kcv"] is None
        assert "made no DKEK for key domain 0" in output.err
        assert main(["domain", "delete", "--domain", "0", "--yes", *card]) == 0
        capsys.readouterr()
        assert run_json(capsys, "domain", "create", "--shares", "1", *card)["domain"] == 0
        hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
        hsm.verify_pin(PIN)
        status = hsm.import_dkek_share(bytes(range(32)), 0)
        hsm.verify_pin(PIN)
        assert status.shares_outstanding == 0
        created = {"domain": 0, "kcv": format_kcv(kcv_of(bytes(range(32))))}
    else:
        created = run_json(capsys, "domain", "create", "--shares", "0", *card)
    assert created["domain"] == 0 and created["kcv"]
    second = run_json(capsys, "domain", "create", "--domain", "2", "--shares", "2", *card)
    assert (second["shares_total"], second["shares_outstanding"]) == (2, 2)
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.verify_pin(PIN)
    KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "in domain 0", key_domain=0)
    report = run_json(capsys, "audit", *card)
    assert [d["state"] for d in report["key_domains"]] == ["DKEK", "empty", "DKEK"]
    assert report["key_domains"][0]["kcv"] == created["kcv"]
    assert main(["audit", "--simulator", str(state)]) == 0
    text = capsys.readouterr().out
    assert "Key domain 1: empty" in text
    if current_profile().hide_kcv_until_login:  # no PIN given: Pico HSM hides the KCV
        assert "hidden until the PIN is verified" in text and created["kcv"] not in text
    else:
        assert created["kcv"] in text
    probed = run_json(capsys, "audit", "--probe-domains", *card)
    assert [k["label"] for k in probed["key_domains"][0]["keys"]] == ["in domain 0"]

    assert main(["domain", "delete", "--domain", "2", *card]) == 1
    assert "--yes" in capsys.readouterr().err
    assert run_json(capsys, "domain", "delete", "--domain", "2", "--yes", *card)["state"] == "empty"
    cleared = run_json(capsys, "domain", "clear-kek", "--domain", "0", "--yes", *card)
    assert cleared["domain"] == 0

    assert (
        main(
            [
                "init",
                "--simulator",
                str(state),
                "--so-pin-env",
                "TEST_SO_PIN",
                "--pin-env",
                "TEST_PIN",
                "--dkek-shares",
                "0",
                "--yes",
            ]
        )
        == 1
    )
    assert "1 to 255 shares" in capsys.readouterr().err
    random = init(capsys, state, "--random-dkek")
    assert random["scheme"] == "random-dkek" and random["kcv"]
    assert init(capsys, state, "--no-dkek")["scheme"] == "no-dkek"


def test_init_refuses_scheme_conflicts_and_random_pin_without_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    with pytest.raises(SystemExit):
        main(["init", "--simulator", str(state), "--random-dkek", "--no-dkek"])
    capsys.readouterr()
    assert (
        main(
            [
                "init",
                "--simulator",
                str(state),
                "--so-pin-env",
                "TEST_SO_PIN",
                "--random-pin",
                "--yes",
            ]
        )
        == 1
    )
    assert "needs a terminal" in capsys.readouterr().err
    assert not state.exists() or json.loads(state.read_text())["initialised"] is False


def test_share_create_n_of_m_printed_with_a_paperkey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, sheet, fragments = tmp_path / "c.pbe", tmp_path / "c.pdf", tmp_path / "fragments"
    result = run_json(
        capsys,
        "share",
        "create",
        str(out),
        "--n-of-m",
        "2/3",
        "--fragments-dir",
        str(fragments),
        "--paperkey",
        str(sheet),
    )
    assert (result["threshold"], result["total"], result["random_source"]) == (2, 3, "host")
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (out, sheet, *fragments.iterdir()))

    def lines(pdf: Path) -> list[str]:
        return [
            re.sub(rb"\\(.)", rb"\1", m.group(1)).decode().strip()
            for m in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", pdf.read_bytes())
        ]

    paperkey = [line for line in lines(sheet) if re.match(r"^[1-4]: ", line)]
    assert format_kcv(share_fingerprint(decode_paperkey(paperkey))) == result["fingerprint"]
    picked = []
    for pdf in sorted(fragments.iterdir())[:2]:
        text = "\n".join(lines(pdf))
        ident = re.search(r"Share ID\s*:\s*(\S+)", text)
        value = re.search(r"Share value\s*:\s*(\S+)", text)
        assert ident and value
        picked.append((ident.group(1), value.group(1)))
    share = read_share(NofMShareInput(out, result["prime"], picked), ScriptedInteraction())
    assert format_kcv(share_fingerprint(share)) == result["fingerprint"]


def test_share_create_n_of_m_needs_a_terminal_or_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["share", "create", str(tmp_path / "x.pbe"), "--n-of-m", "2/3"]) == 1
    assert "--fragments-dir" in capsys.readouterr().err
    assert (
        main(
            [
                "share",
                "create",
                str(tmp_path / "x.pbe"),
                "--n-of-m",
                "5/3",
                "--fragments-dir",
                str(tmp_path / "f"),
            ]
        )
        == 1
    )
    assert "2 to 3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
