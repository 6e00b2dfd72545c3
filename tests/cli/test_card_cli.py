"""``keymanager-cli init``, ``status``, ``share import`` and ``keys`` on the simulated card."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import key_id_for_public_key
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import encode_key
from keymanager.simulator import SmartCardHsmSimulator
from tests.support.profiles import current_profile

SO_PIN = "3537363231383830"
PIN = "648219"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, vectors: dict[str, Any]) -> None:
    monkeypatch.setenv("TEST_SO_PIN", SO_PIN)
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])


@pytest.fixture
def share_file(tmp_path: Path, vectors: dict[str, Any]) -> Path:
    path = tmp_path / "custodian.pbe"
    path.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def init(state: Path, *extra: str) -> int:
    return main(
        [
            "init",
            "--simulator",
            str(state),
            "--so-pin-env",
            "TEST_SO_PIN",
            "--pin-env",
            "TEST_PIN",
            "--yes",
            *extra,
        ]
    )


@pytest.mark.usefixtures("environment")
def test_init_share_import_status_and_keys(
    tmp_path: Path,
    share_file: Path,
    vectors: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "card.json"
    assert init(state, "--dkek-shares", "1") == 0
    assert "Device initialised" in capsys.readouterr().out

    status = run_json(capsys, "status", "--simulator", str(state))
    assert status["serial"].startswith("UTSIM")
    assert status["genuine"] == "unverified (simulator)"
    assert status["version"] == "4.0"
    assert "3 tries left" in status["pin"] or "not verified" in status["pin"].lower()
    (domain,) = status["key_domains"]
    assert domain["domain"] == 0
    assert domain["type"] == "DKEK"
    assert (domain["shares_total"], domain["shares_outstanding"]) == (1, 1)
    assert domain["kcv"] is None

    imported = run_json(
        capsys,
        "share",
        "import",
        str(share_file),
        "--domain",
        "0",
        "--simulator",
        str(state),
        "--password-env",
        "TEST_SHARE_PASSWORD",
        "--pin-env",
        "TEST_PIN",
    )
    expected_kcv = vectors["share_file"]["kcv_of_dkek_made_of_this_share_alone_hex"].upper()
    assert imported["shares_outstanding"] == 0
    assert imported["kcv"].replace(" ", "").replace(":", "") == expected_kcv

    status = run_json(capsys, "status", "--simulator", str(state))
    # without the PIN a Pico HSM hides the KCV (pcsc-testing item 2)
    hidden = current_profile().hide_kcv_until_login
    assert status["key_domains"][0]["kcv"] == (None if hidden else imported["kcv"])

    # A key imported through the key store is listed with its label and certificate.
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CLI listing")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.verify_pin(PIN)
    dkek = Dkek.from_shares([bytes.fromhex(vectors["share_file"]["share_hex"])])
    KeyStore(hsm).import_wrapped_key(
        encode_key(dkek, key), label="signing key", certificate=certificate
    )

    (listed,) = run_json(capsys, "keys", "--simulator", str(state))
    assert listed["label"] == "signing key"
    assert listed["key_reference"] == 1
    assert listed["type"] == "EC"
    assert listed["size"] == 256
    assert listed["id"] == key_id_for_public_key(key.public_key()).hex().upper()
    assert listed["certificate"] == "CN=CLI listing"

    assert main(["keys", "--simulator", str(state)]) == 0
    text = capsys.readouterr().out
    assert "signing key" in text and "CN=CLI listing" in text


@pytest.mark.usefixtures("environment")
def test_share_import_into_a_complete_domain_is_refused_before_decrypting(
    tmp_path: Path, share_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    assert init(state, "--random-dkek") == 0
    capsys.readouterr()
    status = main(
        [
            "share",
            "import",
            str(share_file),
            "--simulator",
            str(state),
            "--password-env",
            "TEST_SHARE_PASSWORD",
        ]
    )
    assert status == 1
    assert "expects no more shares" in capsys.readouterr().err


@pytest.mark.usefixtures("environment")
def test_init_with_a_wrong_so_pin_fails_and_keeps_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    assert init(state, "--dkek-shares", "2") == 0
    capsys.readouterr()
    monkeypatch.setenv("TEST_SO_PIN", "0011223344556677")
    assert init(state, "--dkek-shares", "1") == 1
    error = capsys.readouterr().err
    assert "SO-PIN" in error
    assert SO_PIN not in error and "0011223344556677" not in error
    status = run_json(capsys, "status", "--simulator", str(state))
    assert status["key_domains"][0]["shares_total"] == 2
    assert "tries left" in status["so_pin"]


@pytest.mark.usefixtures("environment")
def test_init_refuses_without_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    status = main(
        [
            "init",
            "--simulator",
            str(state),
            "--so-pin-env",
            "TEST_SO_PIN",
            "--pin-env",
            "TEST_PIN",
        ]
    )
    assert status == 1
    assert "--yes" in capsys.readouterr().err
    assert run_json(capsys, "status", "--simulator", str(state))["pin"]


@pytest.mark.usefixtures("environment")
def test_status_verifies_the_pin_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    assert init(state, "--random-dkek") == 0
    capsys.readouterr()
    status = run_json(capsys, "status", "--simulator", str(state), "--pin-env", "TEST_PIN")
    assert "verified" in status["pin"].lower()
    monkeypatch.setenv("TEST_PIN", "000000")
    assert main(["status", "--simulator", str(state), "--pin-env", "TEST_PIN"]) == 1
    assert "2 tries left" in capsys.readouterr().err.lower().replace(
        "tries remaining", "tries left"
    )
