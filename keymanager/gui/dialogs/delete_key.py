"""Deleting a key: the user confirms by typing the key's label.

:class:`DeleteKeyDialog` enables "Delete" only when the label typed equals the key's
label.  That typed label is the confirmation: :class:`LabelConfirmed` answers the
workflow's own destructive question with yes only when it names that very label (so
a card that changed meanwhile - another key at the reference - is asked about again).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.delegating import DelegatingInteraction
from keymanager.workflows.interaction import Interaction


class DeleteKeyDialog(QDialog):
    """Type the label of key ``key_reference`` to delete it."""

    def __init__(
        self, key_reference: int, label: str, what: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.key_reference = key_reference
        self.label = label
        self.setWindowTitle("Delete key")
        self.setObjectName("deleteKeyDialog")
        layout = QVBoxLayout(self)
        described = f"{label!r}" + (f" ({what})" if what else "")
        text = QLabel(
            f"Delete key {key_reference} {described} with its certificate?\n\n"
            "This cannot be undone: without a backup the key is gone for good.\n\n"
            "Type the key's label to confirm:"
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.entry = QLineEdit()
        self.entry.setObjectName("confirmLabel")
        self.entry.setPlaceholderText(label)
        layout.addWidget(self.entry)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button: QPushButton = self.buttons.addButton(
            "Delete key", QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.delete_button.setObjectName("deleteButton")
        self.delete_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.entry.textChanged.connect(self._validate)
        self._validate()

    @property
    def confirmed(self) -> bool:
        """Whether the label typed is the key's label (exactly)."""
        return self.entry.text() == self.label

    def _validate(self) -> None:
        self.delete_button.setEnabled(self.confirmed)

    def accept(self) -> None:
        if self.confirmed:
            super().accept()


class LabelConfirmed(DelegatingInteraction):
    """Says yes to the one destructive confirmation naming ``label``; the rest is passed on."""

    def __init__(self, inner: Interaction, label: str) -> None:
        super().__init__(inner)
        self.label = label
        self.used = False

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        if destructive and not self.used and repr(self.label) in message:
            self.used = True
            return True
        return super().confirm(message, destructive=destructive)
