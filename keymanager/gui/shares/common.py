"""What the parts of the share dialog share: colours, marks, the answer protocol and a
line edit for secrets that must stay readable while typed."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QClipboard,
    QContextMenuEvent,
    QFont,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
)
from PySide6.QtWidgets import QLineEdit, QWidget

from keymanager.workflows.interaction import (
    FileShareInput,
    NofMShareInput,
    ShareInput,
    ShareRoute,
)

OK_COLOUR = "#1b7f3b"
BAD_COLOUR = "#b00020"
PENDING_COLOUR = "#777777"
MATCH_MARK = "\u2714 matches the card"
MISMATCH_MARK = "\u2718 differs from the card"

ROUTE_NAMES = {
    ShareRoute.FILE: "share file",
    ShareRoute.N_OF_M: "n-of-m",
    ShareRoute.PAPERKEY: "PaperKey",
}
"""How each route is named in the dialog's list and on the summary."""


class Answer(Protocol):
    """What the dialog answers a worker's question with (a ``PromptRequest``)."""

    def reply(self, value: object) -> None: ...

    def fail(self, error: BaseException) -> None: ...

    @property
    def answered(self) -> bool: ...


def monospace_font() -> QFont:
    """The fixed-width font of PaperKey lines and KCVs."""
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


def wipe_input(share_input: ShareInput) -> None:
    """Overwrite the secrets of a share input that will not be handed over."""
    if isinstance(share_input, FileShareInput):
        share_input.password[:] = bytes(len(share_input.password))
    elif isinstance(share_input, NofMShareInput):
        share_input.fragments.clear()
    else:
        share_input.lines.clear()


def describe_input(share_input: ShareInput) -> str:
    """What a share input is, without its secret (for the dialog's list)."""
    if isinstance(share_input, FileShareInput):
        return f"share file {share_input.path.name}"
    if isinstance(share_input, NofMShareInput):
        return f"n-of-m, share file {share_input.path.name}, {len(share_input.fragments)} fragments"
    return "PaperKey"


class SecretLineEdit(QLineEdit):
    """A line edit for a secret that must stay readable while typed (a PaperKey line).

    The text cannot leave through the clipboard: the copy and cut shortcuts are
    swallowed, there is no context menu and no drag, and what Qt puts on X11's
    selection clipboard when text is selected is taken off it again at once.  Text can
    still be selected, so a mistyped group can be selected and typed over.  Fields that
    need not be read back use an echo mode other than ``Normal``, where Qt itself
    refuses to copy.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.selectionChanged.connect(self._drop_selection_clipboard)

    def _drop_selection_clipboard(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard.supportsSelection() and clipboard.ownsSelection():
            clipboard.clear(QClipboard.Mode.Selection)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy) or event.matches(
            QKeySequence.StandardKey.Cut
        ):
            event.accept()
            return
        super().keyPressEvent(event)
        self._drop_selection_clipboard()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        self._drop_selection_clipboard()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        super().mouseDoubleClickEvent(event)
        self._drop_selection_clipboard()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)  # a triple click selects the line
        self._drop_selection_clipboard()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        event.accept()
