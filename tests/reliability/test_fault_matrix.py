"""Faults: every workflow that changes the card, with a removal or a reset at each APDU.

For each workflow a clean run on a copy of a prepared card counts its APDUs; then, for
every APDU in turn, a fresh copy of the prepared card gets a removal (the card is
pulled out when that APDU arrives) or a reset (the card loses its session state: PIN
verification and applet selection) and the workflow runs again.  After each fault:

1. the workflow raised :class:`CardRemoved` / :class:`CardReset` (the transient
   PKCS#12 import may instead return a result that says its KEK was not deleted, as
   documented);
2. the message the GUI shows for that error names the cause and says what to do;
3. a new session on the reinserted / reset card reads the PIN status and verifies
   the PIN;
4. after the workflow's own repair (key journal, PKCS#12 journal), run here as the
   app runs it on the next connection, the card is consistent and the workflow can
   be run again to the end.

The repairs are card-changing workflows too: the key journal's repair of an
interrupted generation and restore, the PKCS#12 journal's clean-up of an interrupted
transient import, and the hooks the GUI runs when it reads a card all get the same
treatment.  Two CLI commands (``generate``, ``pin change``) run in-process with the fault
at each APDU: exit status 1, the error line, and a second line saying the card was
removed / reset and what to do; the next ``status`` works and repeating the command
finishes the job.

Figures: ``record("faults", <workflow>, <fault points>, kind="remove"|"reset",
clean_run_apdus=N, left_unchanged=a, left_complete=b, left_partial=c,
returned_with_warning=d)`` (the card's state right after the fault, before any repair:
untouched, as after a clean run, or in between; "returned" counts the transient import's
documented non-exception outcome).  The CLI rows carry ``kind`` and ``clean_run_apdus``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keymanager.card.errors import CardRemoved, PinBlocked, WrongPin
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import (
    DEFAULT_SO_PIN,
    InitOptions,
    InitParams,
    PinState,
)
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    KeyStore,
    fid,
)
from keymanager.card.pkcs15 import decode_tokeninfo
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.keyblob import encode_key
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.state import save_state
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.device import (
    FID_TOKEN_INFO,
    DkekScheme,
    InitPlan,
    clear_kek,
    create_key_domain,
    delete_key_domain,
    initialize_device,
)
from keymanager.workflows.import_p12 import (
    ImportJournal,
    Pkcs12ImportResult,
    import_pkcs12,
    recover_leftovers,
)
from keymanager.workflows.interaction import PaperKeyShareInput, ScriptedInteraction
from keymanager.workflows.keys import (
    KeyAlgorithm,
    KeyJournal,
    backup_key,
    delete_key,
    generate_key,
    recover_interrupted,
    restore_key,
)
from keymanager.workflows.pins import change_pin, change_so_pin, unblock_pin
from keymanager.workflows.plugins.transient_import import transient_import
from tests.reliability._faults_support import (
    KINDS,
    Kind,
    Outcome,
    card_contents,
    check_told,
    classify,
    clean_run,
    domain_summary,
    expected_error,
    inconsistencies,
    reconnect,
    run_point,
    session,
    snapshot,
)
from tests.support.figures import record
from tests.support.opensc import self_signed_certificate
from tests.workflows.p12_support import check_signs, host_key, write_p12

PIN = "648219"
NEW_PIN = "1234567"
SO_PIN = DEFAULT_SO_PIN.hex()
NEW_SO_PIN = "0011223344556677"
SHARES = [bytes(range(32)), bytes(range(100, 132))]
P12_PASSWORD = "p12 container password"
MESSAGE = b"signed after a fault"


def script(*answers: tuple[str, object]) -> ScriptedInteraction:
    interaction = ScriptedInteraction()
    for kind, value in answers:
        interaction.answer(kind, value)
    return interaction


def paperkey(share: bytes) -> PaperKeyShareInput:
    return PaperKeyShareInput(list(encode_paperkey(share).lines))


# --- prepared cards (made once per module, copied per fault point) -------------------


def blank_card(seed: bytes | None) -> SmartCardHsmSimulator:
    """A new card; ``seed=None`` draws from the host (RSA keys in C, 5x faster than seeded)."""
    return SmartCardHsmSimulator(seed=seed)


def initialised_card(
    seed: bytes | None,
    *,
    dkek_shares: int | None = None,
    key_domains: int | None = None,
    options: InitOptions = InitOptions.RESET_RETRY_COUNTER,
    import_all: bool = True,
) -> SmartCardHsmSimulator:
    card = blank_card(seed)
    hsm = session(card)
    hsm.initialize(
        InitParams(
            user_pin=PIN,
            so_pin=DEFAULT_SO_PIN,
            dkek_shares=dkek_shares,
            key_domains=key_domains,
            options=options,
        )
    )
    if dkek_shares and import_all:
        for share in SHARES[:dkek_shares]:
            hsm.import_dkek_share(share)
    return card


def every_key_signs(hsm: SmartCardHsm) -> int:
    """Every asymmetric key listed on the card signs; returns how many there are."""
    count = 0
    for info in KeyStore(hsm).list_keys(load_certificates=True):
        if info.public_key is not None:
            check_signs(hsm, info.key_reference, info.public_key, MESSAGE)
            count += 1
    return count


# --- the scenarios ---------------------------------------------------------------------


@dataclass
class Point:
    """One fault point: where its journals go, and the card before the fault."""

    directory: Path
    before: dict[str, Any]
    template: SmartCardHsmSimulator

    @property
    def key_journal(self) -> KeyJournal:
        return KeyJournal(self.directory / "keys")

    @property
    def p12_journal(self) -> ImportJournal:
        return ImportJournal(self.directory / "p12.json")


Run = Callable[[Point, SmartCardHsmSimulator, SmartCardHsm], object]
Check = Callable[[Point, SmartCardHsmSimulator, Outcome], None]
"""Reconnects, repairs (or re-runs) and checks the card."""


@dataclass
class Scenario:
    label: str
    action: str
    template: Callable[[], SmartCardHsmSimulator]
    run: Run
    check: Check
    tolerate: Callable[[Outcome], bool] | None = None


# initialisation ---------------------------------------------------------------------


def init_script(plan: InitPlan, so_pin: str = SO_PIN) -> ScriptedInteraction:
    interaction = script(("secret", so_pin))
    if plan.change_so_pin:
        interaction.answer("secret", NEW_SO_PIN)
    return interaction.answer("secret", PIN).answer("confirm", True)


def init_scenario(
    label: str, template: Callable[[], SmartCardHsmSimulator], plan: InitPlan
) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return initialize_device(hsm, init_script(plan), plan)

    def expected_domains() -> list[tuple[int, int] | None]:
        if plan.scheme is DkekScheme.DKEK_SHARES:
            return [(plan.shares, plan.shares)]
        if plan.scheme is DkekScheme.KEY_DOMAINS:
            return [None] * plan.key_domains
        if plan.scheme is DkekScheme.RANDOM_DKEK:
            return [(0, 0)]
        return []

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        old_user_pin = point.template.state.user_pin.decode() or None
        if card_contents(card) == point.before:  # INITIALIZE never ran: as before
            assert card.state.so_pin == DEFAULT_SO_PIN
            assert card.state.so_pin_tries == point.template.state.so_pin_tries
            reconnect(card, old_user_pin if point.template.state.initialised else None)
        else:  # initialised with the planned PIN and scheme
            assert card.state.initialised
            hsm = reconnect(card, PIN)
            domains = [
                None if s is None else (s.total, s.outstanding)
                for s in card.state.key_domains or []
            ]
            assert domains == expected_domains(), outcome.where
            assert card.state.keys.keys() <= {0}, "INITIALIZE erases every key"
            assert card.state.so_pin in (DEFAULT_SO_PIN, bytes.fromhex(NEW_SO_PIN))
            if FID_TOKEN_INFO in card.state.files:
                info = decode_tokeninfo(hsm.read_file(FID_TOKEN_INFO))
                assert info.label == plan.label
        # re-runnable: with the SO-PIN the card holds now, initialising again finishes it
        so_now = card.state.so_pin.hex()
        hsm = session(card)
        result = initialize_device(hsm, init_script(plan, so_now), plan)
        assert result.label_written == bool(plan.label)
        reconnect(card, PIN)
        assert inconsistencies(card) == []

    return Scenario(label, "Initialising the device", template, run, check)


# DKEK shares --------------------------------------------------------------------------


def share_import_scenario() -> Scenario:
    expected = format_kcv(Dkek.from_shares(SHARES).kcv())

    def template() -> SmartCardHsmSimulator:
        return initialised_card(b"fault shares", dkek_shares=2, import_all=False)

    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        interaction = script(("secret", PIN), *(("share", paperkey(s)) for s in SHARES))
        return import_shares(hsm, interaction, 0)

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        hsm = reconnect(card, PIN)
        status = hsm.key_domain_status(0)
        assert status is not None and status.shares_total == 2
        done = 2 - status.shares_outstanding
        # a share is in or not: importing the rest gives the DKEK of all shares
        if status.shares_outstanding:
            rest = script(("secret", PIN), *(("share", paperkey(s)) for s in SHARES[done:]))
            assert import_shares(session(card), rest, 0).kcv == expected, outcome.where
        final = session(card)
        final.verify_pin(PIN)
        final_status = final.key_domain_status(0)
        assert final_status is not None and final_status.kcv is not None
        assert format_kcv(final_status.kcv) == expected

    return Scenario("DKEK share import (2 shares)", "Importing DKEK shares", template, run, check)


# PKCS#12 imports ------------------------------------------------------------------------


@functools.cache
def p12_file(directory: Path) -> Path:
    path = directory / "chain.p12"
    write_p12(path, host_key("p256"), common_name="fault test", with_chain=True)
    return path


def p12_template(seed: bytes) -> SmartCardHsmSimulator:
    """One share in domain 0 (imported) and three empty slots."""
    card = blank_card(seed)
    hsm = session(card)
    hsm.initialize(InitParams(PIN, DEFAULT_SO_PIN, dkek_shares=1, key_domains=4))
    hsm.import_dkek_share(SHARES[0], 0)
    return card


def domains_with_kek(card: SmartCardHsmSimulator) -> list[int]:
    return [
        index
        for index, slot in enumerate(card.state.key_domains or [])
        if slot is not None and slot.total > 0 and slot.complete
    ]


def p12_check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
    hsm = reconnect(card)
    recover_leftovers(hsm, script(("confirm", True), ("secret", PIN)), point.p12_journal)
    assert not point.p12_journal.path.exists(), f"{outcome.where}: journal left"
    assert inconsistencies(card) == [], outcome.where
    assert domains_with_kek(card) == [0], outcome.where
    hsm = reconnect(card, PIN)
    every_key_signs(hsm)


def classic_scenario(directory: Path) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        interaction = script(
            ("number", 1),
            ("share", paperkey(SHARES[0])),
            ("secret", PIN),
            ("secret", P12_PASSWORD),
            ("choices", "all"),
        )
        return import_pkcs12(
            hsm, interaction, path=p12_file(directory), journal=point.p12_journal, offer_more=False
        )

    return Scenario(
        "PKCS#12 import (classic, key + 2 CA certificates)",
        "Importing from PKCS#12",
        lambda: p12_template(b"fault classic"),
        run,
        p12_check,
    )


def transient_scenario(directory: Path) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        interaction = script(
            ("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False)
        )
        result = transient_import(
            hsm, interaction, path=p12_file(directory), journal=point.p12_journal, offer_more=False
        )
        told = [text for text in interaction.texts() if "could not be deleted" in text]
        return result, told

    def tolerate(outcome: Outcome) -> None:
        # documented: a fault during the tear-down is reported in the result and a
        # warning, the journal keeps the domain for the next connection
        result, told = outcome.result  # type: ignore[misc]
        assert isinstance(result, Pkcs12ImportResult)
        return not result.ok and result.kek_deleted is False and bool(told)

    return Scenario(
        "PKCS#12 import (transient key domain)",
        "Importing from PKCS#12",
        lambda: p12_template(b"fault transient"),
        run,
        p12_check,
        tolerate,
    )


# keys -----------------------------------------------------------------------------------


def key_card(seed: bytes | None) -> SmartCardHsmSimulator:
    """A card with DKEK = SHARES (complete) in domain 0, logged out."""
    return initialised_card(seed, dkek_shares=2)


@functools.cache
def wky_file(directory: Path) -> Path:
    """A ``.wky`` of an EC key with its PRKD and X.509 certificate, under SHARES."""
    card = key_card(b"fault wky source")
    hsm = session(card)
    hsm.verify_pin(PIN)
    host = ec.generate_private_key(ec.SECP256R1())
    info = KeyStore(hsm).import_wrapped_key(
        encode_key(Dkek.from_shares(SHARES), host),
        label="restored",
        certificate=self_signed_certificate(host, "restored"),
    )
    path = directory / "key.wky"
    backup_key(hsm, ScriptedInteraction(), info.key_reference, path)
    return path


def key_check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
    """The key journal's repair on the next connection, then nothing half-made is left."""
    hsm = reconnect(card)
    journal = point.key_journal
    recover_interrupted(hsm, script(("secret", PIN)), journal)
    assert journal.pending(hsm.serial()) == [], outcome.where
    assert inconsistencies(card) == [], f"{outcome.where}: {inconsistencies(card)}"
    hsm = reconnect(card, PIN)
    every_key_signs(hsm)


