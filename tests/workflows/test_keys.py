"""Backup, restore, generate, delete and export against simulated cards, with faults."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.errors import CardRemoved
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm, EcKeySpec, InitParams
from keymanager.card.keystore import EE_CERTIFICATE_PREFIX, KEY_PREFIX, PRKD_PREFIX, KeyStore, fid
from keymanager.card.pkcs15 import KeyKind, decode_prkd
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.errors import BackupFileError
from keymanager.dkek.keyblob import AesKey, encode_key
from keymanager.dkek.wky import KeyBackup, parse_backup, write_backup_file
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import BackupDkekMismatch, PinNotVerified, WorkflowError
from keymanager.workflows.interaction import Cancelled, MessageLevel, ScriptedInteraction
from keymanager.workflows.keys import (
    KeyAlgorithm,
    KeyJournal,
    backup_key,
    delete_key,
    export_certificate,
    export_public_key,
    generate_key,
    recover_interrupted,
    restore_key,
)
from tests.support.opensc import self_signed_certificate

PIN = "648219"
SHARES = [bytes(range(32)), bytes(range(50, 82))]
OTHER = [bytes(range(200, 232))]


def dkek_card(
    shares: list[bytes], seed: bytes, *, domains: int | None = None
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(
        InitParams(
            user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=len(shares), key_domains=domains
        )
    )
    for share in shares:
        hsm.import_dkek_share(share)
    hsm.verify_pin(PIN)
    return simulator, hsm


def reopen(simulator: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(simulator))


def pin() -> ScriptedInteraction:
    return ScriptedInteraction().answer("secret", PIN)


@pytest.fixture(scope="module")
def source(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A backup of an EC key with a certificate, made from a card with DKEK = SHARES."""
    directory = tmp_path_factory.mktemp("backup")
    _simulator, hsm = dkek_card(SHARES, b"source")
    info = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "signing key")
    host_key = ec.generate_private_key(ec.SECP256R1())  # only signs the certificate
    assert info.public_key is not None
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Backup Test")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(info.public_key)
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(host_key, hashes.SHA256())
    )
    KeyStore(hsm).store_certificate(info.key_reference, certificate)
    path = directory / "key.wky"
    interaction = ScriptedInteraction()
    result = backup_key(hsm, interaction, info.key_reference, path)
    assert result.label == "signing key" and result.domain == 0
    assert result.blob_kcv == format_kcv(Dkek.from_shares(SHARES).kcv())
    assert result.certificate == "x509" and result.prkd
    return path, certificate, host_key


def test_backup_file_is_private_and_holds_blob_prkd_certificate(
    source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    path, certificate, _ = source
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backup = parse_backup(path.read_bytes())
    assert backup.certificate == certificate.public_bytes(serialization.Encoding.DER)
    assert backup.prkd is not None and decode_prkd(backup.prkd).label == "signing key"
    assert backup.blob[:8] == Dkek.from_shares(SHARES).kcv()


def test_restore_onto_a_twin_card_signs_with_the_same_key(
    source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    path, certificate, _ = source
    simulator, hsm = dkek_card(SHARES, b"twin")
    KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "occupies 1")
    interaction = pin()
    result = restore_key(hsm, interaction, path, key_reference=7)
    assert result.key_reference == 7 and result.label == "signing key"
    assert result.prkd == "file, key reference corrected"
    assert result.domain == 0 and result.certificate == "x509"
    description = decode_prkd(simulator.state.files[fid(PRKD_PREFIX, 7)])
    assert description.key_reference == 7 and description.label == "signing key"
    listed = {k.key_reference: k for k in KeyStore(hsm).list_keys(load_certificates=True)}
    assert listed[7].certificate == certificate
    signature = hsm.sign(7, Algorithm.ECDSA_SHA256, b"restored")
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"restored", ec.ECDSA(hashes.SHA256()))
    # a free reference is chosen when none is named, and a taken one is refused
    # the same key again: the card's copy is named and the user asked
    asked = ScriptedInteraction().answer("confirm", True)
    again = restore_key(hsm, asked, path)
    assert any("already on the card: key 7 (signing key)" in q for q in asked.questions)
    assert again.key_reference == 2 and again.prkd == "file, key reference corrected"
    with pytest.raises(WorkflowError, match="already holds a key"):
        restore_key(hsm, ScriptedInteraction(), path, key_reference=7)


