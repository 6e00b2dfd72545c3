"""The secret sheets of the share ceremony: preview, print, PDF, hand-over, layout.

The print preview used to end the process (SIGSEGV): its printer was held only by a
local variable and freed while the preview painted on it.  These tests open the
preview on each sheet kind, let it render, paint it on a real printer, close it and
collect garbage; run them under a real X server too (see the issue 13 notes):
``DISPLAY=:91 QT_QPA_PLATFORM=xcb .venv/bin/python -m pytest tests/gui/test_share_sheets.py``.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtPrintSupport import QPrinter, QPrintPreviewWidget
from PySide6.QtWidgets import QComboBox, QDialogButtonBox, QLineEdit, QMessageBox

from keymanager.dkek.nofm import split_password
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.gui.dialogs.ceremony import Route, ShareCeremonyDialog
from keymanager.gui.dialogs.printing import (
    paint_page,
    paint_sheet,
    printable_area,
    sheet_pdf,
)
from keymanager.gui.dialogs.sheets import (
    SecretSheetDialog,
    SharePasswordDialog,
    SheetDialogFactory,
)
from keymanager.gui.gui_interaction import PromptKind, PromptRequest
from keymanager.workflows.interaction import Cancelled, SecretKind, SecretRequest
from keymanager.workflows.share_sheets import (
    SecretSheet,
    SheetFacts,
    fragment_handover,
    fragment_sheet_text,
    fragment_title,
    paperkey_sheet_text,
)
from tests.support.gui_window import Seen

EXAMPLE_SHARE = hashlib.sha256(b"keymanager test example share").digest()
FACTS = SheetFacts(
    fingerprint="0123456789ABCDEF",
    share_file=Path("/ceremony/custodian-1.pbe"),
    device="DENK0100001",
    date="2026-12-02",
)
SPLIT = split_password(b"example!", 2, 3)


def paperkey_sheet() -> tuple[str, str]:
    return "DKEK share - PaperKey", paperkey_sheet_text(
        encode_paperkey(EXAMPLE_SHARE).text(), FACTS
    )


def fragment_sheet(index: int = 1) -> tuple[str, str]:
    return fragment_title(index, 3), fragment_sheet_text(SPLIT, index, FACTS)


def long_sheet() -> tuple[str, str]:
    """Lines far wider than any page, and more of them than one page holds even at 7 pt."""
    words = " ".join(f"word{i}" for i in range(60))
    return "A sheet with a very long title " * 4, "\n".join([words, "x" * 300] + ["line"] * 150)


SHEETS = {"paperkey": paperkey_sheet, "fragment": fragment_sheet}


@pytest.fixture
def sheet_dialog(qtbot: Any, request: pytest.FixtureRequest) -> SecretSheetDialog:
    title, text = SHEETS[request.param]()
    dialog = SecretSheetDialog(title, text)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


# --- 1. the print preview ------------------------------------------------------------


@pytest.mark.parametrize("sheet_dialog", sorted(SHEETS), indirect=True)
def test_print_preview_renders_prints_and_closes_without_crashing(
    qtbot: Any, sheet_dialog: SecretSheetDialog, tmp_path: Path
) -> None:
    preview = sheet_dialog.preview()
    qtbot.waitUntil(preview.isVisible)
    gc.collect()  # the preview's printer must not go with the method's locals
    widget = preview.findChild(QPrintPreviewWidget)
    assert widget is not None
    widget.updatePreview()  # paints the sheet on the preview's printer again
    qtbot.wait(50)
    assert widget.pageCount() == 1
    # what the preview's own Print button does: paint on a real printer (a PDF file)
    printed = tmp_path / "printed.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    preview.paintRequested.emit(printer)
    assert printed.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(printed.stat().st_mode) == 0o600
    assert sheet_dialog.error_box is None
    preview.close()
    qtbot.waitUntil(lambda: not shiboken6.isValid(preview))
    gc.collect()
    qtbot.wait(50)
    # the sheet is still there, and a second preview works as well
    assert sheet_dialog.sheet.text()
    second = sheet_dialog.preview()
    qtbot.waitUntil(second.isVisible)
    sheet_dialog.done_button.click()  # closing the sheet closes its preview
    qtbot.waitUntil(lambda: not shiboken6.isValid(second))
    gc.collect()


# --- 2. a failed print step loses nothing -----------------------------------------------


@pytest.mark.parametrize("sheet_dialog", ["fragment"], indirect=True)
def test_a_failing_printer_is_reported_and_the_sheet_stays(
    qtbot: Any, sheet_dialog: SecretSheetDialog, tmp_path: Path
) -> None:
    text = sheet_dialog.sheet.text()
    # a printer that cannot start (a PDF printer without a file)
    broken = QPrinter(QPrinter.PrinterMode.HighResolution)
    broken.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    sheet_dialog.print_reporting(broken)
    box = sheet_dialog.error_box
    assert box is not None and box.isVisible()
    assert box.text().startswith("Printing failed: the printer could not be started")
    assert "still shown" in sheet_dialog.problem_label.text()
    box.close()
    # "Print to file" into a folder that does not exist
    missing = QPrinter(QPrinter.PrinterMode.HighResolution)
    missing.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    missing.setOutputFileName(str(tmp_path / "no-such-folder" / "sheet.pdf"))
    sheet_dialog.print_reporting(missing)
    assert sheet_dialog.error_box is not None and sheet_dialog.error_box is not box
    assert "Printing failed" in sheet_dialog.error_box.text()
    sheet_dialog.error_box.close()
    # Save as PDF into a folder that does not exist, then into one that does
    sheet_dialog.save_reporting(tmp_path / "no-such-folder" / "sheet.pdf")
    assert "Saving the PDF failed" in sheet_dialog.error_box.text()
    sheet_dialog.error_box.close()
    assert sheet_dialog.isVisible() and sheet_dialog.sheet.text() == text
    saved = tmp_path / "sheet.pdf"
    sheet_dialog.save_reporting(saved)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert b"Share value" in saved.read_bytes()
    assert str(saved) in sheet_dialog.note.text()


def test_print_to_file_writes_mode_0600_even_over_a_readable_file(
    qtbot: Any, tmp_path: Path
) -> None:
    dialog = SecretSheetDialog(*paperkey_sheet())
    qtbot.addWidget(dialog)
    target = tmp_path / "print.pdf"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(target))
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.Letter))
    assert dialog.print_to(printer) == target
    data = target.read_bytes()
    assert data.startswith(b"%PDF") and stat.S_IMODE(target.stat().st_mode) == 0o600
    # the page size chosen in the print dialog is kept (Letter: 612 x 792 points)
    assert re.findall(rb"MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data) == [
        (b"612.000000", b"792.000000")
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["print.pdf"]  # no temporary left


def test_print_to_file_in_the_print_dialog_writes_mode_0600(qtbot: Any, tmp_path: Path) -> None:
    dialog = SecretSheetDialog(*fragment_sheet())
    qtbot.addWidget(dialog)
    dialog.show()
    printing = dialog.ask_print()
    qtbot.waitUntil(printing.isVisible)
    printers = printing.findChild(QComboBox, "printers")
    assert printers is not None  # never a real printer, even where one is installed
    printers.setCurrentIndex(printers.findText("Print to File (PDF)"))
    assert printers.currentText() == "Print to File (PDF)"
    name = printing.findChild(QLineEdit, "filename")  # Qt's "Print to File (PDF)" field
    assert name is not None
    target = tmp_path / "printed.pdf"
    name.setText(str(target))
    printing.accept()
    assert dialog.error_box is None
    assert target.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert str(target) in dialog.note.text()


# --- 3. hand-over and what a fragment sheet names ------------------------------------


def test_a_fragment_sheet_opens_on_its_hand_over_screen(qtbot: Any) -> None:
    title, text = fragment_sheet(1)
    handover = fragment_handover(1, 3, FACTS)
    dialog = SecretSheetDialog(title, text, handover=handover, pdf=Path("/x/f-2.pdf"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.handover_label.text().startswith("Fragment 2 of 3 of share file custodian-1.pbe")
    assert "Give the screen to custodian 2, then press Show" in dialog.handover_label.text()
    assert dialog.sheet.text() == "" and not dialog.buttons.isEnabled()
    assert dialog.pages.currentWidget() is dialog.handover_page
    dialog.show_button.click()
    assert dialog.sheet.text() == text and dialog.buttons.isEnabled()
    assert dialog.pages.currentWidget() is dialog.sheet_page
    assert "/x/f-2.pdf" in dialog.note.text() and "never saved" not in dialog.note.text()
    for fact in (
        "custodian-1.pbe",
        "DENK0100001",
        "2026-12-02",
        "0123456789ABCDEF",
        "Signature",
        "For custodian 2 only",
    ):
        assert fact in text


def test_a_sheet_closed_before_show_cancels_and_after_show_is_taken(qtbot: Any) -> None:
    factory = SheetDialogFactory()
    title, text = fragment_sheet(0)
    sheet = SecretSheet(title, text, handover=fragment_handover(0, 3, FACTS))
    closed = PromptRequest(PromptKind.SHOW_SHEET, {"sheet": sheet})
    dialog = factory.open(closed, None)  # deleted when closed, as the broker's dialogs
    dialog.open()
    dialog.reject()
    with pytest.raises(Cancelled):
        closed.result()
    taken = PromptRequest(PromptKind.SHOW_SHEET, {"sheet": sheet})
    second = factory.open(taken, None)
    assert isinstance(second, SecretSheetDialog)
    second.open()
    second.show_button.click()
    second.done_button.click()
    assert taken.answered and taken.result() is None
    assert second.sheet.text() == ""  # wiped when closed
    qtbot.waitUntil(lambda: not shiboken6.isValid(second))


# --- 4. the printed layout fits A4 and Letter -----------------------------------------


def inside(area: QRectF, rect: QRectF) -> bool:
    """Whether ``rect`` lies within ``area`` (an empty line's zero-width box too)."""
    return (
        rect.left() >= area.left()
        and rect.top() >= area.top()
        and rect.right() <= area.right()
        and rect.bottom() <= area.bottom()
    )


def pdf_writer(buffer: QBuffer, size: QPageSize.PageSizeId, margin_mm: float) -> QPdfWriter:
    writer = QPdfWriter(buffer)
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(size),
            QPageLayout.Orientation.Portrait,
            QMarginsF(margin_mm, margin_mm, margin_mm, margin_mm),
            QPageLayout.Unit.Millimeter,
        )
    )
    return writer


