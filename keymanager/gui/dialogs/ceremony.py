"""The share ceremony: the plan of a new DKEK share, and the sheets it hands out.

:class:`ShareCeremonyDialog` collects a
:class:`~keymanager.workflows.ceremony.ShareCreationPlan`: a share file protected by a
password (typed twice by the custodian, asked by the workflow) or by a random password
split n-of-m, and/or a PaperKey; optional PDFs of the PaperKey and of each fragment
(written by :mod:`keymanager.workflows.printable`, mode 0600).

:class:`SecretSheetDialog` shows one sheet (the PaperKey, or one custodian's n-of-m
fragment) once, with **Print…**, **Print preview…** and **Save as PDF…**.  The text is
shown in a label that cannot be selected (nothing goes to the clipboard).  Printing
hands the secret to the system's print spooler; the tooltip says so.
:class:`SheetInteraction` routes the workflow's ``show_secret`` calls to that dialog
on the GUI thread (the worker waits, and stops waiting when the job is cancelled).
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSizeF, Qt, Signal
from PySide6.QtGui import QFontDatabase, QPageSize, QTextDocument
from PySide6.QtPrintSupport import QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.nofm import MAX_TOTAL, MIN_THRESHOLD, MIN_TOTAL
from keymanager.gui.dialogs.delegating import DelegatingInteraction
from keymanager.gui.dialogs.files import file_dialog, print_dialog
from keymanager.gui.gui_interaction import DialogFactory, PromptBroker, PromptKind, PromptRequest
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.printable import write_text_pdf

PRINT_WARNING = (
    "Printing hands the sheet to the system's print spooler, which may keep a copy. "
    "Print only on a printer attached to this computer."
)


class Route:
    """The three choices of the ceremony dialog."""

    PASSWORD_FILE = "file-password"  # noqa: S105 - a name, not a password
    N_OF_M_FILE = "file-n-of-m"
    PAPERKEY = "paperkey"


class ShareCeremonyDialog(QDialog):
    """Collects the :class:`ShareCreationPlan` of a new DKEK share."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a DKEK share")
        self.setObjectName("shareCeremonyDialog")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A new random DKEK share for one custodian.  Every form is read back "
            "before the ceremony is called done; the share fingerprint tells the "
            "shares apart later."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.route_combo = QComboBox()
        self.route_combo.setObjectName("route")
        self.route_combo.addItem("Share file protected by a password", Route.PASSWORD_FILE)
        self.route_combo.addItem(
            "Share file, random password split n-of-m among custodians", Route.N_OF_M_FILE
        )
        self.route_combo.addItem("PaperKey only (four lines to write down)", Route.PAPERKEY)
        form.addRow("Save as:", self.route_combo)
        self.file_edit = QLineEdit()
        self.file_edit.setObjectName("shareFile")
        self.file_edit.setPlaceholderText("custodian-1.pbe")
        self.file_button = QPushButton("Browse…")
        self.file_button.clicked.connect(self._browse_file)
        form.addRow("Share file:", _row(self.file_edit, self.file_button))
        self.threshold_spin = QSpinBox()
        self.threshold_spin.setObjectName("threshold")
        self.threshold_spin.setRange(MIN_THRESHOLD, MAX_TOTAL)
        self.threshold_spin.setValue(2)
        self.total_spin = QSpinBox()
        self.total_spin.setObjectName("total")
        self.total_spin.setRange(MIN_TOTAL, MAX_TOTAL)
        self.total_spin.setValue(3)
        form.addRow("Fragments:", _row(self.threshold_spin, QLabel("needed of"), self.total_spin))
        self.show_fragments = QCheckBox("Show each fragment on screen, one custodian at a time")
        self.show_fragments.setChecked(True)
        form.addRow("", self.show_fragments)
        self.fragments_edit = QLineEdit()
        self.fragments_edit.setObjectName("fragmentsDir")
        self.fragments_edit.setPlaceholderText("optional: a folder for fragment-I-of-N.pdf")
        self.fragments_button = QPushButton("Browse…")
        self.fragments_button.clicked.connect(self._browse_fragments)
        form.addRow("Fragment PDFs:", _row(self.fragments_edit, self.fragments_button))
        self.paperkey_box = QCheckBox("Also as a PaperKey")
        self.paperkey_box.setObjectName("paperkey")
        form.addRow("", self.paperkey_box)
        self.show_paperkey = QCheckBox("Show the PaperKey on screen (with print and PDF export)")
        self.show_paperkey.setChecked(True)
        form.addRow("", self.show_paperkey)
        self.paperkey_pdf_edit = QLineEdit()
        self.paperkey_pdf_edit.setObjectName("paperkeyPdf")
        self.paperkey_pdf_edit.setPlaceholderText("optional: paperkey.pdf")
        self.paperkey_pdf_button = QPushButton("Browse…")
        self.paperkey_pdf_button.clicked.connect(self._browse_paperkey_pdf)
        form.addRow("PaperKey PDF:", _row(self.paperkey_pdf_edit, self.paperkey_pdf_button))
        self.card_random = QCheckBox("Random bytes from the card (else from this computer)")
        self.card_random.setObjectName("cardRandom")
        self.card_random.setChecked(True)
        form.addRow("", self.card_random)
        layout.addLayout(form)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("problem")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = self.buttons.addButton(
            "Create share", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (
            self.route_combo.currentIndexChanged,
            self.file_edit.textChanged,
            self.threshold_spin.valueChanged,
            self.total_spin.valueChanged,
            self.show_fragments.toggled,
            self.fragments_edit.textChanged,
            self.paperkey_box.toggled,
            self.show_paperkey.toggled,
            self.paperkey_pdf_edit.textChanged,
        ):
            signal.connect(self._validate)
        self._validate()

    @property
    def route(self) -> str:
        return str(self.route_combo.currentData())

    def select_route(self, route: str) -> None:
        self.route_combo.setCurrentIndex(self.route_combo.findData(route))

    def plan(self) -> ShareCreationPlan:
        """The plan as chosen.  :raises ValueError: an incomplete or inconsistent choice."""
        route = self.route
        paperkey = route == Route.PAPERKEY or self.paperkey_box.isChecked()
        share_file: Path | None = None
        if route != Route.PAPERKEY:
            text = self.file_edit.text().strip()
            if not text:
                raise ValueError("choose the share file to write")
            share_file = Path(text).expanduser()
        fragments = self.fragments_edit.text().strip()
        paperkey_pdf = self.paperkey_pdf_edit.text().strip()
        return ShareCreationPlan(
            share_file=share_file,
            protection=FileProtection.N_OF_M
            if route == Route.N_OF_M_FILE
            else FileProtection.PASSWORD,
            threshold=self.threshold_spin.value(),
            total=self.total_spin.value(),
            paperkey=paperkey,
            paperkey_pdf=Path(paperkey_pdf).expanduser() if paperkey and paperkey_pdf else None,
            show_paperkey=self.show_paperkey.isChecked(),
            show_fragments=self.show_fragments.isChecked(),
            fragment_pdf_dir=Path(fragments).expanduser()
            if route == Route.N_OF_M_FILE and fragments
            else None,
        )

    def _validate(self) -> None:
        route = self.route
        file_route = route != Route.PAPERKEY
        n_of_m = route == Route.N_OF_M_FILE
        file_widgets: tuple[QWidget, ...] = (self.file_edit, self.file_button)
        for widget in file_widgets:
            widget.setEnabled(file_route)
        n_of_m_widgets: tuple[QWidget, ...] = (
            self.threshold_spin,
            self.total_spin,
            self.show_fragments,
            self.fragments_edit,
            self.fragments_button,
        )
        for widget in n_of_m_widgets:
            widget.setEnabled(n_of_m)
        self.paperkey_box.setEnabled(file_route)
        paperkey = not file_route or self.paperkey_box.isChecked()
        paperkey_widgets: tuple[QWidget, ...] = (
            self.show_paperkey,
            self.paperkey_pdf_edit,
            self.paperkey_pdf_button,
        )
        for widget in paperkey_widgets:
            widget.setEnabled(paperkey)
        try:
            self.plan()
        except ValueError as error:
            text = str(error)
            self.problem_label.setText(text[0].upper() + text[1:] + ".")
            self.ok_button.setEnabled(False)
        else:
            self.problem_label.setText("")
            self.ok_button.setEnabled(True)

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()

    def _browse_file(self) -> None:
        file_dialog(
            self,
            "Share file",
            lambda path: self.file_edit.setText(str(path)),
            save=True,
            name_filter="DKEK share files (*.pbe)",
            default_suffix="pbe",
        )

    def _browse_fragments(self) -> None:
        file_dialog(
            self,
            "Folder for the fragment PDFs",
            lambda path: self.fragments_edit.setText(str(path)),
            save=False,
            directory=True,
        )

    def _browse_paperkey_pdf(self) -> None:
        file_dialog(
            self,
            "PaperKey PDF",
            lambda path: self.paperkey_pdf_edit.setText(str(path)),
            save=True,
            name_filter="PDF (*.pdf)",
            default_suffix="pdf",
        )


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


# --- the sheet shown once, printable ----------------------------------------------------


def sheet_document(title: str, text: str) -> QTextDocument:
    """The sheet as a printable document: the title, then the text in a fixed font."""
    document = QTextDocument()
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(11)
    document.setDefaultFont(font)
    document.setHtml(
        f"<h2>{html.escape(title)}</h2><pre style='font-size: 11pt'>{html.escape(text)}</pre>"
    )
    return document


class SecretSheetDialog(QDialog):
    """One sheet (PaperKey or fragment) shown once, with print and PDF export."""

    pdf_saved = Signal(str)

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._text = text
        self.setWindowTitle(title)
        self.setObjectName("secretSheetDialog")
        layout = QVBoxLayout(self)
        note = QLabel("Write this down now; it is shown only once and never saved.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.sheet = QLabel(text)
        self.sheet.setObjectName("sheet")
        self.sheet.setTextFormat(Qt.TextFormat.PlainText)
        self.sheet.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.sheet.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.sheet.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sheet.setFrameShape(QLabel.Shape.StyledPanel)
        self.sheet.setMargin(12)
        layout.addWidget(self.sheet)
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
        self.pdf_button.setToolTip(
            "A one-page PDF (readable only by you, mode 0600); keep it offline."
        )
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
        self.preview_dialog: QPrintPreviewDialog | None = None
        self.save_dialog: QFileDialog | None = None
        """The last "Save as PDF" file dialog (tests fill it in)."""

    def document(self) -> QTextDocument:
        return sheet_document(self.title, self._text)

    def print_to(self, printer: QPrinter) -> None:
        """Print the sheet on ``printer`` (a real one, or a PDF file)."""
        printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        document = self.document()
        document.setPageSize(QSizeF(printer.pageRect(QPrinter.Unit.Point).size()))
        document.print_(printer)

    def ask_print(self) -> None:
        print_dialog(self, self.print_to)

    def preview(self) -> QPrintPreviewDialog:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintPreviewDialog(printer, self)
        dialog.setObjectName("printPreview")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.paintRequested.connect(self.print_to)
        self.preview_dialog = dialog
        dialog.open()
        return dialog

    def save_pdf(self, path: Path) -> Path:
        """Write the sheet as a one-page PDF (keymanager's own writer, mode 0600)."""
        write_text_pdf(path, self.title, self._text, overwrite=True)
        self.pdf_saved.emit(str(path))
        return path

    def ask_pdf_path(self) -> None:
        self.save_dialog = file_dialog(
            self,
            "Save the sheet as PDF",
            self.save_pdf,
            save=True,
            name_filter="PDF (*.pdf)",
            default_suffix="pdf",
        )

    def done(self, code: int) -> None:
        self._text = ""
        self.sheet.clear()
        super().done(code)


class SheetDialogFactory(DialogFactory):
    """The broker's dialogs, plus :class:`SecretSheetDialog` for ``SHOW_SHEET``.

    Sheets are asked through the :class:`PromptBroker` like every other question: shown
    on the GUI thread, announced on ``dialog_opened``, withdrawn when the job is
    cancelled and closed by :meth:`PromptBroker.close_all`.
    """

    def _open_show_sheet(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        payload: dict[str, Any] = request.payload
        dialog = SecretSheetDialog(str(payload["title"]), str(payload["text"]), parent)
        dialog.finished.connect(lambda _code: request.reply(None))
        return dialog


class SheetInteraction(DelegatingInteraction):
    """Shows sheets (``show_secret``) in :class:`SecretSheetDialog`; the rest is passed on.

    The broker must have been made with a :class:`SheetDialogFactory`.
    """

    def __init__(
        self, inner: Interaction, broker: PromptBroker, cancel: threading.Event | None
    ) -> None:
        super().__init__(inner)
        self.broker = broker
        self.cancel = cancel

    def show_secret(self, title: str, text: str) -> None:
        self.check_cancelled()
        request = PromptRequest(PromptKind.SHOW_SHEET, {"title": title, "text": text})
        self.broker.ask(request, self.cancel)


__all__ = [
    "PRINT_WARNING",
    "Route",
    "SecretSheetDialog",
    "ShareCeremonyDialog",
    "SheetDialogFactory",
    "SheetInteraction",
    "sheet_document",
]
