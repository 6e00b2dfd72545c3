"""Sample builders of dialogs for the catalog (:mod:`keymanager.gui.dialog_catalog`).

Each takes the main window on the demo card (outline loaded) and returns the dialog,
made standalone with sample data and not shown yet: nothing here touches the card, and
no secret of a real card appears (the demo card's secrets are published, and sheets
show example shares made from a fixed text).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from keymanager.workflows.interaction import SecretKind, SecretRequest

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow

EXAMPLE_SHARE = hashlib.sha256(b"keymanager screenshot example share").digest()
"""A public example share (never a real one) for the sheets."""


def _first_node(window: MainWindow, kind_name: str) -> Any:
    from keymanager.workflows.outline import NodeKind

    outline = window.model.outline
    if outline is None:
        raise RuntimeError("the window has no outline loaded")
    for node in outline.nodes(NodeKind[kind_name]):
        return node
    raise RuntimeError(f"the demo card has no {kind_name.lower()} node")


def about(window: MainWindow) -> QWidget:
    from keymanager.gui.about import AboutDialog

    return AboutDialog(window)


def new_pin(window: MainWindow) -> QWidget:
    from keymanager.gui.pin_dialog import PinDialog

    return PinDialog(SecretRequest(SecretKind.NEW_USER_PIN, "changing the PIN"), window)


def share_password(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.sheets import SharePasswordDialog

    dialog = SharePasswordDialog(
        SecretRequest(SecretKind.NEW_SHARE_PASSWORD, "the share file custodian-1.pbe"), window
    )
    dialog.entry.setText("correct horse")  # an example, shown as dots
    return dialog


def delete_key(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.delete_key import DeleteKeyDialog

    key = _first_node(window, "KEY").data
    what = f"{key.kind.value} {key.size}" if key.kind is not None else ""
    return DeleteKeyDialog(key.key_reference, key.label, what, window)


def rename_key(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.rename_key import RenameKeyDialog

    key = _first_node(window, "KEY").data
    return RenameKeyDialog(key.key_reference, key.label, window)


def certificate_request(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.csr import CsrDialog

    key = _first_node(window, "KEY").data
    return CsrDialog(key.key_reference, key.label, key.kind, window)


def export_certificate(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.export import ExportDialog

    key = _first_node(window, "KEY").data
    return ExportDialog(f"the certificate of key {key.key_reference}", parent=window)


def data_object(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.data_object import DataObjectDialog

    content = b"KeyManager demo data object\n" + bytes(range(32))
    return DataObjectDialog("Demo data", 0xCF01, content, window)


def restore_key(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.restore_key import RestoreKeyDialog

    return RestoreKeyDialog(Path("~/backups/TLS-server-2026.wky").expanduser(), window)


def rename_domain(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.rename_domain import RenameDomainDialog

    node = _first_node(window, "KEY_DOMAIN")
    current = node.detail("Label") or ""
    number = int(node.node_id.split(":")[-1])
    return RenameDomainDialog(
        number, "" if current == "(none)" else current, node.detail("Purpose") or "", window
    )


def fragment_sheet(window: MainWindow) -> QWidget:
    """An n-of-m fragment sheet on its hand-over screen (the secret is behind Show)."""
    from keymanager.dkek.paperkey import encode_paperkey
    from keymanager.gui.dialogs.sheets import SecretSheetDialog

    text = encode_paperkey(EXAMPLE_SHARE).text()
    return SecretSheetDialog(
        "Fragment 2 of 3 (example)",
        text,
        window,
        handover="Fragment 2 of 3: give the screen to custodian 2, then press Show.",
        file_name="fragment-2.pdf",
    )


def _sheet_painter() -> Any:
    from keymanager.dkek.paperkey import encode_paperkey
    from keymanager.gui.dialogs.printing import paint_page

    text = encode_paperkey(EXAMPLE_SHARE).text()
    return lambda printer: paint_page(printer, "DKEK share - PaperKey (example)", text)


def sheet_print_preview(window: MainWindow) -> QWidget:
    """The print preview of a PaperKey sheet (of the example share)."""
    from keymanager.gui.dialogs.printing import SheetPreviewDialog

    dialog = SheetPreviewDialog(_sheet_painter(), window)
    dialog.resize(820, 640)
    return dialog


def sheet_print(window: MainWindow) -> QWidget:
    from keymanager.gui.dialogs.printing import SheetPrintDialog

    return SheetPrintDialog(_sheet_painter(), window)


def file_dialog(window: MainWindow) -> QWidget:
    """The "Back up the key" save dialog (opened window-modal; nothing is written)."""
    from keymanager.gui.dialogs.files import file_dialog as open_file_dialog

    dialog = open_file_dialog(
        window,
        "Back up the key",
        lambda _path: None,
        save=True,
        name_filter="Key backups (*.wky)",
        default_name="TLS-server-2026.wky",
        default_suffix="wky",
    )
    dialog.setDirectory(str(Path.home()))
    dialog.resize(760, 480)
    return dialog


def error_dialog(window: MainWindow) -> QWidget:
    from keymanager.card.errors import CardRemoved
    from keymanager.gui.messages import ErrorDialog, describe_error

    message = describe_error(CardRemoved("the card was removed"), "Generating a key")
    return ErrorDialog(message, window)


def result_box(window: MainWindow) -> QWidget:
    return window.show_result(
        "DKEK share created",
        [
            "Share fingerprint: 3F2A 91C0 (example)",
            "Random bytes from the card.",
            "Share file: ~/ceremony/custodian-1.pbe",
        ],
    )


def user_guide(window: MainWindow) -> QWidget:
    from keymanager.gui.help import UserGuideDialog

    dialog = UserGuideDialog(window)
    dialog.resize(820, 600)
    return dialog


# --- the questions a workflow asks through the prompt broker ----------------------


def _prompt(window: MainWindow, kind_name: str, **payload: object) -> QWidget:
    from keymanager.gui.prompt_broker import DialogFactory, PromptKind, PromptRequest

    return DialogFactory().open(PromptRequest(PromptKind[kind_name], dict(payload)), window)


def confirm(window: MainWindow) -> QWidget:
    return _prompt(
        window,
        "CONFIRM",
        message=f"Erase every key and key domain of {window.card_name()}?",
        destructive=True,
    )


def message(window: MainWindow) -> QWidget:
    from keymanager.workflows.interaction import MessageLevel

    return _prompt(window, "MESSAGE", level=MessageLevel.WARNING, text="Wrong PIN: 2 tries left.")


def show_secret(window: MainWindow) -> QWidget:
    return _prompt(window, "SHOW_SECRET", title="New SO-PIN (example)", text="3537363231383039")


def number(window: MainWindow) -> QWidget:
    return _prompt(
        window, "NUMBER", prompt="How many DKEK shares?", minimum=1, maximum=16, default=2
    )


def text(window: MainWindow) -> QWidget:
    return _prompt(window, "TEXT", prompt="Label of the new key", default="TLS server 2027")


def choice(window: MainWindow) -> QWidget:
    from keymanager.workflows.interaction import Choice

    choices = [
        Choice(0, "Key domain 0", "Production DKEK, KCV 1A2B3C4D"),
        Choice(1, "Key domain 1", "waiting for 1 share", disabled="its DKEK is incomplete"),
        Choice(2, "Key domain 2", "empty"),
    ]
    return _prompt(window, "CHOICE", prompt="Under which key domain?", choices=choices)


def share_summary(window: MainWindow) -> QWidget:
    """The share input dialog after both demo shares of domain 0: the summary and KCVs."""
    from datetime import datetime

    from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
    from keymanager.gui.prompt_broker import PromptKind, PromptRequest
    from keymanager.gui.shares import ShareDialog, ShareSession
    from keymanager.simulator.demo import DEMO_SHARES
    from keymanager.workflows.interaction import ShareOutcome, ShareRequest, ShareRoute

    card_kcv = Dkek.from_shares(DEMO_SHARES).kcv()
    dialog = ShareDialog(ShareSession(), window)
    routes = [
        (ShareRoute.FILE, "share file custodian-1.pbe"),
        (ShareRoute.PAPERKEY, "PaperKey typed in"),
    ]
    outcome: ShareOutcome | None = None
    for number, (route, description) in enumerate(routes, start=1):
        request = ShareRequest(number, 2, domain=0, card_kcv=card_kcv, reports_outcome=True)
        dialog.set_request(request)
        dialog.log.hand_over(number, route, description, datetime.now())
        outcome = ShareOutcome(
            request,
            True,
            format_kcv(share_fingerprint(DEMO_SHARES[number - 1])),
            Dkek.from_shares(DEMO_SHARES[:number]).kcv(),
            shares_accepted=number,
        )
        if number < len(routes):
            dialog.report_outcome(outcome)
    assert outcome is not None
    dialog.show_final(PromptRequest(PromptKind.SHARE_DONE, {}), outcome)
    return dialog
