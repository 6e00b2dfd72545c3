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
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from keymanager.card.hsm_types import KeyDomainSlot
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.secret import wipe
from keymanager.gui.dialogs.parts import SEAL_TEXT, SEAL_TIP
from keymanager.gui.worker import JobContext
from keymanager.workflows.import_p12 import (
    ImportJournal,
    Pkcs12ImportResult,
    import_pkcs12,
)
from keymanager.workflows.interaction import (
    Choice,
    Interaction,
    MessageLevel,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareOutcome,
    ShareRequest,
)
from keymanager.workflows.outline import NodeKind, OutlineNode
from keymanager.workflows.pkcs12 import Pkcs12Contents, Pkcs12Error, open_pkcs12
from keymanager.workflows.plugins.transient_import import transient_import

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow

T = TypeVar("T")

TRANSIENT = -1
"""The target value of "a new transient key domain"."""
CLASSIC_ACTION = "plugin:pkcs12.import"
TRANSIENT_ACTION = "plugin:pkcs12.transient-import"


# --- what the wizard collected, and the interaction that answers from it ---------------


@dataclass
class WizardAnswers:
    """What the wizard collected (the password is wiped by :meth:`forget`)."""

    path: Path
    password: bytearray = field(repr=False)
    entries: list[str]
    target: int
    shares: int = 1
    journal_path: Path | None = None
    seal: bool = False
    """Classic path: the card must never export the keys (the transient path always seals)."""

    @property
    def transient(self) -> bool:
        return self.target == TRANSIENT

    def forget(self) -> None:
        wipe(self.password)


class ImportProgress(QObject):
    """Carries the workflow's per-key messages from the worker to the wizard."""

    message = Signal(str)


class WizardInteraction(Interaction):
    """Answers the import workflow's questions about the file from the wizard; everything
    else (shares, PIN, warnings, progress, cancel) goes to ``inner``."""

    def __init__(
        self, inner: Interaction, answers: WizardAnswers, progress: ImportProgress
    ) -> None:
        self.inner = inner
        self.answers = answers
        self.progress_sink = progress
        self._password_given = False

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        if "DKEK shares" in prompt and minimum <= self.answers.shares <= maximum:
            return self.answers.shares
        return self.inner.ask_number(prompt, minimum=minimum, maximum=maximum, default=default)

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        return self.inner.ask_choice(prompt, choices)

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        wanted = set(self.answers.entries)
        return [c.value for c in choices if c.disabled is None and str(c.value) in wanted]

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        if "PKCS#12 file" in prompt:
            return ""  # the wizard's file was given up front: no further file
        return self.inner.ask_text(prompt, default=default)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        if request.kind is SecretKind.PKCS12_PASSWORD and not self._password_given:
            self._password_given = True
            return bytearray(self.answers.password)
        return self.inner.ask_secret(request)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        return self.inner.ask_share(request)

    def share_checked(self, outcome: ShareOutcome) -> None:
        self.inner.share_checked(outcome)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        if message.startswith(("Import more entries", "Import another PKCS#12 file")):
            return False  # the wizard chose the entries; run it again for more
        return self.inner.confirm(message, destructive=destructive)

    def show_secret(self, title: str, text: str) -> None:
        self.inner.show_secret(title, text)

    def message(self, level: MessageLevel, text: str) -> None:
        self.progress_sink.message.emit(text)
        self.inner.message(level, text)

    def progress(self, step: str, done: int, total: int) -> None:
        self.inner.progress(step, done, total)

    def cancel_requested(self) -> bool:
        return self.inner.cancel_requested()


def run_import(context: JobContext, answers: WizardAnswers, progress: ImportProgress) -> object:
    """The wizard's job on the worker thread (the wizard's answers, the card's dialogs)."""
    interaction = WizardInteraction(context.interaction, answers, progress)
    journal = ImportJournal(answers.journal_path)
    try:
        if answers.transient:
            return transient_import(
                context.hsm, interaction, path=answers.path, journal=journal, offer_more=False
            )
        return import_pkcs12(
            context.hsm,
            interaction,
            domain=answers.target,
            path=answers.path,
            journal=journal,
            offer_more=False,
            seal=answers.seal,
        )
    finally:
        answers.forget()


