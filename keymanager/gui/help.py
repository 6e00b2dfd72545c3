"""Help → User guide (F1): the user guide, shown in the app.

The guide is ``docs/user-guide.md``: beside the package in a source checkout, or
installed with it as a data file (``<prefix>/share/doc/keymanager/user-guide.md`` from
the wheel or sdist, see ``pyproject.toml``).  It is shown as Markdown in a
:class:`QTextBrowser` (its screenshots load from the same folder), so F1 works without
a browser or network.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

GUIDE_NAME = "user-guide.md"


def user_guide_path() -> Path | None:
    """Where the user guide is (``None`` if this installation has none)."""
    package = Path(__file__).resolve().parents[1]
    installed = Path(sys.prefix) / "share" / "doc" / "keymanager"
    for folder in (package.parent / "docs", installed):
        if (folder / GUIDE_NAME).is_file():
            return folder / GUIDE_NAME
    return None


class UserGuideDialog(QDialog):
    """The user guide in a browser pane; links to other documents open in it too."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuide")
        self.setWindowTitle("keymanager — user guide")
        self.resize(900, 700)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setObjectName("userGuideText")
        self.browser.setOpenExternalLinks(True)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        path = user_guide_path()
        if path is None:
            self.browser.setPlainText(
                "The user guide is not installed with this copy of keymanager.  It is "
                "docs/user-guide.md in keymanager's source."
            )
            return
        self.browser.setSearchPaths([str(path.parent)])
        self.browser.setSource(QUrl.fromLocalFile(str(path)))
