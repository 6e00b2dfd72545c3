"""The auditor view: key domains with KCV, share counts and key counts; CSV, PDF, print.

It shows an :class:`~keymanager.workflows.audit.AuditReport` (made on the worker
thread by :func:`keymanager.workflows.audit.audit`): a header (serial, reader,
version, PIN states, when), a table of key domains and a table of keys with the
domain each belongs to as far as known.  "Find key domains…" asks the main window to
audit again with ``probe_wrap`` (the PIN is asked; each key is wrapped and the blob's
KCV matched, the blob dropped).

Each key says how its domain was learnt (recorded by keymanager in its registry on the
card, probed by a WRAP, or unknown) and whether it is sealed; each domain its purpose,
label and creation date as keymanager recorded them.

Exports: :func:`audit_csv` (one row per key-domain slot, then one for the keys whose
domain is unknown), :func:`audit_html` laid out by :class:`QTextDocument` for the PDF
(:class:`QPdfWriter`, A4) and for printing (:class:`QPrintDialog`).  The KCV column
holds the card's KCV only for complete domains; ``kcv_status`` says why it is empty
otherwise (``pending`` while shares are outstanding, ``hidden`` until the PIN is
verified, ``empty`` slot).
"""

from __future__ import annotations

import csv
import html
import io
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
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.files import file_dialog, print_dialog
from keymanager.workflows.audit import AuditedDomain, AuditedKey, AuditReport

AnyIndex = QModelIndex | QPersistentModelIndex
CSV_COLUMNS = (
    "serial",
    "domain",
    "state",
    "kcv",
    "kcv_status",
    "shares_total",
    "shares_outstanding",
    "keys",
    "purpose",
    "label",
    "created",
    "keys_sealed",
)
UNKNOWN_DOMAIN = "unknown"


def kcv_status(domain: AuditedDomain) -> str:
    """``known``, ``pending`` (shares outstanding), ``hidden`` (until login) or ``empty``."""
    if domain.state == "empty":
        return "empty"
    if domain.shares_outstanding:
        return "pending"
    if domain.kcv_hidden or domain.kcv is None:
        return "hidden"
    return "known"


def kcv_text(domain: AuditedDomain) -> str:
    """The KCV column as people read it."""
    status = kcv_status(domain)
    if status == "known":
        return domain.kcv or ""
    return {
        "pending": "pending: shares outstanding",
        "hidden": "hidden until the PIN is verified",
        "empty": "",
    }[status]


