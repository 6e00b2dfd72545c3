"""Certificates that do not depend on ENUMERATE (issue 12 §3), on both simulator profiles.

Pico HSM's ENUMERATE lists key files and descriptions but no ``CE`` / ``CA`` / ``CD`` /
``CF`` files (``pcsc-testing.md`` item 7).  Every test runs on the genuine profile and
on the pico profile: export, backup, keys / audit (certificate versus CV request),
delete, CA de-duplication, free file numbers, and the APDU cost of a listing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import FileNotFound
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm, EcKeySpec, InitParams
from keymanager.card.keystore import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CertificateKind,
    KeyStore,
    fid,
)
from keymanager.card.pkcs15 import decode_prkd, encode_prkd
from keymanager.card.transport import LocalTransport
from keymanager.cli.card_commands import key_record
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import AesKey, encode_key
from keymanager.dkek.wky import parse_backup
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.profiles import PROFILE_ENVIRONMENT_VARIABLE
from keymanager.workflows.audit import audit
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import (
    KeyAlgorithm,
    backup_key,
    delete_key,
    export_certificate,
    export_public_key,
    generate_key,
    restore_key,
)
from tests.support.opensc import self_signed_certificate
from tests.workflows.p12_support import P12_PASSWORD, ca_chain, paperkey_input, write_p12

PIN = "648219"
SHARE = bytes(range(32))
PROFILES = ["genuine", "pico"]


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name = str(request.param)
    monkeypatch.setenv(PROFILE_ENVIRONMENT_VARIABLE, name)
    return name


@pytest.fixture
def card(profile: str) -> SmartCardHsmSimulator:
    return SmartCardHsmSimulator(seed=b"certificate files " + profile.encode(), profile=profile)


@pytest.fixture
def hsm(card: SmartCardHsmSimulator) -> SmartCardHsm:
    session = SmartCardHsm.open(LocalTransport(card))
    session.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    session.import_dkek_share(SHARE)
    session.verify_pin(PIN)
    return session


@pytest.fixture(scope="module")
def host_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def certificate(host_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return self_signed_certificate(host_key, "certificate files")


def pin() -> ScriptedInteraction:
    return ScriptedInteraction().answer("secret", PIN)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def listed_by_enumerate(hsm: SmartCardHsm, file: int) -> bool:
    return file in hsm.enumerate_objects()


def three_keys(
    hsm: SmartCardHsm, host_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> None:
    """1: imported with an X.509 certificate; 2: generated (CV request); 3: generated,
    and its PRKD names a subject (as OpenSC writes it when a subject is given), while
    ``CE03`` still holds the CV request."""
    store = KeyStore(hsm)
    store.import_wrapped_key(
        encode_key(Dkek.from_shares([SHARE]), host_key), label="imported", certificate=certificate
    )
    store.generate_key(EcKeySpec("secp256r1"), "generated")
    store.generate_key(EcKeySpec("secp256r1"), "generated with subject")
    prkd = decode_prkd(hsm.read_file(fid(PRKD_PREFIX, 3)))
    hsm.delete_file(fid(PRKD_PREFIX, 3))
    named = prkd.__class__(**{**prkd.__dict__, "subject": certificate.subject.public_bytes()})
    hsm.write_file(fid(PRKD_PREFIX, 3), encode_prkd(named))


def test_the_pico_profile_hides_certificate_files(
    profile: str,
    hsm: SmartCardHsm,
    host_key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> None:
    three_keys(hsm, host_key, certificate)
    hidden = not listed_by_enumerate(hsm, fid(EE_CERTIFICATE_PREFIX, 1))
    assert hidden is (profile == "pico")
    assert hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 1)) == der(certificate)


def test_listing_tells_a_certificate_from_a_cv_request(
    hsm: SmartCardHsm, host_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> None:
    three_keys(hsm, host_key, certificate)
    store = KeyStore(hsm)
    full = store.list_keys(load_certificates=True)
    assert [key.certificate_kind for key in full] == [
        CertificateKind.X509,
        CertificateKind.CV_REQUEST,
        CertificateKind.CV_REQUEST,
    ]
    assert full[0].certificate == certificate
    assert full[1].cv_request == hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2))
    assert all(key.public_key is not None and not key.problems for key in full)

    lazy = store.list_keys()
    # the imported key's PRKD names its subject: its CExx is read on demand
    assert lazy[0].has_certificate_file and not lazy[0].certificate_loaded
    assert store.load_certificate(lazy[0]).certificate == certificate
    # the generated key's PRKD names no subject: its CExx (listed or not) was read
    assert lazy[1].certificate_kind is CertificateKind.CV_REQUEST

    # keys (CLI): a certificate only where CExx holds one
    records = [key_record(key) for key in full]
    subject = certificate.subject.rfc4514_string()
    assert [(r["certificate"], r["cv_request"]) for r in records] == [
        (subject, False),
        (None, True),
        (None, True),
    ]
    assert [r["certificate_kind"] for r in records] == ["x509", "cv-request", "cv-request"]

    # audit: the same
    report = audit(hsm)
    audited = sorted(report.other_keys, key=lambda key: key.key_reference)
    assert [(key.certificate, key.cv_request) for key in audited] == [
        (subject, False),
        (None, True),
        (None, True),
    ]
    text = report.to_text()
    assert "CV request (no certificate)" in text
    assert text.count(f"certificate {subject}") == 1


def test_export_certificate_and_what_a_cv_request_says(
    hsm: SmartCardHsm, host_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> None:
    three_keys(hsm, host_key, certificate)
    assert export_certificate(hsm, 1) == certificate.public_bytes(serialization.Encoding.PEM)
    assert export_certificate(hsm, 1, pem=False) == der(certificate)
    for reference in (2, 3):
        with pytest.raises(WorkflowError, match=rf"CE0{reference} holds the\s+CV request"):
            export_certificate(hsm, reference)
        assert export_public_key(hsm, reference).startswith(b"-----BEGIN PUBLIC KEY-----")


def test_backup_carries_what_ce_holds(
    tmp_path: Path,
    hsm: SmartCardHsm,
    host_key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> None:
    three_keys(hsm, host_key, certificate)
    first = backup_key(hsm, pin(), 1, tmp_path / "one.wky")
    assert first.certificate == "x509" and first.prkd
    assert parse_backup((tmp_path / "one.wky").read_bytes()).certificate == der(certificate)
    second = backup_key(hsm, pin(), 2, tmp_path / "two.wky")
    assert second.certificate == "cv-request"
    backup = parse_backup((tmp_path / "two.wky").read_bytes())
    assert backup.certificate == hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2))
    assert backup.certificate is not None and backup.certificate[0] == 0x67


def test_delete_removes_the_certificate_and_says_what_went(
    hsm: SmartCardHsm, host_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> None:
    three_keys(hsm, host_key, certificate)
    store = KeyStore(hsm)
    store.import_wrapped_key(
        encode_key(Dkek.from_shares([SHARE]), host_key),
        label="no certificate",
        public_key=host_key.public_key(),
    )
    confirm = ScriptedInteraction().answer("confirm", True)
    deleted = delete_key(hsm, confirm, 1)
    assert deleted.removed == ("certificate", "description", "key")
    assert "removed certificate CE01, description C401, key CC01" in confirm.texts()[-1]
    for prefix in (EE_CERTIFICATE_PREFIX, PRKD_PREFIX):
        with pytest.raises(FileNotFound):
            hsm.read_file(fid(prefix, 1))  # gone from the card, not only from the listing
    assert fid(KEY_PREFIX, 1) not in hsm.enumerate_objects()

    confirm = ScriptedInteraction().answer("confirm", True)
    assert delete_key(hsm, confirm, 2).removed == ("cv-request", "description", "key")
    with pytest.raises(FileNotFound):
        hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2))

    confirm = ScriptedInteraction().answer("confirm", True)
    assert delete_key(hsm, confirm, 4).removed == ("description", "key")
    assert "(it had no certificate)" in confirm.texts()[-1]
    assert "certificate" not in confirm.texts()[-1].split("(")[0]

    # the store alone: CE, C4, CC in this order, and only what was there
    assert store.delete_key(3) == [
        fid(EE_CERTIFICATE_PREFIX, 3),
        fid(PRKD_PREFIX, 3),
        fid(KEY_PREFIX, 3),
    ]
    assert store.list_keys() == []


def test_a_second_import_of_a_chain_stores_no_ca_certificate_again(
    profile: str, tmp_path: Path
) -> None:
    card = SmartCardHsmSimulator(seed=b"ca dedupe " + profile.encode(), profile=profile)
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(PIN, DEFAULT_SO_PIN, dkek_shares=1, key_domains=4))
    share = hashlib.sha256(b"ca dedupe share").digest()
    hsm.import_dkek_share(share, 0)
    hsm.verify_pin(PIN)
    path = tmp_path / "chain.p12"
    write_p12(path, ec.generate_private_key(ec.SECP256R1()), common_name="leaf", with_chain=True)
    results = []
    for _ in range(2):
        interaction = (
            ScriptedInteraction()
            .answer("number", 1)
            .answer("share", paperkey_input(share))
            .answer("secret", PIN)
            .answer("secret", P12_PASSWORD)
            .answer("choices", "all")
            .answer("confirm", True)  # the second time: the key is on the card, import it again
        )
        session = SmartCardHsm.open(LocalTransport(card))
        results.append(
            import_pkcs12(
                session,
                interaction,
                path=path,
                journal=ImportJournal(tmp_path / "journal.json"),
                offer_more=False,
            )
        )
    first, second = results
    assert first.ok and second.ok, (first.summary(), second.summary())
    assert sorted(ca.number for ca in first.ca_certificates if ca.number is not None) == [0, 1]
    assert [ca.number for ca in second.ca_certificates] == [None, None]
    assert all(ca.skipped for ca in second.ca_certificates)
    hsm = SmartCardHsm.open(LocalTransport(card))
    cas = KeyStore(hsm).list_ca_certificates()
    chain = ca_chain()
    assert sorted(der(ca.certificate) for ca in cas if ca.certificate) == sorted(
        [der(chain.root), der(chain.intermediate)]
    )
    assert not any(ca.problems for ca in cas)
    for number in (2, 3):
        with pytest.raises(FileNotFound):
            hsm.read_file(fid(CA_CERTIFICATE_PREFIX, number))


def test_new_files_never_land_on_files_enumerate_hides(
    tmp_path: Path,
    hsm: SmartCardHsm,
    host_key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> None:
    store = KeyStore(hsm)
    store.import_wrapped_key(
        encode_key(Dkek.from_shares([SHARE]), host_key), label="key one", certificate=certificate
    )
    key_one = {
        prefix: hsm.read_file(fid(prefix, 1)) for prefix in (PRKD_PREFIX, EE_CERTIFICATE_PREFIX)
    }
    # what an interrupted delete leaves: a certificate whose key and PRKD are gone,
    # longer than any CV request; and a CA certificate without description
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = der(self_signed_certificate(other, "stale certificate"))
    assert len(stale) > 600
    hsm.write_file(fid(EE_CERTIFICATE_PREFIX, 2), stale)
    orphan_ca = der(self_signed_certificate(other, "orphan CA"))
    hsm.write_file(fid(CA_CERTIFICATE_PREFIX, 0), orphan_ca)

    generated = generate_key(hsm, pin(), KeyAlgorithm.parse("ec:secp256r1"), "generated")
    assert generated.key_reference == 3
    assert {
        prefix: hsm.read_file(fid(prefix, 1)) for prefix in (PRKD_PREFIX, EE_CERTIFICATE_PREFIX)
    } == key_one
    assert hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2)) == stale
    signature = hsm.sign(1, Algorithm.ECDSA_SHA256, b"key one still signs")
    host_key.public_key().verify(signature, b"key one still signs", ec.ECDSA(hashes.SHA256()))

    assert store.free_ca_number() == 1
    assert store.store_ca_certificate(ca_chain().root, "root") == 1
    assert hsm.read_file(fid(CA_CERTIFICATE_PREFIX, 0)) == orphan_ca
    assert hsm.read_file(fid(CD_PREFIX, 1))

    # a restore onto the stale reference replaces the whole file (no tail survives)
    backup_key(hsm, pin(), 3, tmp_path / "three.wky")
    # key 3 is on the card: the restore asks before it makes the second copy
    asked = ScriptedInteraction().answer("confirm", True)
    restore_key(hsm, asked, tmp_path / "three.wky", key_reference=2)
    assert hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2)) == hsm.read_file(
        fid(EE_CERTIFICATE_PREFIX, 3)
    )


def _card_with_keys(profile: str, count: int, *, generated: bool) -> SmartCardHsm:
    card = SmartCardHsmSimulator(seed=b"listing cost " + profile.encode(), profile=profile)
    hsm = SmartCardHsm.open(LocalTransport(card))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(SHARE)
    hsm.verify_pin(PIN)
    store = KeyStore(hsm)
    dkek = Dkek.from_shares([SHARE])
    for number in range(count):
        if generated:
            store.generate_key(EcKeySpec("secp256r1"), f"key {number}")
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            store.import_wrapped_key(
                encode_key(dkek, key),
                label=f"key {number}",
                certificate=self_signed_certificate(key, f"key {number}"),
            )
    return hsm


@pytest.mark.parametrize("generated", [False, True], ids=["imported", "generated"])
def test_listing_50_keys_costs_the_same_on_both_profiles(profile: str, generated: bool) -> None:
    hsm = _card_with_keys(profile, 50, generated=generated)
    store = KeyStore(hsm)
    before = hsm.connection.apdu_count
    keys = store.list_keys()
    lazy = hsm.connection.apdu_count - before
    before = hsm.connection.apdu_count
    full = store.list_keys(load_certificates=True)
    loaded = hsm.connection.apdu_count - before
    assert len(keys) == len(full) == 50
    kind = CertificateKind.CV_REQUEST if generated else CertificateKind.X509
    assert all(key.certificate_kind is kind for key in full)
    # imported keys: ENUMERATE + one READ of each PRKD (the PRKD names the subject);
    # generated keys: their CV request is read too, listed (genuine) or not (pico)
    assert lazy == (101 if generated else 51)
    assert loaded == 101
    print(f"\n{profile} {'generated' if generated else 'imported'}: {lazy=} {loaded=}")


def test_an_import_costs_no_extra_apdu_where_enumerate_tells(profile: str) -> None:
    hsm = _card_with_keys(profile, 1, generated=False)
    key = ec.generate_private_key(ec.SECP256R1())
    before = hsm.connection.apdu_count
    KeyStore(hsm).import_wrapped_key(
        encode_key(Dkek.from_shares([SHARE]), key),
        label="second",
        certificate=self_signed_certificate(key, "second"),
    )
    used = hsm.connection.apdu_count - before
    # ENUMERATE, UNWRAP, UPDATE BINARY of C4 and CE; pico: READ CE02 first (6A82)
    assert used == (4 if profile == "genuine" else 5)


def test_secret_keys_list_without_reading_certificate_files(
    profile: str, hsm: SmartCardHsm
) -> None:
    """No certificate file is listed on either profile, yet AES keys cost no READ of CExx."""
    store = KeyStore(hsm)
    for number in range(5):
        store.import_wrapped_key(
            encode_key(Dkek.from_shares([SHARE]), AesKey(bytes([number]) * 32)),
            label=f"AES {number}",
            key_size=256,
        )
    before = hsm.connection.apdu_count
    keys = store.list_keys(load_certificates=True)
    assert hsm.connection.apdu_count - before == 1 + len(keys) == 6
    assert all(key.certificate_kind is None and not key.has_certificate_file for key in keys)
