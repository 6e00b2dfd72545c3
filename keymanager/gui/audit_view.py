"""The auditor view: key domains with KCV, share counts and key counts; CSV, PDF, print.

It shows an :class:`~keymanager.workflows.audit.AuditReport` (made on the worker
thread by :func:`keymanager.workflows.audit.audit`): a header (serial, authenticity
verdict of the device certificate chain, label, firmware, reader, PIN states, the
report date), a table of key domains and the keys domain by domain.  "Find key
domains…" asks the main window to audit again with ``probe_wrap`` (the PIN is asked;
each key is wrapped and the blob's KCV matched, the blob dropped).

Each key says how its domain was learnt (recorded by keymanager in its registry on the
card, probed by a WRAP, or unknown) and whether it is sealed; each domain its purpose,
label and creation date as keymanager recorded them.

Exports: :func:`~keymanager.workflows.audit_export.audit_csv` (one row per key, the
device and key-domain columns repeated; a domain without keys gets one row: the columns
in docs/user-guide.md), and :func:`~keymanager.workflows.audit_export.audit_html` laid
out by :class:`QTextDocument` for the PDF (:class:`QPdfWriter`, A4) and for printing
(:class:`QPrintDialog`).  The renderings are Qt-free, in
:mod:`keymanager.workflows.audit_export`; the models here show the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.files import file_dialog, print_dialog
from keymanager.workflows.audit import AuditedKey, AuditReport
from keymanager.workflows.audit_export import (
    CSV_COLUMNS,
    UNKNOWN_DOMAIN,
    all_keys,
    audit_csv,
    audit_html,
    device_rows,
    domain_of_key,
    kcv_status,
    kcv_text,
    key_type,
    keys_by_domain,
    purpose_of,
)

AnyIndex = QModelIndex | QPersistentModelIndex
HEADER_FIELDS = (
    "Authenticity",
    "Label",
    "Firmware",
    "Report date (UTC)",
    "Reader",
    "User PIN",
    "SO-PIN",
)
"""The header rows the view shows in two columns (of :func:`device_rows`; the serial
is the heading)."""

__all__ = [
    "CSV_COLUMNS",
    "UNKNOWN_DOMAIN",
    "AuditTableModel",
    "AuditView",
    "KeysTableModel",
    "all_keys",
    "audit_csv",
    "audit_document",
    "audit_html",
    "kcv_status",
    "kcv_text",
    "print_report",
    "write_pdf",
]


def audit_document(report: AuditReport) -> QTextDocument:
    document = QTextDocument()
    document.setHtml(audit_html(report))
    return document


def print_report(report: AuditReport, printer: QPrinter) -> None:
    """Print the report on ``printer`` (a real printer, or ``OutputFormat.PdfFormat``)."""
    audit_document(report).print_(printer)


def write_pdf(report: AuditReport, path: Path) -> Path:
    """Write the report as an A4 PDF with :class:`QPdfWriter`."""
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageOrientation(QPageLayout.Orientation.Portrait)
    writer.setResolution(300)
    writer.setTitle(f"Audit of SmartCard-HSM {report.serial or ''}".strip())
    writer.setCreator("keymanager")
    audit_document(report).print_(writer)
    del writer  # the file is complete once the writer is gone
    return path


class AuditTableModel(QAbstractTableModel):
    """The key domains of a report, one row each."""

    HEADERS = ("Key domain", "State", "Purpose", "KCV", "Shares", "Outstanding", "Keys known")

    def __init__(self, report: AuditReport | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report

    def set_report(self, report: AuditReport) -> None:
        self.beginResetModel()
        self.report = report
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self.report is None:
            return 0
        return len(self.report.domains)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def cell(self, row: int, column: int) -> str:
        assert self.report is not None
        domain = self.report.domains[row]
        empty = domain.state == "empty"
        sealed = f" ({domain.sealed_keys} sealed)" if domain.sealed_keys else ""
        values = (
            str(domain.number),
            domain.state,
            purpose_of(domain),
            kcv_text(domain),
            "" if empty else str(domain.shares_total),
            "" if empty else str(domain.shares_outstanding),
            f"{len(domain.keys)}{sealed}",
        )
        return values[column]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.report is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.cell(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (0, 4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class KeysTableModel(QAbstractTableModel):
    """The keys of a report domain by domain, with how each one's domain was learnt."""

    HEADERS = ("Key domain", "Ref", "Label", "Type", "ID", "Export")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys: list[AuditedKey] = []

    def set_report(self, report: AuditReport) -> None:
        self.beginResetModel()
        self.keys = keys_by_domain(report)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def cell(self, row: int, column: int) -> str:
        key = self.keys[row]
        values = (
            domain_of_key(key),
            str(key.key_reference),
            key.label,
            key_type(key),
            key.key_id or "-",
            key.export_state,
        )
        return values[column]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        return self.cell(index.row(), index.column())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class AuditView(QDialog):
    """The auditor view (see the module docstring).

    :param probe: called when the auditor asks to find each key's domain (the main
        window runs the probing audit and calls :meth:`set_report` with the result).
    """

    exported = Signal(str)

    def __init__(
        self,
        report: AuditReport,
        probe: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("auditView")
        self.setWindowTitle("Audit")
        self.resize(820, 560)
        self._probe = probe
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.heading.setFont(font)
        layout.addWidget(self.heading)
        header = QHBoxLayout()
        self.fields: dict[str, QLabel] = {}
        half = (len(HEADER_FIELDS) + 1) // 2
        for names in (HEADER_FIELDS[:half], HEADER_FIELDS[half:]):
            form = QFormLayout()
            for name in names:
                value = QLabel()
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.fields[name] = value
                form.addRow(name + ":", value)
            header.addLayout(form, 1)
        layout.addLayout(header)
        layout.addWidget(QLabel("Key domains:"))
        self.model = AuditTableModel(report, self)
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        layout.addWidget(self.table, 2)
        self.keys_label = QLabel()
        layout.addWidget(self.keys_label)
        self.keys_model = KeysTableModel(self)
        self.keys_table = QTableView()
        self.keys_table.setObjectName("auditKeys")
        self.keys_table.setModel(self.keys_model)
        self.keys_table.verticalHeader().setVisible(False)
        self.keys_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.keys_table, 3)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.probe_button: QPushButton = self.buttons.addButton(
            "Find key domains…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.probe_button.setToolTip(
            "Wrap each key keymanager has no record of (needs the user PIN) and match the "
            "KCV: shows which key domain it belongs to, and records it on the card.  The "
            "wrapped keys are dropped at once."
        )
        self.probe_button.setEnabled(probe is not None)
        self.probe_button.clicked.connect(self.probe)
        self.csv_button = self.buttons.addButton(
            "Export CSV…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.csv_button.clicked.connect(self.ask_csv_path)
        self.pdf_button = self.buttons.addButton(
            "Export PDF…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.pdf_button.clicked.connect(self.ask_pdf_path)
        self.print_button = self.buttons.addButton("Print…", QDialogButtonBox.ButtonRole.ActionRole)
        self.print_button.clicked.connect(self.ask_print)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.report = report
        self.save_dialog: QFileDialog | None = None
        """The last export's file dialog (tests fill it in)."""
        self.set_report(report)

    def set_report(self, report: AuditReport) -> None:
        """Show ``report`` (a new audit of the same card)."""
        self.report = report
        self.heading.setText(f"SmartCard-HSM {report.serial or '(serial unknown)'}")
        values = dict(device_rows(report))
        for name in HEADER_FIELDS:
            self.fields[name].setText(values[name])
        self.model.set_report(report)
        self.keys_model.set_report(report)
        keys = len(self.keys_model.keys)
        self.keys_label.setText(f"Keys per key domain ({keys}):")
        unknown = sum(key.domain_source == "unknown" for key in report.other_keys)
        if report.domains_probed:
            self.note.setText(
                "Key domains come from keymanager's registry on the card; the keys it did "
                "not know were wrapped and their KCV matched, and the answers recorded."
            )
        elif unknown:
            self.note.setText(
                f"keymanager has no record of the key domain of {unknown} key(s) and the "
                "card does not tell it: “Find key domains…” wraps them (with the PIN) to "
                "find out and records the answer."
            )
        else:
            self.note.setText("Key domains come from keymanager's registry on the card.")
        self.table.resizeColumnsToContents()
        self.keys_table.resizeColumnsToContents()

    def probe(self) -> None:
        if self._probe is not None:
            self._probe()

    # --- exports --------------------------------------------------------------------

    def export_csv(self, path: Path) -> Path:
        path.write_text(audit_csv(self.report), encoding="utf-8")
        self.exported.emit(str(path))
        return path

    def export_pdf(self, path: Path) -> Path:
        write_pdf(self.report, path)
        self.exported.emit(str(path))
        return path

    def print_to(self, printer: QPrinter) -> None:
        print_report(self.report, printer)

    def _default_name(self, suffix: str) -> str:
        return f"audit-{self.report.serial or 'card'}.{suffix}"

    def ask_csv_path(self) -> None:
        self.save_dialog = file_dialog(
            self,
            "Export the audit as CSV",
            self.export_csv,
            save=True,
            name_filter="CSV (*.csv)",
            default_name=self._default_name("csv"),
            default_suffix="csv",
        )

    def ask_pdf_path(self) -> None:
        self.save_dialog = file_dialog(
            self,
            "Export the audit as PDF",
            self.export_pdf,
            save=True,
            name_filter="PDF (*.pdf)",
            default_name=self._default_name("pdf"),
            default_suffix="pdf",
        )

    def ask_print(self) -> QPrintDialog:
        return print_dialog(self, self.print_to)
