"""Helpers of the fault matrix: inject a removal or a reset, reconnect, judge the card.

A *fault point* is one APDU of a workflow's clean run: the fault fires when that APDU
arrives (the simulator's :class:`~keymanager.simulator.faults.FaultPlan` counts every
APDU, GET RESPONSE and chained parts included), so the command has no effect.  After
the fault the tests check four things (issue 7, "Faults"):

1. the workflow raised the typed error of the fault (:func:`expected_error`), or - where
   a workflow documents it - returned a result that says what was not done;
2. the user is told the cause and what to do (:func:`check_told`, which reads the
   message the GUI shows, :func:`keymanager.gui.messages.describe_error`);
3. a new session on the reinserted or reset card works (:func:`reconnect`);
4. the card is consistent (:func:`inconsistencies`), after the workflow's own repair
   where it has one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from keymanager.card.errors import CardRemoved, CardReset, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import PinState
from keymanager.card.keystore import EE_CERTIFICATE_PREFIX, KEY_PREFIX
from keymanager.card.transport import LocalTransport
from keymanager.simulator import SmartCardHsmSimulator
from tests.workflows.p12_support import inconsistencies as p12_inconsistencies

Kind = Literal["remove", "reset"]
KINDS: tuple[Kind, ...] = ("remove", "reset")


def expected_error(kind: Kind) -> type[TransportError]:
    """The typed error a fault of ``kind`` must surface as."""
    return CardRemoved if kind == "remove" else CardReset


def inject(card: SmartCardHsmSimulator, kind: Kind, k: int) -> None:
    """Schedule the fault for the k-th APDU from now (the count restarts first)."""
    card.faults.clear()
    if kind == "remove":
        card.faults.remove_at(k)
    else:
        card.faults.reset_at(k)


def session(card: SmartCardHsmSimulator) -> SmartCardHsm:
    """A new session on the card, as the app opens one (power on, SELECT)."""
    return SmartCardHsm.open(LocalTransport(card))


def reconnect(card: SmartCardHsmSimulator, pin: str | None = None) -> SmartCardHsm:
    """Put a pulled card back, open a new session and check it works.

    The PIN status must be readable; with ``pin`` the user PIN must verify (the new
    session after a removal or a reset is logged out, so it must not already be).
    """
    if not card.present:
        card.insert()
    card.faults.clear()
    hsm = session(card)
    status = hsm.pin_status()
    assert status.state is not PinState.VERIFIED, "a new session must start logged out"
    if pin is not None:
        hsm.verify_pin(pin)
        assert hsm.pin_status().state is PinState.VERIFIED
    return hsm


def inconsistencies(card: SmartCardHsmSimulator) -> list[str]:
    """What no workflow may leave behind (after its repair).

    The PKCS#12 tests' checks (keys without PRKD, PRKDs or certificates without key,
    CA certificates and descriptions without each other), plus: end-entity
    certificates without key, keys in a key domain the card does not have, and key
    domains with more outstanding shares than they take.
    """
    problems = p12_inconsistencies(card)
    files = set(card.state.files) | {(KEY_PREFIX << 8) | kid for kid in card.state.keys}
    for file in files:
        prefix, number = file >> 8, file & 0xFF
        if prefix == EE_CERTIFICATE_PREFIX and number not in card.state.keys:
            message = f"{file:04X} describes no key"
            if message not in problems:
                problems.append(message)
    domains = card.state.key_domains or []
    for kid, record in card.state.keys.items():
        if kid and record.domain is not None and record.domain >= len(domains):
            problems.append(
                f"key CC{kid:02X} is in key domain {record.domain}, which does not exist"
            )
    for index, slot in enumerate(domains):
        if slot is not None and slot.imported > slot.total:
            problems.append(f"key domain {index} holds more shares than it takes")
    return problems


def domain_summary(card: SmartCardHsmSimulator) -> list[tuple[int, int, str] | None]:
    """Each key-domain slot as (total, outstanding, KCV hex) or ``None`` when empty."""
    return [
        None if slot is None else (slot.total, slot.outstanding, slot.dkek.hex())
        for slot in card.state.key_domains or []
    ]


def card_contents(card: SmartCardHsmSimulator) -> dict[str, Any]:
    """Files, keys, key domains and initialisation (not PIN counters): for "unchanged"."""
    state = card.state.to_json()
    return {name: state[name] for name in ("files", "keys", "key_domains", "initialised")}


def snapshot(card: SmartCardHsmSimulator) -> dict[str, Any]:
    """Everything the card keeps (PINs, counters, domains, keys, files), not its DRBG position."""
    state = card.state.to_json()
    state.pop("drbg_counter", None)
    return state


def classify(card: SmartCardHsmSimulator, before: dict[str, Any], after: dict[str, Any]) -> str:
    """``"unchanged"``, ``"complete"`` (as after a clean run) or ``"partial"``."""
    now = snapshot(card)
    if now == before:
        return "unchanged"
    if now == after:
        return "complete"
    return "partial"


# --- the outcome of one fault point --------------------------------------------------


@dataclass
class Outcome:
    """What the workflow did when the fault hit APDU ``k`` of ``total``."""

    kind: Kind
    k: int
    total: int
    error: BaseException | None = None
    result: object = None

    @property
    def where(self) -> str:
        return f"{self.kind} at APDU {self.k} of {self.total}"


def run_point(
    template: SmartCardHsmSimulator,
    kind: Kind,
    k: int,
    total: int,
    run: Callable[[SmartCardHsmSimulator, SmartCardHsm], object],
) -> tuple[SmartCardHsmSimulator, Outcome]:
    """Copy the prepared card, open a session, schedule the fault, run the workflow."""
    card = copy.deepcopy(template)
    hsm = session(card)
    inject(card, kind, k)
    outcome = Outcome(kind, k, total)
    try:
        outcome.result = run(card, hsm)
    except Exception as error:  # judged by the caller: typed, and the right one
        outcome.error = error
    fired = card.faults.pending == 0
    assert fired, f"{outcome.where}: the fault never fired (the run took another path)"
    return card, outcome


def clean_run(
    template: SmartCardHsmSimulator,
    run: Callable[[SmartCardHsmSimulator, SmartCardHsm], object],
) -> tuple[SmartCardHsmSimulator, object, int]:
    """Run the workflow without a fault on a copy: (card after, result, APDUs sent)."""
    card = copy.deepcopy(template)
    hsm = session(card)
    card.faults.clear()
    result = run(card, hsm)
    return card, result, card.faults.apdus_seen


# --- what the user is told ------------------------------------------------------------

CAUSE_WORDS = {"remove": ("removed",), "reset": ("reset",)}


def check_told(error: BaseException, kind: Kind, action: str) -> str:
    """The GUI's message for ``error`` names the cause and says what to do.

    :returns: the message's full text (for the figures / debugging).
    """
    from keymanager.gui.messages import describe_error

    message = describe_error(error, action)
    shown = f"{message.title}\n{message.full_text}".lower()
    assert any(word in shown for word in CAUSE_WORDS[kind]), (
        f"{action}: the message does not name the cause: {message.title!r} / {message.text!r}"
    )
    assert message.what_to_do, f"{action}: the message says nothing about what to do"
    what = message.what_to_do.lower()
    assert "refresh" in what or "insert" in what, message.what_to_do
    # a change may have been done in part: the user must check before repeating it
    assert "check" in what or "repair" in what, message.what_to_do
    assert "unexpected" not in message.title.lower() and "bug" not in what
    return message.full_text