def restore_scenario(directory: Path) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return restore_key(
            hsm, script(("secret", PIN)), wky_file(directory), journal=point.key_journal
        )

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        key_check(point, card, outcome)
        # re-runnable: the restore goes through afterwards (again, if it was complete:
        # then the card holds the key already and the restore asks)
        again = script(("secret", PIN), ("confirm", True))
        restore_key(session(card), again, wky_file(directory), journal=point.key_journal)
        assert inconsistencies(card) == []

    return Scenario(
        "Key restore from .wky (EC, PRKD, certificate)",
        "Restoring a key",
        lambda: key_card(b"fault restore"),
        run,
        check,
    )


def generate_scenario(text: str, label: str, seed: bytes | None = b"fault generate") -> Scenario:
    algorithm = KeyAlgorithm.parse(text)

    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return generate_key(
            hsm, script(("secret", PIN)), algorithm, "fault key", journal=point.key_journal
        )

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        key_check(point, card, outcome)
        keys = {k for k in card.state.keys if k}
        assert len(keys) <= 1
        if keys:  # the key survived whole: PRKD (and CV request) as generated
            (reference,) = keys
            assert fid(PRKD_PREFIX, reference) in card.state.files
            if algorithm.kind.value != "AES":
                assert fid(EE_CERTIFICATE_PREFIX, reference) in card.state.files
        generate_key(
            session(card), script(("secret", PIN)), algorithm, "again", journal=point.key_journal
        )
        assert inconsistencies(card) == []

    return Scenario(label, "Generating a key", lambda: key_card(seed), run, check)


