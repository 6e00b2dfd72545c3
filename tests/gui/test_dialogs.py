"""The card actions' dialogs on the demo card: the real widgets, the real workflows.

Each test drives the dialogs a user would see (opened window-modally, announced on
``window.dialog_opened`` or the broker's ``dialog_opened``) and checks the card
afterwards through the outline or a job on the window's worker.
"""

from __future__ import annotations

import datetime
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.paperkey import decode_paperkey, encode_paperkey
from keymanager.gui.dialogs.ceremony import Route, SecretSheetDialog, ShareCeremonyDialog
from keymanager.gui.dialogs.delete_key import DeleteKeyDialog
from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.dialogs.init_device import InitDeviceDialog
from keymanager.gui.dialogs.restore_key import RestoreKeyDialog
from keymanager.gui.messages import ErrorDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import ShareDialog
from keymanager.gui.worker import JobContext
from keymanager.simulator.demo import (
    DEMO_DOMAIN1_SHARES,
    DEMO_KEYS,
    DEMO_PIN,
    DEMO_SO_PIN,
)
from keymanager.workflows.device import DkekScheme
from keymanager.workflows.keys import default_journal_dir
from keymanager.workflows.outline import NodeKind
from tests.support.gui_window import Seen

TODAY = datetime.datetime.now(datetime.UTC).date().isoformat()


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Journals (keys, PKCS#12 import) go below the test's directory."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


def enter_secret(dialog: PinDialog, secret: str) -> None:
    dialog.entry.setText(secret)
    confirm = getattr(dialog, "confirm_entry", None)
    if confirm is not None:
        confirm.setText(secret)
    dialog.accept()


def choose_file(dialog: QFileDialog, path: Path) -> None:
    dialog.selectFile(str(path))
    dialog.accept()


def run_on_card(qtbot: Any, window: Any, run: Any) -> Any:
    """Run ``run(context)`` on the window's worker and return its result."""
    results: list[object] = []
    with qtbot.waitSignal(window.job_done, timeout=10_000):
        window.submit("Test probe", run, on_result=results.append)
    assert results, "the probe job failed"
    return results[0]


def key_titles(window: Any) -> list[str]:
    return [node.title for node in window.model.outline.nodes(NodeKind.KEY)]


def test_generate_key_appears_in_the_outline_and_is_selected(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    assert window.generate_action.isEnabled()
    window.generate_action.trigger()
    dialog = seen.next(GenerateKeyDialog)
    assert not dialog.ok_button.isEnabled() and "label" in dialog.problem_label.text()
    dialog.label_edit.setText("GUI test key")
    dialog.allowed_edit.setText("zz")
    assert not dialog.ok_button.isEnabled()
    dialog.allowed_edit.setText("")
    dialog.select_algorithm("ec:secp256r1")
    assert dialog.domain_combo.count() == 3  # none, domain 0, domain 1
    dialog.ok_button.click()
    pin = seen.next(PinDialog)
    assert pin.request.tries_left == 3
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        enter_secret(pin, DEMO_PIN)
    titles = key_titles(window)
    assert any(title.startswith("GUI test key") for title in titles)
    assert len(titles) == len(DEMO_KEYS) + 1
    selected = window.selected_node()
    assert selected.kind is NodeKind.KEY and selected.title.startswith("GUI test key")
    assert "EC" in (selected.detail("Type") or "")
    # the journal of the generation was closed
    assert not list(default_journal_dir().glob("*.json"))


def test_delete_key_needs_its_label_typed(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    label = DEMO_KEYS[-1].label
    node = next(n for n in window.model.outline.nodes(NodeKind.KEY) if n.title.startswith(label))
    assert "delete-key" in [a.id for a in window.context_actions(node)]
    assert window.run_action("delete-key", node)
    dialog = seen.next(DeleteKeyDialog)
    assert not dialog.delete_button.isEnabled()
    dialog.entry.setText(label.upper())
    assert not dialog.delete_button.isEnabled()
    dialog.accept()  # refused while the label does not match
    assert dialog.isVisible()
    dialog.entry.setText(label)
    assert dialog.delete_button.isEnabled()
    dialog.delete_button.click()
    pin = seen.next(PinDialog)  # the typed label was the confirmation: no second question
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        enter_secret(pin, DEMO_PIN)
    assert not any(title.startswith(label) for title in key_titles(window))
    assert len(key_titles(window)) == len(DEMO_KEYS) - 1
    assert seen.count(QMessageBox) == 0


def test_change_pin_then_the_new_pin_verifies(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    pin_node = window.model.outline.find("pin")
    ids = [a.id for a in window.context_actions(pin_node)]
    assert {"change-pin", "unblock-pin", "unblock-set-pin"} <= set(ids)
    assert window.run_action("change-pin", pin_node)
    current = seen.next(PinDialog)
    assert current.request.tries_left == 3
    enter_secret(current, DEMO_PIN)
    new = seen.next(PinDialog)
    assert new.request.confirm
    new.entry.setText("24682468")
    new.confirm_entry.setText("24682469")
    assert not new.buttons.button(new.buttons.StandardButton.Ok).isEnabled()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        new.confirm_entry.setText("24682468")
        new.accept()

    def verify(context: JobContext) -> str:
        from keymanager.card.errors import WrongPin

        try:
            context.hsm.verify_pin(DEMO_PIN.encode())
            old = "accepted"
        except WrongPin:
            old = "refused"
        context.hsm.verify_pin(b"24682468")
        return old

    assert run_on_card(qtbot, window, verify) == "refused"


def test_initialise_asks_a_confirmation_naming_the_card(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    serial = window.model.outline.device.detail("Serial")
    assert serial
    # declined: nothing changes
    assert window.run_action("init-device")
    dialog = seen.next(InitDeviceDialog)
    assert serial in dialog.warning.text() and "KeyManager demo card" in dialog.warning.text()
    dialog.ok_button.click()
    enter_secret(seen.next(PinDialog), DEMO_SO_PIN.hex())
    enter_secret(seen.next(PinDialog), "135790")
    confirm = seen.next(QMessageBox)
    assert serial in confirm.text() and "ERASES" in confirm.text()
    assert "Simulated card (demo)" in confirm.text()  # the reader
    with qtbot.waitSignal(window.message_shown, timeout=10_000) as shown:
        next(b for b in confirm.buttons() if b.text() == "No").click()
    assert shown.args[0].title == "Cancelled"
    qtbot.waitUntil(lambda: not window.worker.busy, timeout=10_000)
    assert len(key_titles(window)) == len(DEMO_KEYS)

    # accepted: a DKEK of 3 shares, a label, the new PIN
    assert window.run_action("init-device")
    dialog = seen.next(InitDeviceDialog)
    dialog.select_scheme(DkekScheme.DKEK_SHARES)
    dialog.shares_spin.setValue(3)
    dialog.unblock_only.setChecked(True)
    dialog.reset_retry.setChecked(False)
    assert not dialog.ok_button.isEnabled()  # 'unblock only' needs the reset option
    dialog.reset_retry.setChecked(True)
    dialog.label_edit.setText("Re-initialised by a test")
    dialog.ok_button.click()
    enter_secret(seen.next(PinDialog), DEMO_SO_PIN.hex())
    enter_secret(seen.next(PinDialog), "135790")
    confirm = seen.next(QMessageBox)
    yes = next(b for b in confirm.buttons() if b.text() == "Yes, erase")
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        yes.click()
    outline = window.model.outline
    assert outline.device.detail("Label") == "Re-initialised by a test"
    assert key_titles(window) == []
    domains = [node.title for node in outline.nodes(NodeKind.KEY_DOMAIN)]
    assert domains == [f"Key domain 0 — custodian DKEK of {TODAY}, waiting for 3 of 3 share(s)"]

    def verify(context: JobContext) -> str:
        context.hsm.verify_pin(b"135790")
        return context.hsm.pin_status().describe()

    assert "verified" in run_on_card(qtbot, window, verify)


def test_key_domain_create_and_delete(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    empty = window.model.outline.find("domain:2")
    complete = window.model.outline.find("domain:0")
    assert "create-domain" in [a.id for a in window.context_actions(empty)]
    assert "create-domain" not in [a.id for a in window.context_actions(complete)]
    assert "delete-domain" not in [a.id for a in window.context_actions(empty)]
    assert window.run_action("create-domain", empty)
    number = seen.next(QInputDialog)
    number.setIntValue(1)
    number.accept()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        enter_secret(seen.next(PinDialog), DEMO_PIN)
    created = window.model.outline.find("domain:2")
    assert created.title == f"Key domain 2 — custodian DKEK of {TODAY}, waiting for 1 of 1 share(s)"
    assert window.run_action("delete-domain", created)
    confirm = seen.next(QMessageBox)
    assert "key domain 2" in confirm.text().lower()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        next(b for b in confirm.buttons() if b.text() == "Yes, erase").click()
    assert window.model.outline.find("domain:2").title == "Key domain 2: empty"


def test_import_the_missing_share_into_a_domain(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    waiting = window.model.outline.find("domain:1")
    assert "import-shares" in [a.id for a in window.context_actions(waiting)]
    assert "import-shares" not in [
        a.id for a in window.context_actions(window.model.outline.find("domain:0"))
    ]
    assert window.run_action("import-shares", waiting)
    enter_secret(seen.next(PinDialog), DEMO_PIN)
    dialog = seen.next(ShareDialog)
    qtbot.waitUntil(lambda: dialog.pending is not None, timeout=10_000)
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    for edit, line in zip(
        dialog.paperkey_tab.lines, encode_paperkey(DEMO_DOMAIN1_SHARES[1]).lines, strict=True
    ):
        edit.setText(line)
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        assert dialog.hand_over()
    kcv = format_kcv(Dkek.from_shares(DEMO_DOMAIN1_SHARES).kcv())
    assert window.model.outline.find("domain:1").detail("KCV") == kcv


def test_backup_and_restore_through_file_dialogs(qtbot, window, tmp_path: Path) -> None:
    seen = Seen(qtbot, window)
    label = DEMO_KEYS[-1].label  # the demo key whose algorithm list does not seal it
    node = next(n for n in window.model.outline.nodes(NodeKind.KEY) if n.title.startswith(label))
    backup = tmp_path / "backup.wky"
    assert window.run_action("backup-key", node)
    choose_file(seen.next(QFileDialog), backup)
    with qtbot.waitSignal(window.job_done, timeout=15_000):
        enter_secret(seen.next(PinDialog), DEMO_PIN)
    assert backup.exists() and stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    qtbot.waitUntil(lambda: not window.worker.busy, timeout=10_000)
    domain0 = window.model.outline.find("domain:0").detail("KCV")
    assert domain0 is not None
    # restoring it adds a second key with that label (the PIN is still verified)
    assert window.run_action("restore-key", window.model.outline.find("keys"))
    choose_file(seen.next(QFileDialog), backup)
    restore = seen.next(RestoreKeyDialog)
    assert not restore.seal_box.isChecked()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        restore.ok_button.click()
    assert sum(title.startswith(label) for title in key_titles(window)) == 2
    assert window.selected_node().title.startswith(label)


def test_paperkey_ceremony_shows_a_printable_sheet(qtbot, window, tmp_path: Path) -> None:
    seen = Seen(qtbot, window)
    assert window.share_action.isEnabled()
    window.share_action.trigger()
    dialog = seen.next(ShareCeremonyDialog)
    assert not dialog.ok_button.isEnabled()  # a share file route without a file
    dialog.select_route(Route.PAPERKEY)
    paperkey_pdf = tmp_path / "paperkey.pdf"
    dialog.paperkey_pdf_edit.setText(str(paperkey_pdf))
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    sheet = seen.next(SecretSheetDialog)
    rows = [line.strip() for line in sheet.sheet.text().splitlines()]
    lines = [row for row in rows if row[:2] in {"1:", "2:", "3:", "4:"}]
    assert len(lines) == 4
    share = decode_paperkey(lines)
    # print to a PDF file through Qt's printing, and export with keymanager's writer
    printed = tmp_path / "printed.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(printed))
    sheet.print_to(printer)
    assert printed.read_bytes().startswith(b"%PDF")
    exported = tmp_path / "sheet.pdf"
    sheet.pdf_button.click()
    choose_file(sheet.save_dialog, exported)
    assert exported.read_bytes().startswith(b"%PDF-1.4")
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
    assert lines[0].encode() in exported.read_bytes()
    preview = sheet.preview()
    assert preview.isVisible()
    preview.close()
    sheet.done_button.click()
    result = seen.next(QMessageBox)
    fingerprint = format_kcv(share_fingerprint(share))
    assert f"Share fingerprint: {fingerprint}" in result.informativeText()
    assert "Random bytes from the card" in result.informativeText()
    assert paperkey_pdf.exists() and stat.S_IMODE(os.stat(paperkey_pdf).st_mode) == 0o600
    assert not shiboken6.isValid(sheet)  # the sheet and its text are gone


def test_card_removed_during_a_job_shows_its_message_and_recovery_runs(
    qtbot, window, demo_card
) -> None:
    seen = Seen(qtbot, window)
    assert window.run_action("generate-key")
    dialog = seen.next(GenerateKeyDialog)
    dialog.label_edit.setText("Pulled out")
    dialog.ok_button.click()
    pin = seen.next(PinDialog)
    demo_card.faults.remove_at(3)  # VERIFY, listing, then GENERATE
    with qtbot.waitSignal(window.message_shown, timeout=15_000) as shown:
        enter_secret(pin, DEMO_PIN)
    message = shown.args[0]
    assert message.title == "The card was removed"
    box = window.findChild(ErrorDialog, "errorDialog")
    assert box is not None and box.isVisible() and "CardRemoved" in box.detailedText()
    box.close()
    # the generation's journal stayed; the next session rolls it back (nothing to ask:
    # the card holds none of its files)
    assert list(default_journal_dir().glob("*.json"))
    demo_card.insert()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        window.refresh()
    qtbot.waitUntil(lambda: bool(window.recovery_notes), timeout=10_000)
    assert "rolled back" in window.recovery_notes[0]
    assert not list(default_journal_dir().glob("*.json"))
    assert len(key_titles(window)) == len(DEMO_KEYS)


@pytest.mark.qt_no_exception_capture
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_uncaught_exceptions_open_the_error_dialog(qtbot, window, tmp_path: Path) -> None:
    handle = window.error_hook
    assert handle is not None and sys.excepthook is handle.hook
    try:
        raise RuntimeError("something nobody expected")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    qtbot.waitUntil(lambda: bool(handle.dialogs), timeout=5_000)
    dialog = handle.dialogs[0]
    assert dialog.text() == "Unexpected error"
    assert "something nobody expected" in dialog.informativeText()
    assert "Traceback" in dialog.detailedText()
    dialog.save_button.click()
    log = tmp_path / "error.txt"
    with qtbot.waitSignal(dialog.log_saved, timeout=5_000):
        choose_file(dialog.save_dialog, log)
    saved = log.read_text()
    assert saved.index("Unexpected error") < saved.index("Traceback")
    assert "Recent log:" in saved and "uncaught RuntimeError" in saved
    dialog.close()
    # from another thread as well
    thread = threading.Thread(target=lambda: 1 / 0, name="failing helper")
    thread.start()
    thread.join()
    qtbot.waitUntil(
        lambda: any("ZeroDivisionError" in d.detailedText() for d in handle.dialogs),
        timeout=5_000,
    )
    for open_dialog in handle.dialogs:
        open_dialog.close()
    window.shutdown()
    assert sys.excepthook is not handle.hook and handle.hook is None


def test_screenshot_builders_render_their_dialogs(qtbot, window, tmp_path: Path) -> None:
    from keymanager.gui.audit_view import AuditView
    from keymanager.gui.dialogs.screens import BUILDERS

    assert {"audit", "share-ceremony"} <= set(BUILDERS)
    for name, build in BUILDERS.items():
        widget = build(window)
        widget.show()
        image = widget.grab()
        assert not image.isNull() and image.width() > 200, name
        assert image.save(str(tmp_path / f"{name}.png"), "PNG")
        if isinstance(widget, AuditView):
            assert widget.model.rowCount() == 3
        widget.close()


def test_a_secret_shown_once_cannot_be_copied(qtbot, window) -> None:
    """The random PIN (shown once by init) sits in a label that cannot be selected or copied."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QDialog, QLabel

    seen = Seen(qtbot, window)
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("before")
    results: list[object] = []
    window.submit(
        "Show a secret",
        lambda context: context.interaction.show_secret("New PIN", "918273"),
        on_result=results.append,
    )
    dialog = seen.next(QDialog)
    assert dialog.objectName() == "showSecretDialog"
    label = dialog.findChild(QLabel, "secret")
    assert label.text() == "918273"
    assert label.textInteractionFlags() == Qt.TextInteractionFlag.NoTextInteraction
    assert label.contextMenuPolicy() == Qt.ContextMenuPolicy.NoContextMenu
    qtbot.keyClick(dialog, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "before"
    with qtbot.waitSignal(window.job_done, timeout=10_000):
        dialog.accept()
    assert results == [None]
