"""Certificates that ENUMERATE does not list, through pcscd + vpcd (issue 12 §3).

On the pico profile the card's ENUMERATE lists no ``CE`` / ``CA`` files.  Over a real
PC/SC reader, ``keymanager-cli export --certificate`` and ``backup`` still find the
certificate (and tell a CV request from it), and OpenSC's ``pkcs15-tool
--list-certificates`` (which reads the files the descriptions point at) agrees with the
key store about which certificates the card holds.  Runs on both profiles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.hsm import DEFAULT_SO_PIN, InitParams, SmartCardHsm
from keymanager.card.hsm_types import EcKeySpec
from keymanager.card.keystore import EE_CERTIFICATE_PREFIX, KeyStore, fid
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import encode_key
from keymanager.dkek.wky import parse_backup
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import backup_key
from tests.support.opensc import (
    USER_PIN,
    hsm_session,
    pkcs15_tool,
    sc_hsm_tool,
    self_signed_certificate,
)
from tests.support.pcscd import PcscdHarness

SHARE = bytes(range(32))
PROFILES = ["genuine", "pico"]


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    """The profile of the simulated card (given explicitly: these tests are about it)."""
    return str(request.param)


def _card(profile: str) -> tuple[SmartCardHsmSimulator, x509.Certificate, x509.Certificate]:
    """Key 1 with an X.509 certificate, key 2 generated (CV request), one CA certificate."""
    card = SmartCardHsmSimulator(
        seed=b"certificates over pcsc " + profile.encode(), profile=profile
    )
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(user_pin=USER_PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(SHARE)
    hsm.verify_pin(USER_PIN)
    store = KeyStore(hsm)
    host = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed_certificate(host, "over pcsc")
    store.import_wrapped_key(
        encode_key(Dkek.from_shares([SHARE]), host), label="over pcsc", certificate=certificate
    )
    store.generate_key(EcKeySpec("secp256r1"), "generated over pcsc")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = self_signed_certificate(ca_key, "pcsc root")
    store.store_ca_certificate(ca, "pcsc root")
    if profile == "pico":
        assert fid(EE_CERTIFICATE_PREFIX, 1) not in hsm.enumerate_objects()
    return card, certificate, ca


def test_export_and_backup_through_a_reader(
    profile: str,
    pcscd: PcscdHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    card, certificate, _ca = _card(profile)
    monkeypatch.setenv("TEST_PIN", USER_PIN)
    with pcscd.inserted(card) as (reader, _bridge):
        out = tmp_path / "one.pem"
        export = ["export", "--certificate", "--reader", reader]
        assert main([*export, "--key", "1", "--out", str(out)]) == 0
        assert x509.load_pem_x509_certificate(out.read_bytes()) == certificate

        assert main([*export, "--key", "2"]) == 1
        error = capsys.readouterr().err
        assert "CE02 holds the CV request" in error, error

        backup = tmp_path / "one.wky"
        argv = ["backup", "--key", "1", "--out", str(backup), "--reader", reader]
        assert main([*argv, "--pin-env", "TEST_PIN", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["certificate"] == "x509"
        assert parse_backup(backup.read_bytes()).certificate == certificate.public_bytes(
            serialization.Encoding.DER
        )

        assert main(["keys", "--reader", reader, "--json", "--pin-env", "TEST_PIN"]) == 0
        keys = json.loads(capsys.readouterr().out)
        assert [(k["certificate_kind"], k["cv_request"]) for k in keys] == [
            ("x509", False),
            ("cv-request", True),
        ]


def _pkcs15_certificates(text: str) -> dict[str, bool]:
    """``pkcs15-tool --list-certificates``: label → whether it is an authority."""
    found: dict[str, bool] = {}
    label: str | None = None
    for line in text.splitlines():
        header = re.match(r"X\.509 Certificate \[(.*)\]", line.strip())
        if header:
            label = header.group(1)
            found[label] = False
        elif label is not None and line.strip().startswith("Authority"):
            found[label] = line.split(":", 1)[1].strip() == "yes"
    return found


def test_pkcs15_tool_lists_the_certificates_the_key_store_finds(
    profile: str, pcscd: PcscdHarness, opensc_tools: None
) -> None:
    card, certificate, ca = _card(profile)
    with pcscd.inserted(card) as (reader, _bridge):
        listing = pkcs15_tool(reader, "--list-certificates").check()
        with hsm_session(reader) as hsm:
            hsm.verify_pin(USER_PIN)
            store = KeyStore(hsm)
            keys = store.list_keys(load_certificates=True)
            cas = store.list_ca_certificates()
    opensc = _pkcs15_certificates(listing.stdout)
    ours = {key.label: False for key in keys if key.certificate is not None}
    ours.update({info.label: True for info in cas if info.certificate is not None})
    assert opensc == ours == {"over pcsc": False, "pcsc root": True}, listing.report()
    assert [key.certificate for key in keys if key.certificate] == [certificate]
    assert [info.certificate for info in cas] == [ca]


def test_our_backup_carries_what_sc_hsm_tool_s_carries(
    profile: str, pcscd: PcscdHarness, opensc_tools: None, tmp_path: Path
) -> None:
    """Key 1 (X.509) and key 2 (CV request): our ``.wky`` holds the same PRKD and
    certificate bytes as ``sc-hsm-tool --wrap-key`` of the same key."""
    card, _certificate, _ca = _card(profile)
    with pcscd.inserted(card) as (reader, _bridge):
        for reference in (1, 2):
            theirs = tmp_path / f"theirs-{reference}.wky"
            ours = tmp_path / f"ours-{reference}.wky"
            wrapped = sc_hsm_tool(
                reader, "--wrap-key", theirs, "--key-reference", str(reference), "--pin", USER_PIN
            )
            assert theirs.is_file(), wrapped.report()
            with hsm_session(reader) as hsm:
                backup_key(hsm, ScriptedInteraction().answer("secret", USER_PIN), reference, ours)
            their_backup = parse_backup(theirs.read_bytes())
            our_backup = parse_backup(ours.read_bytes())
            assert their_backup.certificate is not None, wrapped.report()
            assert our_backup.certificate == their_backup.certificate
            assert our_backup.prkd == their_backup.prkd
            assert our_backup.certificate[0] == (0x30 if reference == 1 else 0x67)
