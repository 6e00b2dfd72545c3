"""Renaming keys, exporting CA certificates, viewing / exporting / deleting data objects."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keymanager.card.domain_registry import REGISTRY_FID
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.keystore import CertificateDescription, KeyStore
from keymanager.card.pkcs15 import (
    DataObjectDescription,
    decode_cd,
    decode_prkd,
    encode_cd,
    encode_dcod,
)
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import DEMO_DATA_OBJECT_FID, DEMO_PIN, build_demo_card
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled, ScriptedInteraction
from keymanager.workflows.key_objects import (
    delete_data_object,
    describe_bytes,
    export_ca_certificate,
    export_data_object,
    read_data_object,
    rename_key,
)
from keymanager.workflows.keys import KeyAlgorithm, generate_key
from keymanager.workflows.outline import read_outline

PIN = "648219"


def card(seed: bytes) -> SmartCardHsm:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(seed=seed)))
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=None))
    return hsm


def pin() -> ScriptedInteraction:
    return ScriptedInteraction().answer("secret", PIN)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.json"
    build_demo_card(path)
    return path


@pytest.fixture
def demo(demo_file: Path, tmp_path: Path) -> SmartCardHsm:
    copy = tmp_path / "demo.json"
    copy.write_bytes(demo_file.read_bytes())
    return SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(copy)))


def test_rename_changes_only_the_label_and_the_outline_shows_it() -> None:
    hsm = card(b"rename")
    interaction = ScriptedInteraction().answer("secret", PIN)
    reference = generate_key(
        hsm, interaction, KeyAlgorithm.parse("ec:secp256r1"), "old name"
    ).key_reference
    aes = generate_key(hsm, pin(), KeyAlgorithm.parse("aes:128"), "secret").key_reference
    before = decode_prkd(hsm.read_file(0xC400 | reference))
    renamed = rename_key(hsm, pin(), reference, "  Neuer Schlüssel  ")
    assert renamed.to_dict() == {
        "key_reference": reference,
        "old_label": "old name",
        "label": "Neuer Schlüssel",
        "files": [f"C4{reference:02X}"],
    }
    after = decode_prkd(hsm.read_file(0xC400 | reference))
    assert after.label == "Neuer Schlüssel"
    assert after.id == before.id and after.usage == before.usage and after.size == before.size
    assert after.access_flags == before.access_flags
    rename_key(hsm, pin(), aes, "aes renamed")
    assert decode_prkd(hsm.read_file(0xC400 | aes)).label == "aes renamed"
    titles = [node.title for node in read_outline(hsm).nodes()]
    assert any(title.startswith("Neuer Schlüssel") for title in titles)
    assert any(title.startswith("aes renamed") for title in titles)


def test_rename_updates_a_certificate_description_of_the_key_own_certificate() -> None:
    hsm = card(b"rename cd")
    reference = generate_key(hsm, pin(), KeyAlgorithm.parse("ec:secp256r1"), "a").key_reference
    own = CertificateDescription(label="a", id=b"\x01", path=bytes([0xCE, reference]))
    other = CertificateDescription(label="ca", id=b"\x02", path=b"\xca\x00")
    hsm.write_file(0xC801, encode_cd(own))
    hsm.write_file(0xC802, encode_cd(other))
    renamed = rename_key(hsm, pin(), reference, "b")
    assert renamed.files == (f"C4{reference:02X}", "C801")
    assert decode_cd(hsm.read_file(0xC801)).label == "b"
    assert decode_cd(hsm.read_file(0xC802)).label == "ca"


def test_rename_refuses_bad_labels_and_changes_nothing() -> None:
    hsm = card(b"rename bad")
    reference = generate_key(hsm, pin(), KeyAlgorithm.parse("ec:secp256r1"), "keep").key_reference
    before = hsm.read_file(0xC400 | reference)
    with pytest.raises(WorkflowError, match="a key needs a label; nothing was changed"):
        rename_key(hsm, pin(), reference, "   ")
    with pytest.raises(WorkflowError, match=r"300 bytes long in UTF-8; .* at most 255"):
        rename_key(hsm, pin(), reference, "ü" * 150)
    with pytest.raises(WorkflowError, match="control characters"):
        rename_key(hsm, pin(), reference, "a\nb")
    with pytest.raises(WorkflowError, match="no key with reference 9"):
        rename_key(hsm, pin(), 9, "x")
    assert hsm.read_file(0xC400 | reference) == before


def test_export_a_ca_certificate(demo: SmartCardHsm) -> None:
    [ca] = KeyStore(demo).list_ca_certificates()
    assert ca.certificate is not None
    pem = export_ca_certificate(demo, ca.number)
    assert x509.load_pem_x509_certificate(pem) == ca.certificate
    der = export_ca_certificate(demo, ca.number, pem=False)
    assert der == ca.certificate.public_bytes(serialization.Encoding.DER)
    with pytest.raises(WorkflowError, match="there is no CA certificate 9"):
        export_ca_certificate(demo, 9)


def test_data_objects_view_export_delete(demo: SmartCardHsm, tmp_path: Path) -> None:
    content = read_data_object(demo, ScriptedInteraction(), DEMO_DATA_OBJECT_FID)
    assert content.startswith(b"This public data object")
    dump, text = describe_bytes(content)
    assert text == content.decode()
    assert dump.splitlines()[0].startswith("0000  54 68 69 73 ")
    assert describe_bytes(b"\x00\xff")[1] is None
    out = tmp_path / "object.bin"
    exported = export_data_object(demo, ScriptedInteraction(), DEMO_DATA_OBJECT_FID, out)
    assert out.read_bytes() == content and exported.size == len(content)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    with pytest.raises(Cancelled):
        delete_data_object(demo, ScriptedInteraction().answer("confirm", False), 0xCF01)
    assert read_data_object(demo, ScriptedInteraction(), 0xCF01) == content
    with pytest.raises(WorkflowError, match="key-domain registry"):
        delete_data_object(demo, ScriptedInteraction(), REGISTRY_FID)
    interaction = ScriptedInteraction().answer("confirm", True).answer("secret", DEMO_PIN)
    deleted = delete_data_object(demo, interaction, 0xCF01)
    assert deleted.removed == ("C901", "CF01")
    remaining = [info.fid for info in KeyStore(demo).list_data_objects()]
    assert 0xCF01 not in remaining and REGISTRY_FID in remaining
    with pytest.raises(WorkflowError, match="no data object in file CF01"):
        read_data_object(demo, ScriptedInteraction(), 0xCF01)


def test_a_protected_data_object_asks_for_the_pin() -> None:
    hsm = card(b"private data")
    hsm.verify_pin(PIN)
    hsm.write_file(0xCD05, b"\x00\x01secret")
    hsm.write_file(0xC905, encode_dcod(DataObjectDescription("private", b"\xcd\x05", private=True)))
    fresh = SmartCardHsm.open(hsm.transport)  # a new session: the PIN is not verified
    interaction = pin()
    assert read_data_object(fresh, interaction, 0xCD05) == b"\x00\x01secret"
    assert interaction.finished


def test_an_unreadable_description_and_an_undescribed_file_can_be_deleted() -> None:
    hsm = card(b"odd data")
    hsm.verify_pin(PIN)
    hsm.write_file(0xC903, b"\x30\x03\x01\x01")  # not a data object description
    hsm.write_file(0xCF04, b"no description")
    hsm.write_file(0xC904, encode_dcod(DataObjectDescription("kept", b"\xcf\x09")))
    listed = {(info.number, info.fid) for info in KeyStore(hsm).list_data_objects()}
    assert (3, None) in listed and (4, 0xCF09) in listed
    yes = ScriptedInteraction().answer("confirm", True)
    assert delete_data_object(hsm, yes, 0xC903).removed == ("C903",)
    if KeyStore(hsm).files().lists_content_files:  # genuine: ENUMERATE shows CF04
        assert (4, 0xCF04) in listed
        yes = ScriptedInteraction().answer("confirm", True)
        assert delete_data_object(hsm, yes, 0xCF04).removed == ("CF04",)
    else:  # Pico HSM's ENUMERATE hides data files: an undescribed one cannot be found
        assert (4, 0xCF04) not in listed
    assert hsm.read_file(0xC904)  # the other object's description C904 stays
