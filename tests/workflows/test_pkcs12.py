"""Opening PKCS#12 files: entries, labels, what the card can hold, specific errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from keymanager.workflows.pkcs12 import (
    MAX_PKCS12_SIZE,
    NothingToImport,
    Pkcs12Corrupt,
    Pkcs12TooLarge,
    Pkcs12Unreadable,
    Pkcs12WrongPassword,
    key_support,
    open_pkcs12,
)
from tests.workflows.p12_support import P12_PASSWORD, ca_chain, host_key, write_p12

PASSWORD = P12_PASSWORD.encode()


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_key_with_certificate_and_chain(tmp_path: Path) -> None:
    key = host_key("p256")
    path = tmp_path / "chain.p12"
    cert = write_p12(path, key, common_name="Alice", with_chain=True)
    contents = open_pkcs12(path, bytearray(PASSWORD))

    [entry] = contents.keys
    assert entry.unsupported is None
    assert entry.certificate == cert
    assert entry.label == "Alice"  # no friendly name: the certificate's CN
    assert entry.description == "EC secp256r1"
    assert entry.public_key is not None and _spki(entry.public_key) == _spki(key.public_key())
    chain = ca_chain()
    assert {c.certificate for c in contents.certificates} == {chain.root, chain.intermediate}
    assert {c.label for c in contents.certificates} == {"Test Root CA", "Test Intermediate CA"}

    choices = contents.choices()
    assert [choice.value for choice in choices] == ["key:1", "ca:1", "ca:2"]
    assert all(choice.disabled is None for choice in choices)
    assert contents.choices(exclude=["key:1"])[0].value == "ca:1"
    contents.forget()
    assert entry.private_key is None


def test_friendly_name_is_the_label(tmp_path: Path) -> None:
    path = tmp_path / "named.p12"
    write_p12(path, host_key("rsa2048"), common_name="CN of it", friendly_name=b"signing key")
    [entry] = open_pkcs12(path, PASSWORD).keys
    assert entry.label == "signing key"
    assert entry.description == "RSA 2048-bit"


def test_key_without_certificate(tmp_path: Path) -> None:
    key = host_key("p384")
    path = tmp_path / "bare.p12"
    write_p12(path, key, with_certificate=False)
    contents = open_pkcs12(path, PASSWORD)
    [entry] = contents.keys
    assert entry.certificate is None
    assert entry.label == "Imported key 1"
    assert entry.public_key is not None and _spki(entry.public_key) == _spki(key.public_key())
    assert contents.certificates == []


def test_certificates_only(tmp_path: Path) -> None:
    chain = ca_chain()
    path = tmp_path / "cas.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [chain.root, chain.intermediate], BestAvailableEncryption(PASSWORD)
        )
    )
    contents = open_pkcs12(path, PASSWORD)
    assert contents.keys == []
    assert len(contents.certificates) == 2
    contents.check_importable()  # certificates alone can be imported


@pytest.mark.parametrize("kind", ["rsa1024", "rsa2048", "rsa4096", "p256", "p384", "bp256"])
def test_supported_keys(kind: str) -> None:
    assert key_support(host_key(kind)) is None


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("ed25519", "Ed25519"),
        ("dsa", "DSA"),
        ("p224", "secp224r1"),
    ],
)
def test_unsupported_keys_are_greyed_with_the_reason(
    tmp_path: Path, kind: str, reason: str
) -> None:
    path = tmp_path / f"{kind}.p12"
    write_p12(path, host_key(kind), common_name=f"{kind} key")
    contents = open_pkcs12(path, PASSWORD)
    [entry] = contents.keys
    assert entry.unsupported is not None and reason in entry.unsupported
    assert "cannot hold" in entry.unsupported or "does not support" in entry.unsupported
    [choice] = contents.choices()
    assert choice.disabled == entry.unsupported
    with pytest.raises(NothingToImport, match=reason):
        contents.check_importable()


def test_wrong_password(tmp_path: Path) -> None:
    path = tmp_path / "a.p12"
    write_p12(path, host_key("p256"))
    with pytest.raises(Pkcs12WrongPassword, match="password is wrong"):
        open_pkcs12(path, b"not the password")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "a.p12"
    write_p12(path, host_key("p256"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x30\x03abc" * 40)
    with pytest.raises(Pkcs12Corrupt, match="not a readable PKCS#12 file"):
        open_pkcs12(path, PASSWORD)


def test_too_large_and_missing(tmp_path: Path) -> None:
    big = tmp_path / "big.p12"
    big.write_bytes(bytes(MAX_PKCS12_SIZE + 1))
    with pytest.raises(Pkcs12TooLarge, match="refused"):
        open_pkcs12(big, PASSWORD)
    with pytest.raises(Pkcs12Unreadable, match="cannot read"):
        open_pkcs12(tmp_path / "missing.p12", PASSWORD)
