"""CV certificates: parsing real device chains and verifying them against the roots."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from keymanager.card.cvc import (
    ID_TA_ECDSA_SHA_256,
    CvcError,
    CvCertificate,
    CvRequest,
    DeviceCertificate,
    Genuineness,
    _parse_date,
    genuine_root,
    parse_certificates,
    plain_to_der,
    simulator_root_key,
    verify_signature,
)
from keymanager.card.roots import DESRCACC100001, SIMULATOR_ROOT_KEY_LABEL
from keymanager.dkek.curves import CurveParameters, curve_by_name, scalar_multiply
from keymanager.dkek.tlv import encode_tlv
from tests.card.scripted import unhex

VECTORS = Path(__file__).parent / "vectors"
NITROKEY = unhex((VECTORS / "nitrokey-hsm2-ef2f02.hex").read_text())
PICO = unhex((VECTORS / "pico-hsm-ef2f02-request-and-cvc.hex").read_text())


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


# --- the genuine Nitrokey HSM 2 chain -----------------------------------------------------


def test_nitrokey_vector_is_the_published_one() -> None:
    assert (
        hashlib.sha256(NITROKEY).hexdigest()
        == "1b7763b72b871f37a4cc43808b72d65a915a488420fa18c0137f8389260d9aa4"
    )


def test_nitrokey_ef2f02_parses() -> None:
    chain = DeviceCertificate.parse(NITROKEY)
    assert chain.chr == "DENK040414400000"
    assert chain.serial == "DENK0404144"
    assert chain.device.car == "DEDINK0400001"
    assert chain.issuer is not None
    assert chain.issuer.chr == "DEDINK0400001"
    assert chain.issuer.car == "DESRCACC100001"
    assert chain.device.effective_date == datetime.date(2026, 5, 28)
    assert chain.device.expiry_date == datetime.date(2031, 5, 27)
    assert chain.device.public_key.is_ec
    assert not chain.device.public_key.has_domain_parameters
    assert chain.device.public_key.hash_name == "SHA-256"
    assert chain.device.chat is not None
    assert chain.device.chat.template == b"\x00"
    assert chain.issuer.chat is not None
    assert chain.issuer.chat.template == b"\x80"
    assert chain.device_domain() == curve_by_name("brainpoolP256r1")


def test_nitrokey_chain_is_genuine() -> None:
    assert DeviceCertificate.parse(NITROKEY).verify_chain() is Genuineness.GENUINE


def test_a_flipped_device_signature_byte_is_not_genuine() -> None:
    signature_at = NITROKEY.index(b"\x5f\x37\x40") + 3
    tampered = _flip(NITROKEY, signature_at + 7)
    assert DeviceCertificate.parse(tampered).verify_chain() is Genuineness.NOT_GENUINE


def test_a_flipped_issuer_signature_byte_is_not_genuine() -> None:
    second = NITROKEY.rindex(b"\x5f\x37\x40") + 3
    tampered = _flip(NITROKEY, second + 40)
    assert DeviceCertificate.parse(tampered).verify_chain() is Genuineness.NOT_GENUINE


def test_a_changed_device_key_is_not_genuine() -> None:
    point_at = NITROKEY.index(b"\x86\x41\x04") + 3
    chain = DeviceCertificate.parse(_flip(NITROKEY, point_at + 10))
    assert chain.verify_chain() is Genuineness.NOT_GENUINE


def test_a_device_certificate_without_issuer_is_not_genuine() -> None:
    device_only = NITROKEY[: 4 + NITROKEY[3]]  # 7F21 81 E4 …
    chain = DeviceCertificate.parse(device_only)
    assert chain.issuer is None
    assert chain.verify_chain() is Genuineness.NOT_GENUINE


def test_the_shipped_root_is_self_signed_on_brainpool_p256() -> None:
    root = CvCertificate.parse(DESRCACC100001)
    assert root.chr == root.car == "DESRCACC100001"
    assert root.self_signed
    assert root.public_key.curve() == curve_by_name("brainpoolP256r1")
    assert root.verify_signed_by(root.public_key)
    assert root.effective_date == datetime.date(2012, 11, 9)
    assert root.expiry_date == datetime.date(2032, 11, 8)
    assert genuine_root("DESRCACC100001") == root
    assert genuine_root("UTSRCACC100001") is None


# --- Pico HSM (self-signed) ----------------------------------------------------------------


def test_pico_ef2f02_request_and_certificate() -> None:
    items = parse_certificates(PICO)
    assert [type(item) for item in items] == [CvRequest, CvCertificate]
    request = items[0]
    assert isinstance(request, CvRequest)
    assert request.chr == "ESP2202E14A00001"
    assert request.outer_car == "ESP2202E14A00001"
    assert request.public_key.curve().name == "secp256k1"
    assert request.verify_self_signature()
    assert request.verify_outer_signature(request.public_key)
    chain = DeviceCertificate.parse(PICO)
    assert chain.serial == "ESP2202E14A"
    # self-signed: no PKI at all, so neither Pico's nor CardContact's; the issuer is named
    identity = chain.identity()
    assert identity.verdict is Genuineness.UNVERIFIED
    assert identity.self_signed and identity.issuer == "ESP2202E14A00001"
    assert identity.text == "unverified device (self-signed, issuer ESP2202E14A00001)"


# --- building our own CVCs ---------------------------------------------------------------


def _ecdsa_sign_plain(curve: CurveParameters, d: int, data: bytes) -> bytes:
    """Textbook ECDSA-SHA-256 for test fixtures on any curve (plain r ‖ s)."""
    digest = int.from_bytes(hashlib.sha256(data).digest(), "big")
    excess = 256 - curve.order.bit_length()
    e = digest >> excess if excess > 0 else digest
    while True:
        k = secrets.randbelow(curve.order - 1) + 1
        point = scalar_multiply(curve, k, curve.generator)
        assert point is not None
        r = point[0] % curve.order
        s = pow(k, -1, curve.order) * (e + r * d) % curve.order
        if r and s:
            width = curve.order_bytes
            return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def _ec_key_template(curve: CurveParameters, d: int, *, domain: bool) -> bytes:
    point = scalar_multiply(curve, d, curve.generator)
    assert point is not None
    template = encode_tlv(0x06, ID_TA_ECDSA_SHA_256)
    if domain:
        width = curve.field_bytes
        template += (
            encode_tlv(0x81, curve.p.to_bytes(width, "big"))
            + encode_tlv(0x82, curve.a.to_bytes(width, "big"))
            + encode_tlv(0x83, curve.b.to_bytes(width, "big"))
            + encode_tlv(0x84, curve.encode_point(curve.generator))
            + encode_tlv(0x85, curve.order.to_bytes(curve.order_bytes, "big"))
        )
    template += encode_tlv(0x86, curve.encode_point(point))
    if domain:
        template += encode_tlv(0x87, b"\x01")
    return template


def _certificate(car: str, chr_: str, key_template: bytes, sign: object) -> bytes:
    body = encode_tlv(
        0x7F4E,
        encode_tlv(0x5F29, b"\x00")
        + encode_tlv(0x42, car.encode())
        + encode_tlv(0x7F49, key_template)
        + encode_tlv(0x5F20, chr_.encode())
        + encode_tlv(0x5F25, bytes([2, 4, 0, 1, 0, 1]))
        + encode_tlv(0x5F24, bytes([4, 9, 1, 2, 3, 1])),
    )
    assert callable(sign)
    return encode_tlv(0x7F21, body + encode_tlv(0x5F37, sign(body)))


def test_pure_python_verification_on_a_curve_cryptography_lacks() -> None:
    curve = curve_by_name("brainpoolP192r1")
    d = secrets.randbelow(curve.order - 1) + 1
    cert = _certificate(
        "XX",
        "XX",
        _ec_key_template(curve, d, domain=True),
        lambda body: _ecdsa_sign_plain(curve, d, body),
    )
    parsed = CvCertificate.parse(cert)
    assert parsed.public_key.ec_public_key() is None  # not in cryptography
    assert parsed.verify_signed_by(parsed.public_key)
    tampered = CvCertificate.parse(_flip(cert, len(cert) - 3))
    assert not tampered.verify_signed_by(tampered.public_key)


def test_rsa_cvc_signature() -> None:
    key = rsa.generate_private_key(65537, 1024)
    numbers = key.public_key().public_numbers()
    template = (
        encode_tlv(0x06, bytes.fromhex("04007F00070202020102"))
        + encode_tlv(0x81, numbers.n.to_bytes(128, "big"))
        + encode_tlv(0x82, b"\x01\x00\x01")
    )
    cert = CvCertificate.parse(
        _certificate(
            "R", "R", template, lambda body: key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        )
    )
    assert cert.public_key.is_rsa
    assert cert.public_key.modulus == numbers.n
    assert cert.public_key.exponent == 65537
    assert cert.verify_signed_by(cert.public_key)
    assert not verify_signature(cert.body + b"\x00", cert.signature, cert.public_key)


def test_a_chain_under_another_key_claiming_the_genuine_root_is_not_genuine() -> None:
    curve = curve_by_name("brainpoolP256r1")
    fake_root = secrets.randbelow(curve.order - 1) + 1
    dica = secrets.randbelow(curve.order - 1) + 1
    device = secrets.randbelow(curve.order - 1) + 1
    issuer = _certificate(
        "DESRCACC100001",
        "DEDINK0400001",
        _ec_key_template(curve, dica, domain=False),
        lambda body: _ecdsa_sign_plain(curve, fake_root, body),
    )
    device_cert = _certificate(
        "DEDINK0400001",
        "DENK999999900001",
        _ec_key_template(curve, device, domain=False),
        lambda body: _ecdsa_sign_plain(curve, dica, body),
    )
    chain = DeviceCertificate.parse(device_cert + issuer)
    assert chain.serial == "DENK9999999"
    assert chain.verify_chain() is Genuineness.NOT_GENUINE


def test_a_chain_under_the_simulator_root_is_unverified_simulator() -> None:
    curve = curve_by_name("brainpoolP256r1")
    root_d = int.from_bytes(hashlib.sha256(SIMULATOR_ROOT_KEY_LABEL).digest(), "big") % curve.order
    dica = secrets.randbelow(curve.order - 1) + 1
    device = secrets.randbelow(curve.order - 1) + 1
    issuer = _certificate(
        "UTSRCACC100001",
        "UTSIMDICA00001",
        _ec_key_template(curve, dica, domain=False),
        lambda body: _ecdsa_sign_plain(curve, root_d, body),
    )
    device_cert = _certificate(
        "UTSIMDICA00001",
        "UTSIM12345600001",
        _ec_key_template(curve, device, domain=False),
        lambda body: _ecdsa_sign_plain(curve, dica, body),
    )
    chain = DeviceCertificate.parse(device_cert + issuer)
    assert chain.verify_chain() is Genuineness.UNVERIFIED_SIMULATOR
    assert chain.serial == "UTSIM123456"
    signature_at = device_cert.index(b"\x5f\x37") + 3
    forged = DeviceCertificate.parse(_flip(device_cert, signature_at) + issuer)
    # it claims no CardContact root: not "NOT GENUINE", but verified to nothing either
    assert forged.verify_chain() is Genuineness.UNVERIFIED
    assert forged.identity().issuer == "UTSRCACC100001"
    assert simulator_root_key().point == curve.encode_point(
        scalar_multiply(curve, root_d, curve.generator)  # type: ignore[arg-type]
    )


# --- small parts --------------------------------------------------------------------------


def test_plain_to_der_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert plain_to_der(plain) == der
    with pytest.raises(CvcError):
        plain_to_der(b"\x01\x02\x03")


def test_dates() -> None:
    assert _parse_date(bytes([2, 6, 0, 8, 0, 5])) == datetime.date(2026, 8, 5)
    assert _parse_date(bytes([0x26, 0x08, 0x05])) == datetime.date(2026, 8, 5)
    for bad in (bytes([2, 6, 1, 3, 0, 1]), bytes([0x2A, 0x08, 0x05]), bytes([2, 6])):
        with pytest.raises(CvcError):
            _parse_date(bad)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        unhex("7F2103AABBCC"),
        unhex("3003020100"),
        NITROKEY[:100],
        unhex("7F2106 7F4E00 5F3700"),
    ],
)
def test_malformed_input_raises_cvc_error(data: bytes) -> None:
    with pytest.raises(CvcError):
        DeviceCertificate.parse(data)


def test_request_parse_rejects_trailing_bytes_and_other_tags() -> None:
    request = parse_certificates(PICO)[0]
    assert isinstance(request, CvRequest)
    with pytest.raises(CvcError):
        CvRequest.parse(request.raw + b"\x00")
    with pytest.raises(CvcError):
        CvRequest.parse(unhex("3000"))
    assert CvRequest.parse(request.raw) == request
