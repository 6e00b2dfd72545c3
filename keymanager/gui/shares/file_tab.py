"""Route 1 of the share dialog: a share file (``.pbe``) and its password.

:class:`FilePicker` (a path field with a Browse… button) is the n-of-m tab's too.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from keymanager.dkek.errors import DkekError
from keymanager.dkek.sharefile import read_share_file
from keymanager.gui.shares.common import BAD_COLOUR
from keymanager.workflows.interaction import FileShareInput


def share_file_problem(text: str) -> str | None:
    """Why ``text`` does not name a share file (``None``: it does)."""
    if not text.strip():
        return "Choose the share file (.pbe) or drop it here."
    path = Path(text.strip())
    if not path.is_file():
        return f"There is no file {path.name}."
    try:
        read_share_file(path)
    except OSError as error:
        return f"{path.name} cannot be read: {error.strerror or error}"
    except DkekError as error:
        return f"{path.name}: {error}"
    return None


class FilePicker(QWidget):
    """A path field with a Browse… button (share files)."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        self.edit.setPlaceholderText("share file (.pbe): choose or drop it here")
        self.edit.textChanged.connect(self.changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "DKEK share file", "", "DKEK share files (*.pbe);;All files (*)"
        )
        if path:
            self.edit.setText(path)

    @property
    def path(self) -> Path:
        return Path(self.edit.text().strip())

    def problem(self) -> str | None:
        return share_file_problem(self.edit.text())


class FileShareTab(QWidget):
    """Route 1: a share file and its password."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.file = FilePicker("shareFilePath")
        self.file.changed.connect(self.changed)
        form.addRow("Share file:", self.file)
        self.password = QLineEdit()
        self.password.setObjectName("sharePassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.textChanged.connect(self.changed)
        form.addRow("Password:", self.password)
        hint = QLabel(
            "The password is checked while the share is decrypted (a few seconds); the "
            "next custodian can already type meanwhile."
        )
        hint.setWordWrap(True)
        hint.setEnabled(False)
        form.addRow(hint)
        self.status = QLabel()
        self.status.setObjectName("shareFileStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.changed.connect(self._show_problem)

    def _show_problem(self) -> None:
        problem = self.file.problem() if self.file.edit.text().strip() else None
        self.status.setText(problem or "")
        self.status.setStyleSheet(f"color: {BAD_COLOUR};")

    def set_path(self, path: Path) -> None:
        self.file.edit.setText(str(path))

    def problem(self) -> str | None:
        problem = self.file.problem()
        if problem is None and not self.password.text():
            problem = "Enter the share file's password."
        return problem

    def take_input(self) -> FileShareInput:
        share_input = FileShareInput(self.file.path, bytearray(self.password.text().encode()))
        self.clear()
        return share_input

    def clear(self) -> None:
        self.password.clear()
        self.file.edit.clear()
