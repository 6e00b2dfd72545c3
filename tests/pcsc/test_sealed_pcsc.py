"""Sealed transient imports and the key-domain registry through pcscd, on both profiles.

``keymanager-cli import-p12 --transient`` runs against the simulated card in a real
PC/SC reader; then keymanager refuses a share for that domain, a share imported with raw
APDUs around keymanager still leaves the card refusing WRAP, and OpenSC's pkcs15-tool
lists keymanager's registry as a data object.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.domain_registry import REGISTRY_LABEL, DomainPurpose, read_registry
from keymanager.card.errors import ConditionsNotSatisfied
from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from tests.support.opensc import hsm_session, inserted_simulator, pkcs15_tool
from tests.support.pcscd import PcscdHarness
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

PIN = "648219"


def test_transient_import_is_sealed_through_pcscd(
    pcscd: PcscdHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    opensc_tools: None,
    vectors: dict[str, Any],
) -> None:
    p12 = tmp_path / "key.p12"
    write_p12(p12, host_key("p256"), common_name="sealed over pcsc")
    monkeypatch.setenv("TEST_PIN", PIN)
    monkeypatch.setenv("TEST_P12", P12_PASSWORD)
    monkeypatch.setenv("TEST_SHARE_PASSWORD", vectors["share_file"]["password_ascii"])
    with inserted_simulator(pcscd, seed=b"sealed over pcscd") as inserted:
        hsm = SmartCardHsm.open(LocalTransport(inserted.card))
        hsm.initialize(
            InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1, key_domains=4)
        )
        hsm.import_dkek_share(bytes(32))
        hsm.verify_pin(PIN)
        code = main(
            [
                "import-p12",
                str(p12),
                "--transient",
                "--reader",
                inserted.reader,
                "--pin-env",
                "TEST_PIN",
                "--p12-password-env",
                "TEST_P12",
                "--json",
            ]
        )
        output = capsys.readouterr()
        assert code == 0, output.err
        result = json.loads(output.out)["import"]
        [key] = result["files"][0]["keys"]
        assert key["sealed"] is True and key["ok"] is True
        reference, domain = key["key_reference"], result["domain"]

        # keymanager refuses the share (before it decrypts anything)
        share = tmp_path / "s.pbe"
        share.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
        code = main(
            [
                "share",
                "import",
                str(share),
                "--domain",
                str(domain),
                "--reader",
                inserted.reader,
                "--pin-env",
                "TEST_PIN",
                "--password-env",
                "TEST_SHARE_PASSWORD",
                "--yes",
            ]
        )
        assert code == 1
        assert "transient import" in capsys.readouterr().err

        # around keymanager: raw APDUs through pcscd
        with hsm_session(inserted.reader) as session:
            session.verify_pin(PIN)
            status = session.import_dkek_share(hashlib.sha256(b"attacker").digest(), domain)
            assert status.shares_outstanding == 0
            session.verify_pin(PIN)
            with pytest.raises(ConditionsNotSatisfied) as refused:
                session.wrap_key(reference)
            assert refused.value.sw == 0x6985
            registry = read_registry(session)
            assert registry.domains[domain].purpose is DomainPurpose.TRANSIENT
            assert registry.keys[reference].sealed is True

        listed = pkcs15_tool(inserted.reader, "--list-data-objects")
        assert listed.returncode == 0, listed.stderr
        assert REGISTRY_LABEL in listed.stdout
