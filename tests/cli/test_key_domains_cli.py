"""``keymanager-cli domain rename``, ``--no-export``, ``keys`` and ``audit`` with the
key-domain registry (both simulator profiles)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.simulator import SmartCardHsmSimulator

SO_PIN = bytes.fromhex("3537363231383830")
PIN = "648219"
P12_PASSWORD = "cli p12 password"


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vectors: dict[str, Any]) -> list[str]:
    """A card with domain 0 made of the test vectors' share file; the CLI's arguments."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])
    monkeypatch.setenv("TEST_P12_PASSWORD", P12_PASSWORD)
    state = tmp_path / "card.json"
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.initialize(InitParams(PIN, SO_PIN, dkek_shares=1, key_domains=3))
    hsm.import_dkek_share(bytes.fromhex(vectors["share_file"]["share_hex"]), 0)
    hsm.verify_pin(PIN)
    (tmp_path / "custodian.pbe").write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    return ["--simulator", str(state), "--pin-env", "TEST_PIN"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def keys_by_label(capsys: pytest.CaptureFixture[str], card: list[str]) -> dict[str, Any]:
    return {key["label"]: key for key in run_json(capsys, "keys", *card)}


def test_no_export_rename_keys_and_audit(
    card: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = run_json(
        capsys, "generate", "ec:prime256v1", "--label", "sealed", "--domain", "0",
        "--no-export", *card,
    )  # fmt: skip
    assert sealed["sealed"] is True
    run_json(capsys, "generate", "aes:128", "--label", "exportable", "--domain", "0", *card)
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(Path(card[1]))))
    hsm.verify_pin(PIN)
    around = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "around", key_domain=0)

    renamed = run_json(capsys, "domain", "rename", "--domain", "0", "--label", "Payments", *card)
    assert (renamed["domain"], renamed["label"]) == (0, "Payments")
    assert main(["domain", "rename", "--domain", "0", "--label", "x" * 65, *card]) == 1
    assert "64 bytes" in capsys.readouterr().err

    listed = keys_by_label(capsys, card)
    assert {label: (k["key_domain"], k["domain_source"], k["exportable"]) for label, k in
            listed.items()} == {
        "sealed": (0, "recorded", False),
        "exportable": (0, "recorded", True),
        "around": (None, "unknown", None),
    }  # fmt: skip
    assert main(["keys", *card]) == 0
    text = capsys.readouterr().out
    assert "domain 0 (recorded by keymanager)  sealed" in text
    assert "domain 0 (recorded by keymanager)  exportable" in text
    assert "domain - (not recorded)" in text

    report = run_json(capsys, "audit", *card[:2])
    domain0 = report["key_domains"][0]
    assert domain0["label"] == "Payments" and domain0["created"] is not None
    assert {k["label"]: (k["domain_source"], k["exportable"]) for k in domain0["keys"]} == {
        "sealed": ("recorded", False),
        "exportable": ("recorded", True),
    }
    assert [k["key_reference"] for k in report["other_keys"]] == [around.key_reference]
    assert main(["audit", *card[:2]]) == 0
    text = capsys.readouterr().out
    assert "label Payments" in text and "domain recorded by keymanager, sealed" in text

    probed = run_json(capsys, "audit", "--probe-domains", *card)
    assert report["other_keys"] and probed["other_keys"] == []
    assert {k["label"]: k["domain_source"] for k in probed["key_domains"][0]["keys"]} == {
        "sealed": "recorded",
        "exportable": "recorded",
        "around": "probed",
    }
    # the probe was recorded on the card: `keys` knows it now
    assert keys_by_label(capsys, card)["around"]["domain_source"] == "probed"


def test_import_p12_no_export_seals_the_classic_import(
    card: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "in.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"classic sealed", key, None, None, BestAvailableEncryption(P12_PASSWORD.encode())
        )
    )
    share = ["--share", str(tmp_path / "custodian.pbe"), "--share-password-env"]
    output = run_json(
        capsys, "import-p12", str(path), "--p12-password-env", "TEST_P12_PASSWORD",
        *share, "TEST_SHARE_PASSWORD", "--no-export", "--yes", *card,
    )  # fmt: skip
    [imported] = output["import"]["files"][0]["keys"]
    assert imported["sealed"] is True
    [listed] = run_json(capsys, "keys", *card)
    assert (listed["key_domain"], listed["domain_source"], listed["exportable"]) == (
        0,
        "recorded",
        False,
    )
    assert main(["backup", "--key", str(listed["key_reference"]), "--out",
                 str(tmp_path / "k.wky"), *card]) == 1  # fmt: skip
    assert "sealed" in capsys.readouterr().err
