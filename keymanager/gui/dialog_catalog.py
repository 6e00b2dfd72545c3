"""The dialog catalog: every dialog of the app by name, built standalone with sample data.

``keymanager --list-dialogs`` prints the names; ``keymanager --screenshot FILE --dialog
NAME`` renders one on the main window of the demo card; the smoke tests
(``tests/gui_xcb``) open each in a real X11 window.  A factory takes the main window
(its outline loaded) and returns the dialog, not shown yet.

Entries name their factory as ``"module:function"`` and are imported only when built,
so a module that moved breaks its own entry (the catalog tests say which), never the
catalog.  Adding a dialog is one line in :data:`ENTRIES`, or a call of
:meth:`DialogCatalog.register` from the dialog's own module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow

DialogFactory = Callable[["MainWindow"], QWidget]

SAMPLES = "keymanager.gui.dialog_samples"
SCREENS = "keymanager.gui.dialogs.screens"
SCREENSHOTS = "keymanager.gui.screenshots"
SHARES = "keymanager.gui.shares.samples"
PKA = "keymanager.gui.pka_samples"
XKEK = "keymanager.gui.xkek_samples"
CEREMONY = "keymanager.gui.ceremony_samples"

ENTRIES: tuple[tuple[str, str, str], ...] = (
    # name, factory, what it shows
    ("about", f"{SAMPLES}:about", "About: versions and licence"),
    ("pin", f"{SCREENSHOTS}:_pin_dialog", "user PIN, last try"),
    ("so-pin", f"{SCREENSHOTS}:_so_pin_dialog", "SO-PIN to unblock the PIN"),
    ("new-pin", f"{SAMPLES}:new_pin", "a new user PIN, typed twice"),
    ("generate-key", f"{SCREENS}:generate_key", "generate a key"),
    ("delete-key", f"{SAMPLES}:delete_key", "delete a key: type its label"),
    ("restore-key", f"{SAMPLES}:restore_key", "restore a key backup"),
    ("rename-key", f"{SAMPLES}:rename_key", "new label of a key"),
    ("certificate-request", f"{SAMPLES}:certificate_request", "a CSR for a key"),
    ("export-certificate", f"{SAMPLES}:export_certificate", "export format of a certificate"),
    ("data-object", f"{SAMPLES}:data_object", "content of a data object"),
    ("rename-domain", f"{SAMPLES}:rename_domain", "label of a key domain"),
    ("init-device", f"{SCREENS}:init_device", "initialise the device"),
    ("share-ceremony", f"{SCREENS}:share_ceremony", "share ceremony plan"),
    ("paperkey-sheet", f"{SCREENS}:paperkey_sheet", "PaperKey sheet (example share)"),
    ("fragment-sheet", f"{SAMPLES}:fragment_sheet", "n-of-m fragment hand-over screen"),
    ("sheet-print-preview", f"{SAMPLES}:sheet_print_preview", "print preview of a sheet"),
    ("sheet-print", f"{SAMPLES}:sheet_print", "print dialog of a sheet"),
    ("share-password", f"{SAMPLES}:share_password", "new share-file password"),
    ("share", f"{SCREENSHOTS}:_share_dialog", "share input: share 2 of 2 as PaperKey"),
    ("share-summary", f"{SAMPLES}:share_summary", "share input: the summary and KCVs"),
    ("share-refused", f"{SHARES}:refused_then_accepted", "share input: a refused share"),
    ("share-import-waiting", f"{SHARES}:card_import_waiting", "card import: share 2 of 2"),
    ("share-import-done", f"{SHARES}:card_import_done", "card import: the summary"),
    ("pkcs12", f"{SCREENSHOTS}:_pkcs12_wizard", "PKCS#12 import wizard, entries page"),
    ("audit", f"{SCREENS}:audit_view", "auditor view of the card"),
    ("register-custodian", f"{PKA}:register_custodian", "register a custodian's .pka file"),
    ("create-custodian-key", f"{PKA}:create_custodian_key", "a custodian key on this card"),
    ("authenticate-custodians", f"{PKA}:authenticate_custodians", "custodians unlock a device"),
    ("create-group", f"{XKEK}:create_group", "a key-domain group: where GROUP.json goes"),
    ("admit-device", f"{XKEK}:admit_device", "admit a device to a key-domain group"),
    ("derive-kek", f"{XKEK}:derive_kek", "derive an XKEK domain's KEK with a peer"),
    ("copy-key-to-group", f"{XKEK}:copy_key", "copy a key to another device of its group"),
    ("start-ceremony", f"{CEREMONY}:start_ceremony", "start a key ceremony record"),
    ("acting-participant", f"{CEREMONY}:acting_participant", "who acts now in the ceremony"),
    ("close-ceremony", f"{CEREMONY}:close_ceremony", "close the ceremony: the signing key"),
    ("verify-record", f"{CEREMONY}:verify_record", "a ceremony record checked: intact"),
    ("rotate-share", f"{CEREMONY}:rotate_share", "custodian rotation of a share file"),
    ("witness", f"{CEREMONY}:witness", "a witness types their name before a step"),
    ("error", f"{SAMPLES}:error_dialog", "an error: the card was removed"),
    ("result", f"{SAMPLES}:result_box", "what a workflow did"),
    ("file-dialog", f"{SAMPLES}:file_dialog", "save a key backup"),
    ("confirm", f"{SAMPLES}:confirm", "a destructive confirmation"),
    ("message", f"{SAMPLES}:message", "a warning from a workflow"),
    ("show-secret", f"{SAMPLES}:show_secret", "a secret shown once"),
    ("number", f"{SAMPLES}:number", "a number question"),
    ("text", f"{SAMPLES}:text", "a text question"),
    ("choice", f"{SAMPLES}:choice", "a choice with a disabled option"),
    ("user-guide", f"{SAMPLES}:user_guide", "the user guide (F1)"),
)


@dataclass(frozen=True)
class CatalogEntry:
    """One dialog: its name, its factory (or where to import it from) and what it shows."""

    name: str
    factory: DialogFactory | str
    description: str = ""

    def resolve(self) -> DialogFactory:
        """The factory, imported if the entry names it (``ImportError`` if it moved)."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attribute = self.factory.partition(":")
        module = importlib.import_module(module_name)
        try:
            return cast(DialogFactory, getattr(module, attribute))
        except AttributeError:
            raise ImportError(
                f"dialog {self.name!r}: {module_name} has no {attribute} (moved?)"
            ) from None


class DialogCatalog(MutableMapping[str, DialogFactory]):
    """Name → factory, in registration order; a mapping so tests can replace one entry."""

    def __init__(self, entries: tuple[tuple[str, str, str], ...] = ()) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        for name, factory, description in entries:
            self.register(name, factory, description)

    def register(self, name: str, factory: DialogFactory | str, description: str = "") -> None:
        """Add (or replace) the dialog ``name``."""
        self._entries[name] = CatalogEntry(name, factory, description)

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> CatalogEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no dialog called {name!r}; known: {', '.join(self)}") from None

    def build(self, name: str, window: MainWindow) -> QWidget:
        """Build the dialog ``name`` on ``window`` (not shown yet)."""
        return self[name](window)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> DialogFactory:
        return self.entry(name).resolve()

    def __setitem__(self, name: str, factory: DialogFactory) -> None:
        previous = self._entries.get(name)
        self.register(name, factory, previous.description if previous is not None else "")

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


CATALOG = DialogCatalog(ENTRIES)
"""Every dialog of the app (see :data:`ENTRIES`)."""
