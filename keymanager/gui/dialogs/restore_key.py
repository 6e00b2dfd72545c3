"""The "Restore key" dialog, shown once the ``.wky`` file is chosen: seal it or not.

It only collects the choice; the main window runs
:func:`keymanager.workflows.keys.restore_key` with ``seal`` on the worker thread, which
asks for the PIN and refreshes the outline afterwards.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

SEAL_TEXT = "The card must never export this key"
SEAL_TIP = (
    "The key gets an allowed-algorithm list without WRAP: the card itself refuses every "
    "later export (backup) of it.  This cannot be undone."
)


class RestoreKeyDialog(QDialog):
    """Restore ``path``: the file, and the "never export" checkbox."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setWindowTitle("Restore key")
        self.setObjectName("restoreKeyDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Restore the key backed up in {path.name} into a free key reference.  The "
            "card unwraps it under the key domain whose DKEK made the backup."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.seal_box = QCheckBox(SEAL_TEXT)
        self.seal_box.setObjectName("sealKey")
        self.seal_box.setToolTip(SEAL_TIP)
        layout.addWidget(self.seal_box)
        self.seal_note = QLabel(
            "Sealing a restored key asks for its key domain's DKEK shares: the backup is "
            "re-encoded on this computer with an algorithm list without WRAP."
        )
        self.seal_note.setWordWrap(True)
        self.seal_note.setEnabled(False)
        layout.addWidget(self.seal_note)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button: QPushButton = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Restore")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def seal(self) -> bool:
        """Whether the key is to be sealed."""
        return self.seal_box.isChecked()
