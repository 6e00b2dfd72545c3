"""Printing a secret sheet with Qt: the page layout, the print dialog and the preview.

:func:`paint_sheet` lays a sheet out on any paint device (a printer, a PDF writer, an
image): the title, then the text in a fixed font.  Lines wider than the page are
wrapped (never cut off at the edge), and a sheet taller than the page is set in a
smaller font, or goes on to a second page when even that does not fit.  It returns
the rectangles it drew into, so tests can check that nothing leaves the printable
area on A4 and on Letter.

Printing to a file ("Print to file" in the print dialog, or a PDF printer) never lets
Qt write the file itself (Qt creates it with the default mode, readable by others):
:func:`print_sheet` renders the PDF in memory and writes it atomically with mode 0600.

Lifetimes: :class:`QPrintPreviewDialog` and :class:`QPrintDialog` paint on a printer
they do not own.  A printer that only a local variable held was deleted as soon as the
method that opened the dialog returned, and the preview then painted on freed memory
(the process ended with SIGSEGV).  :class:`SheetPreviewDialog` and
:class:`SheetPrintDialog` therefore keep their printer (and the paint callback) as
attributes, so both live exactly as long as the dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF
from PySide6.QtGui import (
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPaintDevice,
    QPaintEngine,
    QPainter,
    QPdfWriter,
)
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import QWidget

from keymanager.dkek.fileio import write_private_file

TITLE_POINTS = 15.0
BODY_POINTS = 11.0
SMALLEST_BODY_POINTS = 7.0
"""The sheet's text is made smaller down to this size to keep it on one page."""
PDF_RESOLUTION = 300
MINIMUM_MARGIN_MM = 15.0


class PrintFailed(RuntimeError):
    """The sheet could not be printed (the printer or the file refused)."""


@dataclass(frozen=True)
class DrawnLine:
    """One line of text as :func:`layout_sheet` placed it (device pixels)."""

    page: int
    rect: QRectF
    """The line's bounding box as measured in its font (not clamped to the page)."""
    text: str
    is_title: bool = False


def _fonts(body_points: float) -> tuple[QFont, QFont]:
    body = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    body.setPointSizeF(body_points)
    title = QFont(body)
    title.setPointSizeF(TITLE_POINTS)
    title.setBold(True)
    return title, body


