"""Secrets scan of the GUI (issue 7): the clipboard never holds a secret.

On the demo card (whose PINs, shares and keys are known), every node of the outline is
selected and every copy action the app offers is run: "Copy details", "Copy KCV" and
each Copy button of the details pane; after each, the clipboard is scanned for every
secret in every encoding of :mod:`._secrets_support`.  Then the fields where secrets
are typed (PIN dialog, share-file password, n-of-m values, PaperKey lines, PKCS#12
password) and the sheet a ceremony shows once are filled with a secret, selected and
sent the copy and cut shortcuts: the clipboard must not change.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QLineEdit, QWidget

from keymanager.dkek.dkek import Dkek
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import DEMO_DOMAIN1_SHARES, DEMO_PIN, DEMO_SHARES
from keymanager.workflows.interaction import SecretKind, SecretRequest
from tests.reliability._secrets_support import Scanner, SecretBook
from tests.support.figures import record

SENTINEL = "clipboard sentinel, not a secret"


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """As tests/gui do: the app collects garbage on the GUI thread only."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def book(demo_state: Path) -> SecretBook:
    """Every secret of the demo card: PINs, shares (and their PaperKeys), DKEKs, keys."""
    secrets = SecretBook()
    state = SmartCardHsmSimulator(demo_state).state
    secrets.add_text("user PIN", DEMO_PIN)
    secrets.add_bytes("SO-PIN", state.so_pin)
    secrets.add_text("SO-PIN as typed", state.so_pin.hex().upper())
    for index, share in enumerate((*DEMO_SHARES, *DEMO_DOMAIN1_SHARES), start=1):
        secrets.add_bytes(f"share {index}", share)
        for number, line in enumerate(encode_paperkey(share).lines, start=1):
            secrets.add_text(
                f"share {index} PaperKey line {number}", line.split(":", 1)[-1].strip()
            )
    secrets.add_bytes("DKEK of domain 0", Dkek.from_shares(DEMO_SHARES).value())
    for reference, key in state.keys.items():
        if key.kind == "ec":
            secrets.add_number(f"key {reference}: EC private value", key.d)
        elif key.kind == "rsa":
            secrets.add_number(f"key {reference}: RSA p", key.p)
            secrets.add_number(f"key {reference}: RSA q", key.q)
        elif key.kind == "aes":
            secrets.add_bytes(f"key {reference}: AES key", key.secret)
    return secrets


def _clipboard() -> str:
    return QGuiApplication.clipboard().text()


def test_every_copy_action_of_the_window_copies_no_secret(
    qtbot: Any, window: Any, book: SecretBook
) -> None:
    scanner = Scanner(book)
    outline = window.model.outline
    copies = 0
    for node in outline.nodes():
        window.select_node(node.node_id)
        for action in window.context_actions(node):
            if action.id.startswith("copy"):
                QGuiApplication.clipboard().setText(SENTINEL)
                assert window.run_action(action.id, node)
                assert _clipboard() != SENTINEL or action.id == "copy-kcv"
                scanner.scan_text("clipboard", _clipboard(), workflow="GUI copy", where=action.id)
                copies += 1
        for label, field in window.details.fields.items():
            scanner.scan_text("details pane", field.text(), workflow="GUI copy", where=label)
        for button in window.details.findChildren(QAbstractButton):
            if button.text() == "Copy":
                QGuiApplication.clipboard().setText(SENTINEL)
                button.click()
                scanner.scan_text("clipboard", _clipboard(), workflow="GUI copy", where="Copy")
                copies += 1
    assert copies >= 10, copies
    assert scanner.hits == [], [str(hit) for hit in scanner.hits]
    record("secrets", "clipboard", len(scanner.hits), workflow="GUI copy actions")
    record("secrets", "GUI copy actions run", copies)
    record("secrets", "bytes scanned", scanner.bytes_scanned["clipboard"], location="clipboard")


