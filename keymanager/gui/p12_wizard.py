"""The PKCS#12 import wizard: classic (DKEK shares) and transient key domain.

Pages: the file and its password (opened on a helper thread: an RSA file takes tens of
milliseconds), the entries found (keys, certificates, the chain; keys the card cannot
hold greyed with the reason from :mod:`keymanager.workflows.pkcs12`), the target (a key
domain holding a complete DKEK, or a new transient key domain), a confirmation, and the
import itself with per-key progress and each key's test-signature result.

The wizard collects its answers up front; the import then runs as a job on the card's
worker (:func:`~keymanager.workflows.import_p12.import_pkcs12` or
:func:`~keymanager.workflows.plugins.transient_import.transient_import`) with a
:class:`WizardInteraction`: the workflow's questions about the file, its password,
the entries and the number of shares are answered from the wizard; everything else
(the shares, the PIN, warnings) goes to the window's dialogs through
:class:`~keymanager.gui.gui_interaction.GuiInteraction`.

:func:`install_pkcs12_wizard` puts the wizard behind the plug-in's menu entries
(``plugin:pkcs12.import`` on key domains, ``plugin:pkcs12.transient-import`` on the
device), keeping their ids, labels and node kinds.

The pages and the job live in :mod:`keymanager.gui.p12` (``job``, ``file_pages``,
``target_pages``); this module holds the wizard and re-exports their names.
"""

from __future__ import annotations

import dataclasses
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget, QWizard

from keymanager.card.hsm_types import KeyDomainSlot
from keymanager.dkek.secret import wipe
from keymanager.gui.p12.file_pages import EntriesPage, FilePage
from keymanager.gui.p12.job import (
    TRANSIENT,
    ImportProgress,
    WizardAnswers,
    WizardInteraction,
    run_import,
)
from keymanager.gui.p12.target_pages import (
    ConfirmPage,
    ProgressPage,
    Target,
    TargetPage,
    targets_of,
)
from keymanager.gui.worker import JobContext
from keymanager.workflows.import_p12 import Pkcs12ImportResult
from keymanager.workflows.outline import NodeKind, OutlineNode
from keymanager.workflows.pkcs12 import Pkcs12Contents

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow

__all__ = [
    "CLASSIC_ACTION",
    "TRANSIENT",
    "TRANSIENT_ACTION",
    "ConfirmPage",
    "EntriesPage",
    "FilePage",
    "ImportProgress",
    "Pkcs12Wizard",
    "ProgressPage",
    "Target",
    "TargetPage",
    "WizardAnswers",
    "WizardInteraction",
    "install_pkcs12_wizard",
    "open_pkcs12_wizard",
    "run_import",
    "targets_of",
]

CLASSIC_ACTION = "plugin:pkcs12.import"
TRANSIENT_ACTION = "plugin:pkcs12.transient-import"


