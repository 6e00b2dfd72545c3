"""The summary page at the end of a share ceremony, to print or save as PDF.

It says which key domain the shares were for, the KCV they give beside the card's,
every share handed over (number, route, fingerprint, accepted or refused and why)
and when the ceremony began and ended.  It holds no secret (fingerprints and KCVs
only), but it is a record of a key ceremony: the PDF is written atomically with mode
0600 like every other file of a ceremony (:func:`write_private_file`), rendered in
memory first so that no partial file is left behind.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.fileio import write_private_file
from keymanager.gui.shares.common import ROUTE_NAMES
from keymanager.gui.shares.progress import card_kcv_text
from keymanager.gui.shares.session import CeremonyLog, EntryState


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def kcv_verdict(log: CeremonyLog) -> str:
    """How the shares' KCV compares with the card's, in words."""
    matches = log.kcv_matches
    if matches is True:
        return "matches the card"
    if matches is False:
        return "differs from the card: nothing is imported"
    outstanding = log.total - log.shares_accepted
    if outstanding > 0:
        return f"{outstanding} share(s) still outstanding"
    if log.into_card:
        return "the key domain is complete on the card"
    return "compared on the card after the PIN is verified"


def summary_title(log: CeremonyLog) -> str:
    domain = f"key domain {log.domain}" if log.domain is not None else "a DKEK"
    return f"DKEK share ceremony for {domain}"


def summary_html(log: CeremonyLog) -> str:
    """The summary as HTML (for the page, the printer and the PDF)."""
    rows = []
    for entry in log.entries:
        state = entry.state_text
        colour = "#b00020" if entry.state is EntryState.REFUSED else "#000000"
        rows.append(
            "<tr>"
            f"<td>{entry.number} of {entry.total}</td>"
            f"<td>{escape(ROUTE_NAMES[entry.route])}</td>"
            f"<td><tt>{escape(entry.fingerprint or '-')}</tt></td>"
            f'<td style="color: {colour};">{escape(state)}</td>'
            f"<td>{_time(entry.handed_over_at)}</td>"
            "</tr>"
        )
    card_kcv = card_kcv_text(log)
    domain = str(log.domain) if log.domain is not None else "-"
    shares = f"{len(log.accepted)} accepted, {len(log.refused)} refused"
    if log.already_on_card:
        shares += f"; {log.already_on_card} on the card before"
    shares += f"; {log.shares_accepted} of {log.total} in"
    return (
        f"<h2>{escape(summary_title(log))}</h2>"
        '<table cellspacing="0" cellpadding="3">'
        f"<tr><td><b>Key domain</b></td><td>{escape(domain)}</td></tr>"
        f"<tr><td><b>KCV of the shares</b></td><td><tt>{escape(log.kcv_text())}</tt></td></tr>"
        f"<tr><td><b>KCV on the card</b></td><td><tt>{escape(card_kcv)}</tt></td></tr>"
        f"<tr><td><b>Result</b></td><td>{escape(kcv_verdict(log))}</td></tr>"
        f"<tr><td><b>Shares</b></td><td>{escape(shares)}</td></tr>"
        f"<tr><td><b>Began</b></td><td>{_time(log.started)}</td></tr>"
        f"<tr><td><b>Ended</b></td><td>{_time(log.finished)}</td></tr>"
        "</table>"
        "<h3>Shares handed over</h3>"
        '<table border="1" cellspacing="0" cellpadding="3">'
        "<tr><th>Share</th><th>Route</th><th>Fingerprint</th><th>State</th>"
        "<th>Handed over</th></tr>" + "".join(rows) + "</table>"
        "<p>Fingerprints and KCVs only: no share, password or fragment is on this page.</p>"
    )


def summary_document(log: CeremonyLog) -> QTextDocument:
    document = QTextDocument()
    document.setHtml(summary_html(log))
    return document


def render_summary_pdf(log: CeremonyLog) -> bytes:
    """The summary as an A4 PDF, rendered in memory."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageOrientation(QPageLayout.Orientation.Portrait)
    writer.setResolution(300)
    writer.setTitle(summary_title(log))
    writer.setCreator("keymanager")
    summary_document(log).print_(writer)
    del writer  # the PDF is complete once the writer is gone
    buffer.close()
    return bytes(data.data())


def write_summary_pdf(log: CeremonyLog, path: Path) -> Path:
    """Write the summary as a PDF: atomically, mode 0600."""
    write_private_file(path, render_summary_pdf(log))
    return path


class SummaryPage(QWidget):
    """The summary shown in the dialog at the end, with Print… and Save as PDF…."""

    def __init__(self, log: CeremonyLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shareSummary")
        self.log = log
        layout = QVBoxLayout(self)
        self.view = QTextBrowser()
        self.view.setObjectName("shareSummaryText")
        layout.addWidget(self.view, 1)
        buttons = QHBoxLayout()
        self.print_button = QPushButton("Print…")
        self.print_button.setObjectName("printSummary")
        self.print_button.clicked.connect(self.ask_printer)
        self.pdf_button = QPushButton("Save as PDF…")
        self.pdf_button.setObjectName("saveSummaryPdf")
        self.pdf_button.clicked.connect(self.ask_pdf_path)
        self.saved_label = QLabel()
        self.saved_label.setObjectName("summarySaved")
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.pdf_button)
        buttons.addWidget(self.saved_label, 1)
        layout.addLayout(buttons)
        self.side_dialog: QWidget | None = None
        self.refresh()

    def refresh(self) -> None:
        self.view.setHtml(summary_html(self.log))

    def print_to(self, printer: QPrinter) -> None:
        summary_document(self.log).print_(printer)

    def save_pdf(self, path: Path) -> bool:
        """Save the PDF; ``False`` (and the page says why) if it cannot be written."""
        try:
            write_summary_pdf(self.log, path)
        except OSError as error:
            self.saved_label.setText(f"Not saved: {error.strerror or error}")
            return False
        self.saved_label.setText(f"Saved as {path.name}.")
        return True

    def default_name(self) -> str:
        domain = f"domain-{self.log.domain}" if self.log.domain is not None else "dkek"
        day = (self.log.finished or self.log.started or datetime.now()).strftime("%Y%m%d")
        return f"share-ceremony-{domain}-{day}.pdf"

    def ask_printer(self) -> None:
        from keymanager.gui.dialogs.files import print_dialog

        dialog: QPrintDialog = print_dialog(self, self.print_to)
        self.side_dialog = dialog

    def ask_pdf_path(self) -> None:
        from keymanager.gui.dialogs.files import file_dialog

        dialog: QFileDialog = file_dialog(
            self,
            "Save the ceremony summary as PDF",
            self.save_pdf,
            save=True,
            name_filter="PDF (*.pdf)",
            default_name=self.default_name(),
            default_suffix="pdf",
        )
        self.side_dialog = dialog
