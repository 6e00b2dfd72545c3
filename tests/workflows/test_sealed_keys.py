"""Sealed keys: the card, not keymanager, refuses to export a key from a transient import.

The issue this answers: after a transient import the key's domain has no KEK and looks
like a domain waiting for a custodian.  Completing it with a fresh share gave the key a
new, known DKEK, and ``backup`` then exported it.  Now every transient key is sealed (its
allowed-algorithm list lacks WRAP), keymanager refuses the share import, and a share
imported around keymanager still leaves the card refusing WRAP.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.domain_registry import REGISTRY_FID, DomainPurpose, read_registry
from keymanager.card.errors import (
    ConditionsNotSatisfied,
    DkekMismatch,
    NoKeyDomainSupport,
    ReferencedDataNotFound,
)
from keymanager.card.hsm import InitParams, SmartCardHsm
from keymanager.card.pkcs15 import KeyKind
from keymanager.card.seal import SealCheck, prove_sealed, sealed_algorithms
from keymanager.card.transport import LocalTransport
from keymanager.cli.main import main
from keymanager.dkek.dkek import Dkek
from keymanager.dkek.keyblob import decode_key
from keymanager.dkek.wky import read_backup_file
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.state import CardState, load_state, save_state
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.device import clear_kek, create_key_domain, delete_key_domain
from keymanager.workflows.errors import BackupDkekMismatch, WorkflowError
from keymanager.workflows.import_p12 import ImportJournal, Pkcs12ImportResult, import_pkcs12
from keymanager.workflows.interaction import Cancelled, ScriptedInteraction
from keymanager.workflows.key_domains import TransientDomainHoldsKeys, keys_with_domains, record
from keymanager.workflows.keys import (
    KeyAlgorithm,
    backup_key,
    delete_key,
    generate_key,
    restore_key,
)
from keymanager.workflows.plugins.transient_import import transient_import
from keymanager.workflows.sealing import SealNotProven
from tests.support.profiles import current_profile
from tests.workflows.p12_support import (
    P12_PASSWORD,
    PIN,
    SO_PIN,
    check_signs,
    fresh_card,
    host_key,
    paperkey_input,
    session,
    write_p12,
)

MESSAGE = b"a sealed key still signs"


def script(*answers: tuple[str, object]) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for kind, value in answers:
        interaction.answer(kind, value)
    return interaction


def _transient(tmp_path: Path, kind: str, seed: bytes) -> tuple[object, int, object]:
    card, _share = fresh_card(seed)
    key = host_key(kind)
    path = tmp_path / "in.p12"
    write_p12(path, key, common_name=f"{kind} sealed")
    interaction = script(
        ("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False)
    )
    result = transient_import(
        session(card), interaction, path=path, journal=ImportJournal(tmp_path / "j.json")
    )
    assert result.ok, result.summary()
    [imported] = result.keys
    assert imported.sealed and imported.seal_proof == "WRAP refused by the card (6985)"
    assert any("sealed: the card refuses to export it" in line for line in result.summary())
    assert imported.key_reference is not None
    return card, imported.key_reference, key


@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_transient_key_is_sealed_on_the_card(tmp_path: Path, kind: str) -> None:
    card, reference, key = _transient(tmp_path, kind, f"sealed {kind}".encode())
    record = card.state.keys[reference]  # type: ignore[attr-defined]
    expected = sealed_algorithms(KeyKind.RSA if kind.startswith("rsa") else KeyKind.EC)
    assert record.algorithms == expected
    assert 0x92 not in record.algorithms
    hsm = session(card)  # type: ignore[arg-type]
    hsm.verify_pin(PIN)
    check_signs(hsm, reference, key.public_key(), MESSAGE)  # type: ignore[attr-defined]

    registry = read_registry(hsm)
    assert registry.damaged is None
    domain = registry.domains[1]
    assert domain.purpose is DomainPurpose.TRANSIENT
    assert domain.workflow == "import-p12 --transient"
    assert registry.keys[reference].domain == 1 and registry.keys[reference].sealed is True
    _registry, keys = keys_with_domains(hsm)
    [listed] = keys
    assert (listed.key_domain, listed.domain_source, listed.exportable) == (1, "recorded", False)


def test_share_import_into_a_transient_domain_is_refused_and_the_card_refuses_wrap(
    tmp_path: Path,
) -> None:
    card, reference, _key = _transient(tmp_path, "p256", b"sealed refused")
    before = card.state.to_json()  # type: ignore[attr-defined]
    share = hashlib.sha256(b"an attacker's share").digest()
    with pytest.raises(TransientDomainHoldsKeys, match=r"transient import of .* whose KEK was"):
        import_shares(
            session(card),  # type: ignore[arg-type]
            script(("secret", PIN), ("share", paperkey_input(share))),
            1,
        )
    assert card.state.to_json()["key_domains"] == before["key_domains"]  # type: ignore[attr-defined]

    # Around keymanager: the share goes in with raw APDUs, then WRAP.
    hsm = session(card)  # type: ignore[arg-type]
    hsm.verify_pin(PIN)
    status = hsm.import_dkek_share(share, 1)
    assert status.shares_outstanding == 0
    with pytest.raises(ConditionsNotSatisfied) as refused:
        hsm.wrap_key(reference)
    assert refused.value.sw == 0x6985
    assert prove_sealed(hsm, reference) is SealCheck.REFUSED_BY_LIST
    # keymanager's backup meets the same refusal and writes no file
    out = tmp_path / "stolen.wky"
    with pytest.raises(WorkflowError, match=r"key \d+ is sealed: the card refuses to export it"):
        backup_key(hsm, script(("secret", PIN)), reference, out)
    assert not out.exists()


def test_cli_share_import_into_a_transient_domain_is_refused(
    tmp_path: Path,
    vectors: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    card, _reference, _key = _transient(tmp_path, "p256", b"sealed cli")
    state = tmp_path / "card.json"
    save_state(state, card.state)  # type: ignore[attr-defined]
    share_file = tmp_path / "device.pbe"
    share_file.write_bytes(base64.b64decode(vectors["share_file"]["pbe_base64"]))
    monkeypatch.setenv("KM_TEST_PIN", PIN)
    monkeypatch.setenv("KM_TEST_PASSWORD", vectors["share_file"]["password_ascii"])
    before = state.read_bytes()
    code = main(
        [
            "share",
            "import",
            str(share_file),
            "--domain",
            "1",
            "--simulator",
            str(state),
            "--pin-env",
            "KM_TEST_PIN",
            "--password-env",
            "KM_TEST_PASSWORD",
            "--yes",
        ]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert "transient import" in error and "Delete those keys first" in error
    assert load_state(state).key_domains == load_state_bytes(before).key_domains


def load_state_bytes(data: bytes) -> CardState:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.json"
        path.write_bytes(data)
        return load_state(path)  # type: ignore[return-value]


def _classic(
    tmp_path: Path, seed: bytes, *, seal: bool = False, common_name: str = "Test Key"
) -> tuple[SmartCardHsmSimulator, bytes, Pkcs12ImportResult]:
    """A fresh card and a classic import of one P-256 key under domain 0's DKEK."""
    card, share = fresh_card(seed)
    path = tmp_path / "in.p12"
    write_p12(path, host_key("p256"), common_name=common_name)
    interaction = script(
        ("number", 1),
        ("share", paperkey_input(share)),
        ("secret", PIN),
        ("secret", P12_PASSWORD),
        ("choices", "all"),
        ("confirm", False),
    )
    result = import_pkcs12(
        session(card),
        interaction,
        path=path,
        journal=ImportJournal(tmp_path / "j.json"),
        offer_more=False,
        seal=seal,
    )
    assert result.ok, result.summary()
    return card, share, result


