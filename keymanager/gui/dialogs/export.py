"""The "Export" dialog: which encoding an exported certificate is written in.

PEM (Base64 between ``-----BEGIN …-----`` lines, what most tools read) or DER (the
binary form, e.g. for Windows' ``.cer``).  The file itself is asked next, by the area
module, and written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QButtonGroup, QDialog, QLabel, QRadioButton, QVBoxLayout, QWidget

from keymanager.gui.dialogs.parts import add_ok_cancel

CERTIFICATE_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("pem", "PEM (text, .pem / .crt)", "pem"),
    ("der", "DER (binary, .der / .cer)", "der"),
)
"""(format, label shown, file suffix)."""


class ExportDialog(QDialog):
    """Asks in which format ``what`` (e.g. "the certificate of key 3") is exported."""

    def __init__(
        self,
        what: str,
        formats: Sequence[tuple[str, str, str]] = CERTIFICATE_FORMATS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.formats = tuple(formats)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(f"Export {what}.  The file is chosen next.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.group = QButtonGroup(self)
        self.buttons_by_format: dict[str, QRadioButton] = {}
        for index, (name, label, _suffix) in enumerate(self.formats):
            button = QRadioButton(label)
            button.setObjectName(f"format_{name}")
            button.setChecked(index == 0)
            self.group.addButton(button, index)
            self.buttons_by_format[name] = button
            layout.addWidget(button)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Choose file…")

    def chosen_format(self) -> str:
        """The format chosen (``"pem"`` / ``"der"``)."""
        return self.formats[max(0, self.group.checkedId())][0]

    def suffix(self) -> str:
        """The file suffix of the chosen format."""
        return self.formats[max(0, self.group.checkedId())][2]
