"""Pieces the key and key-domain dialogs share: the seal checkbox, the problem line, OK/Cancel.

One place for the words of "The card must never export this key" and for the button row,
so each dialog only says what its OK button is called.
"""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QCheckBox, QDialog, QDialogButtonBox, QLabel, QPushButton

SEAL_TEXT = "The card must never export this key"
SEAL_TIP = (
    "The key gets an allowed-algorithm list without WRAP: the card itself refuses every "
    "later export (backup) of it.  This cannot be undone."
)


def add_seal_box(layout: QBoxLayout) -> QCheckBox:
    """The "never export" checkbox (object name ``sealKey``), added to ``layout``."""
    box = QCheckBox(SEAL_TEXT)
    box.setObjectName("sealKey")
    box.setToolTip(SEAL_TIP)
    layout.addWidget(box)
    return box


def add_problem_label(layout: QBoxLayout) -> QLabel:
    """The line that says why OK is disabled (object name ``problem``)."""
    label = QLabel()
    label.setObjectName("problem")
    label.setWordWrap(True)
    layout.addWidget(label)
    return label


def add_ok_cancel(
    dialog: QDialog, layout: QBoxLayout, ok_text: str
) -> tuple[QDialogButtonBox, QPushButton]:
    """OK (named ``ok_text``) and Cancel, wired to accept and reject."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok_button.setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return buttons, ok_button
