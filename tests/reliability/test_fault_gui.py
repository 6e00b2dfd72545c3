"""The card pulled out (or reset) in the middle of a key generation run from the main window.

The user starts "Generate key…" on the demo card, types the PIN, and the card goes away
(or is reset) after GENERATE created the key but before its PRKD was written: the card
now holds a key without description.  The user must see an error naming the cause and
what to do; after a removal the outline shows the card gone; after reinsertion (or,
for a reset, at once) reading the card runs the key journal's repair, which removes the
half-made key (asking for the PIN), and the outline comes back with a consistent card.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.messages import ErrorDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import DEMO_KEYS, DEMO_PIN
from keymanager.workflows.keys import default_journal_dir
from keymanager.workflows.outline import NodeKind
from tests.reliability._faults_support import KINDS, Kind, inconsistencies
from tests.support.figures import record
from tests.support.gui_window import Seen

PRKD_WRITE = bytes.fromhex("00D7C4")
"""The header of the APDU that writes the new key's PRKD (UPDATE BINARY of C4xx): the
fault hits it, so the card holds the key and its CV request but no description."""


def enter_pin(dialog: PinDialog) -> None:
    dialog.entry.setText(DEMO_PIN)
    dialog.accept()


def key_count(window: Any) -> int:
    return len(list(window.model.outline.nodes(NodeKind.KEY)))


@pytest.mark.parametrize("kind", KINDS)
def test_card_pulled_or_reset_during_key_generation(
    qtbot: Any, window: Any, demo_card: SmartCardHsmSimulator, kind: Kind
) -> None:
    seen = Seen(qtbot, window)
    assert inconsistencies(demo_card) == []
    assert window.run_action("generate-key")
    dialog = seen.next(GenerateKeyDialog)
    dialog.label_edit.setText("Interrupted")
    dialog.select_algorithm("ec:secp256r1")
    dialog.ok_button.click()
    pin = seen.next(PinDialog)
    if kind == "remove":
        demo_card.faults.remove_on(PRKD_WRITE)
    else:
        demo_card.faults.reset_on(PRKD_WRITE)
    with qtbot.waitSignal(window.message_shown, timeout=15_000) as shown:
        enter_pin(pin)

    # the user is told what happened and what to do
    message = shown.args[0]
    word = "removed" if kind == "remove" else "reset"
    assert message.title == f"The card was {word}"
    assert "Refresh (F5)" in message.what_to_do and "check the outline" in message.what_to_do
    box = window.findChild(ErrorDialog, "errorDialog")
    assert box is not None and box.isVisible()
    assert ("CardRemoved" if kind == "remove" else "CardReset") in box.detailedText()
    assert box.windowTitle() == message.window_title
    box.close()

    # the card holds a half-made key, and the journal remembers it
    assert demo_card.faults.pending == 0
    assert any("has no PRKD" in problem for problem in inconsistencies(demo_card))
    assert list(default_journal_dir().glob("*.json"))

    if kind == "remove":
        # the job changed the card, so the window reads it again: the card is gone
        qtbot.waitUntil(lambda: window.model.outline is None, timeout=15_000)
        qtbot.waitUntil(lambda: "removed" in window.reader_status.text().lower(), timeout=15_000)
        assert not window.generate_action.isEnabled()
        demo_card.insert()
        window.refresh_action.trigger()

    # reading the card again (after reinsertion; after a reset at once) repairs it: a
    # warning names the interrupted generation, then the PIN is asked for (new session)
    warning = seen.next(QMessageBox, PinDialog)
    if isinstance(warning, QMessageBox):
        assert "interrupted" in warning.text()
        warning.accept()
        pin = seen.next(PinDialog)
    else:
        pin = warning
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        enter_pin(pin)
    qtbot.waitUntil(lambda: bool(window.recovery_notes), timeout=15_000)
    assert any("rolled back" in note for note in window.recovery_notes)
    assert window.model.outline is not None
    assert key_count(window) == len(DEMO_KEYS)
    assert inconsistencies(demo_card) == []
    assert not list(default_journal_dir().glob("*.json"))
    qtbot.waitUntil(lambda: window.generate_action.isEnabled(), timeout=15_000)
    record("faults", "Key generation from the main window (GUI)", 1, kind=kind)