@pytest.mark.parametrize("size", [QPageSize.PageSizeId.A4, QPageSize.PageSizeId.Letter])
@pytest.mark.parametrize("margin_mm", [0.0, 6.35, 25.0])
@pytest.mark.parametrize("make", [paperkey_sheet, fragment_sheet, long_sheet])
def test_every_line_fits_the_printable_area(
    qtbot: Any, size: QPageSize.PageSizeId, margin_mm: float, make: Any
) -> None:
    title, text = make()
    data = QByteArray()  # QBuffer does not own it: keep it for the buffer's lifetime
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = pdf_writer(buffer, size, margin_mm)
    area = printable_area(writer)
    paint = writer.pageLayout().paintRectPixels(writer.resolution())
    assert inside(QRectF(0, 0, paint.width(), paint.height()), area)
    lines = paint_page(writer, title, text)
    assert lines
    for line in lines:
        assert inside(area, line.rect), (line.text, line.rect, area)
    if make is not long_sheet:
        assert {line.page for line in lines} == {0}  # one page, nothing cut
        assert any("Share" in line.text for line in lines)
    else:
        assert max(line.page for line in lines) >= 1  # went on to a second page
    # nothing of the text was dropped by wrapping
    drawn = "".join(line.text for line in lines if not line.is_title).replace(" ", "")
    assert drawn == text.replace(" ", "").replace("\n", "")
    del writer
    assert bytes(data.data()).startswith(b"%PDF")


