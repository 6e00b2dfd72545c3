"""The share ceremony as the dialog shows it: the progress list, the summary page and
its PDF, and the numbering of a card import (issue 13).

The shares go through the real workflows on the window's worker thread:
:func:`~keymanager.workflows.shares.collect_dkek` (the published share file, decrypted
with a wrong and then the right password: about 3 s of key derivation each) and
:func:`~keymanager.workflows.ceremony.import_shares` into a demo-card domain of three
shares that holds one already.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path
from typing import Any

from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QFileDialog, QMessageBox

from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import CeremonyLog, ShareDialog
from keymanager.gui.shares.summary import SummaryPage, summary_html
from keymanager.simulator.demo import DEMO_PIN
from keymanager.workflows.ceremony import import_shares
from keymanager.workflows.shares import collect_dkek
from tests.support.gui_window import Seen

SECOND = hashlib.sha256(b"ceremony custodian two").digest()
DOMAIN_SHARES = [hashlib.sha256(f"domain 2 custodian {n}".encode()).digest() for n in (1, 2, 3)]
DOT = " \u00b7 "


def _type_paperkey(dialog: ShareDialog, share: bytes) -> None:
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    for edit, line in zip(dialog.paperkey_tab.lines, encode_paperkey(share).lines, strict=True):
        edit.setText(line)


def test_a_wrong_then_a_right_share_and_the_summary_as_pdf(
    qtbot, window, vectors, tmp_path: Path
) -> None:
    vector = vectors["share_file"]
    share_file = tmp_path / "custodian-1.pbe"
    share_file.write_bytes(base64.b64decode(vector["pbe_base64"]))
    first = bytes.fromhex(vector["share_hex"])
    card_kcv = Dkek.from_shares([first, SECOND]).kcv()
    seen = Seen(qtbot, window)
    results: list[Any] = []

    def run(context: Any) -> str:
        dkek = collect_dkek(context.interaction, 2, domain=0, card_kcv=card_kcv)
        try:
            return format_kcv(dkek.kcv())
        finally:
            dkek.clear()

    assert window.submit("Collecting shares", run, on_result=results.append)
    dialog = seen.next(ShareDialog)
    qtbot.waitUntil(lambda: dialog.pending is not None, timeout=10_000)

    # custodian 1 mistypes the password: the share is refused, and says why
    dialog.drop_file(share_file)
    dialog.file_tab.password.setText("not the password")
    assert dialog.hand_over()
    assert dialog.ceremony.entry_texts() == [
        f"Share 1 of 2{DOT}share file custodian-1.pbe{DOT}being checked"
    ]
    warning = seen.next(QMessageBox, timeout=30_000)
    (refused,) = dialog.ceremony.entry_texts()
    assert refused.startswith(f"Share 1 of 2{DOT}share file custodian-1.pbe{DOT}refused: ")
    assert "not the password" not in refused
    assert dialog.running_kcv is None and dialog.heading.text().endswith("share 1 of 2")
    warning.accept()

    # then the right password, and custodian 2's PaperKey
    qtbot.waitUntil(lambda: dialog.pending is not None, timeout=10_000)
    dialog.drop_file(share_file)
    dialog.file_tab.password.setText(vector["password_ascii"])
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.running_kcv is not None, timeout=30_000)
    _type_paperkey(dialog, SECOND)
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.final is not None, timeout=10_000)
    fingerprints = [format_kcv(share_fingerprint(share)) for share in (first, SECOND)]
    assert dialog.ceremony.entry_texts() == [
        refused,
        f"Share 1 of 2{DOT}share file custodian-1.pbe{DOT}fingerprint {fingerprints[0]}"
        f"{DOT}accepted",
        f"Share 2 of 2{DOT}PaperKey{DOT}fingerprint {fingerprints[1]}{DOT}accepted",
    ]

    # the summary page: domain, KCVs, every share (the refused one too), the times
    assert dialog.pages.currentWidget() is dialog.summary
    log = dialog.log
    assert log.started is not None and log.finished is not None
    assert log.started <= log.finished
    text = dialog.summary.view.toPlainText()
    assert "DKEK share ceremony for key domain 0" in text
    assert text.count(format_kcv(card_kcv)) == 2  # the shares' and the card's
    assert "matches the card" in text and "2 accepted, 1 refused; 2 of 2 in" in text
    assert all(fingerprint in text for fingerprint in fingerprints)
    assert "refused: " in text and log.started.strftime("%Y-%m-%d %H:%M:%S") in text
    assert vector["password_ascii"] not in text

    # saved as PDF through the page's file dialog: mode 0600, nothing else left
    target = tmp_path / "summary" / "ceremony.pdf"
    target.parent.mkdir()
    dialog.summary.pdf_button.click()
    chooser = dialog.summary.side_dialog
    assert isinstance(chooser, QFileDialog)
    assert chooser.selectedFiles()[0].endswith(".pdf")  # a default name is offered
    chooser.selectFile(str(target))
    chooser.accept()
    data = target.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(path.name for path in target.parent.iterdir()) == ["ceremony.pdf"]
    assert dialog.summary.saved_label.text() == "Saved as ceremony.pdf."
    # saved again over an older, world-readable file (Qt's file dialog asks first):
    # replaced whole, mode 0600
    target.write_bytes(b"an older file")
    target.chmod(0o644)
    assert dialog.summary.save_pdf(target)
    assert target.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(path.name for path in target.parent.iterdir()) == ["ceremony.pdf"]

    dialog.continue_button.click()
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results == [format_kcv(card_kcv)]


def test_the_summary_prints_and_says_when_a_pdf_cannot_be_written(qtbot, tmp_path: Path) -> None:
    page = SummaryPage(CeremonyLog(domain=3, total=2))
    qtbot.addWidget(page)
    missing = tmp_path / "no such folder" / "summary.pdf"
    assert page.save_pdf(missing) is False
    assert page.saved_label.text().startswith("Not saved: ")
    assert not missing.parent.exists()
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printed = tmp_path / "printed.pdf"
    printer.setOutputFileName(str(printed))
    page.print_to(printer)
    assert printed.read_bytes().startswith(b"%PDF-")
    assert "2 share(s) still outstanding" in summary_html(page.log)


def test_a_card_import_into_a_domain_of_three_with_one_imported(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    results: list[Any] = []

    def run(context: Any) -> object:
        hsm = context.hsm
        hsm.verify_pin(DEMO_PIN)
        hsm.create_dkek_domain(2, 3)
        hsm.import_dkek_share(DOMAIN_SHARES[0], 2)
        return import_shares(hsm, context.interaction, 2)

    assert window.submit("Importing shares", run, on_result=results.append)
    pin = seen.next(PinDialog)
    pin.entry.setText(DEMO_PIN)
    pin.accept()
    dialog = seen.next(ShareDialog)
    qtbot.waitUntil(lambda: dialog.pending is not None, timeout=10_000)
    assert dialog.heading.text() == "Key domain 2: DKEK share 2 of 3"
    assert dialog.card_kcv_label.text() == "none yet: 2 share(s) outstanding"
    _type_paperkey(dialog, DOMAIN_SHARES[1])
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.accepted_count == 2, timeout=10_000)
    assert dialog.heading.text() == "Key domain 2: DKEK share 3 of 3"
    assert dialog.card_kcv_label.text() == "none yet: 1 share(s) outstanding"
    assert "1 more share" in dialog.kcv_mark.text()
    _type_paperkey(dialog, DOMAIN_SHARES[2])
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.finished_into_card, timeout=10_000)
    kcv = format_kcv(Dkek.from_shares(DOMAIN_SHARES).kcv())
    assert dialog.card_kcv_label.text() == kcv
    assert dialog.pages.currentWidget() is dialog.summary
    assert dialog.continue_button.text() == "Close"
    texts = dialog.ceremony.entry_texts()
    assert [text.split(DOT)[0] for text in texts] == ["Share 2 of 3", "Share 3 of 3"]
    shown = [dialog.card_kcv_label.text(), dialog.kcv_mark.text(), *texts]
    everything = " ".join([*shown, dialog.summary.view.toPlainText()])
    assert "hidden" not in everything
    assert "2 accepted, 0 refused; 1 on the card before; 3 of 3 in" in everything
    assert "the key domain is complete on the card" in everything
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results[0].kcv == kcv and results[0].complete
    dialog.continue_button.click()
    assert not dialog.isVisible()
