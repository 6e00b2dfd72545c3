"""The auditor view on the demo card: the table, CSV and PDF exports, printing, probing.

The exports are compared with what the card itself reports (``key_domain_status`` of
every slot, read on the window's worker), not with fixed values.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtPrintSupport import QPrinter

from keymanager.dkek.dkek import format_kcv
from keymanager.gui.audit_view import CSV_COLUMNS, UNKNOWN_DOMAIN, AuditView, audit_document
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.worker import JobContext
from keymanager.simulator.demo import DEMO_KEYS, DEMO_PIN
from keymanager.workflows.outline import NodeKind


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _next(qtbot: Any, items: list[object], kind: type, used: set[int]) -> Any:
    found: list[object] = []

    def look() -> bool:
        for item in items:
            if isinstance(item, kind) and id(item) not in used:
                used.add(id(item))
                found.append(item)
                return True
        return False

    qtbot.waitUntil(look, timeout=10_000)
    return found[0]


@pytest.fixture
def opened(window: Any) -> list[object]:
    items: list[object] = []
    window.dialog_opened.connect(items.append)
    window.broker.dialog_opened.connect(items.append)
    return items


def _open_view(qtbot: Any, window: Any, opened: list[object]) -> AuditView:
    window.audit_action.trigger()
    view = _next(qtbot, opened, AuditView, set())
    assert view.isVisible()
    return view


def _card_domains(qtbot: Any, window: Any) -> dict[int, Any]:
    """Every key-domain slot's status as the card answers it now."""
    results: list[object] = []

    def read(context: JobContext) -> dict[int, Any]:
        return {
            slot.index: context.hsm.key_domain_status(slot.index)
            for slot in context.hsm.key_domains()
        }

    with qtbot.waitSignal(window.job_done, timeout=10_000):
        window.submit("Reading the key domains", read, on_result=results.append)
    domains = results[0]
    assert isinstance(domains, dict)
    return domains


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_csv_export_holds_exactly_the_kcvs_the_card_reports(
    qtbot, window, opened, tmp_path: Path
) -> None:
    view = _open_view(qtbot, window, opened)
    card = _card_domains(qtbot, window)
    assert view.model.rowCount() == len(card) == 3
    view.csv_button.click()
    assert view.save_dialog is not None
    path = tmp_path / "audit.csv"
    with qtbot.waitSignal(view.exported, timeout=5_000):
        view.save_dialog.selectFile(str(path))
        view.save_dialog.accept()
    rows = _rows(path.read_text())
    outline = window.model.outline
    # the device columns on every row: as the outline's device node reads the card
    for row in rows:
        assert row["serial"] == outline.device.detail("Serial")
        assert row["authenticity"] == outline.device.detail("Authenticity")
        assert row["device_label"] == outline.device.detail("Label")
        assert row["firmware"] == outline.device.detail("Version")
        assert row["report_created"] == view.report.created
    # one row per key: every key of the card once
    keyed = [row for row in rows if row["key_reference"]]
    labels = sorted(node.title for node in outline.nodes(NodeKind.KEY))
    assert len(keyed) == len(labels) == len(DEMO_KEYS)
    assert sorted(row["key_label"] for row in keyed) == sorted(d.label for d in DEMO_KEYS)
    by_domain: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_domain.setdefault(row["domain"], []).append(row)
    assert {int(d) for d in by_domain if d != UNKNOWN_DOMAIN} == set(card)
    for number, status in card.items():
        of_domain = by_domain[str(number)]
        # a domain without keys still has its one row
        assert len(of_domain) == max(1, int(of_domain[0]["domain_keys"]))
        for row in of_domain:
            if status is None:
                assert (row["domain_state"], row["kcv"], row["kcv_status"]) == (
                    "empty",
                    "",
                    "empty",
                )
                continue
            assert int(row["shares_total"]) == status.shares_total
            assert int(row["shares_outstanding"]) == status.shares_outstanding
            if status.complete:
                assert row["kcv"] == format_kcv(status.kcv) and row["kcv_status"] == "known"
            else:
                # the card's value is a partial sum while shares are outstanding
                assert row["kcv"] == "" and row["kcv_status"] == "pending"
    complete = {format_kcv(s.kcv) for s in card.values() if s is not None and s.complete}
    assert {row["kcv"] for row in rows if row["kcv"]} == complete
    # the table shows the same
    assert view.model.cell(0, 3) == by_domain["0"][0]["kcv"]
    assert view.model.cell(1, 3) == "pending: shares outstanding"
    for domain in view.report.domains:
        row = by_domain[str(domain.number)][0]
        assert row["domain_purpose"] == (domain.purpose or "")
        assert row["domain_label"] == domain.label
        if domain.state != "empty":
            assert view.model.cell(domain.number, 2) == domain.description
    assert view.keys_model.rowCount() == len(DEMO_KEYS)
    # the view's header names the device as the outline does
    assert view.fields["Authenticity"].text() == outline.device.detail("Authenticity")
    assert view.fields["Label"].text() == outline.device.detail("Label")
    assert view.fields["Firmware"].text() == outline.device.detail("Version")


