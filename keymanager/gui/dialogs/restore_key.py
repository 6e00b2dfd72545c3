"""The "Restore key" dialog, shown once the ``.wky`` file is chosen: seal it or not.

It only collects the choice; the main window runs
:func:`keymanager.workflows.keys.restore_key` with ``seal`` on the worker thread, which
asks for the PIN and refreshes the outline afterwards.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.parts import SEAL_TEXT, SEAL_TIP, add_ok_cancel, add_seal_box

__all__ = ["SEAL_TEXT", "SEAL_TIP", "RestoreKeyDialog"]


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
        self.seal_box = add_seal_box(layout)
        self.seal_note = QLabel(
            "Sealing a restored key asks for its key domain's DKEK shares: the backup is "
            "re-encoded on this computer with an algorithm list without WRAP."
        )
        self.seal_note.setWordWrap(True)
        self.seal_note.setEnabled(False)
        layout.addWidget(self.seal_note)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Restore")

    def seal(self) -> bool:
        """Whether the key is to be sealed."""
        return self.seal_box.isChecked()