@pytest.mark.parametrize("size", [QPageSize.PageSizeId.A4, QPageSize.PageSizeId.Letter])
@pytest.mark.parametrize("make", [paperkey_sheet, fragment_sheet])
def test_every_line_fits_a_printers_page(
    qtbot: Any, size: QPageSize.PageSizeId, make: Any, tmp_path: Path
) -> None:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "page.pdf"))
    printer.setPageSize(QPageSize(size))
    area = printable_area(printer)
    lines = paint_page(printer, *make())
    assert {line.page for line in lines} == {0}
    assert all(inside(area, line.rect) for line in lines)
    assert (tmp_path / "page.pdf").read_bytes().startswith(b"%PDF")


def outside_is_white(image: QImage, inner: QRect) -> bool:
    white = QColor(Qt.GlobalColor.white).rgb()
    strips = [
        QRect(0, 0, image.width(), inner.top()),
        QRect(0, inner.bottom() + 1, image.width(), image.height() - inner.bottom() - 1),
        QRect(0, 0, inner.left(), image.height()),
        QRect(inner.right() + 1, 0, image.width() - inner.right() - 1, image.height()),
    ]
    for strip in strips:
        if strip.isEmpty():
            continue
        part = image.copy(strip)
        blank = QImage(part.size(), part.format())
        blank.fill(white)
        if part != blank:
            return False
    return True


@pytest.mark.parametrize("size", [QPageSize.PageSizeId.A4, QPageSize.PageSizeId.Letter])
@pytest.mark.parametrize("make", [paperkey_sheet, fragment_sheet])
def test_nothing_is_drawn_beyond_the_margins_of_the_page(
    qtbot: Any, size: QPageSize.PageSizeId, make: Any
) -> None:
    dpi = 150
    dots_per_metre = round(dpi / 0.0254)
    page = QPageSize(size).sizePixels(dpi)
    image = QImage(page, QImage.Format.Format_RGB32)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    image.fill(Qt.GlobalColor.white)
    margin = round(15 / 25.4 * dpi)
    inner = QRect(margin, margin, page.width() - 2 * margin, page.height() - 2 * margin)
    painter = QPainter(image)
    try:
        lines = paint_sheet(painter, image, QRectF(inner), *make())
    finally:
        painter.end()
    assert {line.page for line in lines} == {0}
    assert not outside_is_white(image, inner.adjusted(20, 20, -20, -20))  # it drew
    assert outside_is_white(image, inner)


