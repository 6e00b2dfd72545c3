"""OpenSC's PKCS#11 module generates keys on the simulated card and signs with them.

pkcs11-tool generates an EC prime256v1 and an RSA-2048 key pair; the keys are listed
with their labels and IDs, the public key pkcs11-tool reads back is the one our
KeyStore finds in the card's CV request, and the signatures made through PKCS#11
verify with :mod:`cryptography`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keymanager.card.keystore import KeyStore
from tests.support.opensc import (
    ECDSA_SHA256,
    SHA256_RSA_PKCS,
    SO_PIN,
    USER_PIN,
    InsertedCard,
    hsm_session,
    inserted_simulator,
    parse_pkcs11_objects,
    pkcs11_public_key,
    pkcs11_sign,
    pkcs11_tool,
    sc_hsm_tool,
)
from tests.support.pcscd import PcscdHarness

MESSAGE = b"a message signed by pkcs11-tool through the simulated card"

KEYS = [
    pytest.param("EC:prime256v1", b"\x01", "L", ECDSA_SHA256, id="ec-prime256v1"),
    pytest.param("rsa:2048", b"\x02", "R", SHA256_RSA_PKCS, id="rsa-2048"),
]


@pytest.fixture(scope="module")
def hsm_card(
    pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str
) -> Iterator[InsertedCard]:
    with inserted_simulator(pcscd, seed=b"opensc interop: pkcs11") as inserted:
        run = sc_hsm_tool(
            inserted.reader, "--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN,
            "--label", "PKCS11",
        )  # fmt: skip
        assert inserted.card.state.initialised, run.report()
        yield inserted


@pytest.mark.parametrize(("key_type", "key_id", "label", "mechanism"), KEYS)
def test_pkcs11_tool_generates_lists_and_signs(
    hsm_card: InsertedCard, workdir: Path, key_type: str, key_id: bytes, label: str, mechanism: str
) -> None:
    generated = pkcs11_tool(
        "--login", "--pin", USER_PIN, "--keypairgen", "--key-type", key_type,
        "--id", key_id.hex(), "--label", label,
    )  # fmt: skip
    assert generated.returncode == 0 and "Key pair generated" in generated.stdout, (
        generated.report()
    )

    public_listing = pkcs11_tool("--list-objects").check()
    public_objects = parse_pkcs11_objects(public_listing.stdout)
    assert any(
        (o.object_class, o.label, o.id) == ("Public Key", label, key_id.hex())
        for o in public_objects
    ), public_listing.report()
    private_listing = pkcs11_tool("--login", "--pin", USER_PIN, "--list-objects").check()
    private_objects = parse_pkcs11_objects(private_listing.stdout)
    [private] = [
        o for o in private_objects if o.object_class == "Private Key" and o.id == key_id.hex()
    ]
    assert private.label == label and private.key_type == key_type.split(":")[0].upper()

    read, public_der = pkcs11_public_key(workdir, key_id)
    assert public_der is not None, read.report()
    public_key = serialization.load_der_public_key(public_der)

    # Our key store reads the same public key from the CV request the card returned.
    with hsm_session(hsm_card.reader) as hsm:
        keys = KeyStore(hsm).list_keys()
    [ours] = [key for key in keys if key.id == key_id]
    assert ours.label == label
    assert ours.public_key is not None
    assert (
        ours.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_der
    )

    signed, signature = pkcs11_sign(workdir, key_id, mechanism, MESSAGE)
    assert signature is not None and signed.returncode == 0, signed.report()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
        public_key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