# --- opening the file off the GUI thread ---------------------------------------------


class _Opener(QObject):
    """Opens a PKCS#12 file on a helper thread; ``done`` arrives on the GUI thread."""

    done = Signal(object, object)  # contents or None, error or None

    def open(self, path: Path, password: bytearray) -> threading.Thread:
        secret = bytearray(password)

        def work() -> None:
            try:
                contents = open_pkcs12(path, secret)
            except Pkcs12Error as error:
                self.done.emit(None, error)
            except Exception as error:  # anything else: shown, never a traceback dialog
                self.done.emit(None, Pkcs12Error(f"{path.name} cannot be opened: {error}"))
            else:
                self.done.emit(contents, None)
            finally:
                wipe(secret)

        thread = threading.Thread(target=work, name="PKCS#12 open", daemon=True)
        thread.start()
        return thread


# --- the pages -------------------------------------------------------------------------


class FilePage(QWizardPage):
    """The file (picker or drop) and its own password."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("PKCS#12 file")
        self.setSubTitle(
            "Choose the .p12 / .pfx file and type its password (the file's own password, "
            "not a DKEK share password)."
        )
        self.setAcceptDrops(True)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setObjectName("p12Path")
        self.path.setPlaceholderText("choose a file or drop it here")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.password = QLineEdit()
        self.password.setObjectName("p12Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Password:", self.password)
        self.status = QLabel()
        self.status.setObjectName("p12FileStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.path.textChanged.connect(self.completeChanged)
        self.opening = False
        self.opener = _Opener(self)
        self.opener.done.connect(self._opened)
        self.open_thread: threading.Thread | None = None

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "PKCS#12 file", "", "PKCS#12 files (*.p12 *.pfx);;All files (*)"
        )
        if path:
            self.path.setText(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.path.setText(urls[0].toLocalFile())
            self.password.setFocus()
            event.acceptProposedAction()

    def isComplete(self) -> bool:
        return bool(self.path.text().strip()) and not self.opening

    def validatePage(self) -> bool:
        """Next: open the file on a helper thread; the wizard moves on when it opened."""
        if self.owner.contents is not None and self.owner.opened_path == self._path():
            return True
        if not self.opening:
            self._start()
        return False

    def _path(self) -> Path:
        return Path(self.path.text().strip())

    def _start(self) -> None:
        self.opening = True
        self.status.setText("Opening the file…")
        self.status.setStyleSheet("")
        self.completeChanged.emit()
        password = bytearray(self.password.text().encode())
        try:
            self.open_thread = self.opener.open(self._path(), password)
        finally:
            wipe(password)

    def _opened(self, contents: object, error: object) -> None:
        self.opening = False
        self.completeChanged.emit()
        if isinstance(error, BaseException) or not isinstance(contents, Pkcs12Contents):
            self.status.setText(str(error))
            self.status.setStyleSheet("color: #b00020;")
            self.owner.error_shown.emit(str(error))
            return
        self.owner.set_contents(contents, self._path(), bytearray(self.password.text().encode()))
        self.password.clear()
        self.status.setText(f"Opened {self._path().name}.")
        self.owner.next()


class EntriesPage(QWizardPage):
    """The entries found; keys the card cannot hold are greyed with the reason."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Entries found")
        self.setSubTitle("Tick what goes onto the card.")
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("p12Entries")
        self.list.itemChanged.connect(self._item_changed)
        layout.addWidget(self.list)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.entry_ids: list[str] = []

    def _item_changed(self, _item: QListWidgetItem) -> None:
        self.completeChanged.emit()

    def initializePage(self) -> None:
        contents = self.owner.contents
        self.list.clear()
        self.entry_ids = []
        if contents is None:
            return
        for choice in contents.choices():
            kind = "Key" if choice.value.startswith("key") else "Certificate"
            text = f"{kind}: {choice.label}\n    {choice.detail}"
            if choice.disabled:
                text += f"\n    not importable: {choice.disabled}"
            item = QListWidgetItem(text)
            if choice.disabled:
                item.setFlags(Qt.ItemFlag.NoItemFlags)  # greyed
                item.setToolTip(choice.disabled)
            else:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
            self.entry_ids.append(choice.value)
        keys = len(contents.keys)
        chain = len(contents.certificates)
        unsupported = len(contents.keys) - len(contents.importable_keys)
        text = f"{keys} key(s), {chain} certificate(s) without a key (stored as CA certificates)"
        if unsupported:
            text += f"; {unsupported} key(s) the card cannot hold"
        self.summary.setText(text + ".")

    def item(self, entry_id: str) -> QListWidgetItem:
        return self.list.item(self.entry_ids.index(entry_id))

    def chosen(self) -> list[str]:
        return [
            entry_id
            for row, entry_id in enumerate(self.entry_ids)
            if self.list.item(row).flags() & Qt.ItemFlag.ItemIsEnabled
            and self.list.item(row).checkState() == Qt.CheckState.Checked
        ]

    def isComplete(self) -> bool:
        return bool(self.chosen())


