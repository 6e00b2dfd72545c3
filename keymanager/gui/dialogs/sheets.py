"""The secret sheets of a share ceremony on screen: hand-over, print, preview, PDF.

:class:`SecretSheetDialog` shows one sheet (the PaperKey, or one custodian's n-of-m
fragment) once.  A fragment opens on a hand-over screen that holds no secret
("Fragment 2 of 3 … give the screen to custodian 2, then press Show"), so one custodian
never sees another's fragment; the secret is put on screen only when **Show** is
pressed.  The sheet then offers **Print…**, **Print preview…** and **Save as PDF…**
(layout and file handling in :mod:`.printing`).  The text is shown in a label that
cannot be selected (nothing goes to the clipboard).  When a print step fails the
dialog stays open with the sheet, says what failed and lets the user try again or
save the sheet another way.

:class:`SheetInteraction` routes the workflow's sheets (``show_sheet``, and
``show_secret``) to that dialog through the :class:`PromptBroker`;
:class:`SheetDialogFactory` makes it, and asks a new share-file password in
:class:`SharePasswordDialog`, which refuses a too-short password as it is typed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.errors import WeakPassword
from keymanager.dkek.sharefile import check_new_password
from keymanager.gui.dialogs.delegating import DelegatingInteraction
from keymanager.gui.dialogs.files import file_dialog
from keymanager.gui.dialogs.printing import (
    PrintFailed,
    SheetPreviewDialog,
    SheetPrintDialog,
    print_sheet,
)
from keymanager.gui.gui_interaction import DialogFactory, PromptBroker, PromptKind, PromptRequest
from keymanager.gui.pin_dialog import PinDialog
from keymanager.workflows.ceremony import password_strength_hint
from keymanager.workflows.interaction import (
    Cancelled,
    Interaction,
    SecretKind,
    SecretRequest,
)
from keymanager.workflows.printable import PageOverflow, write_text_pdf
from keymanager.workflows.share_sheets import SecretSheet

PRINT_WARNING = (
    "Printing hands the sheet to the system's print spooler, which may keep a copy. "
    "Print only on a printer attached to this computer."
)
PROBLEM_STYLE = "color: #b00020;"
PRINT_ERRORS = (PrintFailed, OSError, PageOverflow)


class SecretSheetDialog(QDialog):
    """One sheet (PaperKey or fragment) shown once, with print and PDF export.

    :param handover: a hand-over screen shown first; the sheet appears on **Show**.
    :param pdf: a PDF of this sheet the workflow writes as well (the note says so).
    :param problem: why the workflow's PDF of this sheet could not be written.
    """

    pdf_saved = Signal(str)

    def __init__(
        self,
        title: str,
        text: str,
        parent: QWidget | None = None,
        *,
        handover: str | None = None,
        pdf: Path | None = None,
        problem: str | None = None,
        file_name: str = "sheet.pdf",
    ) -> None:
        super().__init__(parent)
        self.title = title
        self._text = text
        self.file_name = file_name
        self.setWindowTitle(title)
        self.setObjectName("secretSheetDialog")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages)

        self.handover_page = QWidget()
        handover_layout = QVBoxLayout(self.handover_page)
        self.handover_label = QLabel(handover or "")
        self.handover_label.setObjectName("handover")
        self.handover_label.setWordWrap(True)
        handover_layout.addWidget(self.handover_label)
        handover_layout.addStretch(1)
        self.show_button = QPushButton("Show")
        self.show_button.setObjectName("showButton")
        self.show_button.clicked.connect(self.reveal)
        handover_layout.addWidget(self.show_button, 0, Qt.AlignmentFlag.AlignRight)
        self.pages.addWidget(self.handover_page)

        sheet_page = QWidget()
        sheet_layout = QVBoxLayout(sheet_page)
        sheet_layout.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel(self.note_text(pdf, problem))
        self.note.setObjectName("note")
        self.note.setWordWrap(True)
        sheet_layout.addWidget(self.note)
        self.problem_label = QLabel(problem or "")
        self.problem_label.setObjectName("problem")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        self.problem_label.setVisible(bool(problem))
        sheet_layout.addWidget(self.problem_label)
        self.sheet = QLabel()
        self.sheet.setObjectName("sheet")
        self.sheet.setTextFormat(Qt.TextFormat.PlainText)
        self.sheet.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.sheet.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.sheet.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sheet.setFrameShape(QLabel.Shape.StyledPanel)
        self.sheet.setMargin(12)
        sheet_layout.addWidget(self.sheet)
        self.pages.addWidget(sheet_page)
        self.sheet_page = sheet_page

        self.buttons = QDialogButtonBox()
        self.print_button = self.buttons.addButton("Print…", QDialogButtonBox.ButtonRole.ActionRole)
        self.preview_button = self.buttons.addButton(
            "Print preview…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.pdf_button = self.buttons.addButton(
            "Save as PDF…", QDialogButtonBox.ButtonRole.ActionRole
        )
        for button in (self.print_button, self.preview_button):
            button.setToolTip(PRINT_WARNING)
        self.pdf_button.setToolTip("A PDF readable only by you (mode 0600); keep it offline.")
        self.done_button = self.buttons.addButton(
            "I have written it down", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.done_button.setObjectName("doneButton")
        # ActionRole buttons leave the dialog open (only "written down" accepts it)
        self.print_button.clicked.connect(self.ask_print)
        self.preview_button.clicked.connect(self.preview)
        self.pdf_button.clicked.connect(self.ask_pdf_path)
        self.buttons.accepted.connect(self.accept)
        layout.addWidget(self.buttons)
        self.preview_dialog: SheetPreviewDialog | None = None
        self.print_dialog: SheetPrintDialog | None = None
        self.save_dialog: QFileDialog | None = None
        """The last "Save as PDF" file dialog (tests fill it in)."""
        self.error_box: QMessageBox | None = None
        """The last print error shown (the sheet stays open)."""
        self.revealed = False
        if handover:
            self.pages.setCurrentWidget(self.handover_page)
            self.buttons.setEnabled(False)
            self.show_button.setDefault(True)
        else:
            self.reveal()

    @staticmethod
    def note_text(pdf: Path | None, problem: str | None) -> str:
        if problem:
            return (
                "Its PDF could not be written.  Write the sheet down now, print it or "
                "save it as a PDF from here: it is shown only once."
            )
        if pdf is not None:
            return (
                f"It is shown here only once.  keymanager also writes it to {pdf} "
                "(readable only by you); keep that file offline, or delete it once printed."
            )
        return (
            "Write this down now, or print it or save it as a PDF from here: it is shown "
            "only once, and keymanager keeps no copy."
        )

    def reveal(self) -> None:
        """Put the sheet on screen (after the hand-over)."""
        self.sheet.setText(self._text)
        self.pages.setCurrentWidget(self.sheet_page)
        self.buttons.setEnabled(True)
        self.done_button.setDefault(True)
        self.revealed = True

    def print_to(self, printer: QPrinter) -> Path | None:
        """Print the sheet on ``printer`` (a file target is written mode 0600).

        :raises PrintFailed, OSError: printing failed (:meth:`print_reporting` reports it).
        """
        return print_sheet(printer, self.title, self._text)

    def print_reporting(self, printer: QPrinter) -> None:
        """:meth:`print_to`, with a failure reported and the sheet left open."""
        try:
            path = self.print_to(printer)
        except PRINT_ERRORS as error:
            self.report_failure("Printing", error)
        else:
            if path is not None:
                self._saved(path)

    def ask_print(self) -> SheetPrintDialog:
        dialog = SheetPrintDialog(self.print_reporting, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.print_dialog = dialog
        dialog.show()
        return dialog

    def preview(self) -> SheetPreviewDialog:
        dialog = SheetPreviewDialog(self.print_reporting, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.preview_dialog = dialog
        dialog.open()
        return dialog

    def save_pdf(self, path: Path) -> Path:
        """Write the sheet as a one-page PDF (keymanager's own writer, mode 0600)."""
        write_text_pdf(path, self.title, self._text, overwrite=True)
        self._saved(path)
        return path

    def save_reporting(self, path: Path) -> None:
        try:
            self.save_pdf(path)
        except PRINT_ERRORS as error:
            self.report_failure("Saving the PDF", error)

    def ask_pdf_path(self) -> None:
        self.save_dialog = file_dialog(
            self,
            "Save the sheet as PDF",
            self.save_reporting,
            save=True,
            name_filter="PDF (*.pdf)",
            default_suffix="pdf",
            default_name=self.file_name,
        )

    def _saved(self, path: Path) -> None:
        self.note.setText(
            f"Saved to {path} (readable only by you); keep it offline.  It is shown here only once."
        )
        self.pdf_saved.emit(str(path))

    def report_failure(self, step: str, error: BaseException) -> None:
        """Tell the user ``step`` failed; the sheet stays on screen to retry or save."""
        reason = str(error) or type(error).__name__
        text = (
            f"{step} failed: {reason}.  The sheet is still shown: write it down, or try "
            "printing or saving it again."
        )
        self.problem_label.setText(text)
        self.problem_label.setVisible(True)
        box = QMessageBox(
            QMessageBox.Icon.Warning, f"{step} failed", text, QMessageBox.StandardButton.Ok, self
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setObjectName("printError")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    def done(self, code: int) -> None:
        self._text = ""
        self.sheet.clear()
        preview = self.preview_dialog
        if preview is not None and _alive(preview):
            preview.close()  # its pages are pictures of the sheet
        super().done(code)


def _alive(widget: QWidget) -> bool:
    return bool(shiboken6.isValid(widget))


class SharePasswordDialog(PinDialog):
    """A new share-file password: too short is refused as typed, the reason under the field."""

    def __init__(self, request: SecretRequest, parent: QWidget | None = None) -> None:
        self.reason_label = QLabel()
        super().__init__(request, parent)
        self.reason_label.setObjectName("passwordReason")
        self.reason_label.setWordWrap(True)
        self.setMinimumWidth(480)
        form = self.findChild(QFormLayout)
        assert form is not None
        row, _role = cast(tuple[int, object], form.getWidgetPosition(self.entry))
        form.insertRow(row + 1, "", self.reason_label)
        self._check()

    def problem(self) -> str | None:
        text = self.entry.text()
        try:
            check_new_password(text.encode("utf-8"))
        except WeakPassword as error:
            reason = str(error)
            return reason[0].upper() + reason[1:] + "."
        return super().problem()

    def _check(self) -> None:
        super()._check()
        text = self.entry.text()
        if not text:
            self.reason_label.setText("")
            return
        try:
            check_new_password(text.encode("utf-8"))
        except WeakPassword as error:
            self.reason_label.setStyleSheet(PROBLEM_STYLE)
            self.reason_label.setText(f"Too short: {error}.")
            self.problem_label.setText("")  # said beside the field already
        else:
            self.reason_label.setStyleSheet("")
            self.reason_label.setText(f"Strength: {password_strength_hint(text.encode('utf-8'))}.")


class SheetDialogFactory(DialogFactory):
    """The broker's dialogs, plus :class:`SecretSheetDialog` for ``SHOW_SHEET`` and
    :class:`SharePasswordDialog` for a new share-file password.

    Sheets are asked through the :class:`PromptBroker` like every other question: shown
    on the GUI thread, announced on ``dialog_opened``, withdrawn when the job is
    cancelled and closed by :meth:`PromptBroker.close_all`.  A sheet closed before its
    hand-over screen was passed (**Show**) cancels the job: nobody has it.
    """

    def _open_show_sheet(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        payload: dict[str, Any] = request.payload
        sheet: SecretSheet = payload["sheet"]
        dialog = SecretSheetDialog(
            sheet.title,
            sheet.text,
            parent,
            handover=sheet.handover,
            pdf=sheet.pdf,
            problem=sheet.problem,
            file_name=sheet.file_name,
        )

        def finished(_code: int) -> None:
            if dialog.revealed:
                request.reply(None)
            else:
                request.fail(Cancelled("the sheet was closed before it was shown"))

        dialog.finished.connect(finished)
        return dialog

    def _open_secret(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        secret_request: SecretRequest = request.payload["request"]
        if secret_request.kind is not SecretKind.NEW_SHARE_PASSWORD:
            return super()._open_secret(request, parent)
        dialog = SharePasswordDialog(secret_request, parent)

        def finished(code: int) -> None:
            secret = dialog.take_secret()
            if code == QDialog.DialogCode.Accepted and secret is not None:
                request.reply(secret)
            else:
                request.fail(Cancelled("the password was not entered"))

        dialog.finished.connect(finished)
        return dialog


class SheetInteraction(DelegatingInteraction):
    """Shows sheets in :class:`SecretSheetDialog`; the rest is passed on.

    A :class:`~keymanager.workflows.share_sheets.SheetViewer`.  The broker must have
    been made with a :class:`SheetDialogFactory`.
    """

    def __init__(
        self, inner: Interaction, broker: PromptBroker, cancel: threading.Event | None
    ) -> None:
        super().__init__(inner)
        self.broker = broker
        self.cancel = cancel

    def show_sheet(self, sheet: SecretSheet) -> None:
        self.check_cancelled()
        self.broker.ask(PromptRequest(PromptKind.SHOW_SHEET, {"sheet": sheet}), self.cancel)

    def show_secret(self, title: str, text: str) -> None:
        self.show_sheet(SecretSheet(title, text))


__all__ = [
    "PRINT_WARNING",
    "SecretSheetDialog",
    "SharePasswordDialog",
    "SheetDialogFactory",
    "SheetInteraction",
]
