"""Our key backup and restore interoperate with ``sc-hsm-tool --wrap-key / --unwrap-key``.

One simulated card sits in vpcd's *second* reader (index 1) so these tests do not
collide with other interop tests on reader 0.  Over pyscard → pcscd → vpcd:

* our ``backup_key`` writes a ``.wky`` that ``sc-hsm-tool --unwrap-key`` restores into
  another key reference, with the PRKD and certificate from the file (pkcs15-tool
  lists it under our label), and the restored key signs;
* ``sc-hsm-tool --wrap-key`` writes a file that our ``restore_key`` restores (KCV
  pre-check included), and the restored key signs a message the certificate verifies.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.hsm_types import DEFAULT_SO_PIN, Algorithm, EcKeySpec, InitParams
from keymanager.card.keystore import KeyStore
from keymanager.dkek.wky import parse_backup
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.keys import backup_key, restore_key
from tests.support.opensc import (
    USER_PIN,
    hsm_session,
    parse_pkcs15_keys,
    pkcs15_key_reference,
    pkcs15_tool,
    sc_hsm_tool,
)
from tests.support.pcscd import PcscdHarness

SHARE = bytes(range(1, 33))
LABEL = "wky interop"
MESSAGE = b"restored key signs"


@pytest.fixture(scope="module")
def inserted(
    pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str
) -> Iterator[tuple[str, SmartCardHsmSimulator]]:
    card = SmartCardHsmSimulator(seed=b"wky-opensc")
    with pcscd.inserted(card, index=1) as (reader, _bridge):
        with hsm_session(reader) as hsm:
            hsm.initialize(InitParams(user_pin=USER_PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
            hsm.import_dkek_share(SHARE)
            hsm.verify_pin(USER_PIN)
            info = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), LABEL)
            assert info.public_key is not None
            signer = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, LABEL)])
            now = datetime.datetime.now(datetime.UTC)
            certificate = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(info.public_key)
                .serial_number(1)
                .not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1))
                .sign(signer, hashes.SHA256())
            )
            KeyStore(hsm).store_certificate(info.key_reference, certificate)
        yield reader, card


def test_our_backup_restores_with_sc_hsm_tool(
    inserted: tuple[str, SmartCardHsmSimulator], workdir: Path
) -> None:
    reader, card = inserted
    path = workdir / "ours.wky"
    with hsm_session(reader) as hsm:
        result = backup_key(hsm, ScriptedInteraction().answer("secret", USER_PIN), 1, path)
    backup = parse_backup(path.read_bytes())
    restored = sc_hsm_tool(
        reader, "--unwrap-key", path, "--key-reference", "10", "--pin", USER_PIN, "--force"
    )
    assert 10 in card.state.keys, restored.report()
    assert card.state.files.get(0xC40A) == backup.prkd, restored.report()
    assert card.state.files.get(0xCE0A) == backup.certificate, restored.report()
    listing = pkcs15_tool(reader, "--list-keys").check()
    references = {
        pkcs15_key_reference(k) for k in parse_pkcs15_keys(listing.stdout) if k.label == LABEL
    }
    assert {1, 10} <= references, listing.report()
    with hsm_session(reader) as hsm:
        hsm.verify_pin(USER_PIN)
        signature = hsm.sign(10, Algorithm.ECDSA_SHA256, MESSAGE)
        key = KeyStore(hsm).load_certificate(
            next(k for k in KeyStore(hsm).list_keys() if k.key_reference == 1)
        )
    assert key.certificate is not None and result.label == LABEL
    public = key.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_sc_hsm_tool_backup_restores_with_our_workflow(
    inserted: tuple[str, SmartCardHsmSimulator], workdir: Path
) -> None:
    reader, card = inserted
    path = workdir / "theirs.wky"
    wrapped = sc_hsm_tool(reader, "--wrap-key", path, "--key-reference", "1", "--pin", USER_PIN)
    assert path.is_file(), wrapped.report()
    with hsm_session(reader) as hsm:
        # the same card holds key 1 already: the restore asks before the second copy
        asked = ScriptedInteraction().answer("secret", USER_PIN).answer("confirm", True)
        result = restore_key(hsm, asked, path, key_reference=20)
        assert any("already on the card: key 1" in q for q in asked.questions)
        assert result.label == LABEL and result.domain == 0 and result.certificate == "x509"
        signature = hsm.sign(20, Algorithm.ECDSA_SHA256, MESSAGE)
        listed = {k.key_reference: k for k in KeyStore(hsm).list_keys(load_certificates=True)}
    assert listed[20].label == LABEL and listed[20].certificate is not None
    public = listed[20].certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    listing = pkcs15_tool(reader, "--list-keys").check()
    assert 20 in {pkcs15_key_reference(k) for k in parse_pkcs15_keys(listing.stdout)}, (
        listing.report()
    )
    assert 20 in card.state.keys