@dataclass(frozen=True)
class Target:
    """One target the wizard offers: a key domain or a new transient one."""

    value: int
    label: str
    disabled: str | None = None
    shares: int = 1
    kcv: str = ""


def targets_of(window: MainWindow) -> list[Target]:
    """The key domains of the window's outline as targets, and the transient option."""
    outline = window.model.outline
    targets: list[Target] = []
    empty_slot = False
    if outline is not None:
        for node in outline.nodes():
            if node.kind is not NodeKind.KEY_DOMAIN or not isinstance(node.data, KeyDomainSlot):
                continue
            slot = node.data
            status = slot.status
            label = f"Key domain {slot.number}"
            if status is None:
                empty_slot = True
                targets.append(Target(slot.number, label + ": empty", "it holds no DKEK"))
            elif status.uid:
                targets.append(Target(slot.number, label + ": XKEK", "it is an XKEK domain"))
            elif status.shares_outstanding:
                targets.append(
                    Target(
                        slot.number,
                        label + ": DKEK (incomplete)",
                        f"it waits for {status.shares_outstanding} of {status.shares_total} "
                        "share(s)",
                    )
                )
            else:
                kcv = format_kcv(status.kcv) if status.kcv else "hidden until login"
                targets.append(
                    Target(
                        slot.number,
                        f"{label}: DKEK of {status.shares_total} share(s), KCV {kcv}",
                        shares=max(1, status.shares_total),
                        kcv=kcv,
                    )
                )
    targets.append(
        Target(
            TRANSIENT,
            "A new transient key domain (no shares; each key sealed: the card refuses to "
            "export it)",
            None if empty_slot else "the card has no empty key-domain slot",
        )
    )
    return targets


