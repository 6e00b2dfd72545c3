"""EF 2F02: the simulator's device CVC and DICA CVC, chaining to the published root key."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.cvc import root_certificate
from tests.simulator.conftest import Card, plain_to_der, tlv_dict

GOLDEN_NITROKEY_DEVICE_BODY_TAGS = [
    b"\x5f\x29",
    b"\x42",
    b"\x7f\x49",
    b"\x5f\x20",
    b"\x7f\x4c",
    b"\x5f\x25",
    b"\x5f\x24",
]


def _root_public() -> ec.EllipticCurvePublicKey:
    order = int(
        "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7", 16
    )  # brainpoolP256r1 n
    scalar = (
        int.from_bytes(
            hashlib.sha256(b"keymanager simulator root CVCA - not a secret").digest(), "big"
        )
        % order
    )
    return ec.derive_private_key(scalar, ec.BrainpoolP256R1()).public_key()


def _split(certificate: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    outer = tlv_dict(read_tlv(certificate).value)
    body_value = outer[b"\x7f\x4e"]
    return encode_tlv(0x7F4E, body_value), tlv_dict(body_value), outer[b"\x5f\x37"]


def test_device_chain_verifies_to_the_published_root(card: Card) -> None:
    chain = card.sim.device_certificates()
    device_tlv = read_tlv(chain)
    device = chain[: device_tlv.next_offset]
    dica = chain[device_tlv.next_offset :]
    assert read_tlv(dica).next_offset == len(dica)

    dica_body, dica_fields, dica_signature = _split(dica)
    assert dica_fields[b"\x42"] == b"UTSRCACC100001"
    assert dica_fields[b"\x5f\x20"] == b"UTSIMDICA00001"
    _root_public().verify(plain_to_der(dica_signature), dica_body, ec.ECDSA(hashes.SHA256()))

    device_body, device_fields, device_signature = _split(device)
    assert [item.tag for item in iter_tlvs(read_tlv(device_body).value)] == (
        GOLDEN_NITROKEY_DEVICE_BODY_TAGS
    )
    chr_ = device_fields[b"\x5f\x20"]
    assert chr_ == card.sim.device_chr
    assert chr_.startswith(b"UTSIM") and chr_.endswith(b"00001") and len(chr_) == 16
    assert chr_[:-5].decode() == card.sim.serial
    assert device_fields[b"\x42"] == dica_fields[b"\x5f\x20"]
    dica_point = tlv_dict(dica_fields[b"\x7f\x49"])[b"\x86"]
    dica_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.BrainpoolP256R1(), dica_point)
    dica_key.verify(plain_to_der(device_signature), device_body, ec.ECDSA(hashes.SHA256()))
    # like a genuine Nitrokey: the device public key is OID + point only
    assert list(tlv_dict(device_fields[b"\x7f\x49"])) == [b"\x06", b"\x86"]
    assert tlv_dict(device_fields[b"\x7f\x4c"])[b"\x53"] == b"\x00"


def test_root_certificate_is_self_signed_with_domain_parameters() -> None:
    root = root_certificate()
    body, fields, signature = _split(root)
    assert fields[b"\x42"] == fields[b"\x5f\x20"] == b"UTSRCACC100001"
    key = tlv_dict(fields[b"\x7f\x49"])
    assert {b"\x81", b"\x82", b"\x83", b"\x84", b"\x85", b"\x86", b"\x87"} <= set(key)
    public = _root_public()
    assert key[b"\x86"] == public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    public.verify(plain_to_der(signature), body, ec.ECDSA(hashes.SHA256()))


def test_each_card_has_its_own_identity() -> None:
    first = SmartCardHsmSimulator()
    second = SmartCardHsmSimulator()
    assert first.device_certificates() != second.device_certificates()
