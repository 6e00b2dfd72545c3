"""Keys imported through our KeyStore over PC/SC are first-class keys for OpenSC.

A host-generated key is wrapped by our library under the card's DKEK and imported
with ``KeyStore.import_wrapped_key`` together with its certificate, over
:class:`PcscTransport`.  OpenSC's PKCS#11 module and pkcs15-tool then list it with
our label and ID, and pkcs11-tool signs with it; the signature verifies with the
certificate's public key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keymanager.card.keystore import KeyStore
from keymanager.dkek import Dkek
from keymanager.dkek.keyblob import encode_key
from tests.support.opensc import (
    ECDSA_SHA256,
    SHA256_RSA_PKCS,
    SO_PIN,
    USER_PIN,
    InsertedCard,
    hsm_session,
    inserted_simulator,
    parse_pkcs11_objects,
    parse_pkcs15_keys,
    pkcs11_sign,
    pkcs11_tool,
    pkcs15_key_reference,
    pkcs15_tool,
    sc_hsm_tool,
    self_signed_certificate,
)
from tests.support.pcscd import PcscdHarness

MESSAGE = b"signed with a key the key manager imported"


@pytest.fixture(scope="module")
def dkek() -> Iterator[Dkek]:
    with Dkek.from_shares([os.urandom(32)]) as value:
        yield value


@pytest.fixture(scope="module")
def hsm_card(
    pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str, dkek: Dkek
) -> Iterator[InsertedCard]:
    """A card initialised by sc-hsm-tool for one share, imported by our session."""
    with inserted_simulator(pcscd, seed=b"opensc interop: keystore") as inserted:
        run = sc_hsm_tool(
            inserted.reader, "--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN,
            "--dkek-shares", "1", "--label", "KeyStore",
        )  # fmt: skip
        assert inserted.card.state.initialised, run.report()
        with hsm_session(inserted.reader) as hsm:
            hsm.import_dkek_share(dkek.value())
            hsm.verify_pin(USER_PIN)  # Pico HSM: KCV hidden and DKEK kept only after VERIFY
            status = hsm.key_domain_status(0)
        assert status is not None and status.complete and status.kcv == dkek.kcv()
        yield inserted


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("kind", "label", "mechanism"),
    [("ec", "imported EC key", ECDSA_SHA256), ("rsa", "imported RSA key", SHA256_RSA_PKCS)],
)
def test_key_imported_by_our_key_store_works_in_opensc(
    hsm_card: InsertedCard,
    dkek: Dkek,
    rsa_key: rsa.RSAPrivateKey,
    workdir: Path,
    kind: str,
    label: str,
    mechanism: str,
) -> None:
    host_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa_key
    )
    certificate = self_signed_certificate(host_key, label)
    with hsm_session(hsm_card.reader) as hsm:
        hsm.verify_pin(USER_PIN)
        info = KeyStore(hsm).import_wrapped_key(
            encode_key(dkek, host_key), label=label, certificate=certificate
        )
    assert info.id is not None
    key_id = info.id.hex()

    listing = pkcs11_tool("--login", "--pin", USER_PIN, "--list-objects").check()
    objects = {(o.object_class, o.label, o.id) for o in parse_pkcs11_objects(listing.stdout)}
    assert ("Private Key", label, key_id) in objects, listing.report()
    assert ("Certificate", label, key_id) in objects, listing.report()

    keys = pkcs15_tool(hsm_card.reader, "--list-keys").check()
    [listed] = [key for key in parse_pkcs15_keys(keys.stdout) if key.label == label]
    assert listed.key_type == kind.upper(), keys.report()
    assert listed.id == key_id, keys.report()
    assert pkcs15_key_reference(listed) == info.key_reference, keys.report()

    signed, signature = pkcs11_sign(workdir, info.id, mechanism, MESSAGE)
    assert signature is not None and signed.returncode == 0, signed.report()
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