def delete_template() -> SmartCardHsmSimulator:
    card = key_card(b"fault delete")
    hsm = session(card)
    hsm.verify_pin(PIN)
    host = ec.generate_private_key(ec.SECP256R1())
    info = KeyStore(hsm).import_wrapped_key(
        encode_key(Dkek.from_shares(SHARES), host),
        label="to delete",
        certificate=self_signed_certificate(host, "to delete"),
    )
    assert info.key_reference == 1
    return card


def delete_scenario() -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return delete_key(hsm, script(("confirm", True), ("secret", PIN)), 1)

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        reconnect(card, PIN)
        files = card.state.files
        if 1 not in card.state.keys:  # never metadata without its key
            assert fid(PRKD_PREFIX, 1) not in files and fid(EE_CERTIFICATE_PREFIX, 1) not in files
            return
        # deleting again finishes it (the key's PRKD may already be gone)
        delete_key(session(card), script(("confirm", True), ("secret", PIN)), 1)
        assert 1 not in card.state.keys and fid(KEY_PREFIX, 1) not in files
        assert inconsistencies(card) == []

    return Scenario(
        "Key deletion (EC with certificate)", "Deleting a key", delete_template, run, check
    )


# PINs -----------------------------------------------------------------------------------


def pin_card() -> SmartCardHsmSimulator:
    return initialised_card(b"fault pins")