def test_pdf_export_and_printing_to_a_pdf_file(qtbot, window, opened, tmp_path: Path) -> None:
    view = _open_view(qtbot, window, opened)
    card = _card_domains(qtbot, window)
    kcv = format_kcv(card[0].kcv)
    text = audit_document(view.report).toPlainText()
    assert kcv in text and "pending: shares outstanding" in text
    assert all(key.label in text for key in DEMO_KEYS)
    view.pdf_button.click()
    assert view.save_dialog is not None
    pdf = tmp_path / "audit.pdf"
    with qtbot.waitSignal(view.exported, timeout=10_000):
        view.save_dialog.selectFile(str(pdf))
        view.save_dialog.accept()
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert b"/Title" in data and len(data) > 2000
    printed = tmp_path / "printed.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    view.print_to(printer)
    assert printed.read_bytes().startswith(b"%PDF") and printed.stat().st_size > 2000
    dialog = view.ask_print()
    assert dialog.isVisible()
    dialog.reject()


def test_find_key_domains_places_the_keys_in_their_domain(
    qtbot, window, opened, tmp_path: Path
) -> None:
    view = _open_view(qtbot, window, opened)
    view.probe_button.click()
    pin = _next(qtbot, opened, PinDialog, set())
    pin.entry.setText(DEMO_PIN)
    pin.accept()
    qtbot.waitUntil(lambda: view.report.domains_probed, timeout=15_000)
    # the demo keys were imported under domain 0's DKEK: each is placed there (recorded
    # by keymanager, or found by the probe), unless its algorithm list seals it
    keys = sorted(view.keys_model.keys, key=lambda key: key.key_reference)
    assert len(keys) == len(DEMO_KEYS)
    for key, demo in zip(keys, DEMO_KEYS, strict=True):
        if demo.allowed_algorithms and key.domain_source != "recorded":
            assert (key.domain, key.export_state) == (None, "sealed")  # WRAP refused
        else:
            assert key.domain == 0
    placed = sum(key.domain == 0 for key in keys)
    assert view.model.cell(0, 6).split(" ")[0] == str(placed)
    rows = _rows(view.export_csv(tmp_path / "probed.csv").read_text())
    in_zero = [row for row in rows if row["domain"] == "0"]
    assert len(in_zero) == placed and {row["domain_keys"] for row in in_zero} == {str(placed)}
    # the keys table lists them domain by domain: domain 0's keys first
    assert [view.keys_model.cell(row, 0).split(" ")[0] for row in range(placed)] == ["0"] * placed
    assert "wrapped" in view.note.text()
    assert "0 (" in audit_document(view.report).toPlainText()