def test_backup_for_another_dkek_is_refused_and_nothing_changes(
    source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    path, _, _ = source
    simulator, hsm = dkek_card(OTHER, b"other")
    before = dict(simulator.state.files), set(simulator.state.keys)
    with pytest.raises(BackupDkekMismatch) as raised:
        restore_key(hsm, pin(), path)
    message = str(raised.value)
    assert format_kcv(Dkek.from_shares(SHARES).kcv()) in message
    assert format_kcv(Dkek.from_shares(OTHER).kcv()) in message
    assert "nothing was changed" in message
    assert (dict(simulator.state.files), set(simulator.state.keys)) == before


def test_restore_refuses_what_is_not_a_backup_and_a_card_without_dkek(tmp_path: Path) -> None:
    _simulator, hsm = dkek_card(SHARES, b"bad")
    junk = tmp_path / "junk.wky"
    junk.write_bytes(b"\x04\x03abc")
    with pytest.raises(BackupFileError):
        restore_key(hsm, ScriptedInteraction(), junk)
    with pytest.raises(WorkflowError, match="cannot read"):
        restore_key(hsm, ScriptedInteraction(), tmp_path / "missing.wky")


def test_aes_backup_without_description_gets_one_made(tmp_path: Path) -> None:
    simulator, hsm = dkek_card(SHARES, b"aes")
    dkek = Dkek.from_shares(SHARES)
    path = tmp_path / "aes.wky"
    write_backup_file(path, KeyBackup(blob=encode_key(dkek, AesKey(bytes(32)))))
    interaction = ScriptedInteraction().answer("choice", 256).answer("text", "wrapping key")
    result = restore_key(hsm, interaction, path)
    assert (result.kind, result.size, result.prkd) == ("AES", 256, "made")
    description = decode_prkd(simulator.state.files[fid(PRKD_PREFIX, result.key_reference)])
    assert description.kind is KeyKind.AES and description.label == "wrapping key"


def test_backup_keeps_a_cv_request_and_refuses_keys_without_domain(tmp_path: Path) -> None:
    _simulator, hsm = dkek_card(SHARES, b"cvreq")
    info = KeyStore(hsm).generate_key(EcKeySpec("brainpoolP256r1"), "no certificate")
    result = backup_key(hsm, ScriptedInteraction(), info.key_reference, tmp_path / "cv.wky")
    assert result.certificate == "cv-request"
    backup = parse_backup((tmp_path / "cv.wky").read_bytes())
    assert backup.has_cv_request and backup.certificate == info.cv_request
    with pytest.raises(WorkflowError, match="already exists"):
        backup_key(hsm, ScriptedInteraction(), info.key_reference, tmp_path / "cv.wky")
    # a card without DKEK cannot wrap
    simulator = SmartCardHsmSimulator(seed=b"nodkek")
    plain = SmartCardHsm.open(LocalTransport(simulator))
    plain.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN))
    plain.verify_pin(PIN)
    key = KeyStore(plain).generate_key(EcKeySpec("secp256r1"), "k")
    with pytest.raises(WorkflowError, match="without a DKEK"):
        backup_key(plain, ScriptedInteraction(), key.key_reference, tmp_path / "x.wky")
    assert not (tmp_path / "x.wky").exists()
    with pytest.raises(WorkflowError, match="no key with reference 9"):
        backup_key(plain, ScriptedInteraction(), 9, tmp_path / "x.wky")


