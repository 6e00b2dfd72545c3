"""The key store against the simulated card: import, list, sign, delete, roll back."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from keymanager.card.errors import MemoryFailure
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm, EcKeySpec, InitParams, RsaKeySpec
from keymanager.card.keystore import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    DATA_PREFIX,
    DCOD_PREFIX,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    NO_DESCRIPTION_LABEL,
    PRKD_PREFIX,
    KeyNotFound,
    KeyReferenceTaken,
    KeyStore,
    KeyStoreError,
    fid,
)
from keymanager.card.pkcs15 import (
    GENERATED_KEY_ACCESS,
    AccessFlags,
    DataObjectDescription,
    KeyKind,
    KeyUsage,
    decode_cd,
    decode_prkd,
    encode_dcod,
    key_id_for_public_key,
)
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import AesKey, encode_key
from keymanager.simulator import SmartCardHsmSimulator

USER_PIN = "648219"
SHARE = bytes(range(32))


def _certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_cert(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return _certificate(rsa_key, "rsa key")


@pytest.fixture(scope="module")
def ec_cert(ec_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return _certificate(ec_key, "ec key")


@pytest.fixture(scope="module")
def dkek() -> Dkek:
    return Dkek.from_shares([SHARE])


@pytest.fixture
def simulator() -> SmartCardHsmSimulator:
    return SmartCardHsmSimulator(seed=b"keystore tests")


@pytest.fixture
def hsm(simulator: SmartCardHsmSimulator) -> SmartCardHsm:
    session = SmartCardHsm.open(LocalTransport(simulator))
    session.initialize(InitParams(user_pin=USER_PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    session.verify_pin(USER_PIN)
    session.import_dkek_share(SHARE)
    return session


@pytest.fixture
def store(hsm: SmartCardHsm) -> KeyStore:
    return KeyStore(hsm)


def _apdus(hsm: SmartCardHsm) -> int:
    return hsm.connection.apdu_count


def test_import_rsa_and_ec_keys_and_list_them(
    store: KeyStore,
    hsm: SmartCardHsm,
    dkek: Dkek,
    rsa_key: rsa.RSAPrivateKey,
    rsa_cert: x509.Certificate,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    first = store.import_wrapped_key(encode_key(dkek, rsa_key), label="RSA", certificate=rsa_cert)
    second = store.import_wrapped_key(encode_key(dkek, ec_key), label="EC", certificate=ec_cert)
    assert (first.key_reference, second.key_reference) == (1, 2)

    listed = store.list_keys(load_certificates=True)
    assert [key.key_reference for key in listed] == [1, 2]
    rsa_info, ec_info = listed
    assert rsa_info.label == "RSA"
    assert rsa_info.kind is KeyKind.RSA
    assert rsa_info.size == 1024
    assert rsa_info.id == key_id_for_public_key(rsa_key.public_key())
    assert rsa_info.certificate == rsa_cert
    assert rsa_info.described and not rsa_info.problems
    assert ec_info.label == "EC"
    assert ec_info.kind is KeyKind.EC
    assert ec_info.size == 256
    assert ec_info.id == key_id_for_public_key(ec_key.public_key())
    assert ec_info.certificate == ec_cert
    assert ec_info.usage == KeyUsage.SIGN | KeyUsage.DERIVE

    # the PRKD on the card is OpenSC's form with the subject of the certificate
    prkd = decode_prkd(hsm.read_file(fid(PRKD_PREFIX, 1)))
    assert prkd.key_reference == 1
    assert prkd.auth_id == b"\x01"
    assert prkd.access_flags == AccessFlags.SENSITIVE
    assert prkd.subject == rsa_cert.subject.public_bytes()
    assert hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 2)) == ec_cert.public_bytes(
        serialization.Encoding.DER
    )


def test_list_keys_needs_one_apdu_per_key_and_loads_certificates_on_demand(
    store: KeyStore,
    hsm: SmartCardHsm,
    dkek: Dkek,
    rsa_key: rsa.RSAPrivateKey,
    rsa_cert: x509.Certificate,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    for index in range(3):
        store.import_wrapped_key(
            encode_key(dkek, rsa_key), label=f"RSA {index}", certificate=rsa_cert
        )
    store.import_wrapped_key(encode_key(dkek, ec_key), label="EC", certificate=ec_cert)
    before = _apdus(hsm)
    keys = store.list_keys()
    used = _apdus(hsm) - before
    assert len(keys) == 4
    # one ENUMERATE, then one READ of each PRKD: the subject comes from the PRKD
    assert used == len(keys) + 1, f"list_keys needed {used} APDUs for {len(keys)} keys"
    assert [key.certificate_subject for key in keys] == [rsa_cert.subject.rfc4514_string()] * 3 + [
        ec_cert.subject.rfc4514_string()
    ]
    assert all(key.has_certificate_file and not key.certificate_loaded for key in keys)

    before = _apdus(hsm)
    loaded = store.load_certificate(keys[3])
    assert _apdus(hsm) - before == 1
    assert loaded.certificate == ec_cert
    assert loaded.label == "EC" and loaded.certificate_loaded
    assert store.load_certificate(loaded) is loaded

    before = _apdus(hsm)
    full = store.list_keys(load_certificates=True)
    assert _apdus(hsm) - before == 2 * len(keys) + 1
    assert [key.certificate for key in full] == [rsa_cert] * 3 + [ec_cert]


def test_a_key_without_subject_in_its_prkd_gets_its_certificate_read(
    store: KeyStore,
    hsm: SmartCardHsm,
    dkek: Dkek,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    generated = store.generate_key(EcKeySpec("secp256r1"), label="generated on card")
    listed = {key.key_reference: key for key in store.list_keys()}
    key = listed[generated.key_reference]
    # CE holds the card's CV request, which the listing read because the PRKD names no subject
    assert key.cv_request is not None and key.certificate is None
    assert key.certificate_subject is None and key.certificate_loaded


def test_signing_with_imported_keys_verifies_with_the_certificate(
    store: KeyStore,
    hsm: SmartCardHsm,
    dkek: Dkek,
    rsa_key: rsa.RSAPrivateKey,
    rsa_cert: x509.Certificate,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    message = b"signed on the simulated card"
    rsa_info = store.import_wrapped_key(
        encode_key(dkek, rsa_key), label="RSA", certificate=rsa_cert
    )
    ec_info = store.import_wrapped_key(encode_key(dkek, ec_key), label="EC", certificate=ec_cert)
    listed = {key.label: key for key in store.list_keys(load_certificates=True)}

    signature = hsm.sign(rsa_info.key_reference, Algorithm.RSA_PKCS1_SHA256, message)
    certificate = listed["RSA"].certificate
    assert certificate is not None
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())

    signature = hsm.sign(ec_info.key_reference, Algorithm.ECDSA_SHA256, message)
    certificate = listed["EC"].certificate
    assert certificate is not None
    ec_public = certificate.public_key()
    assert isinstance(ec_public, ec.EllipticCurvePublicKey)
    ec_public.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_delete_removes_key_description_and_certificate(
    store: KeyStore,
    hsm: SmartCardHsm,
    dkek: Dkek,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    info = store.import_wrapped_key(encode_key(dkek, ec_key), label="EC", certificate=ec_cert)
    reference = info.key_reference
    files = {fid(prefix, reference) for prefix in (KEY_PREFIX, PRKD_PREFIX, EE_CERTIFICATE_PREFIX)}
    assert files <= set(hsm.enumerate_objects())
    store.delete_key(reference)
    assert not files & set(hsm.enumerate_objects())
    assert store.list_keys() == []
    with pytest.raises(KeyNotFound):
        store.delete_key(reference)
    with pytest.raises(KeyStoreError):
        store.delete_key(0)


def test_a_failing_metadata_write_leaves_no_orphan_key(
    store: KeyStore,
    hsm: SmartCardHsm,
    simulator: SmartCardHsmSimulator,
    dkek: Dkek,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    blob = encode_key(dkek, ec_key)
    before = set(hsm.enumerate_objects())
    failures_after_unwrap = 0
    for k in range(1, 30):
        simulator.faults.clear()
        simulator.faults.status_at(k, 0x6581)  # memory failure on the k-th APDU
        try:
            store.import_wrapped_key(blob, label="EC", certificate=ec_cert)
        except MemoryFailure:  # the injected 6581, nothing else
            simulator.faults.clear()
            # whatever failed, the card holds exactly what it held before
            assert set(hsm.enumerate_objects()) == before, f"fault at APDU {k}"
            assert store.list_keys() == []
            if k > 2:
                failures_after_unwrap += 1
            continue
        break
    else:
        pytest.fail("the import never succeeded")
    simulator.faults.clear()
    assert failures_after_unwrap >= 2  # the PRKD and the certificate writes were hit
    assert [key.label for key in store.list_keys()] == ["EC"]


def test_interrupted_delete_leaves_a_key_without_description_not_metadata(
    store: KeyStore,
    hsm: SmartCardHsm,
    simulator: SmartCardHsmSimulator,
    dkek: Dkek,
    ec_key: ec.EllipticCurvePrivateKey,
    ec_cert: x509.Certificate,
) -> None:
    info = store.import_wrapped_key(encode_key(dkek, ec_key), label="EC", certificate=ec_cert)
    reference = info.key_reference
    simulator.faults.clear()
    # ENUMERATE, DELETE CE, DELETE C4, then DELETE CC fails
    simulator.faults.status_at(4, 0x6581)
    with pytest.raises(MemoryFailure) as failed:
        store.delete_key(reference)
    assert failed.value.sw == 0x6581
    simulator.faults.clear()
    remaining = set(hsm.enumerate_objects())
    assert fid(KEY_PREFIX, reference) in remaining
    assert fid(PRKD_PREFIX, reference) not in remaining
    assert fid(EE_CERTIFICATE_PREFIX, reference) not in remaining
    (listed,) = store.list_keys()
    assert listed.label == NO_DESCRIPTION_LABEL
    assert not listed.described
    assert listed.problems
    store.delete_key(reference)
    assert store.list_keys() == []


def test_key_without_description_is_listed_and_flagged(
    store: KeyStore, hsm: SmartCardHsm, dkek: Dkek, rsa_key: rsa.RSAPrivateKey
) -> None:
    hsm.unwrap_key(7, encode_key(dkek, rsa_key))
    (listed,) = store.list_keys()
    assert listed.key_reference == 7
    assert listed.label == NO_DESCRIPTION_LABEL
    assert not listed.described
    assert listed.kind is None and listed.id is None


def test_explicit_key_reference(
    store: KeyStore, dkek: Dkek, ec_key: ec.EllipticCurvePrivateKey, ec_cert: x509.Certificate
) -> None:
    info = store.import_wrapped_key(
        encode_key(dkek, ec_key), label="EC", certificate=ec_cert, key_reference=0x85
    )
    assert info.key_reference == 0x85
    assert store.list_keys()[0].description is not None
    assert store.list_keys()[0].description.key_reference == 0x85  # type: ignore[union-attr]
    with pytest.raises(KeyReferenceTaken):
        store.import_wrapped_key(
            encode_key(dkek, ec_key), label="again", certificate=ec_cert, key_reference=0x85
        )


def test_import_needs_a_matching_public_key(
    store: KeyStore,
    dkek: Dkek,
    rsa_key: rsa.RSAPrivateKey,
    ec_cert: x509.Certificate,
    rsa_cert: x509.Certificate,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    blob = encode_key(dkek, rsa_key)
    with pytest.raises(ValueError, match="certificate or public key"):
        store.import_wrapped_key(blob, label="x")
    with pytest.raises(ValueError, match="EC"):
        store.import_wrapped_key(blob, label="x", certificate=ec_cert)
    with pytest.raises(ValueError, match="does not match"):
        store.import_wrapped_key(
            blob, label="x", certificate=rsa_cert, public_key=ec_key.public_key()
        )
    assert store.list_keys() == []
    # with only the public key, the key is described but has no certificate
    info = store.import_wrapped_key(blob, label="bare", public_key=rsa_key.public_key())
    (listed,) = store.list_keys()
    assert listed.label == "bare"
    assert listed.certificate is None
    assert listed.id == info.id == key_id_for_public_key(rsa_key.public_key())


def test_import_aes_key(store: KeyStore, hsm: SmartCardHsm, dkek: Dkek) -> None:
    info = store.import_wrapped_key(
        encode_key(dkek, AesKey(bytes(range(32)))), label="AES", key_size=256
    )
    assert info.allowed_algorithms == bytes.fromhex("10111899")
    raw = hsm.read_file(fid(PRKD_PREFIX, info.key_reference))
    assert raw[0] == 0xA8
    (listed,) = store.list_keys()
    assert listed.kind is KeyKind.AES
    assert listed.size == 256
    assert listed.id == bytes([info.key_reference])
    with pytest.raises(ValueError, match="key size"):
        store.import_wrapped_key(encode_key(dkek, AesKey(bytes(32))), label="no size")
    small = store.import_wrapped_key(encode_key(dkek, AesKey(bytes(16))), label="AES-128")
    assert small.size == 128


def test_generate_ec_key_writes_cv_request_and_opensc_prkd(
    store: KeyStore, hsm: SmartCardHsm
) -> None:
    info = store.generate_key(EcKeySpec("secp256r1"), "generated")
    assert info.key_reference == 1
    prkd = decode_prkd(hsm.read_file(fid(PRKD_PREFIX, 1)))
    assert prkd.access_flags == GENERATED_KEY_ACCESS
    request = hsm.read_file(fid(EE_CERTIFICATE_PREFIX, 1))
    assert request[0] == 0x67
    assert request == info.cv_request
    (listed,) = store.list_keys()
    assert listed.label == "generated"
    assert listed.cv_request == request
    assert listed.certificate is None
    assert listed.size == 256
    public = listed.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    x = public.public_numbers().x.to_bytes(32, "big")
    assert listed.id == hashlib.sha1(x).digest()

    # a signature by the new key verifies with the public key from the CV request
    signature = hsm.sign(1, Algorithm.ECDSA_SHA256, b"data")
    public.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))


def test_generate_rsa_key_then_store_its_certificate(store: KeyStore, hsm: SmartCardHsm) -> None:
    info = store.generate_key(RsaKeySpec(1024), "rsa generated")
    public = info.public_key
    assert isinstance(public, rsa.RSAPublicKey)
    assert info.size == 1024
    issuer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issued")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(issuer, hashes.SHA256())
    )
    store.store_certificate(info.key_reference, certificate)
    (listed,) = store.list_keys()
    assert listed.certificate_subject == certificate.subject.rfc4514_string()
    assert store.load_certificate(listed).certificate == certificate
    assert listed.cv_request is None
    assert listed.label == "rsa generated"
    prkd = decode_prkd(hsm.read_file(fid(PRKD_PREFIX, info.key_reference)))
    assert prkd.subject == name.public_bytes()
    assert prkd.id == info.id

    wrong = _certificate(ec.generate_private_key(ec.SECP256R1()), "wrong")
    with pytest.raises(ValueError):
        store.store_certificate(info.key_reference, wrong)
    with pytest.raises(KeyNotFound):
        store.store_certificate(9, certificate)


def test_ca_certificates(
    store: KeyStore, hsm: SmartCardHsm, rsa_cert: x509.Certificate, ec_cert: x509.Certificate
) -> None:
    assert store.store_ca_certificate(rsa_cert, "Root RSA") == 0
    assert store.store_ca_certificate(ec_cert, "Root EC") == 1
    description = decode_cd(hsm.read_file(fid(CD_PREFIX, 1)))
    assert description.authority
    assert description.path == fid(CA_CERTIFICATE_PREFIX, 1).to_bytes(2, "big")
    listed = store.list_ca_certificates()
    assert [(ca.number, ca.label) for ca in listed] == [(0, "Root RSA"), (1, "Root EC")]
    assert listed[1].certificate == ec_cert
    assert listed[1].id == key_id_for_public_key(ec_cert.public_key())  # type: ignore[arg-type]
    assert store.list_keys() == []
    store.delete_ca_certificate(0)
    assert [ca.number for ca in store.list_ca_certificates()] == [1]


def test_data_objects(store: KeyStore, hsm: SmartCardHsm) -> None:
    hsm.write_file(fid(DATA_PREFIX, 1), b"public data")
    hsm.write_file(
        fid(DCOD_PREFIX, 1),
        encode_dcod(DataObjectDescription("notes", fid(DATA_PREFIX, 1).to_bytes(2, "big"))),
    )
    hsm.write_file(fid(DATA_PREFIX, 2), b"undescribed")
    objects = store.list_data_objects()
    assert [(item.label, item.fid) for item in objects] == [
        ("notes", fid(DATA_PREFIX, 1)),
        (NO_DESCRIPTION_LABEL, fid(DATA_PREFIX, 2)),
    ]
    assert not objects[0].private
    assert objects[1].problems


def test_descriptions_written_by_other_tools_are_read(
    store: KeyStore, hsm: SmartCardHsm, dkek: Dkek, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    # an old Smart Card Shell PRKD (1-byte ID, no flags, no key reference) ...
    hsm.unwrap_key(1, encode_key(dkek, ec_key))
    hsm.write_file(
        fid(PRKD_PREFIX, 1),
        bytes.fromhex("a01e30060c047465737430080401010303072080a10a30083002040002020100"),
    )
    # ... and a PRKD that is not one at all
    hsm.unwrap_key(2, encode_key(dkek, ec_key))
    hsm.write_file(fid(PRKD_PREFIX, 2), b"\x30\x05\x01")
    scsh, broken = store.list_keys()
    assert (scsh.label, scsh.id, scsh.size, scsh.described) == ("test", b"\x01", 256, True)
    assert scsh.usage == KeyUsage.SIGN | KeyUsage.DERIVE
    assert not scsh.problems
    assert broken.label == NO_DESCRIPTION_LABEL
    assert not broken.described
    assert any("unreadable" in problem for problem in broken.problems)
    # the automatic choice skips references with a key or metadata
    assert store.generate_key(EcKeySpec("secp256r1"), "third").key_reference == 3
