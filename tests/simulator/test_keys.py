"""Key generation, the CV request, signing, deciphering, ECDH, wrap and unwrap."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymanager.card.apdu import LE_MAX
from keymanager.dkek import Dkek
from keymanager.dkek.curves import SUPPORTED_CURVES, CurveParameters, curve_by_name, ecdsa_verify
from keymanager.dkek.errors import KcvMismatch
from keymanager.dkek.keyblob import AesKey, EcKeyMaterial, decode_key, encode_key
from keymanager.dkek.tlv import encode_tlv
from tests.simulator.conftest import (
    Card,
    device_public_key,
    ec_request_body,
    parse_request,
    plain_to_der,
    ready_card,
    request_curve,
    rsa_request_body,
)

SHARE = bytes(range(32))


def _ec_public(request_bytes: bytes) -> tuple[CurveParameters, bytes]:
    request = parse_request(request_bytes)
    return request_curve(request), request.public_key[b"\x86"]


def _verify_ecdsa(
    curve: CurveParameters, point: bytes, signature_der: bytes, message_hash: bytes
) -> None:
    r, s = utils.decode_dss_signature(signature_der)
    if curve.cryptography_curve is not None:
        public = ec.EllipticCurvePublicKey.from_encoded_point(curve.cryptography_curve(), point)
        algorithm: hashes.HashAlgorithm = {
            20: hashes.SHA1(),
            28: hashes.SHA224(),
            32: hashes.SHA256(),
            48: hashes.SHA384(),
        }.get(len(message_hash), hashes.SHA512())
        public.verify(signature_der, message_hash, ec.ECDSA(utils.Prehashed(algorithm)))
    else:
        assert ecdsa_verify(curve, curve.decode_point(point), message_hash, r, s)


@pytest.fixture(scope="module")
def rsa_card() -> tuple[Card, bytes]:
    """A card with a 2048-bit RSA key 1 in domain 0 (generated once: RSA is slow)."""
    card = ready_card(b"rsa")
    card.domain(data=SHARE)
    request, sw = card.generate(1, rsa_request_body(2048))
    assert sw == 0x9000
    return card, request


def _rsa_public(request_bytes: bytes) -> rsa.RSAPublicKey:
    key = parse_request(request_bytes).public_key
    return rsa.RSAPublicNumbers(
        int.from_bytes(key[b"\x82"], "big"), int.from_bytes(key[b"\x81"], "big")
    ).public_key()


def test_ec_request_is_signed_by_the_key_and_the_device() -> None:
    card = ready_card(b"gakp")
    request_bytes, sw = card.generate(1, ec_request_body(curve_by_name("secp256r1")))
    assert sw == 0x9000
    request = parse_request(request_bytes)
    fields = request.body_fields
    assert fields[b"\x5f\x29"] == b"\x00"
    assert fields[b"\x42"] == b"UTCA00001"
    assert fields[b"\x5f\x20"] == b"UTSIM00000100001"
    assert set(request.public_key) == {
        b"\x06",
        b"\x81",
        b"\x82",
        b"\x83",
        b"\x84",
        b"\x85",
        b"\x86",
        b"\x87",
    }
    curve, point = _ec_public(request_bytes)
    assert curve.name == "secp256r1"
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    public.verify(plain_to_der(request.inner_signature), request.body, ec.ECDSA(hashes.SHA256()))
    assert request.outer_car == card.sim.device_chr
    device_public_key(card).verify(
        plain_to_der(request.outer_signature),
        request.inner + encode_tlv(0x42, request.outer_car),
        ec.ECDSA(hashes.SHA256()),
    )
    # the card keeps the request in CE01, where OpenSC reads the public key from
    assert card.read(0xCE01)[0] == request_bytes


@pytest.mark.parametrize("curve", SUPPORTED_CURVES, ids=lambda curve: curve.name)
def test_every_curve_generates_and_signs(curve: CurveParameters) -> None:
    card = ready_card(b"curve-" + curve.name.encode())
    request, sw = card.generate(2, ec_request_body(curve))
    assert sw == 0x9000
    assert request_curve(parse_request(request)) == curve
    point = parse_request(request).public_key[b"\x86"]
    message = b"message to sign"
    signature, sw = card.sign(2, 0x73, message)
    assert sw == 0x9000
    _verify_ecdsa(curve, point, signature, hashlib.sha256(message).digest())
    message_hash = hashlib.sha1(message).digest()
    signature, sw = card.sign(2, 0x70, message_hash)
    assert sw == 0x9000
    _verify_ecdsa(curve, point, signature, message_hash)


def test_ec_signature_algorithms_and_ecdh() -> None:
    card = ready_card(b"ec-algos")
    curve = curve_by_name("secp384r1")
    request, _ = card.generate(4, ec_request_body(curve))
    point = parse_request(request).public_key[b"\x86"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), point)
    message = b"data" * 50
    for algorithm, hash_algorithm in (
        (0x71, hashes.SHA1()),
        (0x72, hashes.SHA224()),
        (0x74, hashes.SHA384()),
        (0x75, hashes.SHA512()),
    ):
        signature, sw = card.sign(4, algorithm, message)
        assert sw == 0x9000
        public.verify(signature, message, ec.ECDSA(hash_algorithm))
    with pytest.raises(InvalidSignature):
        public.verify(card.sign(4, 0x71, message)[0], message + b"x", ec.ECDSA(hashes.SHA1()))
    peer = ec.generate_private_key(ec.SECP384R1())
    peer_point = peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared, sw = card.decipher(4, 0x80, peer_point)
    assert sw == 0x9000 and shared[0] == 0x04 and len(shared) == 1 + 2 * 48
    assert shared[1:49] == peer.exchange(ec.ECDH(), public)
    assert card.decipher(4, 0x80, b"\x04" + bytes(96))[1] == 0x6A80  # not on the curve
    assert card.sign(4, 0x20, bytes(48))[1] == 0x6A81  # RSA algorithm on an EC key
    assert card.sign(4, 0x99, b"x")[1] == 0x6A86


def test_rsa_request_and_signatures(rsa_card: tuple[Card, bytes]) -> None:
    card, request_bytes = rsa_card
    card.select()
    card.verify()
    request = parse_request(request_bytes)
    public = _rsa_public(request_bytes)
    assert public.key_size == 2048
    public.verify(request.inner_signature, request.body, padding.PKCS1v15(), hashes.SHA256())
    device_public_key(card).verify(
        plain_to_der(request.outer_signature),
        request.inner + encode_tlv(0x42, request.outer_car),
        ec.ECDSA(hashes.SHA256()),
    )
    message = b"an RSA message"
    for algorithm, hash_algorithm in (
        (0x31, hashes.SHA1()),
        (0x33, hashes.SHA256()),
        (0x35, hashes.SHA512()),
    ):
        signature, sw = card.sign(1, algorithm, message)
        assert sw == 0x9000
        public.verify(signature, message, padding.PKCS1v15(), hash_algorithm)
    pss_hashes: tuple[tuple[int, hashes.HashAlgorithm], ...] = (
        (0x41, hashes.SHA1()),
        (0x43, hashes.SHA256()),
        (0x44, hashes.SHA384()),
    )
    for algorithm, pss_hash in pss_hashes:
        signature, sw = card.sign(1, algorithm, message)
        assert sw == 0x9000
        public.verify(
            signature,
            message,
            padding.PSS(padding.MGF1(pss_hash), padding.PSS.AUTO),
            pss_hash,
        )
    digest = hashlib.sha256(message).digest()
    signature, sw = card.sign(1, 0x40, digest)
    assert sw == 0x9000
    public.verify(
        signature,
        digest,
        padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
        utils.Prehashed(hashes.SHA256()),
    )
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    signature, sw = card.sign(1, 0x30, digest_info)
    assert sw == 0x9000
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    # raw RSA: the caller pads
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    signature, sw = card.sign(1, 0x20, block)
    assert sw == 0x9000
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    assert card.sign(1, 0x20, b"\xff" * 256)[1] == 0x6A80  # not below the modulus
    assert card.sign(1, 0x40, bytes(7))[1] == 0x6A80
    assert card.sign(1, 0x70, digest)[1] == 0x6A81


def test_rsa_decipher(rsa_card: tuple[Card, bytes]) -> None:
    card, request_bytes = rsa_card
    card.select()
    card.verify()
    public = _rsa_public(request_bytes)
    secret = b"session key material"
    ciphertext = public.encrypt(secret, padding.PKCS1v15())
    assert card.decipher(1, 0x22, ciphertext) == (secret, 0x9000)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    assert card.decipher(1, 0x23, public.encrypt(secret, oaep)) == (secret, 0x9000)
    raw, sw = card.decipher(1, 0x21, ciphertext)
    assert sw == 0x9000 and len(raw) == 256 and raw.startswith(b"\x00\x02") and raw.endswith(secret)
    assert card.decipher(1, 0x22, bytes(256))[1] == 0x6A80
    assert card.decipher(1, 0x23, ciphertext)[1] == 0x6A80
    assert card.decipher(1, 0x55, ciphertext)[1] == 0x6A86


def test_operations_need_the_pin(rsa_card: tuple[Card, bytes]) -> None:
    card, _ = rsa_card
    card.select()
    assert card.sign(1, 0x33, b"x")[1] == 0x6982
    assert card.decipher(1, 0x21, b"x")[1] == 0x6982
    assert card.wrap(1)[1] == 0x6982
    assert card.generate(2, rsa_request_body(1024))[1] == 0x6982
    card.verify()
    assert card.sign(9, 0x33, b"x")[1] == 0x6A88
    assert card.sign(0, 0x70, bytes(32))[1] == 0x6985  # the device key is not for users


def test_allowed_algorithms_and_use_counter() -> None:
    card = ready_card(b"restricted")
    curve = curve_by_name("secp256r1")
    body = ec_request_body(
        curve, encode_tlv(0x91, b"\x73") + encode_tlv(0x90, (2).to_bytes(4, "big"))
    )
    assert card.generate(6, body)[1] == 0x9000
    assert card.sign(6, 0x70, bytes(32))[1] == 0x6985  # not in the allowed list
    assert card.sign(6, 0x73, b"one")[1] == 0x9000
    assert card.sign(6, 0x73, b"two")[1] == 0x9000
    assert card.sign(6, 0x73, b"three")[1] == 0x6985  # counter used up
    assert card.sim.state.keys[6].use_counter == 0


def test_gakp_validation() -> None:
    card = ready_card(b"gakp-bad")
    p256 = curve_by_name("secp256r1")
    assert card.generate(0, ec_request_body(p256))[1] == 0x6A86  # the device key slot
    assert card.generate(1, b"\x5f\x29\x01\x00")[1] == 0x6A80  # no public-key template
    assert card.generate(1, b"\x7f\x49\x05\x01")[1] == 0x6A80  # malformed TLV
    assert card.generate(1, rsa_request_body(1000))[1] == 0x6A80
    twisted = ec_request_body(p256).replace(p256.a.to_bytes(32, "big"), (5).to_bytes(32, "big"))
    assert card.generate(1, twisted)[1] == 0x6A81  # explicit parameters of no supported curve
    assert card.generate(1, ec_request_body(p256, b"\x92\x01\x05"))[1] == 0x6A80  # no domain 5
    assert card.enumerate() == [0xCC00]


def test_aes_key_generation_and_wrap() -> None:
    card = ready_card(b"aes")
    card.domain(data=SHARE)
    assert card.send(0x00, 0x48, 0x07, 0xB2)[1] == 0x9000
    assert card.send(0x00, 0x48, 0x08, 0xB3)[1] == 0x6A86
    assert card.wrap(7)[1] == 0x6985  # the default AES list 10 11 18 99 lacks 92 (wrap)
    algorithms = bytes.fromhex("1011189992")
    assert card.send(0x00, 0x48, 0x09, 0xB2, bytes([0x91, 5]) + algorithms)[1] == 0x9000
    blob, sw = card.wrap(9)
    assert sw == 0x9000
    with Dkek.from_shares([SHARE]) as dkek:
        decoded = decode_key(dkek, blob)
    assert isinstance(decoded.private_key, AesKey) and decoded.private_key.bits == 256
    assert decoded.allowed_algorithms == algorithms
    assert card.sign(7, 0x73, b"x")[1] in (0x6985, 0x6A81)


def test_wrap_produces_blobs_that_decode(rsa_card: tuple[Card, bytes]) -> None:
    card, request_bytes = rsa_card
    card.select()
    card.verify()
    blob, sw = card.wrap(1)
    assert sw == 0x9000
    with Dkek.from_shares([SHARE]) as dkek:
        decoded = decode_key(dkek, blob)
    key = decoded.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == _rsa_public(request_bytes).public_numbers()
    with Dkek.from_shares([os.urandom(32)]) as other, pytest.raises(KcvMismatch):
        decode_key(other, blob)
    assert card.send(0x80, 0x72, 0x01, 0x93, le=LE_MAX)[1] == 0x6A86


def test_wrap_ec_key_on_a_curve_cryptography_lacks() -> None:
    card = ready_card(b"bp224")
    card.domain(data=SHARE)
    curve = curve_by_name("brainpoolP224r1")
    request, _ = card.generate(3, ec_request_body(curve))
    blob, sw = card.wrap(3)
    assert sw == 0x9000
    with Dkek.from_shares([SHARE]) as dkek:
        key = decode_key(dkek, blob).private_key
    assert isinstance(key, EcKeyMaterial)
    assert key.public_point == parse_request(request).public_key[b"\x86"]


def test_wrap_refusals() -> None:
    card = ready_card(b"wrap-refusals", shares=2)
    p256 = curve_by_name("secp256r1")
    card.generate(1, ec_request_body(p256))
    assert card.wrap(1)[1] == 0x6A88  # DKEK incomplete
    assert card.wrap(9)[1] == 0x6A88  # no such key
    no_dkek = ready_card(b"no-dkek", shares=None)
    no_dkek.generate(1, ec_request_body(p256))
    assert no_dkek.wrap(1)[1] == 0x6D00
    assert no_dkek.unwrap(2, bytes(100)) == 0x6D00


def test_unwrap_host_blob_then_sign() -> None:
    card = ready_card(b"unwrap")
    card.domain(data=SHARE)
    host_key = ec.generate_private_key(ec.SECP256R1())
    with Dkek.from_shares([SHARE]) as dkek:
        blob = encode_key(dkek, host_key, allowed_algorithms=b"\x73\x92")
    assert card.unwrap(10, blob) == 0x9000
    assert 0xCC0A in card.enumerate()
    assert 0xCE0A not in card.enumerate()  # UNWRAP creates the key only
    message = b"signed by an imported key"
    signature, sw = card.sign(10, 0x73, message)
    assert sw == 0x9000
    host_key.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
    assert card.sign(10, 0x70, bytes(32))[1] == 0x6985  # the blob's algorithm list holds
    assert card.unwrap(10, blob) == 0x6A89  # the slot is taken
    # and it can be exported again under the same DKEK
    again, sw = card.wrap(10)
    with Dkek.from_shares([SHARE]) as dkek:
        decoded = decode_key(dkek, again).private_key
    assert isinstance(decoded, ec.EllipticCurvePrivateKey)
    assert decoded.private_numbers() == host_key.private_numbers()


def test_unwrap_via_ef_2f10() -> None:
    card = ready_card(b"2f10")
    card.domain(data=SHARE)
    host_key = rsa.generate_private_key(65537, 1024)
    with Dkek.from_shares([SHARE]) as dkek:
        blob = encode_key(dkek, host_key)
    for offset in range(0, len(blob), 200):
        assert card.write(0x2F10, blob[offset : offset + 200], offset=offset) == 0x9000
    assert card.send(0x80, 0x74, 0x0B, 0x93)[1] == 0x9000
    message = b"rsa via 2F10"
    signature, sw = card.sign(11, 0x33, message)
    assert sw == 0x9000
    host_key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_unwrap_refuses_a_blob_for_another_dkek_and_changes_nothing() -> None:
    card = ready_card(b"wrong-dkek")
    card.domain(data=SHARE)
    before = card.sim.state.to_json()
    with Dkek.from_shares([os.urandom(32)]) as other:
        foreign = encode_key(other, ec.generate_private_key(ec.SECP256R1()))
    assert card.unwrap(12, foreign) == 0x6A80
    with Dkek.from_shares([SHARE]) as dkek:
        tampered = bytearray(encode_key(dkek, AesKey(bytes(16))))
    tampered[-20] ^= 1
    assert card.unwrap(12, bytes(tampered)) == 0x6A80  # MAC does not verify
    assert card.unwrap(12, b"\x00" * 20) == 0x6A80  # not a blob
    assert card.send(0x80, 0x74, 0x0C, 0x93)[1] == 0x6A80  # no data and no EF 2F10
    after = card.sim.state.to_json()
    after.pop("drbg_counter")
    before.pop("drbg_counter")
    assert after == before


def test_unwrap_picks_the_domain_whose_kcv_matches() -> None:
    card = ready_card(b"two-domains", shares=1, slots=2)
    card.domain(data=SHARE)
    other_share = os.urandom(32)
    card.domain(p1=0x01, domain=1, data=b"\x01")
    card.domain(domain=1, data=other_share)
    with Dkek.from_shares([other_share]) as dkek:
        blob = encode_key(dkek, AesKey(os.urandom(32)))
    assert card.unwrap(20, blob) == 0x9000
    assert card.sim.state.keys[20].domain == 1
    assert card.domain(p1=0x03, domain=1)[1] == 0x6A89
