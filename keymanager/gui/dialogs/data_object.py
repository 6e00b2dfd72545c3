"""The "Data object" dialog: a data object's content as hex dump and, if it is text, as text.

The content is read on the worker thread (the PIN is asked for a protected object) and
handed to the dialog; nothing here talks to the card.  The dialog is read-only: it
offers no copying of its own (the text fields can be selected as usual).
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.workflows.key_objects import describe_bytes


class DataObjectDialog(QDialog):
    """Shows ``content`` of the data object ``label`` in file ``file``."""

    def __init__(
        self, label: str, file: int | None, content: bytes, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.content = content
        self.setWindowTitle(f"Data object {label}")
        self.setObjectName("dataObjectDialog")
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        where = f"file {file:04X}" if file is not None else "no file"
        summary = QLabel(f"{label} ({where}): {len(content)} bytes")
        summary.setObjectName("dataObjectSummary")
        layout.addWidget(summary)
        dump, text = describe_bytes(content)
        self.tabs = QTabWidget()
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.hex_view = QPlainTextEdit(dump or "(empty)")
        self.hex_view.setObjectName("hexView")
        self.hex_view.setReadOnly(True)
        self.hex_view.setFont(fixed)
        self.hex_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_view = QPlainTextEdit(
            text if text is not None else "(not text: see the hex view)"
        )
        self.text_view.setObjectName("textView")
        self.text_view.setReadOnly(True)
        self.tabs.addTab(self.hex_view, "Hex")
        self.tabs.addTab(self.text_view, "Text")
        self.tabs.setTabEnabled(1, text is not None)
        if text is not None:
            self.tabs.setCurrentIndex(1)
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
