"""The transient key-domain PKCS#12 import, its journal, its recovery and the plug-in registry."""

from __future__ import annotations

import copy
import json
import stat
from importlib import metadata
from pathlib import Path

import pytest

from keymanager.card.errors import CardRemoved, ReferencedDataNotFound
from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.import_p12 import ImportJournal, Pkcs12ImportResult
from keymanager.workflows.interaction import CANCEL, Cancelled, MessageLevel, ScriptedInteraction
from keymanager.workflows.pkcs12 import NothingToImport, Pkcs12WrongPassword
from keymanager.workflows.plugins import (
    ENTRY_POINT_GROUP,
    ActionContext,
    NodeKind,
    PluginRegistry,
    load_registry,
)
from keymanager.workflows.plugins.transient_import import (
    NoEmptyKeyDomain,
    find_empty_key_domain,
    recover_leftovers,
    transient_import,
)
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    SO_PIN,
    ca_chain,
    card_contents,
    check_signs,
    domains_with_kek,
    fresh_card,
    host_key,
    inconsistencies,
    session,
    write_p12,
)

MESSAGE = b"signed by the test after a transient import"


def script(*answers: tuple[str, object]) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for kind, value in answers:
        interaction.answer(kind, value)
    return interaction


def happy_script() -> ScriptedInteraction:
    return script(("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False))


@pytest.mark.parametrize(
    ("kind", "form"),
    [
        ("rsa2048", "chain"),
        ("rsa4096", "certificate"),
        ("p256", "no certificate"),
        ("p384", "chain"),
        ("bp256", "certificate"),
        ("bp256", "no certificate"),
    ],
)
def test_transient_import(tmp_path: Path, kind: str, form: str) -> None:
    card, _share = fresh_card(f"transient {kind} {form}".encode())
    key = host_key(kind)
    path = tmp_path / "in.p12"
    cert = write_p12(
        path,
        key,
        common_name=f"{kind} transient",
        with_certificate=form != "no certificate",
        with_chain=form == "chain",
    )
    journal = ImportJournal(tmp_path / "journal.json")
    interaction = happy_script()
    result = transient_import(session(card), interaction, path=path, journal=journal)

    assert result.ok, result.summary()
    assert interaction.finished
    assert result.transient and result.domain == 1 and result.kek_deleted
    assert not result.domain_deleted  # the key belongs to it
    domain = card.state.key_domains[1]  # type: ignore[index]
    assert domain is not None and domain.total == 1 and domain.outstanding == 1
    assert domains_with_kek(card) == [0]
    [key_result] = result.keys
    assert key_result.proven
    assert card.state.keys[key_result.key_reference].domain == 1  # type: ignore[index]

    hsm = session(card)
    hsm.verify_pin(PIN)
    store = KeyStore(hsm)
    [listed] = store.list_keys(load_certificates=True)
    assert listed.certificate == cert
    check_signs(hsm, listed.key_reference, key.public_key(), MESSAGE)
    # without a KEK the key can never be exported
    assert hsm.key_domain_status(1) is not None
    with pytest.raises(ReferencedDataNotFound):
        hsm.wrap_key(listed.key_reference)
    if form == "chain":
        chain = ca_chain()
        assert {ca.certificate for ca in store.list_ca_certificates()} == {
            chain.root,
            chain.intermediate,
        }
    assert inconsistencies(card) == []
    assert not journal.path.exists()
    assert any("Transient key domain 1 created" in text for text in interaction.texts())


def test_certificates_only_leave_no_domain(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    card, _ = fresh_card(b"transient cas only")
    chain = ca_chain()
    path = tmp_path / "cas.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [chain.root], BestAvailableEncryption(P12_PASSWORD.encode())
        )
    )
    result = transient_import(
        session(card), happy_script(), path=path, journal=ImportJournal(tmp_path / "j")
    )
    assert result.ok and result.kek_deleted and result.domain_deleted
    assert card.state.key_domains[1] is None  # type: ignore[index]
    assert len(result.ca_certificates) == 1


def test_two_transient_imports_use_two_domains(tmp_path: Path) -> None:
    card, _ = fresh_card(b"transient twice")
    journal = ImportJournal(tmp_path / "j")
    for number, kind in enumerate(["p256", "p384"], start=1):
        path = tmp_path / f"{kind}.p12"
        write_p12(path, host_key(kind), common_name=kind)
        result = transient_import(session(card), happy_script(), path=path, journal=journal)
        assert result.ok and result.domain == number
    assert domains_with_kek(card) == [0]


# --- no empty key domain --------------------------------------------------------------


def _card(params: InitParams) -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(seed=b"no empty domain")
    SmartCardHsm.open(LocalTransport(card)).initialize(params)
    return card


@pytest.mark.parametrize(
    "params",
    [
        InitParams(PIN, SO_PIN, dkek_shares=1, key_domains=1),  # the only slot is used: 6A86
        InitParams(PIN, SO_PIN),  # no DKEK, no key domains: 6D00
    ],
    ids=["all slots used", "no key domains"],
)
def test_no_empty_key_domain(tmp_path: Path, params: InitParams) -> None:
    card = _card(params)
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"))
    before = card_contents(card)
    with pytest.raises(NoEmptyKeyDomain, match="No empty key domain"):
        transient_import(
            session(card),
            script(("secret", P12_PASSWORD), ("secret", PIN)),
            path=path,
            journal=ImportJournal(tmp_path / "j"),
        )
    assert card_contents(card) == before
    with pytest.raises(NoEmptyKeyDomain):
        find_empty_key_domain(session(card))


# --- bad input ---------------------------------------------------------------------


def test_wrong_password_changes_nothing(tmp_path: Path) -> None:
    card, _ = fresh_card(b"transient wrong password")
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"))
    before = card_contents(card)
    with pytest.raises(Pkcs12WrongPassword):
        transient_import(
            session(card), script(("secret", "nope")), path=path, journal=ImportJournal(tmp_path)
        )
    assert card_contents(card) == before


@pytest.mark.parametrize("kind", ["ed25519", "dsa"])
def test_unsupported_key_changes_nothing(tmp_path: Path, kind: str) -> None:
    card, _ = fresh_card(f"transient {kind}".encode())
    path = tmp_path / "k.p12"
    write_p12(path, host_key(kind))
    before = card_contents(card)
    with pytest.raises(NothingToImport, match="cannot hold"):
        transient_import(
            session(card),
            script(("secret", P12_PASSWORD)),
            path=path,
            journal=ImportJournal(tmp_path / "j"),
        )
    assert card_contents(card) == before


def test_wrong_pin_changes_nothing(tmp_path: Path) -> None:
    card, _ = fresh_card(b"transient wrong pin")
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"))
    before = card_contents(card)
    interaction = script(("secret", P12_PASSWORD), ("secret", "111111"), ("secret", CANCEL))
    with pytest.raises(Cancelled):
        transient_import(session(card), interaction, path=path, journal=ImportJournal(tmp_path))
    assert "Wrong PIN: 2 tries left." in interaction.texts(MessageLevel.WARNING)
    assert card_contents(card) == before


def test_kek_deleted_when_a_step_fails(tmp_path: Path) -> None:
    """The user cancels at the entry choice: the domain was made, its KEK is gone again."""
    card, _ = fresh_card(b"transient cancelled")
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"))
    journal = ImportJournal(tmp_path / "j")
    interaction = script(("secret", P12_PASSWORD), ("secret", PIN), ("choices", CANCEL))
    with pytest.raises(Cancelled):
        transient_import(session(card), interaction, path=path, journal=journal)
    assert domains_with_kek(card) == [0]
    assert card.state.key_domains[1] is None  # type: ignore[index]  # no key: domain removed
    assert not journal.path.exists()


# --- the journal and the recovery ------------------------------------------------------


def _apdus_until_create(card: SmartCardHsmSimulator, path: Path, tmp_path: Path) -> int:
    """How many APDUs the transient import sends up to and including CREATE DOMAIN."""
    probe = copy.deepcopy(card)
    hsm = session(probe)
    probe.faults.clear()
    transient_import(hsm, happy_script(), path=path, journal=ImportJournal(tmp_path / "probe"))
    return probe.faults.apdus_seen


def test_journal_written_before_the_domain_and_recovery(tmp_path: Path) -> None:
    card, share = fresh_card(b"transient journal")
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"), common_name="journalled")
    journal = ImportJournal(tmp_path / "state" / "journal.json")
    # pull the card right after the share import: the domain holds a KEK, nothing else
    template = copy.deepcopy(card)
    steps: list[int] = []
    for k in range(1, 60):
        trial = copy.deepcopy(template)
        hsm = session(trial)
        trial.faults.clear()
        trial.faults.remove_at(k)
        try:
            transient_import(
                hsm, happy_script(), path=path, journal=ImportJournal(tmp_path / f"t{k}")
            )
        except CardRemoved:
            if trial.state.key_domains[1] is not None and 1 in domains_with_kek(trial):  # type: ignore[index]
                steps.append(k)
                break
    [k] = steps
    hsm = session(card)
    card.faults.clear()
    card.faults.remove_at(k)
    with pytest.raises(CardRemoved):
        transient_import(hsm, happy_script(), path=path, journal=journal)
    card.insert()
    assert domains_with_kek(card) == [0, 1]

    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    text = journal.path.read_text()
    assert share.hex() not in text.lower()
    record = json.loads(text)["cards"]
    [(serial, entry)] = record.items()
    assert serial == card.serial and entry["transient_domain"] == 1

    # declined: nothing changes, asked again next time
    declined = recover_leftovers(session(card), script(("confirm", False)), journal)
    assert declined.found and declined.declined and journal.path.exists()
    assert domains_with_kek(card) == [0, 1]

    recovered = recover_leftovers(
        session(card), script(("confirm", True), ("secret", PIN)), journal
    )
    assert recovered.found and recovered.kek_deleted and recovered.domain_deleted
    assert domains_with_kek(card) == [0]
    assert card.state.key_domains[1] is None  # type: ignore[index]
    assert not journal.path.exists()
    # nothing left: no question on the next connection
    again = recover_leftovers(session(card), script(), journal)
    assert not again.found


def test_card_removed_at_each_apdu(tmp_path: Path) -> None:
    template, _ = fresh_card(b"transient faults")
    path = tmp_path / "chain.p12"
    write_p12(path, host_key("p256"), common_name="faulty", with_chain=True)

    clean = copy.deepcopy(template)
    hsm = session(clean)
    clean.faults.clear()
    result: Pkcs12ImportResult = transient_import(
        hsm, happy_script(), path=path, journal=ImportJournal(tmp_path / "clean"), offer_more=False
    )
    assert result.ok
    total = clean.faults.apdus_seen
    assert total > 10

    leftovers_removed = 0
    for k in range(1, total + 1):
        card = copy.deepcopy(template)
        journal = ImportJournal(tmp_path / f"journal-{k}.json")
        hsm = session(card)
        card.faults.clear()
        card.faults.remove_at(k)
        interaction = happy_script()
        try:
            outcome = transient_import(
                hsm, interaction, path=path, journal=journal, offer_more=False
            )
        except CardRemoved:
            pass
        else:  # pulled during the tear-down: the result and a warning say so
            assert not outcome.ok and outcome.kek_deleted is False
            assert any("could not be deleted" in text for text in interaction.texts())
            assert journal.path.exists()
        card.insert()
        recovery = recover_leftovers(
            session(card), script(("confirm", True), ("secret", PIN)), journal
        )
        leftovers_removed += recovery.found
        assert domains_with_kek(card) == [0], f"card pulled at APDU {k} of {total}"
        assert inconsistencies(card) == [], f"card pulled at APDU {k} of {total}"
        assert not journal.path.exists()
        hsm = session(card)
        hsm.verify_pin(PIN)
        for info in KeyStore(hsm).list_keys(load_certificates=True):
            assert info.public_key is not None
            check_signs(hsm, info.key_reference, info.public_key, MESSAGE)
    assert leftovers_removed > 0
    print(f"transient import: card pulled at each of {total} APDUs")


# --- the plug-in registry ------------------------------------------------------------


def test_registry_builtins_and_entry_points(tmp_path: Path) -> None:
    registry = load_registry(discover=False)
    device_actions = {action.id for action in registry.actions_for(NodeKind.DEVICE)}
    assert {"pkcs12.transient-import", "pkcs12.recover"} <= device_actions
    assert [a.id for a in registry.actions_for(NodeKind.KEY_DOMAIN)] == ["pkcs12.import"]
    assert registry.actions_for(NodeKind.CERTIFICATE) == []

    registry.discover(
        [
            metadata.EntryPoint(
                "transient",
                "keymanager.workflows.plugins.transient_import:PLUGIN",
                ENTRY_POINT_GROUP,
            ),
            metadata.EntryPoint("broken", "keymanager.no_such_module:PLUGIN", ENTRY_POINT_GROUP),
            metadata.EntryPoint("not a plugin", "keymanager.workflows:__doc__", ENTRY_POINT_GROUP),
        ]
    )
    assert len(registry.plugins) == 1  # the built-in is not registered twice
    assert len(registry.problems) == 2
    assert "broken" in registry.problems[0]

    fresh = PluginRegistry()
    fresh.discover(
        [
            metadata.EntryPoint(
                "by class",
                "keymanager.workflows.plugins.transient_import:TransientImportPlugin",
                ENTRY_POINT_GROUP,
            )
        ]
    )
    assert [plugin.name for plugin in fresh.plugins] == ["pkcs12-import"]
    load_registry()  # the installed entry points load without error


def test_action_runs_the_transient_import(tmp_path: Path) -> None:
    card, _ = fresh_card(b"transient action")
    path = tmp_path / "k.p12"
    write_p12(path, host_key("p256"))
    action = load_registry(discover=False).action("pkcs12.transient-import")
    context = ActionContext(
        hsm=session(card),
        interaction=happy_script(),
        node_kind=NodeKind.DEVICE,
        options={"path": path, "journal_path": tmp_path / "journal.json"},
    )
    result = action.run(context)
    assert isinstance(result, Pkcs12ImportResult) and result.ok
    assert domains_with_kek(card) == [0]