def test_classic_import_with_seal(tmp_path: Path) -> None:
    card, _share, result = _classic(tmp_path, b"classic sealed", seal=True)
    [imported] = result.keys
    assert imported.sealed
    hsm = session(card)
    hsm.verify_pin(PIN)
    # domain 0 has its KEK: the refusal comes from the algorithm list alone
    assert hsm.key_domain_status(0).shares_outstanding == 0  # type: ignore[union-attr]
    with pytest.raises(ConditionsNotSatisfied):
        hsm.wrap_key(imported.key_reference)  # type: ignore[arg-type]


def test_classic_import_without_seal_stays_exportable(tmp_path: Path) -> None:
    card, share, result = _classic(tmp_path, b"classic exportable")
    [imported] = result.keys
    assert result.ok and not imported.sealed
    hsm = session(card)
    hsm.verify_pin(PIN)
    blob = hsm.wrap_key(imported.key_reference)  # type: ignore[arg-type]
    with Dkek.from_value(share) as dkek:
        decoded = decode_key(dkek, blob)
    assert isinstance(decoded.private_key, ec.EllipticCurvePrivateKey)
    _registry, [listed] = keys_with_domains(hsm)
    assert (listed.key_domain, listed.domain_source, listed.exportable) == (0, "recorded", True)


def test_completing_a_custodian_domain_with_keys_asks_first(tmp_path: Path) -> None:
    card, share, _result = _classic(tmp_path, b"custodian again", common_name="custodian key")
    clear_kek(session(card), script(("confirm", True), ("secret", PIN)), 0)

    declined = script(("secret", PIN), ("confirm", False))
    with pytest.raises(Cancelled):
        import_shares(session(card), declined, 0)
    [question] = [q for q in declined.questions if q.startswith("confirm:")]
    assert "would become exportable" in question and "'custodian key'" in question
    assert card.state.key_domains[0].outstanding == 1  # type: ignore[index]

    accepted = import_shares(
        session(card),
        script(("secret", PIN), ("confirm", True), ("share", paperkey_input(share))),
        0,
    )
    assert accepted.shares_outstanding == 0


