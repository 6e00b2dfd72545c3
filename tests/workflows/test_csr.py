"""Certificate requests the card signs, and importing the certificate a CA issued for them."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm, InitParams
from keymanager.card.keystore import CertificateKind, KeyStore
from keymanager.card.pkcs15 import decode_prkd
from keymanager.card.transport import LocalTransport
from keymanager.dkek.tlv import read_tlv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows import der
from keymanager.workflows.certificates import CertificateMismatch, import_certificate
from keymanager.workflows.csr import (
    RequestContent,
    certification_request_info,
    create_certificate_request,
    parse_alternative_name,
    parse_extended_key_usage,
    parse_key_usage,
    parse_subject,
    subject_from_fields,
)
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import KeyAlgorithm, export_public_key, generate_key

PIN = "648219"


def card(seed: bytes) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=None))
    return simulator, hsm


def pin() -> ScriptedInteraction:
    return ScriptedInteraction().answer("secret", PIN)


def generated(hsm: SmartCardHsm, algorithm: str, allowed: bytes | None = None) -> int:
    return generate_key(
        hsm, pin(), KeyAlgorithm.parse(algorithm), f"{algorithm} key", allowed_algorithms=allowed
    ).key_reference


def issue(request: x509.CertificateSigningRequest, *, serial: int = 7) -> x509.Certificate:
    """A certificate for ``request`` from a test CA (its key is fixed: deterministic)."""
    ca_key = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_name)
        .public_key(request.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
    )
    for extension in request.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca_key, hashes.SHA256())


CONTENT = RequestContent(
    subject=parse_subject("CN=Signer,O=Example,C=DE"),
    key_usage=parse_key_usage(["digitalSignature", "keyencipherment"]),
    extended_key_usage=parse_extended_key_usage(["serverAuth", "1.3.6.1.5.5.7.3.2"]),
    alternative_names=(
        parse_alternative_name("dns:signer.example"),
        parse_alternative_name("email:signer@example.org"),
    ),
)


@pytest.mark.parametrize(
    "algorithm",
    ["ec:secp256r1", "ec:brainpoolP256r1", "ec:secp384r1", "rsa:2048"],
)
def test_the_card_signs_a_request_cryptography_verifies(algorithm: str) -> None:
    _simulator, hsm = card(algorithm.encode())
    reference = generated(hsm, algorithm)
    made = create_certificate_request(hsm, pin(), reference, CONTENT)
    request = x509.load_der_x509_csr(made.der)
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=Signer,O=Example,C=DE"
    assert made.subject == "CN=Signer,O=Example,C=DE"
    assert request.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == export_public_key(hsm, reference)
    usage = request.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert list(request.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["signer.example"]
    assert names.get_values_for_type(x509.RFC822Name) == ["signer@example.org"]
    pem = made.encoded()
    assert pem.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER) == made.der
    assert json.dumps(made.to_dict())


def test_a_key_that_only_allows_host_hashed_signatures_still_signs() -> None:
    """A key whose algorithm list has ECDSA (70) but not ECDSA-SHA256 (73): the host hashes."""
    _simulator, hsm = card(b"raw ecdsa")
    reference = generated(hsm, "ec:secp256r1", bytes([Algorithm.ECDSA]))
    request = x509.load_der_x509_csr(create_certificate_request(hsm, pin(), reference, CONTENT).der)
    assert request.is_signature_valid
    rsa_reference = generated(hsm, "rsa:2048", bytes([Algorithm.RSA_PKCS1]))
    made = create_certificate_request(hsm, pin(), rsa_reference, CONTENT)
    assert x509.load_der_x509_csr(made.der).is_signature_valid


def test_a_key_that_may_not_sign_is_refused_with_the_reason() -> None:
    _simulator, hsm = card(b"no sign")
    reference = generated(hsm, "ec:secp256r1", bytes([Algorithm.ECDH]))
    with pytest.raises(WorkflowError, match="refused to sign with key 1"):
        create_certificate_request(hsm, pin(), reference, CONTENT)


def test_an_aes_key_has_no_request() -> None:
    _simulator, hsm = card(b"aes")
    reference = generated(hsm, "aes:128")
    with pytest.raises(WorkflowError, match="AES key: it has no public key"):
        create_certificate_request(hsm, pin(), reference, CONTENT)


def test_import_replaces_the_cv_request_and_the_key_store_lists_the_certificate() -> None:
    _simulator, hsm = card(b"import")
    reference = generated(hsm, "ec:secp256r1")
    request = create_certificate_request(hsm, pin(), reference, CONTENT).request
    certificate = issue(request)
    chain = certificate.public_bytes(serialization.Encoding.PEM) + issue(
        request, serial=8
    ).public_bytes(serialization.Encoding.PEM)
    imported = import_certificate(hsm, pin(), reference, chain)
    assert imported.replaced == "cv-request"
    assert imported.subject == "CN=Signer,O=Example,C=DE" and imported.issuer == "CN=Test CA"
    [key] = KeyStore(hsm).list_keys(load_certificates=True)
    assert key.certificate_kind is CertificateKind.X509
    assert key.certificate == certificate
    assert key.certificate_subject == "CN=Signer,O=Example,C=DE"
    assert key.label == "ec:secp256r1 key"
    prkd = decode_prkd(hsm.read_file(0xC400 | reference))
    assert prkd.subject == certificate.subject.public_bytes()
    # DER works as well, and a second import replaces the certificate
    again = import_certificate(
        hsm, pin(), reference, issue(request, serial=9).public_bytes(serialization.Encoding.DER)
    )
    assert again.replaced == "certificate"


def test_a_certificate_for_another_key_is_refused_and_nothing_changes() -> None:
    simulator, hsm = card(b"mismatch")
    reference = generated(hsm, "ec:secp256r1")
    other = generated(hsm, "ec:secp256r1")
    foreign = issue(create_certificate_request(hsm, pin(), other, CONTENT).request)
    before = hsm.read_file(0xCE00 | reference), hsm.read_file(0xC400 | reference)
    with pytest.raises(CertificateMismatch, match="is for another key"):
        import_certificate(hsm, pin(), reference, foreign.public_bytes(serialization.Encoding.PEM))
    assert (hsm.read_file(0xCE00 | reference), hsm.read_file(0xC400 | reference)) == before
    with pytest.raises(WorkflowError, match=r"no readable X\.509 certificate"):
        import_certificate(hsm, pin(), reference, b"not a certificate")
    _ = simulator


def test_subject_fields_and_parsing_errors() -> None:
    name = subject_from_fields({"CN": " Signer ", "O": "Example", "C": "de", "OU": ""})
    assert name.rfc4514_string() == "CN=Signer,O=Example,C=DE"
    assert name == parse_subject("CN=Signer,O=Example,C=DE")
    with pytest.raises(ValueError, match="two letters"):
        subject_from_fields({"C": "Germany"})
    with pytest.raises(ValueError, match="unknown subject field"):
        subject_from_fields({"X": "y"})
    with pytest.raises(ValueError, match="not an RFC 4514 name"):
        parse_subject("CN")
    with pytest.raises(ValueError, match="write dns:NAME, email:ADDRESS"):
        parse_alternative_name("host.example")
    with pytest.raises(ValueError, match="not an e-mail address"):
        parse_alternative_name("email:nobody")
    assert parse_alternative_name("ip:192.0.2.1") == x509.IPAddress(
        __import__("ipaddress").ip_address("192.0.2.1")
    )
    with pytest.raises(ValueError, match="unknown key usage 'sign'"):
        parse_key_usage(["sign"])
    with pytest.raises(ValueError, match="unknown extended key usage"):
        parse_extended_key_usage(["webServer"])
    with pytest.raises(ValueError, match="needs a subject or an alternative name"):
        RequestContent(subject=x509.Name([]))
    # an empty subject with an alternative name: the SAN extension is critical
    [san] = RequestContent(
        subject=x509.Name([]), alternative_names=(x509.DNSName("a.example"),)
    ).extensions()
    assert san.critical


def test_der_writer_lengths_and_the_request_info_without_extensions() -> None:
    for size in (0, 1, 127, 128, 255, 256, 65535, 65536):
        encoded = der.octet_string(bytes(size))
        parsed = read_tlv(encoded, der=True)
        assert parsed.tag == b"\x04" and len(parsed.value) == size
        assert parsed.next_offset == len(encoded)
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(128) == b"\x02\x02\x00\x80"
    assert der.integer(-1) == b"\x02\x01\xff"
    assert der.oid("1.2.840.113549.1.9.14") == bytes.fromhex("06092a864886f70d01090e")
    assert der.set_of([b"\x02\x01\x02", b"\x02\x01\x01"]) == bytes.fromhex("3106020101020102")
    key = rsa.generate_private_key(65537, 2048)
    info = certification_request_info(parse_subject("CN=x"), key.public_key())
    # the info of a request cryptography builds with the same content is the same bytes
    built = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(parse_subject("CN=x"))
        .sign(key, hashes.SHA256())
    )
    assert info == built.tbs_certrequest_bytes
    with_extensions = certification_request_info(
        CONTENT.subject, key.public_key(), CONTENT.extensions()
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(CONTENT.subject)
    for extension in CONTENT.extensions():
        builder = builder.add_extension(extension.value, extension.critical)
    assert with_extensions == builder.sign(key, hashes.SHA256()).tbs_certrequest_bytes


@pytest.mark.parametrize("algorithm", ["ec:secp256r1", "rsa:2048"])
def test_a_key_whose_public_key_the_card_does_not_tell_proves_the_match_by_signing(
    algorithm: str,
) -> None:
    """A key without ``CExx`` (imported without certificate): a test signature decides."""
    _simulator, hsm = card(b"proof " + algorithm.encode())
    reference = generated(hsm, algorithm)
    other = generated(hsm, algorithm)
    own = issue(create_certificate_request(hsm, pin(), reference, CONTENT).request)
    foreign = issue(create_certificate_request(hsm, pin(), other, CONTENT).request)
    hsm.delete_file(0xCE00 | reference)  # now the card tells no public key for it
    with pytest.raises(WorkflowError, match="tells no public key for key 1"):
        create_certificate_request(hsm, pin(), reference, CONTENT)
    before = hsm.read_file(0xC400 | reference)
    with pytest.raises(CertificateMismatch, match="a test signature of the key does not verify"):
        import_certificate(hsm, pin(), reference, foreign.public_bytes(serialization.Encoding.DER))
    assert hsm.read_file(0xC400 | reference) == before
    chain = foreign.public_bytes(serialization.Encoding.PEM) + own.public_bytes(
        serialization.Encoding.PEM
    )
    imported = import_certificate(hsm, pin(), reference, chain)
    assert imported.proven_by_signature and imported.replaced is None
    key = next(k for k in KeyStore(hsm).list_keys(load_certificates=True) if k.key_reference == 1)
    assert key.certificate == own