# --- generation --------------------------------------------------------------------------


def test_generate_rsa_ec_aes_with_domain_and_algorithms() -> None:
    simulator, hsm = dkek_card([], b"gen", domains=2)  # domain 0: random DKEK
    hsm.create_dkek_domain(1, 0)
    rsa_key = generate_key(hsm, ScriptedInteraction(), KeyAlgorithm.parse("rsa:1024"), "rsa one")
    ec_key = generate_key(
        hsm,
        ScriptedInteraction(),
        KeyAlgorithm.parse("ec:prime256v1"),
        "ec one",
        domain=1,
        allowed_algorithms=bytes([Algorithm.ECDSA_SHA256]),
    )
    aes_key = generate_key(
        hsm, ScriptedInteraction(), KeyAlgorithm.parse("aes:256"), "aes one", domain=1
    )
    assert [rsa_key.key_reference, ec_key.key_reference, aes_key.key_reference] == [1, 2, 3]
    assert simulator.state.keys[2].domain == 1
    assert simulator.state.keys[2].algorithms == bytes([Algorithm.ECDSA_SHA256])
    assert simulator.state.keys[3].domain == 1 and simulator.state.keys[3].kind.lower() == "aes"
    # the card's default AES list lacks wrap (92): keymanager adds it to an exportable key
    assert aes_key.allowed_algorithms == "1011189992"
    assert simulator.state.keys[3].algorithms == bytes.fromhex("1011189992")
    listed = {k.key_reference: k for k in KeyStore(hsm).list_keys()}
    assert (listed[1].kind, listed[1].size, listed[1].label) == (KeyKind.RSA, 1024, "rsa one")
    assert (listed[2].kind, listed[2].size) == (KeyKind.EC, 256)
    assert (listed[3].kind, listed[3].size, listed[3].label) == (KeyKind.AES, 256, "aes one")
    with pytest.raises(WorkflowError, match=r"no key domain 5 \(its 2 key-domain slot"):
        generate_key(hsm, ScriptedInteraction(), KeyAlgorithm.parse("aes:128"), "x", domain=5)
    for bad in ("rsa:1000", "ec:nosuchcurve", "aes:64", "dsa:1024"):
        with pytest.raises(ValueError):
            KeyAlgorithm.parse(bad)


def test_delete_confirms_with_the_label_and_export() -> None:
    simulator, hsm = dkek_card(SHARES, b"delete")
    info = KeyStore(hsm).generate_key(EcKeySpec("secp384r1"), "to be deleted")
    pem = export_public_key(hsm, info.key_reference)
    assert info.public_key is not None
    assert pem == info.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(WorkflowError, match=r"no X\.509 certificate"):
        export_certificate(hsm, info.key_reference)
    host = ec.generate_private_key(ec.SECP384R1())
    certificate = self_signed_certificate(host, "export")
    stored = KeyStore(hsm).import_wrapped_key(
        encode_key(Dkek.from_shares(SHARES), host), label="with cert", certificate=certificate
    )
    assert export_certificate(hsm, stored.key_reference) == certificate.public_bytes(
        serialization.Encoding.PEM
    )
    assert export_certificate(hsm, stored.key_reference, pem=False) == certificate.public_bytes(
        serialization.Encoding.DER
    )
    declined = ScriptedInteraction().answer("confirm", False)
    with pytest.raises(Cancelled):
        delete_key(hsm, declined, info.key_reference)
    assert "to be deleted" in declined.questions[0]
    assert info.key_reference in simulator.state.keys
    deleted = delete_key(hsm, ScriptedInteraction().answer("confirm", True), info.key_reference)
    assert deleted.label == "to be deleted"
    assert info.key_reference not in simulator.state.keys
    assert fid(PRKD_PREFIX, info.key_reference) not in simulator.state.files


