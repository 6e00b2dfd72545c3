"""Issue 14: what the key workflows say and check.

Algorithm lists that cannot be backed up or used by PKCS#11 applications, generation
into a key domain without a complete DKEK, backup refusals told apart (``6A88`` /
``6985``), a restore after Clear KEK, a tampered backup, a key file a refused UNWRAP
left behind, and a key that is already on the card.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, EcKeySpec, InitParams
from keymanager.card.keystore import KEY_PREFIX, KeyStore, fid
from keymanager.card.pkcs15 import KeyKind
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.wky import KeyBackup, parse_backup, write_backup_file
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from keymanager.workflows.errors import BackupDkekMismatch, DomainNotReady, WorkflowError
from keymanager.workflows.interaction import Cancelled, MessageLevel, ScriptedInteraction
from keymanager.workflows.key_checks import algorithm_list_warnings
from keymanager.workflows.keys import KeyAlgorithm, backup_key, generate_key, restore_key

PIN = "648219"
SHARES = [bytes(range(32)), bytes(range(50, 82))]
OTHER = [bytes(range(200, 232))]


def dkek_card(
    shares: list[bytes], seed: bytes, *, domains: int | None = None
) -> tuple[SmartCardHsmSimulator, SmartCardHsm]:
    simulator = SmartCardHsmSimulator(seed=seed)
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    hsm.initialize(
        InitParams(
            user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=len(shares), key_domains=domains
        )
    )
    for share in shares:
        hsm.import_dkek_share(share)
    hsm.verify_pin(PIN)
    return simulator, hsm


def pin() -> ScriptedInteraction:
    return ScriptedInteraction().answer("secret", PIN)


def warnings(interaction: ScriptedInteraction) -> str:
    return "\n".join(interaction.texts(MessageLevel.WARNING))


def backed_up(tmp_path: Path, seed: bytes) -> tuple[SmartCardHsmSimulator, SmartCardHsm, Path]:
    """A card with DKEK = SHARES and a backup of its EC key 1."""
    simulator, hsm = dkek_card(SHARES, seed)
    info = KeyStore(hsm).generate_key(EcKeySpec("secp256r1"), "signing key")
    path = tmp_path / "key.wky"
    backup_key(hsm, ScriptedInteraction(), info.key_reference, path)
    return simulator, hsm, path


# --- allowed-algorithm lists -------------------------------------------------------------


def test_a_list_without_wrap_or_with_only_hash_specific_ids_is_warned_about() -> None:
    simulator, hsm = dkek_card(SHARES, b"algorithms")
    interaction = ScriptedInteraction()
    result = generate_key(
        hsm,
        interaction,
        KeyAlgorithm.parse("ec:prime256v1"),
        "hashed only",
        allowed_algorithms=bytes.fromhex("73"),
    )
    said = warnings(interaction)
    assert "leaves out wrap (92): the key can never be backed up" in said
    assert "only hash-specific ids (73 ECDSA-SHA256)" in said and "70 ECDSA" in said
    assert simulator.state.keys[result.key_reference].algorithms == bytes.fromhex("73")
    # the corrected example of the help: plain ECDSA, ECDSA-SHA256 and wrap
    quiet = ScriptedInteraction()
    generate_key(
        hsm,
        quiet,
        KeyAlgorithm.parse("ec:prime256v1"),
        "usable",
        allowed_algorithms=bytes.fromhex("707392"),
    )
    assert quiet.texts(MessageLevel.WARNING) == []
    # the old example 7391: 91 is no algorithm the card defines, and wrap (92) is missing
    old = algorithm_list_warnings(KeyKind.EC, bytes.fromhex("7391"))
    assert any("does not define (91)" in w for w in old)
    assert any("leaves out wrap (92)" in w for w in old)
    rsa = algorithm_list_warnings(KeyKind.RSA, bytes.fromhex("3392"))
    assert len(rsa) == 1 and "hash-specific ids (33 RSA-PKCS1-SHA256)" in rsa[0]
    assert algorithm_list_warnings(KeyKind.RSA, bytes.fromhex("2092")) == []
    # a sealed key leaves wrap out on purpose
    assert algorithm_list_warnings(KeyKind.EC, bytes.fromhex("70"), seal=True) == []


def test_generation_into_a_domain_without_complete_dkek_warns() -> None:
    simulator, hsm = dkek_card(SHARES, b"incomplete", domains=2)
    hsm.create_dkek_domain(1, 2)
    interaction = ScriptedInteraction()
    result = generate_key(hsm, interaction, KeyAlgorithm.parse("ec:prime256v1"), "early", domain=1)
    said = warnings(interaction)
    assert "Key domain 1 has no complete DKEK" in said
    assert "key domain 1 has 2 of 2 DKEK shares outstanding" in said
    assert "cannot be backed up" in said
    assert simulator.state.keys[result.key_reference].domain == 1
    # a complete domain: no warning
    quiet = ScriptedInteraction()
    generate_key(hsm, quiet, KeyAlgorithm.parse("ec:prime256v1"), "fine", domain=0)
    assert quiet.texts(MessageLevel.WARNING) == []


# --- backup refusals -----------------------------------------------------------------------


def test_backup_refusals_tell_no_complete_dkek_from_may_not_be_exported(tmp_path: Path) -> None:
    _simulator, hsm = dkek_card(SHARES, b"refusals", domains=2)
    hsm.create_dkek_domain(1, 2)
    waiting = generate_key(
        hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "waits", domain=1
    )
    with pytest.raises(WorkflowError) as no_dkek:
        backup_key(hsm, ScriptedInteraction(), waiting.key_reference, tmp_path / "a.wky")
    assert str(no_dkek.value).startswith("the domain has no complete DKEK")
    assert "SW 6A88" in str(no_dkek.value)
    assert "key domain 1 has 2 of 2 DKEK shares outstanding" in str(no_dkek.value)
    assert "may not be exported" not in str(no_dkek.value)
    sealed = generate_key(
        hsm, ScriptedInteraction(), KeyAlgorithm.parse("ec:prime256v1"), "sealed", seal=True
    )
    with pytest.raises(WorkflowError) as refused:
        backup_key(hsm, ScriptedInteraction(), sealed.key_reference, tmp_path / "b.wky")
    assert str(refused.value).startswith("this key may not be exported")
    assert "SW 6985" in str(refused.value) and "no complete DKEK" not in str(refused.value)
    assert not (tmp_path / "a.wky").exists() and not (tmp_path / "b.wky").exists()


def test_restore_after_clear_kek_says_the_domain_has_shares_outstanding(tmp_path: Path) -> None:
    simulator, hsm, path = backed_up(tmp_path, b"clear kek")
    hsm.delete_kek(0)
    before = dict(simulator.state.files), set(simulator.state.keys)
    with pytest.raises(DomainNotReady) as raised:
        restore_key(hsm, pin(), path)
    assert "key domain 0 has 2 of 2 DKEK shares outstanding" in str(raised.value)
    assert "nothing was changed" in str(raised.value)
    assert (dict(simulator.state.files), set(simulator.state.keys)) == before


def test_restore_for_another_dkek_names_a_domain_that_waits_for_shares(tmp_path: Path) -> None:
    _simulator, _hsm, path = backed_up(tmp_path, b"source")
    _other, hsm = dkek_card(OTHER, b"other", domains=2)
    hsm.create_dkek_domain(1, 2)
    with pytest.raises(BackupDkekMismatch) as raised:
        restore_key(hsm, pin(), path)
    message = str(raised.value)
    assert format_kcv(Dkek.from_shares(OTHER).kcv()) in message
    assert "key domain 1 has 2 of 2 DKEK shares outstanding" in message


# --- a tampered backup and a key the refusal left ------------------------------------------


def test_a_tampered_backup_says_what_was_checked(tmp_path: Path) -> None:
    _source, _hsm, path = backed_up(tmp_path, b"tamper source")
    backup = parse_backup(path.read_bytes())
    blob = bytearray(backup.blob)
    blob[-20] ^= 0x01  # inside the encrypted key, before the MAC; the KCV stays
    tampered = tmp_path / "tampered.wky"
    write_backup_file(tampered, KeyBackup(bytes(blob), backup.prkd, backup.certificate))
    simulator, hsm = dkek_card(SHARES, b"tamper target")
    before = dict(simulator.state.files), set(simulator.state.keys)
    with pytest.raises(WorkflowError) as raised:
        restore_key(hsm, pin(), tampered)
    message = str(raised.value)
    assert message.startswith("the backup does not match this key domain's DKEK or is damaged")
    assert format_kcv(Dkek.from_shares(SHARES).kcv()) in message and "key domain 0" in message
    assert "MAC" in message and "nothing was changed" in message
    assert (dict(simulator.state.files), set(simulator.state.keys)) == before


def test_a_key_left_by_a_refused_unwrap_is_found_reported_and_removed(tmp_path: Path) -> None:
    _source, _hsm, path = backed_up(tmp_path, b"left source")
    simulator, _ = dkek_card(SHARES, b"left target")
    # the card creates the key, then answers 6A80 (as a card seen in the field did)
    hostile = HostileCard(simulator, "ins:74@sw:6A80")
    hsm = SmartCardHsm.open(LocalTransport(hostile))
    before = dict(simulator.state.files), set(simulator.state.keys)
    interaction = pin()
    with pytest.raises(WorkflowError, match="does not match this key domain's DKEK"):
        restore_key(hsm, interaction, path)
    assert "created key 1 (CC01) before it refused the blob" in warnings(interaction)
    assert "found and removed" in warnings(interaction)
    assert fid(KEY_PREFIX, 1) not in simulator.state.files
    assert (dict(simulator.state.files), set(simulator.state.keys)) == before


# --- the same key already on the card --------------------------------------------------------


def test_restoring_a_key_already_on_the_card_asks(tmp_path: Path) -> None:
    simulator, hsm, path = backed_up(tmp_path, b"twice")
    before = dict(simulator.state.files), set(simulator.state.keys)
    declined = ScriptedInteraction().answer("confirm", False)
    with pytest.raises(Cancelled, match="already on the card as key 1 \\(signing key\\)"):
        restore_key(hsm, declined, path)
    assert any("already on the card: key 1 (signing key)" in q for q in declined.questions)
    assert (dict(simulator.state.files), set(simulator.state.keys)) == before
    agreed = ScriptedInteraction().answer("confirm", True)
    assert restore_key(hsm, agreed, path).key_reference == 2
    # another card: nothing to ask
    _other, fresh = dkek_card(SHARES, b"twice fresh")
    assert restore_key(fresh, pin(), path).key_reference == 1


# --- PKCS#12 imports of a key already on the card ------------------------------------------


def test_pkcs12_imports_of_a_key_already_on_the_card_ask(tmp_path: Path) -> None:
    from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
    from keymanager.workflows.plugins.transient_import import transient_import
    from tests.workflows.p12_support import (
        P12_PASSWORD,
        fresh_card,
        host_key,
        paperkey_input,
        session,
        write_p12,
    )

    card, share = fresh_card(b"p12 twice")
    path = tmp_path / "in.p12"
    write_p12(path, host_key("p256"), common_name="p12 holder", with_certificate=True)
    journal = ImportJournal(tmp_path / "journal.json")

    def classic(*answers: tuple[str, object]) -> ScriptedInteraction:
        interaction = ScriptedInteraction()
        interaction.answer("number", 1).answer("share", paperkey_input(share))
        interaction.answer("secret", PIN).answer("secret", P12_PASSWORD)
        interaction.answer("choices", "all")
        for kind, value in answers:
            interaction.answer(kind, value)
        return interaction

    first = import_pkcs12(session(card), classic(), path=path, journal=journal, offer_more=False)
    assert first.ok and [k.key_reference for k in first.keys] == [1]
    keys_before = set(card.state.keys)
    # classic: declined, the key is not imported a second time
    declined = classic(("confirm", False))
    again = import_pkcs12(session(card), declined, path=path, journal=journal, offer_more=False)
    [refused] = again.keys
    assert refused.key_reference is None
    assert refused.error == (
        "the key is already on the card as key 1 (p12 holder); not imported again"
    )
    assert any("already on the card as key 1 (p12 holder)" in q for q in declined.questions)
    assert set(card.state.keys) == keys_before
    # transient: asked the same way; agreed, the second copy goes in
    agreed = ScriptedInteraction().answer("secret", P12_PASSWORD).answer("secret", PIN)
    agreed.answer("choices", "all").answer("confirm", True)
    copy = transient_import(session(card), agreed, path=path, journal=journal, offer_more=False)
    assert any("already on the card as key 1 (p12 holder)" in q for q in agreed.questions)
    assert copy.ok and [k.key_reference for k in copy.keys] == [2]