def audit_csv(report: AuditReport) -> str:
    """The key-domain table as CSV: :data:`CSV_COLUMNS`, one row per slot.

    ``purpose`` (``custodian``, ``transient``, ``random``, ``unknown``), ``label`` and
    ``created`` are what keymanager recorded (empty without a record); ``keys_sealed``
    counts the keys the card refuses to export.  A last row ``domain=unknown`` counts
    the keys in no known domain.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    serial = report.serial or ""
    for domain in report.domains:
        writer.writerow(
            (
                serial,
                domain.number,
                domain.state,
                domain.kcv if kcv_status(domain) == "known" else "",
                kcv_status(domain),
                domain.shares_total if domain.state != "empty" else "",
                domain.shares_outstanding if domain.state != "empty" else "",
                len(domain.keys),
                domain.purpose or "",
                domain.label,
                domain.created or "",
                domain.sealed_keys,
            )
        )
    if report.other_keys:
        sealed = sum(key.exportable is False for key in report.other_keys)
        writer.writerow(
            (serial, UNKNOWN_DOMAIN, "", "", "", "", "", len(report.other_keys), "", "", "", sealed)
        )
    return out.getvalue()


def _domain_of(key: AuditedKey) -> str:
    if key.domain is not None:
        return f"{key.domain} ({key.learnt})"
    if key.in_no_domain:
        return "no complete domain (probed)"
    if key.domain_source == "recorded":
        return "none (recorded by keymanager)"
    if key.domain_source == "probed":
        return "unknown (probed: sealed)" if key.exportable is False else "unknown (probed)"
    return "unknown"


def _purpose_of(domain: AuditedDomain) -> str:
    if domain.state == "empty":
        return ""
    return domain.description


def all_keys(report: AuditReport) -> list[AuditedKey]:
    """Every key of the report, by key reference."""
    keys = [key for domain in report.domains for key in domain.keys] + list(report.other_keys)
    return sorted(keys, key=lambda key: key.key_reference)


def audit_html(report: AuditReport) -> str:
    """The report as HTML for :class:`QTextDocument` (PDF export and printing)."""
    e = html.escape
    head = [
        ("Serial", report.serial or "unknown"),
        ("Reader", report.reader),
        ("Version", report.version),
        ("Device", report.device),
        ("User PIN", report.pin),
        ("SO-PIN", report.so_pin),
        ("Created (UTC)", report.created),
        (
            "Key domains of keys",
            "keymanager's registry; the others found by wrapping each key"
            if report.domains_probed
            else "keymanager's registry (keys it does not know not probed)",
        ),
    ]
    if report.registry_damaged:
        head.append(("Registry", f"damaged: {report.registry_damaged}"))
    parts = [
        f"<h1>Audit of SmartCard-HSM {e(report.serial or '')}</h1>",
        "<table cellspacing='0' cellpadding='2'>",
        *(f"<tr><td><b>{e(k)}</b></td><td>{e(v)}</td></tr>" for k, v in head),
        "</table>",
        "<h2>Key domains</h2>",
        "<table border='1' cellspacing='0' cellpadding='4' width='100%'>",
        "<tr><th>Domain</th><th>State</th><th>Purpose</th><th>KCV</th><th>Shares</th>"
        "<th>Outstanding</th><th>Keys</th></tr>",
    ]
    if not report.domains:
        parts.append("<tr><td colspan='7'>none (the device has no DKEK)</td></tr>")
    for domain in report.domains:
        empty = domain.state == "empty"
        sealed = f" ({domain.sealed_keys} sealed)" if domain.sealed_keys else ""
        parts.append(
            f"<tr><td>{domain.number}</td><td>{e(domain.state)}</td>"
            f"<td>{e(_purpose_of(domain))}</td>"
            f"<td><tt>{e(kcv_text(domain))}</tt></td>"
            f"<td>{'' if empty else domain.shares_total}</td>"
            f"<td>{'' if empty else domain.shares_outstanding}</td>"
            f"<td>{len(domain.keys)}{sealed}</td></tr>"
        )
    parts.append("</table>")
    keys = all_keys(report)
    parts.append(f"<h2>Keys ({len(keys)})</h2>")
    if keys:
        parts.append(
            "<table border='1' cellspacing='0' cellpadding='4' width='100%'>"
            "<tr><th>Ref</th><th>Label</th><th>Type</th><th>ID</th><th>Key domain</th>"
            "<th>Export</th></tr>"
        )
        for key in keys:
            what = f"{key.kind} {key.size}" if key.kind else "unknown"
            parts.append(
                f"<tr><td>{key.key_reference}</td><td>{e(key.label)}</td><td>{e(what)}</td>"
                f"<td><tt>{e(key.key_id or '-')}</tt></td><td>{e(_domain_of(key))}</td>"
                f"<td>{e(key.export_state)}</td></tr>"
            )
        parts.append("</table>")
        if not report.domains_probed and any(
            key.domain_source == "unknown" for key in report.other_keys
        ):
            parts.append(
                "<p>The card does not tell which key domain a key belongs to and keymanager "
                "has no record of these keys; “Find key domains” wraps each (with the PIN), "
                "matches the KCV and records the answer on the card.</p>"
            )
    return "\n".join(parts)


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
            _purpose_of(domain),
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
    """The keys of a report with the key domain each belongs to, as far as known."""

    HEADERS = ("Ref", "Label", "Type", "ID", "Key domain", "Export")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys: list[AuditedKey] = []

    def set_report(self, report: AuditReport) -> None:
        self.beginResetModel()
        self.keys = all_keys(report)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        key = self.keys[index.row()]
        values = (
            str(key.key_reference),
            key.label,
            f"{key.kind} {key.size}" if key.kind else "unknown",
            key.key_id or "-",
            _domain_of(key),
            key.export_state,
        )
        return values[index.column()]

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
        self.form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for name in ("Reader", "Version", "Device", "User PIN", "SO-PIN", "Created (UTC)"):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[name] = value
            self.form.addRow(name + ":", value)
        layout.addLayout(self.form)
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
        self.keys_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
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
        for name, value in (
            ("Reader", report.reader),
            ("Version", report.version),
            ("Device", report.device),
            ("User PIN", report.pin),
            ("SO-PIN", report.so_pin),
            ("Created (UTC)", report.created),
        ):
            self.fields[name].setText(value)
        self.model.set_report(report)
        self.keys_model.set_report(report)
        keys = len(self.keys_model.keys)
        self.keys_label.setText(f"Keys ({keys}):")
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