class TargetPage(QWizardPage):
    """Where the keys go: a complete DKEK domain (shares asked) or a transient domain."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Target key domain")
        self.setSubTitle(
            "Keys imported under a DKEK domain can be backed up with its shares; a "
            "transient domain's KEK is deleted after the import."
        )
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("p12Targets")
        self.list.currentRowChanged.connect(self._changed)
        layout.addWidget(self.list)
        form = QFormLayout()
        self.shares = QSpinBox()
        self.shares.setObjectName("p12Shares")
        self.shares.setRange(1, 255)
        form.addRow("DKEK shares to enter:", self.shares)
        layout.addLayout(form)
        self.seal_box = QCheckBox(SEAL_TEXT)
        self.seal_box.setObjectName("p12Seal")
        self.seal_box.setToolTip(SEAL_TIP)
        layout.addWidget(self.seal_box)
        self.seal_note = QLabel()
        self.seal_note.setObjectName("p12SealNote")
        self.seal_note.setWordWrap(True)
        layout.addWidget(self.seal_note)
        self._classic_seal = False
        self.seal_box.toggled.connect(self._seal_toggled)
        self.targets: list[Target] = []

    def initializePage(self) -> None:
        self.targets = targets_of(self.owner.main_window)
        self.list.clear()
        for target in self.targets:
            text = target.label + (f" - not possible: {target.disabled}" if target.disabled else "")
            item = QListWidgetItem(text)
            if target.disabled:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        self.select(self.owner.initial_target)

    def select(self, value: int) -> bool:
        for row, target in enumerate(self.targets):
            if target.value == value and target.disabled is None:
                self.list.setCurrentRow(row)
                return True
        for row, target in enumerate(self.targets):
            if target.disabled is None:
                self.list.setCurrentRow(row)
                break
        return False

    def target(self) -> Target | None:
        row = self.list.currentRow()
        if row < 0 or self.targets[row].disabled:
            return None
        return self.targets[row]

    def _changed(self, _row: int) -> None:
        target = self.target()
        self.shares.setEnabled(target is not None and target.value != TRANSIENT)
        if target is not None and target.value != TRANSIENT:
            self.shares.setValue(target.shares)
        transient = target is not None and target.value == TRANSIENT
        self.seal_box.blockSignals(True)
        self.seal_box.setChecked(True if transient else self._classic_seal)
        self.seal_box.blockSignals(False)
        self.seal_box.setEnabled(not transient)
        self.seal_note.setText(
            "A transient import always seals its keys: the card refuses to export them."
            if transient
            else ""
        )
        self.completeChanged.emit()

    def _seal_toggled(self, checked: bool) -> None:
        if self.seal_box.isEnabled():
            self._classic_seal = checked

    def seal(self) -> bool:
        """Whether the keys are sealed (always, on the transient path)."""
        target = self.target()
        return target is not None and (target.value == TRANSIENT or self.seal_box.isChecked())

    def isComplete(self) -> bool:
        return self.target() is not None


class ConfirmPage(QWizardPage):
    """What will happen, before anything does."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Confirm")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Import")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setObjectName("p12Confirm")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.text.setText(self.owner.plan_text())


class ProgressPage(QWizardPage):
    """The import: per-key progress, then each key's test-signature result."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Importing")
        layout = QVBoxLayout(self)
        self.status = QLabel("Starting…")
        self.status.setObjectName("p12ImportStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.bar = QProgressBar()
        self.bar.setObjectName("p12KeyProgress")
        layout.addWidget(self.bar)
        self.log = QListWidget()
        self.log.setObjectName("p12Log")
        layout.addWidget(self.log, 1)
        self.results = QTableWidget(0, 3)
        self.results.setObjectName("p12Results")
        self.results.setHorizontalHeaderLabels(["Entry", "On the card", "Test signature"])
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setVisible(False)
        layout.addWidget(self.results, 1)
        self.done = False

    def initializePage(self) -> None:
        keys = self.owner.key_count()
        self.bar.setRange(0, max(keys, 1))
        self.bar.setValue(0)
        self.bar.setFormat("%v of %m key(s)")
        self.owner.start_import()

    def add_message(self, text: str) -> None:
        self.log.addItem(text)
        if ": imported as key " in text:
            self.bar.setValue(min(self.bar.value() + 1, self.bar.maximum()))

    def show_result(self, result: Pkcs12ImportResult) -> None:
        self.done = True
        self.bar.setValue(self.bar.maximum())
        rows: list[tuple[str, str, str]] = []
        for key in result.keys:
            where = f"key {key.key_reference}, ID {key.key_id}" if key.key_reference else "-"
            rows.append((key.label, where, key.proof if key.ok else f"FAILED: {key.error}"))
        for ca in result.ca_certificates:
            where = f"CA certificate {ca.number}" if ca.number is not None else (ca.skipped or "-")
            rows.append((ca.label, where, ca.error or "-"))
        self.results.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.results.setItem(row, column, QTableWidgetItem(value))
        self.results.resizeColumnsToContents()
        self.results.setVisible(True)
        self.status.setText(
            (
                "Done: every chosen entry is on the card and proven."
                if result.ok
                else "Done, with problems: see below."
            )
            + "\n"
            + "\n".join(line for line in result.summary() if "transient KEK" in line)
        )
        self.completeChanged.emit()

    def show_error(self, text: str) -> None:
        self.done = True
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.done


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