def test_the_in_memory_pdf_is_one_page_a4_by_default() -> None:
    data = sheet_pdf(*fragment_sheet())
    assert data.startswith(b"%PDF")
    # one page (one MediaBox), A4: 595 x 842 points
    assert re.findall(rb"MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data) == [
        (b"595.000000", b"842.000000")
    ]


# --- 5. a too-short share password is refused as typed -------------------------------


def test_a_short_share_password_is_refused_in_its_field(qtbot: Any) -> None:
    factory = SheetDialogFactory()
    request = PromptRequest(
        PromptKind.SECRET,
        {"request": SecretRequest(SecretKind.NEW_SHARE_PASSWORD, "share file a.pbe", confirm=True)},
    )
    dialog = factory.open(request, None)
    assert isinstance(dialog, SharePasswordDialog)
    dialog.open()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.confirm_entry is not None
    dialog.entry.setText("abc")
    dialog.confirm_entry.setText("abc")
    assert not ok.isEnabled()
    assert (
        dialog.reason_label.text()
        == "Too short: a share-file password needs at least 6 characters."
    )
    dialog.accept()  # refused: the dialog stays, nothing is answered
    assert dialog.isVisible() and not request.answered
    dialog.entry.setText("correct horse battery staple")
    assert dialog.reason_label.text().startswith("Strength: strong")
    assert not ok.isEnabled()  # the second entry differs
    dialog.confirm_entry.setText("correct horse battery staple")
    assert ok.isEnabled()
    ok.click()
    assert request.result() == bytearray(b"correct horse battery staple")
    assert dialog.entry.text() == ""  # cleared when accepted


def test_other_secrets_keep_the_pin_dialog(qtbot: Any) -> None:
    request = PromptRequest(PromptKind.SECRET, {"request": SecretRequest(SecretKind.USER_PIN)})
    dialog = SheetDialogFactory().open(request, None)
    qtbot.addWidget(dialog)
    assert not isinstance(dialog, SharePasswordDialog)


# --- the whole n-of-m ceremony in the window ---------------------------------------------


def test_n_of_m_ceremony_hands_each_fragment_over(qtbot: Any, window: Any, tmp_path: Path) -> None:
    seen = Seen(qtbot, window)
    window.share_action.trigger()
    dialog = seen.next(ShareCeremonyDialog)
    dialog.select_route(Route.N_OF_M_FILE)
    share_file = tmp_path / "carol.pbe"
    dialog.file_edit.setText(str(share_file))
    dialog.threshold_spin.setValue(2)
    dialog.total_spin.setValue(3)
    fragments = tmp_path / "fragments"
    fragments.mkdir()
    dialog.fragments_edit.setText(str(fragments))
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    sheets: list[str] = []
    for index in range(3):
        sheet = seen.next(SecretSheetDialog, timeout=60_000)
        handover = sheet.handover_label.text()
        assert handover.startswith(f"Fragment {index + 1} of 3 of share file carol.pbe")
        assert f"custodian {index + 1}, then press Show" in handover
        assert sheet.sheet.text() == "" and not sheet.buttons.isEnabled()
        # the share file is written (and its fingerprint known) before any print step
        assert share_file.exists()
        assert not (fragments / f"fragment-{index + 1}-of-3.pdf").exists()
        sheet.show_button.click()
        text = sheet.sheet.text()
        assert f"For custodian {index + 1} only" in text and "Signature" in text
        assert "Share file  : carol.pbe" in text and "Device      : " in text
        assert "never saved" not in sheet.note.text()
        sheets.append(text)
        sheet.done_button.click()
    result = seen.next(QMessageBox, timeout=60_000)
    fingerprint = re.search(r"Share fingerprint: (\S+)", result.informativeText())
    assert fingerprint is not None
    for text in sheets:
        assert f"Fingerprint : {fingerprint.group(1)}" in text
    pdfs = sorted(fragments.iterdir())
    assert [p.name for p in pdfs] == [f"fragment-{i}-of-3.pdf" for i in (1, 2, 3)]
    for path, text in zip(pdfs, sheets, strict=True):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        value = re.search(r"Share value : (\S+)", text)
        assert value is not None and value.group(1).encode() in path.read_bytes()
    result.close()