def blocked_pin_card() -> SmartCardHsmSimulator:
    card = pin_card()
    hsm = session(card)
    for _ in range(3):
        with pytest.raises((WrongPin, PinBlocked)):
            hsm.verify_pin("000000")
    assert hsm.pin_status().state is PinState.BLOCKED
    return card


def pin_change_scenario() -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return change_pin(hsm, script(("secret", PIN), ("secret", NEW_PIN)))

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        state = card.state
        assert state.user_pin in (PIN.encode(), NEW_PIN.encode()), outcome.where
        assert state.user_pin_tries == state.user_pin_max, "the retry counter was lost"
        current = state.user_pin.decode()
        reconnect(card, current)
        if current == PIN:  # re-run: the change goes through now
            change_pin(session(card), script(("secret", PIN), ("secret", NEW_PIN)))
            reconnect(card, NEW_PIN)

    return Scenario("PIN change", "Changing the PIN", pin_card, run, check)


def unblock_scenario(set_new: bool) -> Scenario:
    answers: list[tuple[str, object]] = [("secret", SO_PIN)]
    if set_new:
        answers.append(("secret", NEW_PIN))

    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return unblock_pin(hsm, script(*answers), set_new=set_new)

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        state = card.state
        assert state.so_pin_tries == point.template.state.so_pin_tries, "SO-PIN try lost"
        done = state.user_pin_tries == state.user_pin_max
        if done:
            expected = NEW_PIN if set_new else PIN
            assert state.user_pin == expected.encode(), outcome.where
            reconnect(card, expected)
            return
        assert state.user_pin_tries == 0 and state.user_pin == PIN.encode(), outcome.where
        hsm = reconnect(card)
        assert hsm.pin_status().state is PinState.BLOCKED
        unblock_pin(session(card), script(*answers), set_new=set_new)
        reconnect(card, NEW_PIN if set_new else PIN)

    label = "PIN unblock and set (SO-PIN)" if set_new else "PIN unblock (SO-PIN)"
    return Scenario(label, "Unblocking the PIN", blocked_pin_card, run, check)


