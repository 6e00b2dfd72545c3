"""``keymanager-cli csr | import-cert | rename-key | export-cert | export-pubkey`` (simulator)."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import DataObjectDescription, encode_dcod
from keymanager.card.transport import LocalTransport
from keymanager.cli import main as main_module
from keymanager.simulator import SmartCardHsmSimulator
from tests.cli.test_keys_cli import PIN, Cli, _subcommands, cli, make_card, run_json

__all__ = ["cli"]

NEW_COMMANDS = ("csr", "import-cert", "rename-key", "export-cert", "export-pubkey", "data")


def issue(request: x509.CertificateSigningRequest, serial: int = 1) -> x509.Certificate:
    """A certificate for ``request`` from a test CA with a fixed key."""
    ca_key = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CLI Test CA")]))
        .public_key(request.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
    )
    for extension in request.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca_key, hashes.SHA256())


def test_the_real_parser_registers_the_commands() -> None:
    assert set(NEW_COMMANDS) <= set(_subcommands(main_module.build_parser()))


@pytest.mark.parametrize("algorithm", ["ec:prime256v1", "rsa:2048"])
def test_csr_issue_import_and_list(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str
) -> None:
    state = tmp_path / "card.json"
    make_card(state)
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    run_json(cli, capsys, "generate", algorithm, "--label", "web", *card)
    out = tmp_path / "req.pem"
    made = run_json(
        cli,
        capsys,
        "csr",
        "--key",
        "1",
        "--subject",
        "CN=www.example.org,O=Example,C=DE",
        "--san",
        "dns:www.example.org",
        "--san",
        "email:admin@example.org",
        "--key-usage",
        "digitalSignature,keyEncipherment",
        "--eku",
        "serverAuth",
        "--out",
        str(out),
        *card,
    )
    assert made["subject"] == "CN=www.example.org,O=Example,C=DE"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    request = x509.load_pem_x509_csr(out.read_bytes())
    assert request.is_signature_valid
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["www.example.org"]
    # an existing request file is not replaced without --force
    assert cli(["csr", "--key", "1", "--subject", "CN=x", "--out", str(out), *card]) == 1
    assert "--force" in capsys.readouterr().err

    certificate = issue(request)
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    imported = run_json(cli, capsys, "import-cert", "--key", "1", str(cert_file), *card)
    assert imported["replaced"] == "cv-request" and imported["issuer"] == "CN=CLI Test CA"

    keys = run_json(cli, capsys, "keys", "--simulator", str(state))
    [key] = [k for k in _key_list(keys) if k["key_reference"] == 1]
    assert key["certificate"] == "CN=www.example.org,O=Example,C=DE"
    assert key["certificate_kind"] == "x509" and not key["cv_request"]

    exported = tmp_path / "exported.der"
    assert cli(["export-cert", "--key", "1", "--der", "--out", str(exported), *card[:2]]) == 0
    assert x509.load_der_x509_certificate(exported.read_bytes()) == certificate
    pubkey = tmp_path / "key.pem"
    assert cli(["export-pubkey", "--key", "1", "--out", str(pubkey), *card[:2]]) == 0
    assert serialization.load_pem_public_key(pubkey.read_bytes()) == request.public_key()


def _key_list(output: object) -> list[dict[str, object]]:
    if isinstance(output, dict):
        found = output.get("keys", [])
        assert isinstance(found, list)
        return found
    assert isinstance(output, list)
    return output


def test_a_certificate_for_another_key_is_refused_and_nothing_changes(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    make_card(state)
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    run_json(cli, capsys, "generate", "ec:prime256v1", "--label", "one", *card)
    run_json(cli, capsys, "generate", "ec:prime256v1", "--label", "two", *card)
    request_file = tmp_path / "two.pem"
    run_json(
        cli, capsys, "csr", "--key", "2", "--subject", "CN=two", "--out", str(request_file), *card
    )
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(
        issue(x509.load_pem_x509_csr(request_file.read_bytes())).public_bytes(
            serialization.Encoding.PEM
        )
    )
    before = json.loads(state.read_bytes())
    assert cli(["import-cert", "--key", "1", str(foreign), *card]) == 1
    error = capsys.readouterr().err
    assert "is for another key" in error and "nothing was changed" in error
    after = json.loads(state.read_bytes())
    assert after["files"] == before["files"] and after["keys"] == before["keys"]


def test_rename_and_export_a_ca_certificate(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    make_card(state)
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    run_json(cli, capsys, "generate", "ec:prime256v1", "--label", "one", *card)
    run_json(cli, capsys, "generate", "ec:prime256v1", "--label", "two", *card)
    ca_key = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CLI Demo Root CA")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.verify_pin(PIN)
    assert KeyStore(hsm).store_ca_certificate(ca_certificate, "root") == 0
    renamed = run_json(cli, capsys, "rename-key", "--key", "2", "--label", "Web server", *card)
    assert renamed["label"] == "Web server" and renamed["files"] == ["C402"]
    keys = _key_list(run_json(cli, capsys, "keys", "--simulator", str(state)))
    assert [k["label"] for k in keys if k["key_reference"] == 2] == ["Web server"]
    assert cli(["rename-key", "--key", "2", "--label", " ", *card]) == 1
    assert "a key needs a label; nothing was changed" in capsys.readouterr().err
    assert cli(["export-cert", "--ca", "0", "--simulator", str(state)]) == 0
    certificate = x509.load_pem_x509_certificate(capsys.readouterr().out.encode())
    assert "Demo Root CA" in certificate.subject.rfc4514_string()
    assert cli(["export-cert", "--ca", "7", "--simulator", str(state)]) == 1
    assert "there is no CA certificate 7" in capsys.readouterr().err
    assert cli(["csr", "--key", "1", "--subject", "CN", "--out", str(tmp_path / "x.pem")]) == 1
    assert "not an RFC 4514 name" in capsys.readouterr().err


def test_data_objects_list_show_export_delete(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "card.json"
    make_card(state)
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(state)))
    hsm.verify_pin(PIN)
    hsm.write_file(0xCF07, b"hello\n")
    hsm.write_file(
        0xC907, encode_dcod(DataObjectDescription("greeting", b"\xcf\x07", application="tests"))
    )
    hsm.write_file(0xCD08, b"\x01\x02")
    hsm.write_file(
        0xC908, encode_dcod(DataObjectDescription("pin data", b"\xcd\x08", private=True))
    )
    card = ["--simulator", str(state), "--pin-env", "TEST_PIN"]
    listed = run_json(cli, capsys, "data", "list", *card)["data_objects"]
    assert {(o["file"], o["label"], o["private"]) for o in listed} >= {
        ("CF07", "greeting", False),
        ("CD08", "pin data", True),
    }
    shown = run_json(cli, capsys, "data", "show", "cf07", *card)
    assert shown == {"file": "CF07", "hex": "68656C6C6F0A", "text": "hello\n"}
    assert run_json(cli, capsys, "data", "show", "CD08", *card)["hex"] == "0102"
    out = tmp_path / "greeting.bin"
    run_json(cli, capsys, "data", "export", "CF07", "--out", str(out), *card)
    assert out.read_bytes() == b"hello\n"
    assert cli(["data", "delete", "CF07", *card]) == 1
    assert "--yes" in capsys.readouterr().err
    deleted = run_json(cli, capsys, "data", "delete", "CF07", "--yes", *card)
    assert deleted["removed"] == ["C907", "CF07"]
    assert cli(["data", "show", "CF07", *card]) == 1
    assert "no data object in file CF07" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["data", "show", "xyz", *card])
