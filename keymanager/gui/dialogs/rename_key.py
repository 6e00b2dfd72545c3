"""The "Rename key" dialog: the label in the key's PKCS#15 description (``C4xx``).

The label is what OpenSC's PKCS#11 module shows as ``CKA_LABEL``: at most 255 bytes of
UTF-8, no control characters, not empty.  The area module runs
:func:`keymanager.workflows.key_objects.rename_key` with it on the worker thread, which
asks for the PIN.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from keymanager.gui.dialogs.parts import add_ok_cancel, add_problem_label
from keymanager.workflows.key_objects import label_problem


class RenameKeyDialog(QDialog):
    """Asks for the new label of key ``key_reference`` (``current``: its label now)."""

    def __init__(
        self, key_reference: int, current: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.key_reference = key_reference
        self.current = current
        self.setWindowTitle(f"Rename key {key_reference}")
        self.setObjectName("renameKeyDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Key {key_reference}: {current or '(no label)'}.\n"
            "The label is kept in the key's description on the card (the user PIN is "
            "asked); PKCS#11 applications show it too.  The key itself does not change."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.label_edit = QLineEdit(current)
        self.label_edit.setObjectName("keyLabel")
        form.addRow("New label:", self.label_edit)
        layout.addLayout(form)
        self.problem_label = add_problem_label(layout)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Rename")
        self.label_edit.textChanged.connect(self._validate)
        self._validate()

    def problem(self) -> str | None:
        """Why the label cannot be used (``None``: it can)."""
        text = self.label_edit.text()
        found = label_problem(text)
        if found is not None:
            return found[0].upper() + found[1:] + "."
        if text.strip() == self.current:
            return "That is the key's label already."
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)

    def label(self) -> str:
        """The new label, trimmed (call after the dialog was accepted)."""
        return self.label_edit.text().strip()