def so_pin_scenario() -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return change_so_pin(hsm, script(("secret", SO_PIN), ("secret", NEW_SO_PIN)))

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        state = card.state
        assert state.so_pin in (DEFAULT_SO_PIN, bytes.fromhex(NEW_SO_PIN)), outcome.where
        assert state.so_pin_tries == point.template.state.so_pin_tries, "SO-PIN try lost"
        reconnect(card, PIN)
        if state.so_pin == DEFAULT_SO_PIN:
            change_so_pin(session(card), script(("secret", SO_PIN), ("secret", NEW_SO_PIN)))
            return

    return Scenario("SO-PIN change", "Changing the SO-PIN", pin_card, run, check)


# key domains ---------------------------------------------------------------------------


def domains_card() -> SmartCardHsmSimulator:
    """Three slots: 0 complete (one share), 1 waiting for its share, 2 empty."""
    card = initialised_card(b"fault domains", key_domains=3)
    hsm = session(card)
    hsm.verify_pin(PIN)
    hsm.create_dkek_domain(0, 1)
    hsm.import_dkek_share(SHARES[0], 0)
    hsm.create_dkek_domain(1, 1)
    return card


def domain_scenario(
    label: str,
    action: str,
    step: Callable[[SmartCardHsm], object],
    again: Callable[[SmartCardHsm], object],
) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        return step(hsm)

    @functools.cache
    def domains_after() -> list[tuple[int, int, str] | None]:
        card = domains_card()
        step(session(card))
        return domain_summary(card)

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        after = domains_after()
        before = domain_summary(point.template)
        now = domain_summary(card)
        assert now in (before, after), f"{outcome.where}: domains {now}"
        reconnect(card, PIN)
        if now == before:  # re-run: goes through now
            again(session(card))
            assert domain_summary(card) == after
        assert inconsistencies(card) == []

    return Scenario(label, action, domains_card, run, check)


def create_domain(hsm: SmartCardHsm) -> object:
    return create_key_domain(hsm, script(("secret", PIN)), 1, domain=2)


def delete_domain(hsm: SmartCardHsm) -> object:
    return delete_key_domain(hsm, script(("confirm", True), ("secret", PIN)), 1)


def clear_domain(hsm: SmartCardHsm) -> object:
    return clear_kek(hsm, script(("confirm", True), ("secret", PIN)), 0)


# the repairs themselves ----------------------------------------------------------------


