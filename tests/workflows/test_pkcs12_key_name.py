"""A key's label is its PKCS#12 friendlyName also when the file holds no certificate.

:mod:`cryptography` tells the friendly names of certificate bags only; the name of a key
exported without a certificate sits in its key bag, which keymanager reads itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    NoEncryption,
    pkcs12,
)

from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import key_id_for_public_key
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.pkcs12 import key_bag_friendly_name, parse_pkcs12
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    check_signs,
    fresh_card,
    host_key,
    inconsistencies,
    paperkey_input,
    session,
)

NAME = "Signing key 2027 · Zürich"
"""A friendly name beyond ASCII (a BMPString holds UTF-16)."""


def _key_only_p12(kind: str, *, name: str | None, password: str | None) -> bytes:
    encryption = (
        BestAvailableEncryption(password.encode()) if password is not None else NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode() if name is not None else None,
        host_key(kind),  # type: ignore[arg-type]
        None,
        None,
        encryption,
    )


@pytest.mark.parametrize("password", [P12_PASSWORD, None])
def test_the_key_bag_name_is_read(password: str | None) -> None:
    data = _key_only_p12("p256", name=NAME, password=password)
    assert key_bag_friendly_name(data) == NAME
    [entry] = parse_pkcs12(data, password.encode() if password else None).keys
    assert entry.certificate is None
    assert (entry.friendly_name, entry.label) == (NAME, NAME)


def test_without_a_name_the_label_stays_imported_key_n() -> None:
    data = _key_only_p12("p256", name=None, password=P12_PASSWORD)
    assert key_bag_friendly_name(data) is None
    [entry] = parse_pkcs12(data, P12_PASSWORD.encode()).keys
    assert entry.label == "Imported key 1"


def test_not_a_pfx_has_no_key_bag_name() -> None:
    assert key_bag_friendly_name(b"\x30\x03\x02\x01\x03") is None
    assert key_bag_friendly_name(b"not DER at all") is None


@pytest.mark.parametrize("kind", ["p256", "rsa2048"])
def test_imported_key_without_certificate_is_labelled_by_its_friendly_name(
    tmp_path: Path, kind: str
) -> None:
    card, share = fresh_card(f"key bag name {kind}".encode())
    path = tmp_path / "key-only.p12"
    path.write_bytes(_key_only_p12(kind, name=NAME, password=P12_PASSWORD))
    interaction = ScriptedInteraction()
    interaction.answer("number", 1).answer("share", paperkey_input(share)).answer("secret", PIN)
    interaction.answer("secret", P12_PASSWORD).answer("choices", "all").answer("confirm", False)
    journal = ImportJournal(tmp_path / "journal.json")
    result = import_pkcs12(session(card), interaction, path=path, journal=journal)

    assert result.ok, result.summary()
    [imported] = result.keys
    assert imported.label == NAME
    hsm = session(card)
    hsm.verify_pin(PIN)
    [listed] = KeyStore(hsm).list_keys(load_certificates=True)
    assert listed.label == NAME and listed.certificate is None
    public_key = host_key(kind).public_key()
    assert listed.id == key_id_for_public_key(public_key)  # type: ignore[arg-type]
    check_signs(hsm, listed.key_reference, public_key, b"signed after the import")
    assert inconsistencies(card) == []
