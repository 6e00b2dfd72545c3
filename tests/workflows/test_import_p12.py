"""The classic PKCS#12 import (shares entered on the host) end to end on the simulator.

Also: bad input changes nothing on the card, and a card pulled at each APDU in turn
leaves, after the next connection's recovery, no key without PRKD and no PRKD without key.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from keymanager.card.errors import CardRemoved
from keymanager.card.keystore import KeyStore
from keymanager.card.pkcs15 import key_id_for_public_key
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.errors import DkekKcvMismatch
from keymanager.workflows.import_p12 import (
    ImportJournal,
    Pkcs12ImportResult,
    import_pkcs12,
    recover_leftovers,
)
from keymanager.workflows.interaction import CANCEL, Cancelled, MessageLevel, ScriptedInteraction
from keymanager.workflows.pkcs12 import NothingToImport, Pkcs12Corrupt, Pkcs12WrongPassword
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    ca_chain,
    card_contents,
    check_signs,
    domains_with_kek,
    fresh_card,
    host_key,
    inconsistencies,
    paperkey_input,
    session,
    write_p12,
)

MESSAGE = b"signed by the test after the import"


def classic_script(share: bytes, *answers: tuple[str, object]) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    interaction.answer("number", 1).answer("share", paperkey_input(share)).answer("secret", PIN)
    for kind, value in answers:
        interaction.answer(kind, value)
    return interaction


def run_classic(
    card: SmartCardHsmSimulator,
    share: bytes,
    path: Path,
    journal: ImportJournal,
    *answers: tuple[str, object],
    offer_more: bool = True,
) -> tuple[Pkcs12ImportResult, ScriptedInteraction]:
    interaction = classic_script(share, ("secret", P12_PASSWORD), *answers)
    result = import_pkcs12(
        session(card), interaction, path=path, journal=journal, offer_more=offer_more
    )
    return result, interaction


@pytest.mark.parametrize("kind", ["rsa2048", "rsa4096", "p256", "p384", "bp256"])
@pytest.mark.parametrize("form", ["certificate", "chain", "no certificate"])
def test_classic_import(tmp_path: Path, kind: str, form: str) -> None:
    card, share = fresh_card(f"classic {kind} {form}".encode())
    key = host_key(kind)
    path = tmp_path / "in.p12"
    cert = write_p12(
        path,
        key,
        common_name=f"{kind} holder",
        with_certificate=form != "no certificate",
        with_chain=form == "chain",
    )
    journal = ImportJournal(tmp_path / "journal.json")
    result, interaction = run_classic(
        card, share, path, journal, ("choices", "all"), ("confirm", False)
    )

    assert result.ok, result.summary()
    assert interaction.finished
    [key_result] = result.keys
    assert key_result.proven
    expected_label = "Imported key 1" if cert is None else f"{kind} holder"
    assert key_result.label == expected_label
    public_key = key.public_key()
    expected_id = key_id_for_public_key(public_key)  # type: ignore[arg-type]
    assert key_result.key_id == expected_id.hex().upper()

    hsm = session(card)
    hsm.verify_pin(PIN)
    store = KeyStore(hsm)
    [listed] = store.list_keys(load_certificates=True)
    assert listed.label == expected_label and listed.id == expected_id
    assert listed.key_reference == key_result.key_reference
    assert listed.certificate == cert
    check_signs(hsm, listed.key_reference, public_key, MESSAGE)

    cas = store.list_ca_certificates()
    if form == "chain":
        chain = ca_chain()
        assert {ca.certificate for ca in cas} == {chain.root, chain.intermediate}
        assert len(result.ca_certificates) == 2
    else:
        assert cas == []
    assert inconsistencies(card) == []
    assert not journal.path.exists()


def test_more_entries_more_files_and_known_ca_skipped(tmp_path: Path) -> None:
    card, share = fresh_card(b"classic loops")
    first, second = tmp_path / "first.p12", tmp_path / "second.p12"
    write_p12(first, host_key("p256"), common_name="first", with_chain=True)
    write_p12(second, host_key("bp256"), common_name="second", with_chain=True)
    journal = ImportJournal(tmp_path / "journal.json")
    result, interaction = run_classic(
        card,
        share,
        first,
        journal,
        ("choices", ["key:1"]),  # the key only
        ("confirm", True),  # import more entries from this file
        ("choices", "all"),  # the two CA certificates
        ("confirm", True),  # another file
        ("text", str(second)),
        ("secret", P12_PASSWORD),
        ("choices", "all"),
        ("confirm", False),  # no more entries (none left anyway: not asked)
    )
    # the last confirm is the "another file?" question
    assert interaction.finished
    assert result.ok, result.summary()
    assert [f.source for f in result.files] == ["first.p12", "second.p12"]
    assert [k.label for k in result.keys] == ["first", "second"]
    stored = [ca for ca in result.ca_certificates if ca.number is not None]
    skipped = [ca for ca in result.ca_certificates if ca.skipped]
    assert len(stored) == 2 and len(skipped) == 2
    hsm = session(card)
    hsm.verify_pin(PIN)
    assert len(KeyStore(hsm).list_ca_certificates()) == 2
    assert len(KeyStore(hsm).list_keys()) == 2
    assert inconsistencies(card) == []


# --- bad input: a specific message and the card unchanged -----------------------------


@pytest.fixture(scope="module")
def p256_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("p12") / "p256.p12"
    write_p12(path, host_key("p256"), with_chain=True)
    return path


def test_wrong_pkcs12_password(tmp_path: Path, p256_file: Path) -> None:
    card, share = fresh_card(b"classic wrong p12 password")
    before = card_contents(card)
    interaction = classic_script(share, ("secret", "wrong password"))
    with pytest.raises(Pkcs12WrongPassword, match="PKCS#12 password is wrong"):
        import_pkcs12(
            session(card), interaction, path=p256_file, journal=ImportJournal(tmp_path / "j")
        )
    assert card_contents(card) == before


def test_corrupt_pkcs12(tmp_path: Path, p256_file: Path) -> None:
    card, share = fresh_card(b"classic corrupt")
    broken = tmp_path / "broken.p12"
    broken.write_bytes(p256_file.read_bytes()[:200])
    before = card_contents(card)
    interaction = classic_script(share, ("secret", P12_PASSWORD))
    with pytest.raises(Pkcs12Corrupt, match="not a readable PKCS#12"):
        import_pkcs12(
            session(card), interaction, path=broken, journal=ImportJournal(tmp_path / "j")
        )
    assert card_contents(card) == before


@pytest.mark.parametrize(("kind", "name"), [("ed25519", "Ed25519"), ("dsa", "DSA")])
def test_unsupported_key(tmp_path: Path, kind: str, name: str) -> None:
    card, share = fresh_card(f"classic {kind}".encode())
    path = tmp_path / f"{kind}.p12"
    write_p12(path, host_key(kind))
    before = card_contents(card)
    interaction = classic_script(share, ("secret", P12_PASSWORD))
    with pytest.raises(NothingToImport, match=f"cannot hold {name} keys"):
        import_pkcs12(session(card), interaction, path=path, journal=ImportJournal(tmp_path / "j"))
    assert card_contents(card) == before


def test_share_of_another_dkek(tmp_path: Path, p256_file: Path) -> None:
    card, _share = fresh_card(b"classic kcv mismatch")
    _other_card, other_share = fresh_card(b"some other card")
    before = card_contents(card)
    interaction = classic_script(other_share)
    with pytest.raises(DkekKcvMismatch, match="nothing was imported") as caught:
        import_pkcs12(
            session(card), interaction, path=p256_file, journal=ImportJournal(tmp_path / "j")
        )
    assert caught.value.domain == 0 and caught.value.host_kcv != caught.value.card_kcv
    assert interaction.finished  # the PKCS#12 password was never asked for
    assert card_contents(card) == before


def test_wrong_pin(tmp_path: Path, p256_file: Path) -> None:
    card, share = fresh_card(b"classic wrong pin")
    before = card_contents(card)
    interaction = ScriptedInteraction()
    interaction.answer("number", 1).answer("share", paperkey_input(share))
    interaction.answer("secret", "000000").answer("secret", CANCEL)
    with pytest.raises(Cancelled):
        import_pkcs12(
            session(card), interaction, path=p256_file, journal=ImportJournal(tmp_path / "j")
        )
    assert "Wrong PIN: 2 tries left." in interaction.texts(MessageLevel.WARNING)
    assert card_contents(card) == before
    assert card.state.user_pin_tries == 2


# --- a card pulled at each APDU ------------------------------------------------------


def test_card_removed_at_each_apdu(tmp_path: Path, p256_file: Path) -> None:
    template, share = fresh_card(b"classic faults")
    baseline_domains = domains_with_kek(template)

    def attempt(card: SmartCardHsmSimulator, journal: ImportJournal) -> Pkcs12ImportResult:
        hsm = session(card)
        card.faults.clear()
        interaction = classic_script(share, ("secret", P12_PASSWORD), ("choices", "all"))
        return import_pkcs12(hsm, interaction, path=p256_file, journal=journal, offer_more=False)

    clean = copy.deepcopy(template)
    assert attempt(clean, ImportJournal(tmp_path / "clean.json")).ok
    total = clean.faults.apdus_seen
    assert total > 10

    rolled_back = 0
    for k in range(1, total + 1):
        card = copy.deepcopy(template)
        journal = ImportJournal(tmp_path / f"journal-{k}.json")
        hsm = session(card)
        card.faults.clear()
        card.faults.remove_at(k)
        interaction = classic_script(share, ("secret", P12_PASSWORD), ("choices", "all"))
        with pytest.raises(CardRemoved):
            import_pkcs12(hsm, interaction, path=p256_file, journal=journal, offer_more=False)
        card.insert()
        recovery = recover_leftovers(
            session(card),
            ScriptedInteraction().answer("confirm", True).answer("secret", PIN),
            journal,
        )
        rolled_back += len(recovery.keys_rolled_back) + len(recovery.ca_rolled_back)
        assert inconsistencies(card) == [], f"card pulled at APDU {k} of {total}"
        assert domains_with_kek(card) == baseline_domains
        assert not journal.path.exists(), f"journal left after APDU {k}"
        # whatever is on the card is complete and usable
        hsm = session(card)
        hsm.verify_pin(PIN)
        for info in KeyStore(hsm).list_keys(load_certificates=True):
            assert info.described and info.public_key is not None
            check_signs(hsm, info.key_reference, info.public_key, MESSAGE)
    assert rolled_back > 0
    print(f"classic import: card pulled at each of {total} APDUs")


def test_public_key_matches_certificate_file(tmp_path: Path) -> None:
    """The key on the card is the PKCS#12 key: its public key equals the certificate's."""
    card, share = fresh_card(b"classic spki")
    key = host_key("p384")
    path = tmp_path / "k.p12"
    cert = write_p12(path, key, common_name="spki")
    assert cert is not None
    result, _ = run_classic(
        card, share, path, ImportJournal(tmp_path / "j"), ("choices", "all"), ("confirm", False)
    )
    assert result.ok
    hsm = session(card)
    hsm.verify_pin(PIN)
    [info] = KeyStore(hsm).list_keys(load_certificates=True)
    assert info.public_key is not None
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert info.public_key.public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def test_kcv_hidden_until_login(tmp_path: Path, p256_file: Path) -> None:
    """Pico HSM shows the KCV only after VERIFY: the comparison happens after the PIN."""
    card, share = fresh_card(b"classic hidden kcv", hide_kcv_until_login=True)
    assert session(card).key_domain_status(0).kcv is None  # type: ignore[union-attr]
    result, _ = run_classic(
        card, share, p256_file, ImportJournal(tmp_path / "j"), ("choices", "all"),
        ("confirm", False),
    )  # fmt: skip
    assert result.ok, result.summary()
