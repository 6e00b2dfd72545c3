"""Key backups made by another implementation: Pico HSM's blobs in sc-hsm-tool's .wky files.

The vectors (``shared/vectors/pico-wrapped-keys.json``) hold four keys generated on a
Pico HSM, wrapped by the device under a one-share DKEK and saved by OpenSC's
``sc-hsm-tool --wrap-key``, with each key's public key read from the device
independently of the blob.  Each backup must parse, decode with that DKEK to the
device's key, re-encode with our encoder, and import into the simulator (UNWRAP under
a domain holding that DKEK as its single share), which must then sign with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from keymanager.card.cvc import CvRequest
from keymanager.card.pkcs15 import KeyKind, decode_prkd
from keymanager.dkek.curves import curve_by_name, is_on_curve
from keymanager.dkek.dkek import Dkek, kcv_of
from keymanager.dkek.keyblob import (
    DecodedKeyBlob,
    KeyType,
    Padding,
    decode_key,
    describe_blob,
    encode_key,
)
from keymanager.dkek.wky import KeyBackup, parse_backup
from tests.conftest import VECTORS_PATH
from tests.simulator.conftest import ready_card

PICO_VECTORS_PATH = VECTORS_PATH.parent / "pico-wrapped-keys.json"

KEY_NAMES = ("RSA 2048", "RSA 4096", "EC secp521r1", "EC brainpoolP384r1")

# what each backup must hold: blob key type, key size field, PRKD kind and size
EXPECTED: dict[str, tuple[KeyType, int, KeyKind, int]] = {
    "RSA 2048": (KeyType.RSA, 2048, KeyKind.RSA, 2048),
    "RSA 4096": (KeyType.RSA, 4096, KeyKind.RSA, 4096),
    "EC secp521r1": (KeyType.EC, 528, KeyKind.EC, 521),
    "EC brainpoolP384r1": (KeyType.EC, 384, KeyKind.EC, 384),
}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class PicoBackup:
    name: str
    wky: bytes
    public_key: PublicKey


@pytest.fixture(scope="module")
def pico_vectors() -> dict[str, Any]:
    """The Pico HSM vectors (a missing file is a failure, not a skip)."""
    assert PICO_VECTORS_PATH.is_file(), (
        f"the Pico HSM key-backup vectors are missing: expected them at {PICO_VECTORS_PATH} "
        "(the shared folder beside the repository checkout)"
    )
    data: dict[str, Any] = json.loads(PICO_VECTORS_PATH.read_text())
    return data


@pytest.fixture(scope="module")
def dkek_value(pico_vectors: dict[str, Any]) -> bytes:
    value = bytes.fromhex(pico_vectors["dkek_hex"])
    assert kcv_of(value).hex() == pico_vectors["kcv_hex"]
    return value


def _short_name(description: str) -> str:
    return description.split(":")[0]


@pytest.fixture(scope="module")
def backups(pico_vectors: dict[str, Any]) -> dict[str, PicoBackup]:
    result: dict[str, PicoBackup] = {}
    for entry in pico_vectors["backups"]:
        name = _short_name(entry["key"])
        public_key = serialization.load_der_public_key(
            base64.b64decode(entry["public_key_spki_der_base64"])
        )
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        result[name] = PicoBackup(name, base64.b64decode(entry["wky_base64"]), public_key)
    assert sorted(result) == sorted(KEY_NAMES), "the vector file does not hold the four keys"
    return result


def _decode(dkek_value: bytes, blob: bytes) -> DecodedKeyBlob:
    with Dkek.from_value(dkek_value) as dkek:
        return decode_key(dkek, blob)


def _public_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_public_der(decoded: DecodedKeyBlob) -> bytes:
    private_key = decoded.private_key
    assert isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return _public_der(private_key.public_key())


@pytest.mark.parametrize("name", KEY_NAMES)
def test_backup_decodes_to_the_devices_key(
    name: str, backups: dict[str, PicoBackup], dkek_value: bytes
) -> None:
    backup = backups[name]
    container = parse_backup(backup.wky)
    assert container.blob[:8] == kcv_of(dkek_value)
    decoded = _decode(dkek_value, container.blob)
    key_type, key_size, _, _ = EXPECTED[name]
    assert decoded.key_type is key_type
    assert decoded.key_size == key_size
    assert decoded.padding in (Padding.SCSH, Padding.PICO)
    assert _private_public_der(decoded) == _public_der(backup.public_key)


@pytest.mark.parametrize("name", KEY_NAMES)
def test_prkd_and_cv_request_parse_and_describe_the_same_key(
    name: str, backups: dict[str, PicoBackup]
) -> None:
    backup = backups[name]
    container = parse_backup(backup.wky)
    assert container.prkd is not None and container.certificate is not None
    _, _, kind, size = EXPECTED[name]
    description = decode_prkd(container.prkd)
    assert description.kind is kind
    assert description.size == size
    assert description.label
    assert container.has_cv_request
    request = CvRequest.parse(container.certificate)
    assert request.verify_self_signature()
    if isinstance(backup.public_key, rsa.RSAPublicKey):
        numbers = backup.public_key.public_numbers()
        assert request.public_key.modulus == numbers.n
        assert request.public_key.exponent == numbers.e
    else:
        assert request.public_key.point == backup.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    # the container is written back byte for byte as sc-hsm-tool wrote it
    assert KeyBackup(container.blob, container.prkd, container.certificate).to_der() == backup.wky


def test_secp521r1_blob_writes_a_as_an_empty_field_meaning_minus_three(
    backups: dict[str, PicoBackup], dkek_value: bytes
) -> None:
    """The device leaves a out (mbedTLS's 'a = -3'); p, b, G and the order give the curve.

    Read as the integer 0 it would name another curve, on which G does not even lie;
    the device's own CV request for the same key spells a out as p - 3.
    """
    curve = curve_by_name("secp521r1")
    container = parse_backup(backups["EC secp521r1"].wky)
    header = describe_blob(container.blob)
    assert header.key_type is KeyType.EC
    assert curve.a == curve.p - 3
    assert is_on_curve(curve, curve.generator)
    assert not is_on_curve(replace(curve, a=0), curve.generator)
    request = CvRequest.parse(container.certificate or b"")
    assert int.from_bytes(request.public_key.get(0x82) or b"", "big") == curve.p - 3
    decoded = _decode(dkek_value, container.blob)
    assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
    assert decoded.private_key.curve.name == "secp521r1"


@pytest.mark.parametrize("name", KEY_NAMES)
def test_our_encoder_rewraps_the_decoded_key(
    name: str, backups: dict[str, PicoBackup], dkek_value: bytes
) -> None:
    container = parse_backup(backups[name].wky)
    decoded = _decode(dkek_value, container.blob)
    with Dkek.from_value(dkek_value) as dkek:
        blob = encode_key(dkek, decoded.private_key)
    again = _decode(dkek_value, blob)
    assert again.padding is Padding.SCSH
    assert _private_public_der(again) == _public_der(backups[name].public_key)
    if isinstance(decoded.private_key, rsa.RSAPrivateKey):
        assert isinstance(again.private_key, rsa.RSAPrivateKey)
        assert again.private_key.private_numbers() == decoded.private_key.private_numbers()
        # Smart Card Shell's rule: CRT form up to 2048 bits, d and n above
        assert again.key_type is (KeyType.RSA_CRT if name == "RSA 2048" else KeyType.RSA)
    else:
        assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
        assert isinstance(again.private_key, ec.EllipticCurvePrivateKey)
        assert again.private_key.private_numbers() == decoded.private_key.private_numbers()
        assert again.key_size == decoded.key_size


_MESSAGE = b"signed by a key a Pico HSM made"


@pytest.mark.parametrize("name", KEY_NAMES)
def test_simulator_unwraps_the_blob_and_signs_with_the_devices_key(
    name: str, backups: dict[str, PicoBackup], dkek_value: bytes
) -> None:
    backup = backups[name]
    card = ready_card(b"pico-" + name.encode(), shares=1)
    status, sw = card.domain(data=dkek_value)  # the DKEK is the one share
    assert sw == 0x9000
    assert status[:2] == b"\x01\x00" and status[2:10] == kcv_of(dkek_value)
    blob = parse_backup(backup.wky).blob
    assert card.unwrap(5, blob) == 0x9000
    public_key = backup.public_key
    if isinstance(public_key, rsa.RSAPublicKey):
        signature, sw = card.sign(5, 0x33, _MESSAGE)  # RSA PKCS#1 v1.5 with SHA-256
        assert sw == 0x9000
        public_key.verify(signature, _MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature, sw = card.sign(5, 0x73, _MESSAGE)  # ECDSA with SHA-256
        assert sw == 0x9000
        public_key.verify(signature, _MESSAGE, ec.ECDSA(hashes.SHA256()))
        digest = hashlib.sha256(_MESSAGE).digest()
        public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
