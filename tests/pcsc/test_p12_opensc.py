"""PKCS#12 imports through pcscd are first-class keys for OpenSC.

The classic import (shares on the host) and the transient key-domain import run over
:class:`PcscTransport` against a simulated card in vpcd's second reader (index 1);
then OpenSC's ``pkcs11-tool`` lists the key with its label and ID, signs with it, and
the signature verifies with the certificate (or, for a key imported without one, with
the PKCS#12 key's public key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.plugins.transient_import import transient_import
from tests.support.opensc import (
    ECDSA_SHA256,
    SHA256_RSA_PKCS,
    ToolRun,
    hsm_session,
    parse_pkcs11_objects,
    pkcs11_tool,
)
from tests.support.pcscd import PcscdHarness
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    fresh_card,
    host_key,
    inconsistencies,
    paperkey_input,
    write_p12,
)

READER_INDEX = 1
MESSAGE = b"signed by pkcs11-tool with a key imported from PKCS#12"


@dataclass(frozen=True)
class Inserted:
    reader: str
    card: SmartCardHsmSimulator
    share: bytes


@pytest.fixture(scope="module")
def inserted(pcscd: PcscdHarness, opensc_tools: None, simulator_profile: str) -> Iterator[Inserted]:
    card, share = fresh_card(b"p12 through pcscd")
    with pcscd.inserted(card, index=READER_INDEX) as (reader, _bridge):
        yield Inserted(reader, card, share)


def p11(reader: str, *arguments: str | Path) -> ToolRun:
    """pkcs11-tool on the slot of our reader only (other readers may hold cards)."""
    return pkcs11_tool("--slot-description", reader, *arguments)


def sign_with_opensc(reader: str, directory: Path, key_id: str, mechanism: str) -> bytes:
    message, signature = directory / "message.bin", directory / "signature.bin"
    message.write_bytes(MESSAGE)
    signature.unlink(missing_ok=True)
    arguments: list[str | Path] = [
        "--login", "--pin", PIN, "--sign", "--id", key_id, "-m", mechanism,
        "-i", message, "-o", signature,
    ]  # fmt: skip
    if mechanism == ECDSA_SHA256:
        arguments += ["--signature-format", "openssl"]
    run = p11(reader, *arguments)
    assert run.returncode == 0 and signature.exists(), run.report()
    return signature.read_bytes()


CASES = [
    ("classic", "rsa2048", "chain", SHA256_RSA_PKCS),
    ("classic", "rsa4096", "certificate", SHA256_RSA_PKCS),
    ("classic", "p384", "chain", ECDSA_SHA256),
    ("transient", "p256", "no certificate", ECDSA_SHA256),
    ("transient", "bp256", "certificate", ECDSA_SHA256),
]


@pytest.mark.parametrize(("path_kind", "kind", "form", "mechanism"), CASES)
def test_imported_key_signs_in_opensc(
    inserted: Inserted, workdir: Path, path_kind: str, kind: str, form: str, mechanism: str
) -> None:
    key = host_key(kind)
    p12 = workdir / f"{path_kind}-{kind}.p12"
    label = f"{path_kind} {kind}"
    cert = write_p12(
        p12,
        key,
        common_name=label,
        with_certificate=form != "no certificate",
        with_chain=form == "chain",
    )
    journal = ImportJournal(workdir / "journal.json")
    interaction = ScriptedInteraction()
    with hsm_session(inserted.reader) as hsm, hsm.exclusive():
        if path_kind == "classic":
            interaction.answer("number", 1).answer("share", paperkey_input(inserted.share))
            interaction.answer("secret", PIN).answer("secret", P12_PASSWORD)
            interaction.answer("choices", "all")
            result = import_pkcs12(hsm, interaction, path=p12, journal=journal, offer_more=False)
        else:
            interaction.answer("secret", P12_PASSWORD).answer("secret", PIN)
            interaction.answer("choices", "all")
            result = transient_import(hsm, interaction, path=p12, journal=journal, offer_more=False)
    assert result.ok, result.summary()
    assert interaction.finished
    [imported] = result.keys
    assert imported.key_id is not None
    key_id = imported.key_id.lower()
    expected_label = label if cert is not None else "Imported key 1"
    assert inconsistencies(inserted.card) == []

    listing = p11(inserted.reader, "--login", "--pin", PIN, "--list-objects")
    assert listing.returncode == 0, listing.report()
    objects = {(o.object_class, o.label, o.id) for o in parse_pkcs11_objects(listing.stdout)}
    assert ("Private Key", expected_label, key_id) in objects, listing.report()
    if cert is not None:
        assert ("Certificate", expected_label, key_id) in objects, listing.report()

    signature = sign_with_opensc(inserted.reader, workdir, key_id, mechanism)
    public_key = cert.public_key() if cert is not None else key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    if path_kind == "transient":
        assert result.kek_deleted
        domains = inserted.card.state.key_domains or []
        assert [i for i, d in enumerate(domains) if d is not None and d.outstanding == 0] == [0]