def test_wrong_pin_tells_the_tries_left_and_changes_nothing(tmp_path: Path) -> None:
    simulator = SmartCardHsmSimulator(seed=b"wrongpin")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=0))
    interaction = ScriptedInteraction().answer("secret", "111111").answer("secret", "222222")
    interaction.answer("secret", "333333")
    with pytest.raises(PinNotVerified):
        generate_key(hsm, interaction, KeyAlgorithm.parse("ec:secp256r1"), "x")
    warnings = interaction.texts(MessageLevel.WARNING)
    assert warnings[:2] == ["Wrong PIN: 2 tries left.", "Wrong PIN: 1 try left."]
    assert set(simulator.state.keys) <= {0}


# --- fault injection ---------------------------------------------------------------------


def consistent(simulator: SmartCardHsmSimulator) -> None:
    """Every key has its PRKD and every PRKD or certificate has its key."""
    files = simulator.state.files
    keys = {ref for ref in simulator.state.keys if ref}
    described = {f & 0xFF for f in files if f >> 8 == PRKD_PREFIX}
    certified = {f & 0xFF for f in files if f >> 8 == EE_CERTIFICATE_PREFIX}
    assert described <= keys, ("PRKD without key", described - keys)
    assert certified <= keys, ("certificate without key", certified - keys)
    assert keys <= described, ("key without PRKD", keys - described)


def run_with_removals(make, operation, tmp_path: Path, *, minimum: int) -> int:  # type: ignore[no-untyped-def]
    """Remove the card at each APDU of ``operation`` in turn, then recover and check.

    ``minimum`` is the number of APDUs the operation cannot do without (VERIFY and the
    commands that change the card): fewer fault points means the loop tested nothing.
    """
    simulator, hsm = make()
    simulator.faults.clear()
    operation(hsm, KeyJournal(tmp_path / "clean"))
    points = simulator.faults.apdus_seen
    assert points >= minimum, f"only {points} fault points, expected at least {minimum}"
    visited = 0
    for k in range(1, points + 1):
        simulator, hsm = make()
        journal = KeyJournal(tmp_path / f"journal-{k}")
        simulator.faults.remove_at(k)
        with pytest.raises(CardRemoved):
            operation(hsm, journal)
        simulator.insert()
        hsm = reopen(simulator)
        recover_interrupted(hsm, pin(), journal)
        consistent(simulator)
        assert journal.pending(hsm.serial()) == []
        visited += 1
    assert visited == points
    return points


def test_restore_with_the_card_removed_at_each_apdu(
    source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey], tmp_path: Path
) -> None:
    path, _, _ = source

    def operation(hsm: SmartCardHsm, journal: KeyJournal) -> None:
        restore_key(hsm, pin(), path, key_reference=3, journal=journal)

    # VERIFY, UNWRAP, write the PRKD, write the certificate
    points = run_with_removals(
        lambda: dkek_card(SHARES, b"fault-restore"), operation, tmp_path, minimum=4
    )
    print(f"restore: {points} fault points")


def test_generation_with_the_card_removed_at_each_apdu(tmp_path: Path) -> None:
    def make() -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
        simulator, _hsm = dkek_card(SHARES, b"fault-gen")
        return simulator, reopen(simulator)

    # VERIFY, GENERATE (EC: then the CV request in CE01), write the PRKD
    for text, minimum in (("ec:secp256r1", 4), ("aes:128", 3)):

        def operation(hsm: SmartCardHsm, journal: KeyJournal, text: str = text) -> None:
            generate_key(hsm, pin(), KeyAlgorithm.parse(text), "gen", journal=journal)

        points = run_with_removals(
            make, operation, tmp_path / text.replace(":", "-"), minimum=minimum
        )
        print(f"generate {text}: {points} fault points")


