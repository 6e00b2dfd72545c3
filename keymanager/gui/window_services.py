"""The main window's services to the area modules: dialogs, messages, results.

:class:`HostServices` is a part of :class:`~keymanager.gui.main_window.MainWindow`
and implements :class:`~keymanager.gui.areas.host.AreaHost`: open a dialog
window-modal, ask for a file (remembering the folder), tell a result or an error
(a headline and what to do; details behind a button), select a node after the next
refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from keymanager.gui import settings
from keymanager.gui.areas.keys import domain_choices
from keymanager.gui.dialogs.files import file_dialog
from keymanager.gui.messages import (
    ErrorDialog,
    UserMessage,
    describe_error,
)
from keymanager.gui.outline_model import OutlineModel
from keymanager.workflows.interaction import Cancelled
from keymanager.workflows.outline import (
    Outline,
)

if TYPE_CHECKING:
    pass


logger = logging.getLogger(__name__)


class HostServices(QMainWindow):
    """The main window's base: its signals and its services to the area modules."""

    outline_loaded = Signal(object)
    """The outline of the current card was read (the :class:`Outline`)."""
    outline_failed = Signal(object)
    """Reading the card failed (the error)."""
    message_shown = Signal(object)
    """A :class:`~keymanager.gui.messages.UserMessage` was shown (dialog or status bar)."""
    dialog_opened = Signal(object)
    """Each dialog the window opens itself (action dialogs, file dialogs, the audit view)."""
    job_done = Signal(str, object)
    """A submitted job ended: its title and its result or error (after the callbacks)."""

    model: OutlineModel
    last_message: UserMessage | None
    _select_next: str | None

    # --- messages ------------------------------------------------------------------

    def _show_info(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_error(self, error: BaseException, action: str = "") -> UserMessage:
        """Tell the user about ``error`` (a dialog; a status message for cancels)."""
        message = describe_error(error, action)
        self.last_message = message
        if isinstance(error, Cancelled):
            self.statusBar().showMessage(f"{action or 'The operation'} was cancelled", 8000)
            self.message_shown.emit(message)
            return message
        self._present(message)
        return message

    def _present(self, message: UserMessage) -> ErrorDialog:
        box = ErrorDialog(message, self)
        box.open()
        self.message_shown.emit(message)
        return box

    def _show_result(self, title: str, lines: Sequence[str]) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, title, parent=self)
        box.setObjectName("resultDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText("\n".join(lines))
        box.addButton(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.dialog_opened.emit(box)
        return box

    # --- dialogs of the card actions ---------------------------------------------------

    def _open_dialog(self, dialog: QDialog, on_accept: Callable[[], None]) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(on_accept)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _file_dialog(
        self, title: str, on_chosen: Callable[[Path], object], **options: object
    ) -> None:
        dialog = file_dialog(self, title, on_chosen, **options)  # type: ignore[arg-type]
        self.dialog_opened.emit(dialog)

    # --- the host of the area modules (keymanager.gui.areas.host.AreaHost) --------------

    def open_dialog(self, dialog: QDialog, on_accept: Callable[[], None]) -> QDialog:
        """Open ``dialog`` window-modal (deleted on close); ``on_accept`` runs on OK."""
        return self._open_dialog(dialog, on_accept)

    def open_file_dialog(
        self,
        title: str,
        on_chosen: Callable[[Path], object],
        *,
        save: bool,
        name_filter: str = "",
        default_name: str = "",
        default_suffix: str = "",
        setting: str = "",
    ) -> None:
        """Ask for a file (``setting``: the remembered folder's name)."""

        def chosen(path: Path) -> object:
            if setting:
                settings.remember_folder(setting, path)
            return on_chosen(path)

        dialog = file_dialog(
            self,
            title,
            chosen,
            save=save,
            name_filter=name_filter,
            default_name=default_name,
            default_suffix=default_suffix,
        )
        folder = settings.last_folder(setting) if setting else ""
        if folder:
            dialog.setDirectory(folder)
            if default_name:
                dialog.selectFile(default_name)
        self.dialog_opened.emit(dialog)

    def announce_dialog(self, widget: QWidget) -> None:
        """Tell listeners (tests, screenshots) that ``widget`` was opened."""
        self.dialog_opened.emit(widget)

    def select_next(self, node_id: str) -> None:
        """Select ``node_id`` once the outline is read again."""
        self._select_next = node_id

    def show_result(self, title: str, lines: Sequence[str]) -> QMessageBox:
        """Tell the user what a workflow did."""
        return self._show_result(title, lines)

    def show_status(self, text: str) -> None:
        """A short message in the status bar."""
        self.statusBar().showMessage(text, 8000)

    def current_outline(self) -> Outline | None:
        """The outline of the current card."""
        return self.model.outline

    def dialog_parent(self) -> QWidget:
        """Dialogs open on the window."""
        return self

    def domain_choices(self) -> list[tuple[int, str]]:
        """The DKEK key domains a new key can be generated in."""
        return domain_choices(self.model.outline)

    def card_name(self) -> str:
        outline = self.model.outline
        if outline is None:
            return "the card"
        device = outline.device
        label = device.detail("Label")
        name = f"“{label}”" if label and label != "(none)" else "the SmartCard-HSM"
        serial = device.detail("Serial") or "unknown"
        return f"{name} (serial {serial}) in {outline.reader}"