def test_generate_sealed_and_exportable_keys(tmp_path: Path) -> None:
    card, _share = fresh_card(b"generate sealed")
    hsm = session(card)
    sealed = generate_key(
        hsm,
        script(("secret", PIN)),
        KeyAlgorithm.parse("ec:prime256v1"),
        "sealed",
        domain=0,
        seal=True,
    )
    assert sealed.sealed and sealed.seal_proof == "WRAP refused by the card (6985)"
    assert 0x92 not in card.state.keys[sealed.key_reference].algorithms
    with pytest.raises(ConditionsNotSatisfied):
        hsm.wrap_key(sealed.key_reference)
    exportable = generate_key(
        hsm, script(), KeyAlgorithm.parse("aes:128"), "exportable aes", domain=0
    )
    assert not exportable.sealed
    backup = backup_key(hsm, script(), exportable.key_reference, tmp_path / "aes.wky")
    assert backup.key_reference == exportable.key_reference
    _registry, keys = keys_with_domains(hsm)
    states = {key.label: (key.key_domain, key.domain_source, key.exportable) for key in keys}
    assert states == {
        "sealed": (0, "recorded", False),
        "exportable aes": (0, "recorded", True),
    }
    with pytest.raises(WorkflowError, match="allows wrap"):
        generate_key(
            hsm,
            script(),
            KeyAlgorithm.parse("ec:prime256v1"),
            "not sealed",
            seal=True,
            allowed_algorithms=bytes([0x73, 0x92]),
        )

    delete_key(hsm, script(("confirm", True)), sealed.key_reference)
    assert sealed.key_reference not in read_registry(hsm).keys


def test_restore_sealed_needs_the_shares_and_the_card_then_refuses(tmp_path: Path) -> None:
    card, share = fresh_card(b"restore sealed")
    hsm = session(card)
    made = generate_key(
        hsm, script(("secret", PIN)), KeyAlgorithm.parse("ec:prime256v1"), "to seal", domain=0
    )
    backup_key(hsm, script(), made.key_reference, tmp_path / "k.wky")
    delete_key(hsm, script(("confirm", True)), made.key_reference)
    restored = restore_key(
        hsm,
        script(("number", 1), ("share", paperkey_input(share))),
        tmp_path / "k.wky",
        seal=True,
    )
    assert restored.sealed and restored.domain == 0
    with pytest.raises(ConditionsNotSatisfied):
        hsm.wrap_key(restored.key_reference)
    check_signs_ec = hsm.sign(restored.key_reference, 0x73, MESSAGE)
    assert check_signs_ec
    record = read_registry(hsm).keys[restored.key_reference]
    assert record.domain == 0 and record.sealed is True

    wrong = hashlib.sha256(b"not the share").digest()
    before = card.state.to_json()
    with pytest.raises(WorkflowError, match="nothing was changed"):
        restore_key(
            session(card),
            script(("secret", PIN), ("number", 1), ("share", paperkey_input(wrong))),
            tmp_path / "k.wky",
            seal=True,
        )
    assert card.state.to_json()["keys"] == before["keys"]


def test_domain_create_and_delete_are_recorded(tmp_path: Path) -> None:
    card, _share = fresh_card(b"domains recorded")
    hsm = session(card)
    create_key_domain(hsm, script(("secret", PIN)), 2, 2)
    record = read_registry(hsm).domains[2]
    assert record.purpose is DomainPurpose.CUSTODIAN and record.workflow == "domain create"
    create_key_domain(hsm, script(), 0, 3)
    expected = (
        DomainPurpose.RANDOM
        if current_profile().zero_share_domain_has_dkek
        else DomainPurpose.NO_DKEK  # Pico HSM makes none for 0 shares (item 10)
    )
    assert read_registry(hsm).domains[3].purpose is expected
    assert read_registry(hsm).domains[3].shares == 0
    delete_key_domain(hsm, script(("confirm", True)), 2)
    assert 2 not in read_registry(hsm).domains


def _initialised(seed: bytes, params: InitParams) -> SmartCardHsm:
    hsm = SmartCardHsm.open(LocalTransport(SmartCardHsmSimulator(seed=seed)))
    hsm.initialize(params)
    hsm.verify_pin(PIN)
    return hsm