def test_delete_with_the_card_removed_at_each_apdu() -> None:
    def make() -> tuple[SmartCardHsmSimulator, SmartCardHsm, int]:
        simulator, hsm = dkek_card(SHARES, b"fault-del")
        host = ec.generate_private_key(ec.SECP256R1())
        info = KeyStore(hsm).import_wrapped_key(
            encode_key(Dkek.from_shares(SHARES), host),
            label="del",
            certificate=self_signed_certificate(host, "del"),
        )
        return simulator, reopen(simulator), info.key_reference

    simulator, hsm, ref = make()
    simulator.faults.clear()
    delete_key(hsm, ScriptedInteraction().answer("confirm", True).answer("secret", PIN), ref)
    points = simulator.faults.apdus_seen
    # VERIFY and one DELETE FILE each for the key, its PRKD and its certificate
    assert points >= 4, f"only {points} fault points, expected at least 4"
    visited = 0
    for k in range(1, points + 1):
        simulator, hsm, ref = make()
        simulator.faults.remove_at(k)
        with pytest.raises(CardRemoved):
            delete_key(
                hsm, ScriptedInteraction().answer("confirm", True).answer("secret", PIN), ref
            )
        simulator.insert()
        files = simulator.state.files
        # never metadata without its key (a key without metadata can be deleted again)
        if fid(KEY_PREFIX, ref) not in files and ref not in simulator.state.keys:
            assert fid(PRKD_PREFIX, ref) not in files
            assert fid(EE_CERTIFICATE_PREFIX, ref) not in files
        if ref in simulator.state.keys:
            delete_key(
                reopen(simulator),
                ScriptedInteraction().answer("confirm", True).answer("secret", PIN),
                ref,
            )
        assert ref not in simulator.state.keys
        consistent(simulator)
        visited += 1
    assert visited == points
    print(f"delete: {points} fault points")


def test_journal_keeps_nothing_after_success(
    tmp_path: Path, source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]
) -> None:
    _simulator, hsm = dkek_card(SHARES, b"journal")
    journal = KeyJournal(tmp_path)
    restore_key(hsm, ScriptedInteraction(), source[0], journal=journal)
    assert list(tmp_path.iterdir()) == []


def test_journal_stores_digests_never_content(
    tmp_path: Path, source: tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]
) -> None:
    path, certificate, _ = source
    backup = parse_backup(path.read_bytes())
    assert backup.prkd is not None and backup.certificate is not None
    simulator, hsm = dkek_card(SHARES, b"journal-digests")
    hsm = reopen(simulator)
    simulator.faults.clear()
    restore_key(hsm, pin(), path, key_reference=3, journal=KeyJournal(tmp_path / "clean"))
    last = simulator.faults.apdus_seen  # the certificate write: the journal is begun by then
    simulator, hsm = dkek_card(SHARES, b"journal-digests")
    hsm = reopen(simulator)
    journal = KeyJournal(tmp_path / "interrupted")
    simulator.faults.remove_at(last)
    with pytest.raises(CardRemoved):
        restore_key(hsm, pin(), path, key_reference=3, journal=journal)
    simulator.insert()
    serial = reopen(simulator).serial()
    [entry] = journal.pending(serial)
    assert entry.operation == "restore" and entry.key_reference == 3
    # the PRKD written is the backup's, with the key reference rewritten: read it back
    prkd = simulator.state.files[fid(PRKD_PREFIX, 3)]
    assert entry.files == {
        fid(KEY_PREFIX, 3): "",
        fid(PRKD_PREFIX, 3): hashlib.sha256(prkd).hexdigest(),
        fid(EE_CERTIFICATE_PREFIX, 3): hashlib.sha256(backup.certificate).hexdigest(),
    }
    [journal_file] = (tmp_path / "interrupted").iterdir()
    stored = journal_file.read_bytes()
    der = certificate.public_bytes(serialization.Encoding.DER)
    for content in (der, prkd, backup.blob):
        forms = (content, content.hex().encode(), content.hex().upper().encode())
        for form in (*forms, base64.b64encode(content)):
            assert form not in stored