class Pkcs12Wizard(QWizard):
    """The PKCS#12 import wizard (see the module docstring).

    :param target: the key domain to preselect, or :data:`TRANSIENT`.
    :param journal_path: the import journal (default: the user's state directory).
    """

    error_shown = Signal(str)
    finished_import = Signal(object)
    """The :class:`Pkcs12ImportResult`, or the exception the import ended with."""

    FILE, ENTRIES, TARGET, CONFIRM, PROGRESS = range(5)

    def __init__(
        self,
        window: MainWindow,
        *,
        target: int = TRANSIENT,
        journal_path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent if parent is not None else window)
        self.main_window = window
        self.initial_target = target
        self.journal_path = journal_path
        self.setObjectName("pkcs12Wizard")
        self.setWindowTitle("Import from PKCS#12")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(720, 520)
        self.contents: Pkcs12Contents | None = None
        self.opened_path: Path | None = None
        self._password = bytearray()
        self.result_: object = None
        self.progress_sink = ImportProgress(self)
        self.file_page = FilePage(self)
        self.entries_page = EntriesPage(self)
        self.target_page = TargetPage(self)
        self.confirm_page = ConfirmPage(self)
        self.progress_page = ProgressPage(self)
        for page_id, page in enumerate(
            (
                self.file_page,
                self.entries_page,
                self.target_page,
                self.confirm_page,
                self.progress_page,
            )
        ):
            self.setPage(page_id, page)
        self.progress_sink.message.connect(self.progress_page.add_message)

    # -- state ----------------------------------------------------------------------------

    def set_contents(self, contents: Pkcs12Contents, path: Path, password: bytearray) -> None:
        if self.contents is not None:
            self.contents.forget()
        wipe(self._password)
        self.contents, self.opened_path, self._password = contents, path, password

    def key_count(self) -> int:
        return sum(1 for entry in self.entries_page.chosen() if entry.startswith("key"))

    def plan_text(self) -> str:
        target = self.target_page.target()
        chosen = self.entries_page.chosen()
        keys = sum(1 for entry in chosen if entry.startswith("key"))
        certificates = len(chosen) - keys
        name = self.opened_path.name if self.opened_path else "?"
        what = f"{keys} key(s) and {certificates} CA certificate(s) from {name}"
        if target is None:
            return "Choose a target first."
        if target.value == TRANSIENT:
            return (
                f"Import {what} through a new transient key domain.\n\nThe user PIN is "
                "asked; each key is sealed (its algorithm list lacks WRAP, and a WRAP "
                "attempt the card refuses proves it) and the domain's one-off KEK is "
                "deleted afterwards.  Each key signs a test message, verified here."
            )
        sealed = (
            "  Each key is sealed: the card refuses to export it (a WRAP attempt the card "
            "refuses proves it)."
            if self.target_page.seal()
            else "  The keys can be backed up with the domain's shares."
        )
        return (
            f"Import {what} under key domain {target.value} (KCV {target.kcv}).\n\n"
            f"The {self.target_page.shares.value()} DKEK share(s) are asked next, one "
            "custodian at a time, and their KCV is compared with the card's before any key "
            "is touched; then the user PIN.  Each key signs a test message, verified here." + sealed
        )

    def answers(self) -> WizardAnswers:
        target = self.target_page.target()
        assert target is not None and self.opened_path is not None
        return WizardAnswers(
            path=self.opened_path,
            password=bytearray(self._password),
            entries=self.entries_page.chosen(),
            target=target.value,
            shares=self.target_page.shares.value(),
            journal_path=self.journal_path,
            seal=self.target_page.seal() and target.value != TRANSIENT,
        )

    # -- the job ----------------------------------------------------------------------

    def start_import(self) -> None:
        window = self.main_window
        worker = window.worker
        if worker is None:
            self.progress_page.show_error("No card is open.")
            return
        answers = self.answers()
        if self.contents is not None:
            self.contents.forget()  # the workflow opens the file again on the worker
        title = "Importing from PKCS#12"
        self.progress_page.status.setText(
            "Importing… (DKEK shares and the PIN are asked in their own dialogs)"
        )
        progress = self.progress_sink

        def run(context: JobContext) -> object:
            return run_import(context, answers, progress)

        worker.submit(title, run, on_result=self._imported, on_error=self._failed)

    def _imported(self, result: object) -> None:
        self.result_ = result
        if isinstance(result, Pkcs12ImportResult):
            self.progress_page.show_result(result)
        self.main_window.statusBar().showMessage("PKCS#12 import finished", 8000)
        self.main_window.refresh()
        self.finished_import.emit(result)

    def _failed(self, error: BaseException) -> None:
        self.result_ = error
        message = self.main_window.show_error(error, "Importing from PKCS#12")
        self.progress_page.show_error(f"{message.title}: {message.text}")
        self.main_window.refresh()
        self.finished_import.emit(error)

    def done(self, result: int) -> None:
        wipe(self._password)
        if self.contents is not None:
            self.contents.forget()
        self.file_page.password.clear()
        super().done(result)


# --- into the app ------------------------------------------------------------------------


def open_pkcs12_wizard(
    window: MainWindow, node: OutlineNode | None, *, journal_path: Path | None = None
) -> Pkcs12Wizard:
    """Open the wizard for ``node`` (a key domain preselects it, else the transient path)."""
    target = TRANSIENT
    if (
        node is not None
        and node.kind is NodeKind.KEY_DOMAIN
        and isinstance(node.data, KeyDomainSlot)
    ):
        target = node.data.number
    wizard = Pkcs12Wizard(window, target=target, journal_path=journal_path)
    wizard.show()
    return wizard


def install_pkcs12_wizard(window: MainWindow, *, journal_path: Path | None = None) -> int:
    """Put the wizard behind the PKCS#12 plug-in's menu entries of ``window``.

    The entries keep their ids, labels and node kinds; the wizard replaces the plain
    job (which would ask everything with generic prompts).  Returns how many entries
    were replaced.  ``MainWindow.__init__`` calls it; calling it again (e.g. with
    another ``journal_path``) replaces the wizard entries it installed before.
    """
    replaced = 0
    window_ref = weakref.ref(window)  # the window holds the entries: no reference cycle

    def open_wizard(node: OutlineNode) -> None:
        target = window_ref()
        if target is not None:
            open_pkcs12_wizard(target, node, journal_path=journal_path)

    open_wizard.is_pkcs12_wizard = True  # type: ignore[attr-defined]

    for index, action in enumerate(window.actions_list):
        if action.id not in (CLASSIC_ACTION, TRANSIENT_ACTION):
            continue
        if action.gui is not None and not getattr(action.gui, "is_pkcs12_wizard", False):
            continue

        window.actions_list[index] = dataclasses.replace(
            action, job=None, gui=open_wizard, needs_card=True, changes_card=False
        )
        replaced += 1
    return replaced