def test_without_a_dkek_the_card_refuses_every_backup(tmp_path: Path) -> None:
    """ "No DKEK (keys cannot be backed up)": the card refuses WRAP, keymanager says so."""
    hsm = _initialised(b"no dkek", InitParams(PIN, SO_PIN))
    made = generate_key(hsm, script(), KeyAlgorithm.parse("ec:prime256v1"), "stays")
    with pytest.raises((NoKeyDomainSupport, ReferencedDataNotFound)):
        hsm.wrap_key(made.key_reference)
    with pytest.raises(WorkflowError, match=r"no backup was written|initialised"):
        backup_key(hsm, script(), made.key_reference, tmp_path / "k.wky")
    assert not (tmp_path / "k.wky").exists()


def test_a_random_dkek_backup_restores_only_onto_its_own_device(tmp_path: Path) -> None:
    """ "Random DKEK: backups restore only onto this device": another card refuses it."""
    hsm = _initialised(b"random dkek", InitParams(PIN, SO_PIN, dkek_shares=0))
    made = generate_key(hsm, script(), KeyAlgorithm.parse("ec:prime256v1"), "random", domain=0)
    backup_key(hsm, script(), made.key_reference, tmp_path / "k.wky")
    other = _initialised(b"another random dkek", InitParams(PIN, SO_PIN, dkek_shares=0))
    with pytest.raises(BackupDkekMismatch):
        restore_key(other, script(), tmp_path / "k.wky")
    blob = read_backup_file(tmp_path / "k.wky").blob
    with pytest.raises(DkekMismatch) as refused:
        other.unwrap_key(9, blob)  # around keymanager: the card itself refuses it
    assert refused.value.__cause__ is None and "SW 6A80" in str(refused.value)
    delete_key(hsm, script(("confirm", True)), made.key_reference)
    assert restore_key(hsm, script(), tmp_path / "k.wky").key_reference == made.key_reference


def test_a_card_that_exports_a_sealed_key_fails_the_import(tmp_path: Path) -> None:
    """A device that ignores the algorithm list for WRAP: keymanager says no seal, and
    the key it could not seal is gone again."""
    card, _share = fresh_card(b"seal not enforced")
    card.profile = dataclasses.replace(card.profile, wrap_enforces_algorithms=False)
    path = tmp_path / "in.p12"
    write_p12(path, host_key("p256"), common_name="would be exported")
    result = transient_import(
        session(card),
        script(("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False)),
        path=path,
        journal=ImportJournal(tmp_path / "j.json"),
    )
    [key] = result.keys
    assert not result.ok and not key.sealed and key.key_reference is None
    assert "the WRAP attempt that proves it" in (key.error or "")
    assert [kid for kid in card.state.keys if kid] == []  # nothing left on the card
    hsm = session(card)
    with pytest.raises(SealNotProven, match="was to be sealed"):
        generate_key(
            hsm,
            script(("secret", PIN)),
            KeyAlgorithm.parse("ec:prime256v1"),
            "x",
            domain=0,
            seal=True,
        )
    assert [kid for kid in card.state.keys if kid] == []


def test_a_key_generated_without_a_domain_is_asked_about(tmp_path: Path) -> None:
    """The card chooses the domain of a key generated without one: it is not recorded,
    and completing a domain it may be in asks first, naming it."""
    card, _share = fresh_card(b"no domain given")
    hsm = session(card)
    made = generate_key(hsm, script(("secret", PIN)), KeyAlgorithm.parse("ec:prime256v1"), "any")
    assert made.key_reference not in read_registry(hsm).keys
    clear_kek(session(card), script(("confirm", True), ("secret", PIN)), 0)
    declined = script(("secret", PIN), ("confirm", False))
    with pytest.raises(Cancelled):
        import_shares(session(card), declined, 0)
    [question] = [q for q in declined.questions if q.startswith("confirm:")]
    assert "'any' have no recorded domain" in question
    assert card.state.key_domains[0].outstanding == 1  # type: ignore[index]


def test_a_transient_domain_is_refused_even_when_its_key_entries_are_lost(
    tmp_path: Path,
) -> None:
    card, _reference, _key = _transient(tmp_path, "p256", b"entries lost")
    hsm = session(card)
    hsm.verify_pin(PIN)
    record(hsm, lambda registry: registry.keys.clear())
    with pytest.raises(TransientDomainHoldsKeys, match="may still belong to it"):
        import_shares(
            session(card),
            script(("secret", PIN), ("share", paperkey_input(bytes(32)))),
            1,
        )


def test_a_damaged_registry_makes_the_share_import_ask(tmp_path: Path) -> None:
    card, _reference, _key = _transient(tmp_path, "p256", b"registry damaged")
    card.state.files[REGISTRY_FID] = b"\x30\x03\x80\x01\x01"  # no checksum
    declined = script(("secret", PIN), ("confirm", False))
    with pytest.raises(Cancelled):
        import_shares(session(card), declined, 1)
    [question] = [q for q in declined.questions if q.startswith("confirm:")]
    assert "registry on this card cannot be read" in question
    assert card.state.key_domains[1].outstanding == 1  # type: ignore[index]
