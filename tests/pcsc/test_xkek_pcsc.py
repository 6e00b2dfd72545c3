"""XKEK key domains (issue 17) through a real pcscd with vpcd's two readers, both profiles.

Devices A and B are simulated cards behind vpcd (``Virtual PCD 00 00`` and ``Virtual PCD
00 01``, as in tests/support/pka_pcsc.py), driven by ``keymanager-cli`` as a user types
it, with ``--reader`` for both; the group signer is a simulated card in its file
(``--signer-simulator``: vpcd has only the two readers).  ``init`` both, ``group create``,
``group admit`` of each, ``group derive`` on each (the other as peer) shows the same
KCV; ``generate`` an EC key in A's XKEK domain, ``migrate`` it to B reader to reader; B
alone in the first reader then signs with it through OpenSC's PKCS#11 module
(``pkcs11-tool``), and the signature verifies on the host under the public key
``export-pubkey`` read from A.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.simulator import SmartCardHsmSimulator
from tests.support.opensc import ECDSA_SHA256, pkcs11_sign
from tests.support.pcscd import PcscdHarness
from tests.support.pka_pcsc import PIN, cli, cli_json, set_pin_variables

MESSAGE = b"signed by device B with the key that was generated on device A"


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    set_pin_variables(monkeypatch)


def device(directory: Path, name: str) -> SmartCardHsmSimulator:
    return SmartCardHsmSimulator(directory / f"{name}.json", seed=f"xkek pcsc {name}".encode())


def test_group_derive_migrate_and_sign_on_the_target_through_pcscd(
    pcscd: PcscdHarness,
    opensc_tools: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    signer = tmp_path / "signer.json"
    group = tmp_path / "group.json"
    cli(capsys, "init", "--simulator", signer, "--so-pin-env", "T_SO", "--pin-env", "T_CPIN",
        "--yes")  # fmt: skip
    cli(capsys, "group", "create", "--signer-simulator", signer, "--out", group,
        "--pin-env", "T_CPIN")  # fmt: skip

    with (
        pcscd.inserted(device(tmp_path, "a"), index=0) as (reader_a, _bridge_a),
        pcscd.inserted(device(tmp_path, "b"), index=1) as (reader_b, _bridge_b),
    ):
        kcvs = {}
        for reader in (reader_a, reader_b):
            cli(capsys, "init", "--reader", reader, "--so-pin-env", "T_SO",
                "--pin-env", "T_PIN", "--key-domains", "4", "--yes")  # fmt: skip
            cli(capsys, "group", "admit", group, "--signer-simulator", signer,
                "--signer-pin-env", "T_CPIN", "--reader", reader, "--pin-env", "T_PIN")  # fmt: skip
        serials = {
            reader: cli_json(capsys, "status", "--reader", reader)["serial"]
            for reader in (reader_a, reader_b)
        }
        for reader, peer in ((reader_a, reader_b), (reader_b, reader_a)):
            derived = cli_json(capsys, "group", "derive", group, "--reader", reader,
                               "--peer", serials[peer], "--pin-env", "T_PIN")  # fmt: skip
            kcvs[reader] = derived["kcv"]
        assert kcvs[reader_a] == kcvs[reader_b]
        domain = derived["domain"]  # B's; A's is the same slot (both had 4 free slots)

        status = cli_json(capsys, "status", "--reader", reader_a, "--pin-env", "T_PIN")
        [xkek] = [d for d in status["key_domains"] if d["type"] == "XKEK"]
        assert xkek["kcv"] == kcvs[reader_a]

        key = cli_json(capsys, "generate", "ec:prime256v1", "--label", "group key",
                       "--domain", str(xkek["domain"]), "--reader", reader_a,
                       "--pin-env", "T_PIN")  # fmt: skip
        pem, _err = cli(capsys, "export-pubkey", "--key", str(key["key_reference"]),
                        "--reader", reader_a)  # fmt: skip
        migrated = cli_json(capsys, "migrate", "--key", str(key["key_reference"]),
                            "--reader", reader_a, "--pin-env", "T_PIN",
                            "--to-reader", reader_b, "--to-pin-env", "T_PIN",
                            "--group", group)  # fmt: skip
        assert migrated["kcv"] == kcvs[reader_a]
        out, _err = cli(capsys, "keys", "--reader", reader_b, "--pin-env", "T_PIN", "--json")
        listed = json.loads(out)
        [copy] = [k for k in listed if k["label"] == "group key"]
        assert copy["key_domain"] == domain

    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    # B alone, in the first reader: pkcs11-tool's first slot with a token
    with pcscd.inserted(device(tmp_path, "b"), index=0):
        result, signature = pkcs11_sign(
            tmp_path, bytes.fromhex(copy["id"]), ECDSA_SHA256, MESSAGE, pin=PIN
        )
    assert signature is not None, result.report()
    public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