def key_without_prkd(card: SmartCardHsmSimulator) -> bool:
    return any("has no PRKD" in problem for problem in inconsistencies(card))


def interrupted(
    make: Callable[[], SmartCardHsmSimulator],
    interrupt: Callable[[SmartCardHsm, Path], object],
    directory: Path,
    half_made: Callable[[SmartCardHsmSimulator], bool] = key_without_prkd,
) -> tuple[SmartCardHsmSimulator, Path]:
    """A card pulled at the first APDU that leaves it ``half_made`` (default: a key
    without description), and the journal directory of that run (the repair's input)."""
    for k in itertools.count(1):
        card = make()
        hsm = session(card)
        card.faults.clear()
        card.faults.remove_at(k)
        journal = directory / f"interrupted-{k}"
        with pytest.raises(CardRemoved):
            interrupt(hsm, journal)
        card.insert()
        if half_made(card):
            return card, journal
    raise AssertionError("unreachable")


@functools.cache
def interrupted_generation(directory: Path) -> tuple[SmartCardHsmSimulator, Path]:
    def interrupt(hsm: SmartCardHsm, journal: Path) -> object:
        return generate_key(
            hsm,
            script(("secret", PIN)),
            KeyAlgorithm.parse("ec:prime256v1"),
            "half made",
            journal=KeyJournal(journal / "keys"),
        )

    return interrupted(lambda: key_card(b"fault repair keys"), interrupt, directory / "generation")


@functools.cache
def interrupted_transient(directory: Path) -> tuple[SmartCardHsmSimulator, Path]:
    def interrupt(hsm: SmartCardHsm, journal: Path) -> object:
        interaction = script(
            ("secret", P12_PASSWORD), ("secret", PIN), ("choices", "all"), ("confirm", False)
        )
        return transient_import(
            hsm,
            interaction,
            path=p12_file(directory),
            journal=ImportJournal(journal / "p12.json"),
            offer_more=False,
        )

    return interrupted(
        lambda: p12_template(b"fault repair p12"), interrupt, directory / "transient"
    )


@functools.cache
def interrupted_restore(directory: Path) -> tuple[SmartCardHsmSimulator, Path]:
    """Key and PRKD restored, the certificate not yet: the repair reads the PRKD back."""

    def interrupt(hsm: SmartCardHsm, journal: Path) -> object:
        return restore_key(
            hsm, script(("secret", PIN)), wky_file(directory), journal=KeyJournal(journal / "keys")
        )

    def half_made(card: SmartCardHsmSimulator) -> bool:
        files = card.state.files
        return any(
            fid(PRKD_PREFIX, ref) in files and fid(EE_CERTIFICATE_PREFIX, ref) not in files
            for ref in card.state.keys
            if ref
        )

    return interrupted(
        lambda: key_card(b"fault repair restore"), interrupt, directory / "restore", half_made
    )


def copy_journal(source: Path, point: Point) -> None:
    shutil.copytree(source, point.directory, dirs_exist_ok=True)


def key_repair_scenario(
    label: str, source: Callable[[], tuple[SmartCardHsmSimulator, Path]]
) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        copy_journal(source()[1], point)
        assert point.key_journal.pending(hsm.serial())
        return recover_interrupted(hsm, script(("secret", PIN)), point.key_journal)

    return Scenario(label, "Reading the card", lambda: source()[0], run, key_check)


def p12_repair_scenario(directory: Path) -> Scenario:
    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        copy_journal(interrupted_transient(directory)[1], point)
        assert point.p12_journal.path.exists()
        return recover_leftovers(hsm, script(("confirm", True), ("secret", PIN)), point.p12_journal)

    return Scenario(
        "Repair of an interrupted transient PKCS#12 import (import journal)",
        "Repairing an interrupted operation",
        lambda: interrupted_transient(directory)[0],
        run,
        p12_check,
    )