def _wrap(text: str, metrics: QFontMetricsF, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (at spaces where possible);
    a wrapped line's continuation keeps its indent."""
    lines: list[str] = []
    for raw in text.expandtabs(4).splitlines() or [""]:
        rest = raw.rstrip()
        indent = " " * (len(rest) - len(rest.lstrip(" ")))
        if metrics.horizontalAdvance(indent + "M" * 10) > width:
            indent = ""
        while metrics.horizontalAdvance(rest) > width and len(rest) > len(indent) + 1:
            cut = len(rest)
            while cut > len(indent) + 1 and metrics.horizontalAdvance(rest[:cut]) > width:
                cut -= 1
            space = rest.rfind(" ", len(indent) + 1, cut + 1)
            if space > len(indent):
                cut = space
            lines.append(rest[:cut].rstrip())
            rest = indent + rest[cut:].lstrip(" ")
        lines.append(rest)
    return lines


def layout_sheet(
    device: QPaintDevice, page: QRectF, title: str, text: str
) -> tuple[QFont, QFont, list[DrawnLine]]:
    """Where each line of the sheet goes on ``device`` within ``page`` (device pixels).

    The text is set smaller (down to :data:`SMALLEST_BODY_POINTS`) until it fits one
    page; what still does not fit goes on to the next page.
    """
    body_points = BODY_POINTS
    while True:
        title_font, body_font = _fonts(body_points)
        title_metrics = QFontMetricsF(title_font, device)
        body_metrics = QFontMetricsF(body_font, device)
        placed: list[DrawnLine] = []
        page_number, y = 0, page.top()
        for line in _wrap(title, title_metrics, page.width()):
            rect = QRectF(
                page.left(), y, title_metrics.horizontalAdvance(line), title_metrics.height()
            )
            placed.append(DrawnLine(0, rect, line, is_title=True))
            y += title_metrics.lineSpacing()
        y += body_metrics.lineSpacing()
        for line in _wrap(text, body_metrics, page.width()):
            if y + body_metrics.height() > page.bottom():
                page_number, y = page_number + 1, page.top()
            rect = QRectF(
                page.left(), y, body_metrics.horizontalAdvance(line), body_metrics.height()
            )
            placed.append(DrawnLine(page_number, rect, line))
            y += body_metrics.lineSpacing()
        if page_number == 0 or body_points <= SMALLEST_BODY_POINTS:
            return title_font, body_font, placed
        body_points -= 1.0


def paint_sheet(
    painter: QPainter, device: QPaintDevice, page: QRectF, title: str, text: str
) -> list[DrawnLine]:
    """Paint the sheet within ``page``; a second page is begun when the text needs one."""
    title_font, body_font, placed = layout_sheet(device, page, title, text)
    current = 0
    for line in placed:
        if line.page != current:
            if not isinstance(device, QPagedPaintDevice) or not device.newPage():
                raise PrintFailed("the sheet does not fit the page")
            current = line.page
        painter.setFont(title_font if line.is_title else body_font)
        painter.drawText(
            line.rect.topLeft() + QPointF(0, QFontMetricsF(painter.font(), device).ascent()),
            line.text,
        )
    return placed


def printable_area(device: QPagedPaintDevice) -> QRectF:
    """The rectangle the sheet may use, in the painter's coordinates on ``device``.

    The device's printable area (origin at its top left), less at least
    :data:`MINIMUM_MARGIN_MM` from each paper edge (a PDF printer has no margins, and a
    real printer cannot print up to the edge).
    """
    layout = device.pageLayout()
    dpi = device.logicalDpiX()
    paint = QRectF(layout.paintRectPixels(dpi))
    full = QRectF(layout.fullRectPixels(dpi))
    margin = MINIMUM_MARGIN_MM / 25.4 * dpi
    inner = full.adjusted(margin, margin, -margin, -margin).intersected(paint)
    return inner.translated(-paint.left(), -paint.top())


def paint_page(device: QPagedPaintDevice, title: str, text: str) -> list[DrawnLine]:
    """Paint the sheet on a printer or PDF writer (within :func:`printable_area`).

    :raises PrintFailed: the device could not be painted on (no printer, file refused).
    """
    painter = QPainter()
    if not painter.begin(device):
        raise PrintFailed(
            "the printer could not be started (is it connected, or the file writable?)"
        )
    try:
        return paint_sheet(painter, device, printable_area(device), title, text)
    finally:
        painter.end()


def sheet_pdf(title: str, text: str, page_layout: QPageLayout | None = None) -> bytes:
    """The sheet as PDF bytes (rendered in memory, never in a temporary file)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION)
    writer.setTitle(title)
    writer.setCreator("keymanager")
    writer.setPageLayout(
        page_layout
        if page_layout is not None
        else QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(MINIMUM_MARGIN_MM, MINIMUM_MARGIN_MM, MINIMUM_MARGIN_MM, MINIMUM_MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )
    paint_page(writer, title, text)
    del writer  # finishes the PDF into the buffer
    buffer.close()
    return bytes(data.data())


def prints_to_file(printer: QPrinter) -> bool:
    """Whether ``printer`` writes a file (Print to file / PDF) rather than a real printer."""
    engine = printer.paintEngine()
    if engine is not None and engine.type() == QPaintEngine.Type.Picture:
        return False  # the print preview paints into pictures, not into the file
    return bool(printer.outputFileName())


def print_sheet(printer: QPrinter, title: str, text: str) -> Path | None:
    """Print the sheet on ``printer``; a file target is written by keymanager, mode 0600.

    :returns: the file written, if the printer prints to a file.
    :raises PrintFailed: the printer could not be started.
    :raises OSError: the file could not be written.
    """
    if prints_to_file(printer):
        path = Path(printer.outputFileName())
        write_private_file(path, sheet_pdf(title, text, printer.pageLayout()), overwrite=True)
        return path
    paint_page(printer, title, text)
    return None


PrintTo = Callable[[QPrinter], object]


class SheetPreviewDialog(QPrintPreviewDialog):
    """The print preview of a sheet; it owns the printer it previews on."""

    def __init__(self, print_to: PrintTo, parent: QWidget | None = None) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        super().__init__(printer, parent)
        self.owned_printer = printer
        """Kept as long as the dialog: the preview paints on it."""
        self.print_to = print_to
        self.setObjectName("printPreview")
        self.paintRequested.connect(self._paint)

    def _paint(self, printer: QPrinter) -> None:
        self.print_to(printer)


class SheetPrintDialog(QPrintDialog):
    """The print dialog of a sheet; it owns its printer and prints once accepted."""

    def __init__(self, print_to: PrintTo, parent: QWidget | None = None) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        super().__init__(printer, parent)
        self.owned_printer = printer
        self.print_to = print_to
        self.setObjectName("printDialog")
        self.accepted.connect(self._print)

    def _print(self) -> None:
        self.print_to(self.owned_printer)


__all__ = [
    "DrawnLine",
    "PrintFailed",
    "SheetPreviewDialog",
    "SheetPrintDialog",
    "layout_sheet",
    "paint_page",
    "paint_sheet",
    "print_sheet",
    "printable_area",
    "prints_to_file",
    "sheet_pdf",
]
