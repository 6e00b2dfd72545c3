"""The "Rename key domain" dialog: the label keymanager keeps for a key domain.

The label lives in keymanager's key-domain registry on the card
(:mod:`keymanager.card.domain_registry`, at most 64 bytes of UTF-8, no control
characters); the main window runs :func:`keymanager.workflows.key_domains.rename_domain`
with it on the worker thread, which asks for the PIN.  An empty label removes it.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.domain_registry import MAX_LABEL_BYTES
from keymanager.gui.dialogs.parts import add_ok_cancel, add_problem_label


def label_problem(text: str) -> str | None:
    """Why ``text`` cannot be a key-domain label (``None``: it can)."""
    if len(text.strip().encode()) > MAX_LABEL_BYTES:
        return f"A label has at most {MAX_LABEL_BYTES} bytes."
    if any(ord(c) < 0x20 for c in text):
        return "A label cannot hold control characters."
    return None


class RenameDomainDialog(QDialog):
    """Asks for the new label of key domain ``number`` (``current``: its label now)."""

    def __init__(
        self, number: int, current: str = "", description: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.number = number
        self.setWindowTitle(f"Rename key domain {number}")
        self.setObjectName("renameDomainDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Key domain {number}{': ' + description if description else ''}.\n"
            "The label is kept in keymanager's key-domain registry on the card (the user "
            "PIN is asked); every keymanager that reads this card shows it.  Leave it "
            "empty to remove the label."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.label_edit = QLineEdit(current)
        self.label_edit.setObjectName("domainLabel")
        self.label_edit.setPlaceholderText("e.g. Payments 2027")
        form.addRow("Label:", self.label_edit)
        layout.addLayout(form)
        self.problem_label = add_problem_label(layout)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Rename")
        self.label_edit.textChanged.connect(self._validate)
        self._validate()

    def _validate(self) -> None:
        problem = label_problem(self.label_edit.text())
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)

    def label(self) -> str:
        """The new label, trimmed (call after the dialog was accepted)."""
        return self.label_edit.text().strip()