def _try_to_copy(qtbot: Any, widget: QWidget, secret: str) -> str:
    """Select everything in ``widget`` and press every copy/cut shortcut; the clipboard."""
    QGuiApplication.clipboard().setText(SENTINEL)
    widget.setFocus()
    if isinstance(widget, QLineEdit):
        widget.selectAll()
    for sequence in (QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Cut):
        for binding in QKeySequence.keyBindings(sequence):
            combination = binding[0]
            qtbot.keyClick(widget, combination.key(), combination.keyboardModifiers())
            if isinstance(widget, QLineEdit) and not widget.text():
                widget.setText(secret)
                widget.selectAll()
    qtbot.keyClick(widget, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    return _clipboard()


def _secret_fields(qtbot: Any, window: Any, keep: list[QWidget]) -> list[tuple[str, QWidget, str]]:
    from keymanager.gui.dialogs.ceremony import SecretSheetDialog
    from keymanager.gui.p12_wizard import Pkcs12Wizard
    from keymanager.gui.pin_dialog import PinDialog
    from keymanager.gui.shares import FileShareTab, NofMTab, PaperKeyTab

    fields: list[tuple[str, QWidget, str]] = []
    pin = PinDialog(SecretRequest(SecretKind.NEW_USER_PIN, confirm=True))
    qtbot.addWidget(pin)
    fields.append(("PIN dialog: PIN", pin.entry, DEMO_PIN))
    assert pin.confirm_entry is not None
    fields.append(("PIN dialog: PIN again", pin.confirm_entry, DEMO_PIN))
    so = PinDialog(SecretRequest(SecretKind.SO_PIN))
    qtbot.addWidget(so)
    fields.append(("PIN dialog: SO-PIN", so.entry, "3537363231383830"))
    file_tab = FileShareTab()
    qtbot.addWidget(file_tab)
    fields.append(("share dialog: share-file password", file_tab.password, "Custodian-pw#77"))
    nofm = NofMTab()
    qtbot.addWidget(nofm)
    fields.append(("share dialog: n-of-m value", nofm.rows[0].value, "1a:2b:3c:4d:5e:6f:70:81"))
    paper = PaperKeyTab()
    qtbot.addWidget(paper)
    lines = encode_paperkey(DEMO_SHARES[0]).lines
    for number, edit in enumerate(paper.lines):
        fields.append((f"share dialog: PaperKey line {number + 1}", edit, lines[number]))
    wizard = Pkcs12Wizard(window)
    qtbot.addWidget(wizard)
    fields.append(("PKCS#12 wizard: file password", wizard.file_page.password, "P12-pw&secret"))
    keep.extend([pin, so, file_tab, nofm, paper, wizard])
    sheet_text = encode_paperkey(DEMO_SHARES[0]).text()
    sheet = SecretSheetDialog("DKEK share - PaperKey", sheet_text)
    qtbot.addWidget(sheet)
    keep.append(sheet)
    sheet.show()
    fields.append(("ceremony: PaperKey sheet", sheet.sheet, sheet_text))
    fields.append(("ceremony: sheet dialog", sheet, sheet_text))
    return fields


def test_secret_fields_cannot_be_copied(qtbot: Any, window: Any, book: SecretBook) -> None:
    scanner = Scanner(book)
    keep: list[QWidget] = []
    for name, widget, secret in _secret_fields(qtbot, window, keep):
        if isinstance(widget, QLineEdit):
            widget.setText(secret)
            assert widget.echoMode() != QLineEdit.EchoMode.Normal or name.startswith(
                "share dialog: PaperKey"
            ), name
        copied = _try_to_copy(qtbot, widget, secret)
        scanner.scan_text("clipboard", copied, workflow="GUI secret fields", where=name)
        assert copied == SENTINEL, f"{name}: the clipboard now holds {copied!r}"
    assert scanner.hits == [], [str(hit) for hit in scanner.hits]
    record("secrets", "clipboard", len(scanner.hits), workflow="GUI secret fields")
