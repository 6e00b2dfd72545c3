"""sc-hsm-tool and our library agree on initialisation, DKEK share files, the KCV and key backups.

One simulated card sits in vpcd's first reader for the whole module.  sc-hsm-tool
initialises it for two DKEK shares; share file A is made by sc-hsm-tool (its salt and
share come from the card), share file B by our library; sc-hsm-tool imports both.  The
DKEK is then A xor B, which our library computes from the decrypted files, so keys
wrapped by sc-hsm-tool open with our library and backups written by our library
restore with sc-hsm-tool.  Each sc-hsm-tool share-file run costs ~13 s of key
derivation, so the files are made once here and reused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.hsm_types import PinState
from keymanager.card.pkcs15 import (
    KeyKind,
    PrivateKeyDescription,
    decode_prkd,
    default_usage,
    encode_prkd,
    key_id_for_public_key,
)
from keymanager.dkek import Dkek
from keymanager.dkek.keyblob import decode_key, encode_key
from keymanager.dkek.sharefile import decrypt_share, encrypt_share
from keymanager.dkek.wky import KeyBackup, parse_backup
from tests.support.opensc import (
    ECDSA_SHA256,
    KDF_TIMEOUT,
    SO_PIN,
    USER_PIN,
    InsertedCard,
    ToolRun,
    hsm_session,
    inserted_simulator,
    parse_pkcs11_objects,
    parse_pkcs15_keys,
    parse_status,
    pkcs11_public_key,
    pkcs11_sign,
    pkcs11_tool,
    pkcs15_key_reference,
    pkcs15_tool,
    sc_hsm_tool,
    self_signed_certificate,
)
from tests.support.pcscd import PcscdHarness
from tests.support.profiles import current_profile

LABEL = "Interop"
PASSWORD_A = "interop-share-A"
PASSWORD_B = "interop-share-B"
MESSAGE = b"signed through OpenSC's PKCS#11 module"


@pytest.fixture(scope="module")
def hsm_card(
    pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str
) -> Iterator[InsertedCard]:
    with inserted_simulator(pcscd, seed=b"opensc interop: dkek") as inserted:
        yield inserted


@pytest.fixture(scope="module")
def initialised(hsm_card: InsertedCard) -> ToolRun:
    """The blank card, initialised by sc-hsm-tool for two DKEK shares."""
    return sc_hsm_tool(
        hsm_card.reader,
        "--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN,
        "--dkek-shares", "2", "--label", LABEL,
    )  # fmt: skip


@dataclass(frozen=True)
class ShareFiles:
    a_path: Path
    a_run: ToolRun
    b_path: Path
    b_share: bytes


@pytest.fixture(scope="module")
def share_files(hsm_card: InsertedCard, initialised: ToolRun, workdir: Path) -> ShareFiles:
    """A.pbe by sc-hsm-tool (from the card's GET CHALLENGE), B.pbe by our library.

    Both key derivations run at the same time (ours releases the GIL).
    """
    a_path, b_path = workdir / "A.pbe", workdir / "B.pbe"
    b_share = os.urandom(32)
    with ThreadPoolExecutor(max_workers=1) as pool:
        ours = pool.submit(encrypt_share, b_share, PASSWORD_B.encode())
        a_run = sc_hsm_tool(
            hsm_card.reader,
            "--create-dkek-share", a_path, "--password", PASSWORD_A,
            timeout=KDF_TIMEOUT,
        )  # fmt: skip
        b_path.write_bytes(ours.result())
    return ShareFiles(a_path, a_run, b_path, b_share)


@pytest.fixture(scope="module")
def share_a(share_files: ShareFiles) -> bytes:
    """Share A as our library decrypts sc-hsm-tool's file."""
    assert share_files.a_path.is_file(), share_files.a_run.report()
    return bytes(decrypt_share(share_files.a_path.read_bytes(), PASSWORD_A.encode()))


@dataclass(frozen=True)
class Imports:
    b_run: ToolRun
    a_run: ToolRun


@pytest.fixture(scope="module")
def imported(hsm_card: InsertedCard, share_files: ShareFiles) -> Imports:
    """sc-hsm-tool imports our B.pbe, then its own A.pbe."""
    b_run = sc_hsm_tool(
        hsm_card.reader,
        "--import-dkek-share", share_files.b_path, "--password", PASSWORD_B,
        timeout=KDF_TIMEOUT,
    )  # fmt: skip
    a_run = sc_hsm_tool(
        hsm_card.reader,
        "--import-dkek-share", share_files.a_path, "--password", PASSWORD_A,
        timeout=KDF_TIMEOUT,
    )  # fmt: skip
    return Imports(b_run, a_run)


@pytest.fixture(scope="module")
def dkek(share_a: bytes, share_files: ShareFiles, imported: Imports) -> Iterator[Dkek]:
    """The DKEK the card holds after both imports, assembled by our library."""
    with Dkek.from_shares([share_a, share_files.b_share]) as value:
        yield value


# --- 1. initialisation ------------------------------------------------------------


def test_sc_hsm_tool_initialises_a_blank_card(hsm_card: InsertedCard, initialised: ToolRun) -> None:
    # sc-hsm-tool exits 0 even when INITIALIZE failed: the card's state is what counts.
    assert initialised.returncode == 0, initialised.report()
    assert hsm_card.card.state.initialised, initialised.report()
    with hsm_session(hsm_card.reader) as hsm:
        pin = hsm.pin_status()
        so_pin = hsm.so_pin_status()
        domain = hsm.key_domain_status(0)
        hsm.verify_pin(USER_PIN)
        assert hsm.pin_status().verified
    assert pin.state is PinState.NOT_VERIFIED and pin.tries_left == 3, initialised.report()
    assert so_pin.state is PinState.NOT_VERIFIED and so_pin.tries_left == 15
    assert domain is not None and domain.shares_total == 2, initialised.report()
    screen = sc_hsm_tool(hsm_card.reader).check()
    shown = parse_status(screen.stdout)
    assert shown.initialised and shown.user_pin_tries == 3, screen.report()
    assert shown.dkek_shares == 2, screen.report()
    listing = pkcs15_tool(hsm_card.reader, "--dump").check()
    # writing the label (EF 2F03) fails on Pico HSM, with OpenSC too (item 11)
    label = "SmartCard-HSM" if current_profile().token_label_write_fails else LABEL
    assert f"PKCS#15 Card [{label}]" in listing.stdout, listing.report()
    assert f"UTSIM{hsm_card.card.state.serial}" in listing.stdout, listing.report()


# --- 2. share files and the KCV ----------------------------------------------------


def test_our_library_opens_sc_hsm_tool_share_file(share_files: ShareFiles, share_a: bytes) -> None:
    assert share_files.a_run.returncode == 0, share_files.a_run.report()
    data = share_files.a_path.read_bytes()
    assert len(data) == 64 and data.startswith(b"Salted__")
    assert len(share_a) == 32 and share_a != bytes(32)
    assert share_a != share_files.b_share


def test_sc_hsm_tool_imports_our_share_file_and_its_own(
    hsm_card: InsertedCard, imported: Imports, share_a: bytes, share_files: ShareFiles
) -> None:
    assert "DKEK share imported" in imported.b_run.stdout, imported.b_run.report()
    after_b = parse_status(imported.b_run.stdout)
    assert after_b.shares_missing == 1, imported.b_run.report()
    assert "DKEK share imported" in imported.a_run.stdout, imported.a_run.report()
    # The card holds exactly A xor B: our decryption of A and our encryption of B are
    # both byte-exact with sc-hsm-tool.
    domain = hsm_card.card.state.key_domains and hsm_card.card.state.key_domains[0]
    assert domain and domain.complete, imported.a_run.report()
    assert domain.dkek == bytes(a ^ b for a, b in zip(share_a, share_files.b_share, strict=True))


def test_kcv_agrees_between_card_session_library_and_sc_hsm_tool(
    hsm_card: InsertedCard, imported: Imports, dkek: Dkek
) -> None:
    expected = dkek.kcv()
    with hsm_session(hsm_card.reader) as hsm:
        hidden = hsm.key_domain_status(0)
        hsm.verify_pin(USER_PIN)
        status = hsm.key_domain_status(0)
    assert status is not None and status.complete
    assert status.kcv == expected
    # sc-hsm-tool reads the status without a PIN: Pico HSM shows zeros then (item 2)
    tool_sees = bytes(8) if current_profile().hide_kcv_until_login else expected
    assert hidden is not None and hidden.kcv == (None if tool_sees == bytes(8) else expected)
    assert parse_status(imported.a_run.stdout).kcv == tool_sees, imported.a_run.report()
    screen = sc_hsm_tool(hsm_card.reader).check()
    shown = parse_status(screen.stdout)
    assert shown.dkek_shares == 2 and shown.shares_missing is None, screen.report()
    assert shown.kcv == tool_sees, screen.report()


# --- 5. key backups: sc-hsm-tool --wrap-key / --unwrap-key -------------------------


@pytest.mark.parametrize(
    ("key_type", "key_id", "label"),
    [("EC:prime256v1", b"\x21", "wrapped EC"), ("rsa:2048", b"\x22", "wrapped RSA")],
)
def test_sc_hsm_tool_backup_opens_with_our_library(
    hsm_card: InsertedCard, dkek: Dkek, workdir: Path, key_type: str, key_id: bytes, label: str
) -> None:
    generated = pkcs11_tool(
        "--login", "--pin", USER_PIN, "--keypairgen", "--key-type", key_type,
        "--id", key_id.hex(), "--label", label,
    ).check()  # fmt: skip
    listing = pkcs15_tool(hsm_card.reader, "--list-keys").check()
    [key] = [k for k in parse_pkcs15_keys(listing.stdout) if k.label == label]
    reference = pkcs15_key_reference(key)

    backup_path = workdir / f"W-{key_id.hex()}.bin"
    wrapped = sc_hsm_tool(
        hsm_card.reader,
        "--wrap-key", backup_path, "--key-reference", str(reference), "--pin", USER_PIN,
    )  # fmt: skip
    assert backup_path.is_file(), wrapped.report()
    backup = parse_backup(backup_path.read_bytes())
    backup_path.unlink()

    decoded = decode_key(dkek, backup.blob)
    private_key = decoded.private_key
    assert isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    read, public_der = pkcs11_public_key(workdir, key_id)
    assert public_der is not None, read.report()
    ours = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ours == public_der, generated.report()
    assert backup.prkd is not None and backup.has_cv_request
    description = decode_prkd(backup.prkd)
    assert (description.label, description.id) == (label, key_id)


@pytest.fixture(scope="module")
def host_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def test_sc_hsm_tool_restores_our_backup(
    hsm_card: InsertedCard, dkek: Dkek, workdir: Path, host_key: ec.EllipticCurvePrivateKey
) -> None:
    label = "restored by sc-hsm-tool"
    public_key = host_key.public_key()
    key_id = key_id_for_public_key(public_key)
    certificate = self_signed_certificate(host_key, "interop restore")
    description = PrivateKeyDescription(
        kind=KeyKind.EC,
        label=label,
        id=key_id,
        usage=default_usage(KeyKind.EC),
        size=public_key.curve.key_size,
        key_reference=10,
    )
    backup = KeyBackup(
        blob=encode_key(dkek, host_key),
        prkd=encode_prkd(description),
        certificate=certificate.public_bytes(serialization.Encoding.DER),
    )
    path = workdir / "W2.bin"
    path.write_bytes(backup.to_der())
    restored = sc_hsm_tool(
        hsm_card.reader,
        "--unwrap-key", path, "--key-reference", "10", "--pin", USER_PIN, "--force",
    )  # fmt: skip
    path.unlink()
    assert 10 in hsm_card.card.state.keys, restored.report()

    # sc-hsm-tool writes the PRKD and the certificate from the file unchanged.
    assert hsm_card.card.state.files.get(0xC40A) == backup.prkd, restored.report()
    assert hsm_card.card.state.files.get(0xCE0A) == backup.certificate, restored.report()

    listing = pkcs11_tool("--login", "--pin", USER_PIN, "--list-objects").check()
    objects = {(o.object_class, o.label, o.id) for o in parse_pkcs11_objects(listing.stdout)}
    assert ("Private Key", label, key_id.hex()) in objects, listing.report()
    assert ("Certificate", label, key_id.hex()) in objects, listing.report()

    signed, signature = pkcs11_sign(workdir, key_id, ECDSA_SHA256, MESSAGE)
    assert signature is not None, signed.report()
    public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
