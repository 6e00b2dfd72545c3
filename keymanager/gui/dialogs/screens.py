"""Builders of this package's dialogs for ``keymanager --screenshot FILE --dialog NAME``.

Each takes the main window (its outline loaded) and returns the widget to render; the
registry in :mod:`keymanager.gui.screenshots` maps names to them (``audit`` →
:func:`audit_view`, ``share-ceremony`` → :func:`share_ceremony`, ``generate-key`` →
:func:`generate_key`, ``init-device`` → :func:`init_device`, ``paperkey-sheet`` →
:func:`paperkey_sheet`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QWidget

from keymanager.dkek.paperkey import encode_paperkey
from keymanager.gui.dialogs.ceremony import Route, SecretSheetDialog, ShareCeremonyDialog
from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.dialogs.init_device import InitDeviceDialog

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.worker import JobContext

AUDIT_TIMEOUT_MS = 30_000


def audit_view(window: MainWindow) -> QWidget:
    """The auditor view of the window's card (the audit runs on the worker)."""
    from keymanager.gui.audit_view import AuditView
    from keymanager.workflows.audit import AuditReport, audit

    loop = QEventLoop()
    reports: list[AuditReport] = []

    def run(context: JobContext) -> object:
        return audit(context.hsm)

    def done(result: object) -> None:
        if isinstance(result, AuditReport):
            reports.append(result)
        loop.quit()

    def failed(error: BaseException) -> None:
        loop.quit()

    worker = window.worker
    if worker is None:
        raise RuntimeError("no card to audit")
    worker.submit("Auditing the card", run, on_result=done, on_error=failed)
    QTimer.singleShot(AUDIT_TIMEOUT_MS, loop.quit)
    loop.exec()
    if not reports:
        raise RuntimeError("the audit did not finish")
    view = AuditView(reports[0], lambda: None, window)
    view.resize(820, 520)
    return view


def share_ceremony(window: MainWindow) -> QWidget:
    """The share ceremony dialog, filled in for an n-of-m share file with a PaperKey."""
    dialog = ShareCeremonyDialog(window)
    dialog.select_route(Route.N_OF_M_FILE)
    dialog.file_edit.setText("~/ceremony/custodian-1.pbe")
    dialog.threshold_spin.setValue(3)
    dialog.total_spin.setValue(5)
    dialog.fragments_edit.setText("~/ceremony/fragments")
    dialog.paperkey_box.setChecked(True)
    return dialog


def paperkey_sheet(window: MainWindow) -> QWidget:
    """A PaperKey sheet of a public example share (never a real one)."""
    example = encode_paperkey(hashlib.sha256(b"keymanager screenshot example share").digest())
    return SecretSheetDialog("DKEK share - PaperKey (example)", example.text(), window)


def generate_key(window: MainWindow) -> QWidget:
    dialog = GenerateKeyDialog(window.domain_choices(), window)
    dialog.label_edit.setText("TLS server 2027")
    return dialog


def init_device(window: MainWindow) -> QWidget:
    return InitDeviceDialog(window.card_name(), window)


BUILDERS = {
    "audit": audit_view,
    "share-ceremony": share_ceremony,
    "paperkey-sheet": paperkey_sheet,
    "generate-key": generate_key,
    "init-device": init_device,
}
"""Name → builder, for :func:`keymanager.gui.screenshots.register_dialog`."""