@contextlib.contextmanager
def state_home(point: Point) -> Iterator[Path]:
    """The app's state directory (its default journals) below the point's directory."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(point.directory / "xdg")
    try:
        yield point.directory / "xdg" / "keymanager"
    finally:
        if previous is None:
            del os.environ["XDG_STATE_HOME"]
        else:
            os.environ["XDG_STATE_HOME"] = previous


def app_repair_scenario(directory: Path) -> Scenario:
    """The hooks the GUI runs when it reads a card (``keymanager.gui.recovery.run_recovery``)."""

    def run(point: Point, card: SmartCardHsmSimulator, hsm: SmartCardHsm) -> object:
        from keymanager.gui.recovery import run_recovery

        with state_home(point) as home:
            source = interrupted_generation(directory)[1] / "keys"
            shutil.copytree(source, home / "journal", dirs_exist_ok=True)
            return run_recovery(hsm, script(("secret", PIN)))

    def check(point: Point, card: SmartCardHsmSimulator, outcome: Outcome) -> None:
        from keymanager.gui.recovery import run_recovery

        with state_home(point) as home:
            hsm = reconnect(card)
            run_recovery(hsm, script(("secret", PIN), ("confirm", True)))
            assert not list((home / "journal").glob("*.json")), outcome.where
        assert inconsistencies(card) == [], outcome.where
        every_key_signs(reconnect(card, PIN))

    return Scenario(
        "Repair when the app reads the card (GUI hooks, key journal)",
        "Reading the card",
        lambda: interrupted_generation(directory)[0],
        run,
        check,
    )


# --- the matrix ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-files")


def scenarios(directory: Path) -> dict[str, Scenario]:
    table = [
        init_scenario(
            "Initialise: no DKEK, label",
            lambda: blank_card(b"fault init plain"),
            InitPlan(DkekScheme.NO_DKEK, label="Fault test"),
        ),
        init_scenario(
            "Initialise: DKEK of 2 shares, new SO-PIN, label",
            lambda: blank_card(b"fault init dkek"),
            InitPlan(DkekScheme.DKEK_SHARES, shares=2, change_so_pin=True, label="Fault test"),
        ),
        init_scenario(
            "Re-initialise a card with keys: 3 key-domain slots",
            lambda: delete_template(),
            InitPlan(DkekScheme.KEY_DOMAINS, key_domains=3),
        ),
        share_import_scenario(),
        classic_scenario(directory),
        transient_scenario(directory),
        restore_scenario(directory),
        generate_scenario("rsa:1024", "Key generation: RSA 1024", seed=None),
        generate_scenario("ec:prime256v1", "Key generation: EC P-256"),
        generate_scenario("aes:128", "Key generation: AES 128"),
        delete_scenario(),
        pin_change_scenario(),
        unblock_scenario(set_new=False),
        unblock_scenario(set_new=True),
        so_pin_scenario(),
        domain_scenario(
            "Key domain: create", "Creating a key domain", create_domain, create_domain
        ),
        domain_scenario(
            "Key domain: delete", "Deleting a key domain", delete_domain, delete_domain
        ),
        domain_scenario("Key domain: clear KEK", "Clearing a KEK", clear_domain, clear_domain),
        key_repair_scenario(
            "Repair of an interrupted key generation (key journal)",
            lambda: interrupted_generation(directory),
        ),
        key_repair_scenario(
            "Repair of an interrupted key restore (key journal)",
            lambda: interrupted_restore(directory),
        ),
        p12_repair_scenario(directory),
        app_repair_scenario(directory),
    ]
    return {scenario.label: scenario for scenario in table}


LABELS = list(scenarios(Path("/nonexistent")).keys())


@functools.cache
def _template(label: str, directory: Path) -> SmartCardHsmSimulator:
    return scenarios(directory)[label].template()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("label", LABELS)
def test_fault_at_each_apdu(label: str, kind: Kind, files: Path, tmp_path: Path) -> None:
    scenario = scenarios(files)[label]
    template = _template(label, files)
    before = card_contents(template)

    def run(card: SmartCardHsmSimulator, hsm: SmartCardHsm, directory: Path) -> object:
        return scenario.run(Point(directory, before, template), card, hsm)

    clean, _result, total = clean_run(template, lambda c, h: run(c, h, tmp_path / "clean"))
    assert total >= 2
    start, finish = snapshot(template), snapshot(clean)
    error_type = expected_error(kind)
    states: Counter[str] = Counter()
    returned = 0
    for k in range(1, total + 1):
        directory = tmp_path / f"{k}"
        card, outcome = run_point(template, kind, k, total, lambda c, h: run(c, h, directory))
        if outcome.error is None:
            assert scenario.tolerate is not None and scenario.tolerate(outcome), (
                f"{label}, {outcome.where}: the workflow returned as if nothing happened"
            )
            returned += 1
        else:
            assert isinstance(outcome.error, error_type), (
                f"{label}, {outcome.where}: raised {type(outcome.error).__name__}: {outcome.error}"
            )
            check_told(outcome.error, kind, scenario.action)
        states[classify(card, start, finish)] += 1
        scenario.check(Point(directory, before, template), card, outcome)
    assert states["unchanged"] > 0, "no fault point left the card untouched"
    record(
        "faults",
        label,
        total,
        kind=kind,
        clean_run_apdus=total,
        left_unchanged=states["unchanged"],
        left_complete=states["complete"],
        left_partial=states["partial"],
        returned_with_warning=returned,
    )


# --- the CLI: what a removal or reset looks like on the command line -------------------


class FaultyCard(SmartCardHsmSimulator):
    """The CLI's simulated card, with the next fault scheduled as it is put in the reader.

    The CLI builds its card from a state file for every command; this stands in for
    the card (not for any code under test) so a command meets a removal or a reset.
    """

    planned: tuple[Kind, int] | None = None
    last: SmartCardHsmSimulator | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        FaultyCard.last = self
        if FaultyCard.planned is not None:
            kind, k = FaultyCard.planned
            FaultyCard.planned = None
            if kind == "remove":
                self.faults.remove_at(k)
            else:
                self.faults.reset_at(k)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    import keymanager.simulator
    from keymanager.cli.main import main

    monkeypatch.setattr(keymanager.simulator, "SmartCardHsmSimulator", FaultyCard)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("FAULT_PIN", PIN)
    monkeypatch.setenv("FAULT_NEW_PIN", NEW_PIN)

    def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


CLI_COMMANDS = {
    "Key generation: EC P-256 (CLI)": (
        ["generate", "ec:prime256v1", "--label", "cli key", "--pin-env", "FAULT_PIN"],
        "key_card",
    ),
    "PIN change (CLI)": (
        ["pin", "change", "--pin-env", "FAULT_PIN", "--new-pin-env", "FAULT_NEW_PIN"],
        "pin_card",
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("label", list(CLI_COMMANDS))
def test_cli_tells_what_happened(
    label: str,
    kind: Kind,
    cli: Callable[..., tuple[int, str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    argv, which = CLI_COMMANDS[label]
    template = key_card(b"fault cli") if which == "key_card" else pin_card()
    prepared = tmp_path / "prepared.json"
    save_state(prepared, template.state)

    def fresh(name: str) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_bytes(prepared.read_bytes())
        return path

    clean = fresh("clean")
    status, _out, err = cli(capsys, *argv, "--simulator", str(clean))
    assert status == 0, err
    assert FaultyCard.last is not None
    total = FaultyCard.last.faults.apdus_seen
    word = "removed" if kind == "remove" else "reset"
    for k in range(1, total + 1):
        state = fresh(f"point-{k}")
        FaultyCard.planned = (kind, k)
        status, out, err = cli(capsys, *argv, "--simulator", str(state))
        where = f"{label}: {kind} at APDU {k} of {total}"
        assert status == 1 and out == "", where
        lines = err.strip().splitlines()
        assert lines[-2].startswith("keymanager-cli: error: "), (where, err)
        assert f"the card was {word}" in lines[-1] and "keymanager-cli status" in lines[-1], err
        assert "Traceback" not in err
        # the next command on the card (reinserted: a new simulator from the state file)
        status, out, err = cli(capsys, "status", "--simulator", str(state), "--json")
        assert status == 0, (where, err)
        # repeating the command finishes the job (the key journal repairs a generation)
        if label.startswith("PIN change"):
            card = SmartCardHsmSimulator(state)
            if card.state.user_pin == NEW_PIN.encode():
                continue
        status, out, err = cli(capsys, *argv, "--simulator", str(state))
        assert status == 0, (where, err)
        card = SmartCardHsmSimulator(state)
        assert inconsistencies(card) == [], where
        assert card.state.user_pin_tries == card.state.user_pin_max, where
    record("faults", label, total, kind=kind, clean_run_apdus=total)
