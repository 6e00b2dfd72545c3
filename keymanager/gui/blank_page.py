"""The page a blank or uninitialised device shows instead of its details.

It says what the device is, what to do next, and offers "Initialise device…" (and
"Diagnose…" when something looks wrong) as buttons that run the same actions as the
menus.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

BLANK_TEXT = (
    "<h2>This device is not initialised</h2>"
    "<p>{name} holds no PIN, no key domain and no keys yet.  Before it can generate or "
    "import keys, a security officer initialises it: choose the user PIN, the SO-PIN "
    "(16 hexadecimal digits) and how many key domains the device has.</p>"
    "<p><b>Next:</b> press <i>Initialise device…</i> below (also in the Card menu). "
    "Keep the SO-PIN safe: it is needed to unblock the user PIN and to initialise the "
    "device again.</p>"
)


class BlankDevicePage(QWidget):
    """Guidance for an uninitialised device, with the buttons to act on it."""

    def __init__(self, run_action: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blankDevicePage")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setObjectName("blankDeviceText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.text)
        buttons = QHBoxLayout()
        self.initialise_button = QPushButton("Initialise device…")
        self.initialise_button.setObjectName("blankInitialise")
        self.initialise_button.clicked.connect(lambda: run_action("init-device"))
        self.diagnose_button = QPushButton("Diagnose…")
        self.diagnose_button.clicked.connect(lambda: run_action("diagnose"))
        buttons.addWidget(self.initialise_button)
        buttons.addWidget(self.diagnose_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def show_device(self, name: str) -> None:
        """Say which device this is (its name as confirmations give it)."""
        self.text.setText(BLANK_TEXT.format(name=name))
