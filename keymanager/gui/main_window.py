"""The main window: reader bar, outline, details pane, context menus, status bar.

The window holds no card logic: it asks the worker of the chosen card source to run
jobs (:func:`keymanager.workflows.outline.read_outline`, workflows, plug-in actions)
and shows what comes back.  One :class:`~keymanager.gui.worker.CardWorker` per source
(reader or simulated card), created when the source is first chosen.  Every job that
changes the card is followed by a refresh.  Errors become a message that says what to
do, with the details (and "Save details…") behind a button; states that are normal
(no reader, no card, no pcscd, card in use) are explained in the reader bar instead.

The workflows' actions (:func:`keymanager.gui.actions.card_actions`) open their
dialogs (:mod:`keymanager.gui.dialogs`) here, window-modal with ``open()``, and submit
the workflow as a job once a dialog is accepted; the workflow asks the rest (PINs,
confirmations, shares) through :class:`~keymanager.gui.gui_interaction.GuiInteraction`.
Each card is checked for operations an earlier session left unfinished the first
time a session reads it (:func:`run_recovery`: the key journal and the PKCS#12 import
journal), and the user is asked before anything is repaired.
Uncaught exceptions go to :class:`~keymanager.gui.messages.ErrorDialog`
(:func:`~keymanager.gui.messages.install_excepthook`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.errors import (
    CardError,
    CardInUse,
    CardRemoved,
    CardReset,
    NoCard,
    NoReader,
    PcscUnavailable,
    TransportError,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.gui import APP_NAME, settings
from keymanager.gui.actions import (
    MENU_CARD,
    MENU_FILE,
    MENU_HELP,
    MENU_VIEW,
    MenuAction,
    builtin_actions,
    is_uninitialised,
    load_plugin_registry,
    plugin_actions,
    with_pkcs12_reasons,
)
from keymanager.gui.areas import device as device_area
from keymanager.gui.areas import domains as domains_area
from keymanager.gui.areas import keys as keys_area
from keymanager.gui.areas import pins as pin_area
from keymanager.gui.areas.keys import domain_choices
from keymanager.gui.blank_page import BlankDevicePage
from keymanager.gui.dialogs.ceremony import SheetDialogFactory
from keymanager.gui.dialogs.files import file_dialog
from keymanager.gui.gc_guard import install_gui_thread_gc
from keymanager.gui.gui_interaction import GuiInteraction, PromptBroker
from keymanager.gui.menus import Extra, MenuBar, ordered
from keymanager.gui.messages import (
    ErrorDialog,
    ExceptHookHandle,
    UserMessage,
    describe_error,
    install_excepthook,
)
from keymanager.gui.outline_model import OutlineModel
from keymanager.gui.readers import ReaderSnapshot, ReaderWatcher
from keymanager.gui.worker import (
    CardSource,
    CardWorker,
    JobContext,
    JobFunction,
    PcscSource,
    ResultCallback,
)
from keymanager.workflows.interaction import Cancelled, Interaction
from keymanager.workflows.outline import (
    NodeKind,
    Outline,
    OutlineNode,
    certificate_read_failed,
    load_certificate,
    read_outline,
)
from keymanager.workflows.plugins import PluginRegistry

if TYPE_CHECKING:
    from keymanager.gui.areas.host import AreaHost

logger = logging.getLogger(__name__)

NORMAL_STATES = (NoCard, NoReader, PcscUnavailable, CardInUse, CardRemoved)
"""Errors of reading the outline that are states to explain, not failures to report."""
DEFAULT_EXPANDED = (NodeKind.DEVICE, NodeKind.KEY_DOMAIN, NodeKind.KEY_GROUP)


class DetailsPane(QScrollArea):
    """The selected node's fields, each read-only, selectable and with a Copy button."""

    def __init__(self, copy_text: CopyText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._copy_text = copy_text
        self.node: OutlineNode | None = None
        self.fields: dict[str, QLineEdit] = {}
        self.show_node(None)

    def show_node(self, node: OutlineNode | None) -> None:
        self.node = node
        self.fields = {}
        body = QWidget()
        layout = QVBoxLayout(body)
        heading = QLabel(node.title if node is not None else "Select an item of the card.")
        heading.setObjectName("detailsHeading")
        heading.setWordWrap(True)
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        heading.setFont(font)
        layout.addWidget(heading)
        if node is not None:
            kind = QLabel(node.kind.value[0].upper() + node.kind.value[1:])
            kind.setEnabled(False)
            layout.addWidget(kind)
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
            for item in node.details:
                value = QLineEdit(item.value)
                value.setReadOnly(True)
                value.setCursorPosition(0)
                value.setObjectName(f"detail:{item.label}")
                row = QHBoxLayout()
                row.addWidget(value)
                if item.copyable:
                    button = QToolButton()
                    button.setText("Copy")
                    button.setToolTip(f"Copy the {item.label.lower()}")
                    button.clicked.connect(
                        lambda _checked=False, text=item.value: self._copy_text(text)
                    )
                    row.addWidget(button)
                form.addRow(item.label + ":", row)
                self.fields.setdefault(item.label, value)
            layout.addLayout(form)
        layout.addStretch(1)
        self.setWidget(body)


class CopyText:
    """Puts text on the clipboard (a class so tests can read what was copied)."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, text: str) -> None:
        self.last = text
        QGuiApplication.clipboard().setText(text)


class MainWindow(QMainWindow):
    """The key manager's main window (see the module docstring).

    :param sources: the card sources offered from the start (the simulated card);
        PC/SC readers are added and removed as the watcher sees them.
    :param initial: the key of the source to open first (default: the first).
    :param watch_readers: poll PC/SC for readers (off for screenshots and most tests).
    :param plugins: the plug-in registry (default: built-ins and installed ones).
    :param error_hook: route uncaught exceptions to an error dialog while the window
        lives (the previous hooks run first and are restored at shutdown).
    """

    outline_loaded = Signal(object)
    outline_failed = Signal(object)
    message_shown = Signal(object)
    dialog_opened = Signal(object)
    """Each dialog the window opens itself (action dialogs, file dialogs, the audit view)."""
    job_done = Signal(str, object)
    """A submitted job ended: its title and its result or error (after the callbacks)."""

    def __init__(
        self,
        sources: Sequence[CardSource] = (),
        *,
        initial: str | None = None,
        watch_readers: bool = True,
        plugins: PluginRegistry | None = None,
        error_hook: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 680)
        self.sources: dict[str, CardSource] = {}
        self.workers: dict[str, CardWorker] = {}
        self.current_key: str | None = None
        self.last_message: UserMessage | None = None
        self.reader_snapshot = ReaderSnapshot()
        self.copy_text = CopyText()
        self.broker = PromptBroker(self, SheetDialogFactory())
        self.broker.info_message.connect(self._show_info)
        self.model = OutlineModel(self)
        self._loading_certificates: set[str] = set()
        self._closed = False
        self._recovered: dict[str, object] = {}
        self._select_next: str | None = None
        self.recovery_notes: list[str] = []
        registry = plugins if plugins is not None else load_plugin_registry()
        install_gui_thread_gc()
        # the actions hold the host weakly: the window holds its actions, no reference cycle
        host = cast("AreaHost", weakref.proxy(self))
        window_ref = weakref.ref(self)

        def refresh(_node: object) -> None:
            window = window_ref()
            if window is not None:
                window.refresh()

        self.actions_list: list[MenuAction] = (
            builtin_actions(refresh=refresh, copy_text=self.copy_text)
            + pin_area.actions()
            + device_area.actions(host)
            + keys_area.actions(host)
            + with_pkcs12_reasons(plugin_actions(registry))
            + domains_area.actions(host)
        )
        from keymanager.gui.p12_wizard import install_pkcs12_wizard

        install_pkcs12_wizard(self)
        self.error_hook: ExceptHookHandle | None = (
            install_excepthook(lambda: self) if error_hook else None
        )

        self.preferred_reader = ""
        self._build_menus()
        self._build_toolbars()
        self._build_centre()
        self._build_status_bar()
        self._restore_settings()
        for source in sources:
            self.add_source(source)
        self.watcher: ReaderWatcher | None = None
        if watch_readers:
            self.watcher = ReaderWatcher(parent=self)
            self.watcher.changed.connect(self._readers_changed)
            self.watcher.start()
        if initial is None and self.preferred_reader in self.sources:
            initial = self.preferred_reader
        if self.sources:
            self.select_source(initial or next(iter(self.sources)))
        else:
            self._set_reader_status("No card source yet: plug in a reader.")

    # --- construction --------------------------------------------------------------

    def _build_toolbars(self) -> None:
        self.reader_bar = QWidget()
        self.reader_bar.setObjectName("readerBar")
        bar_layout = QHBoxLayout(self.reader_bar)
        bar_layout.setContentsMargins(6, 4, 6, 0)
        bar_layout.addWidget(QLabel("Card:"))
        self.reader_combo = QComboBox()
        self.reader_combo.setObjectName("readerCombo")
        self.reader_combo.setMinimumWidth(260)
        self.reader_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.reader_combo.activated.connect(self._combo_activated)
        bar_layout.addWidget(self.reader_combo)
        self.reader_status = QLabel()
        self.reader_status.setObjectName("readerStatus")
        self.reader_status.setWordWrap(True)
        self.reader_status.setContentsMargins(8, 0, 0, 0)
        self.reader_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar_layout.addWidget(self.reader_status, 1)

        style = self.style()
        icons = {
            "refresh": QStyle.StandardPixmap.SP_BrowserReload,
            "verify-pin": QStyle.StandardPixmap.SP_DialogApplyButton,
            "copy-details": QStyle.StandardPixmap.SP_FileDialogContentsView,
            "generate-key": QStyle.StandardPixmap.SP_FileDialogNewFolder,
            "create-share": QStyle.StandardPixmap.SP_DialogSaveButton,
            "audit": QStyle.StandardPixmap.SP_FileDialogDetailedView,
        }
        qactions = self.menu_bar.qactions
        for action_id, pixmap in icons.items():
            qactions[action_id].setIcon(style.standardIcon(pixmap))
        self.refresh_action = qactions["refresh"]
        self.refresh_action.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
        self.verify_action = qactions["verify-pin"]
        self.copy_action = qactions["copy-details"]
        self.generate_action = qactions["generate-key"]
        self.audit_action = qactions["audit"]
        self.share_action = qactions["create-share"]
        self.cancel_action = QAction(
            style.standardIcon(QStyle.StandardPixmap.SP_BrowserStop), "Cancel", self
        )
        self.cancel_action.setShortcut(QKeySequence("Esc"))
        self.cancel_action.setToolTip("Cancel the running card job (Esc)")
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_job)
        tools = QToolBar("Actions")
        tools.setObjectName("actionsBar")
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.refresh_action, self.verify_action, self.copy_action):
            tools.addAction(action)
        tools.addSeparator()
        for action in (self.generate_action, self.share_action, self.audit_action):
            tools.addAction(action)
        tools.addSeparator()
        tools.addAction(self.cancel_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)

    def _build_menus(self) -> None:
        """The menu bar from the actions' table, plus the window's own commands."""
        extras = [
            Extra(
                "open-card",
                "Open card…",
                MENU_FILE,
                self._choose_card,
                "Ctrl+O",
                "open",
                "Choose the reader or simulated card to work on",
            ),
            Extra(
                "open-simulator",
                "Open simulator file…",
                MENU_FILE,
                self._open_simulator_file,
                "",
                "open",
                "Work on a simulated SmartCard-HSM kept in a state file",
            ),
            Extra(
                "refresh",
                "Refresh",
                MENU_CARD,
                self.refresh,
                "F5",
                "refresh",
                "Read the card again (F5)",
            ),
            Extra("quit", "Quit", MENU_FILE, self.close, "Ctrl+Q", "last", "Close keymanager"),
            Extra("expand-all", "Expand all", MENU_VIEW, lambda: self.tree.expandAll(), "Ctrl+E"),
            Extra(
                "collapse-all",
                "Collapse all",
                MENU_VIEW,
                lambda: self.tree.collapseAll(),
                "Ctrl+Shift+E",
            ),
            Extra(
                "context-menu",
                "Actions of the selected item…",
                MENU_VIEW,
                self.open_context_menu,
                "Shift+F10",
                "menu",
                "The context menu of the selected item (also the Menu key)",
            ),
            Extra(
                "user-guide",
                "User guide",
                MENU_HELP,
                self._open_user_guide,
                "F1",
                "help",
                "Open the user guide",
            ),
            Extra(
                "about",
                "About keymanager",
                MENU_HELP,
                self._show_about,
                "",
                "last",
                "Versions and licence",
            ),
        ]
        self.menu_bar = MenuBar(
            self,
            self.actions_list,
            extras,
            target=self._menu_target,
            busy=lambda: self.worker is None or self.worker.busy,
            run=self.run_action,
        )

    def _build_centre(self) -> None:
        self.tree = QTreeView()
        self.tree.setObjectName("outline")
        self.tree.setModel(self.model)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.selectionModel().currentChanged.connect(self._current_changed)
        self.details = DetailsPane(self.copy_text)
        self.details.setObjectName("details")
        self.blank_page = BlankDevicePage(self.run_action)
        self.right_pane = QStackedWidget()
        self.right_pane.addWidget(self.details)
        self.right_pane.addWidget(self.blank_page)
        splitter = QSplitter()
        splitter.addWidget(self.tree)
        splitter.addWidget(self.right_pane)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([560, 440])
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.reader_bar)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(centre)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy_label = QLabel()
        self.busy_label.setObjectName("busyLabel")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        bar.addPermanentWidget(self.busy_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    # --- card sources --------------------------------------------------------------

    def add_source(self, source: CardSource) -> None:
        """Offer ``source`` in the reader bar."""
        if source.key in self.sources:
            return
        self.sources[source.key] = source
        self.reader_combo.addItem(source.label, source.key)

    def remove_source(self, key: str) -> None:
        """Withdraw a source (its reader was unplugged); stops its worker."""
        self.sources.pop(key, None)
        index = self.reader_combo.findData(key)
        if index >= 0:
            self.reader_combo.removeItem(index)
        worker = self.workers.pop(key, None)
        if worker is not None:
            worker.stop()
        if key == self.current_key:
            self.current_key = None
            self.model.set_outline(None)
            self.details.show_node(None)
            self._update_busy(False)
            if self.sources:
                self.select_source(next(iter(self.sources)))

    @property
    def worker(self) -> CardWorker | None:
        """The worker of the current source."""
        return None if self.current_key is None else self.workers.get(self.current_key)

    def _worker_for(self, key: str) -> CardWorker:
        worker = self.workers.get(key)
        if worker is None:
            broker = self.broker
            worker = CardWorker(
                self.sources[key],
                interaction_factory=lambda cancel, report: GuiInteraction(broker, cancel, report),
                parent=self,
            )
            worker.busy_changed.connect(lambda busy, k=key: self._worker_busy(k, busy))
            worker.job_started.connect(lambda _id, title, k=key: self._job_started(k, title))
            worker.job_progress.connect(
                lambda _id, step, done, total, k=key: self._job_progress(k, step, done, total)
            )
            self.workers[key] = worker
        return worker

    def select_source(self, key: str) -> None:
        """Show the card of source ``key`` (reading it)."""
        if key not in self.sources:
            raise KeyError(key)
        self.current_key = key
        index = self.reader_combo.findData(key)
        if index >= 0 and self.reader_combo.currentIndex() != index:
            self.reader_combo.setCurrentIndex(index)
        self.model.set_outline(None)
        self.details.show_node(None)
        worker = self._worker_for(key)
        self._update_busy(worker.busy)
        self.refresh()

    def _combo_activated(self, index: int) -> None:
        key = self.reader_combo.itemData(index)
        if isinstance(key, str) and key != self.current_key:
            self.preferred_reader = ""  # the user chose: no switching to the saved reader
            self.select_source(key)

    def _readers_changed(self, snapshot: ReaderSnapshot) -> None:
        previous = {r.name: r for r in self.reader_snapshot.readers}
        self.reader_snapshot = snapshot
        present = {f"pcsc:{r.name}": r for r in snapshot.readers}
        for key in [k for k, s in self.sources.items() if isinstance(s, PcscSource)]:
            if key not in present:
                self.remove_source(key)
        for key, reader in present.items():
            self.add_source(PcscSource(reader.name))
            old = previous.get(reader.name)
            if key == self.current_key and (old is None or old.has_card != reader.has_card):
                if reader.has_card:
                    self.refresh()
                else:
                    self._clear_outline(f"No card in {reader.name}: insert one.")
        preferred = present.get(self.preferred_reader)
        if (
            preferred is not None
            and preferred.has_card
            and self.current_key != self.preferred_reader
        ):
            self.select_source(self.preferred_reader)  # the reader chosen in the last run
            self.preferred_reader = ""
        if self.current_key is None and self.sources:
            self.select_source(next(iter(self.sources)))
        self._set_reader_status(self._reader_text())

    def _reader_text(self) -> str:
        outline = self.model.outline
        if outline is not None:
            return f"{outline.reader}: {outline.device.title}"
        if self.reader_snapshot.problem:
            return self.reader_snapshot.problem
        return self.reader_status.text()

    def _set_reader_status(self, text: str) -> None:
        self.reader_status.setText(text)

    # --- jobs ----------------------------------------------------------------------

    def submit(
        self,
        title: str,
        run: JobFunction,
        *,
        changes_card: bool = False,
        on_result: ResultCallback | None = None,
    ) -> bool:
        """Run a job on the current card; errors are shown; a refresh follows changes."""
        worker = self.worker
        key = self.current_key
        if worker is None or key is None:
            return False

        def done(result: object) -> None:
            if on_result is not None and key == self.current_key:
                on_result(result)
            self._report_result(title, result)
            if changes_card:
                self.refresh()
            self.job_done.emit(title, result)

        def failed(error: BaseException) -> None:
            if key == self.current_key:
                self.show_error(error, title)
            if changes_card:
                self.refresh()
            self.job_done.emit(title, error)

        worker.submit(title, run, on_result=done, on_error=failed)
        return True

    def refresh(self) -> None:
        """Read the current card again (F5); keeps the selection and expanded nodes."""
        if self._closed:
            return  # a job that ended while the window closed: nothing to show
        worker = self.worker
        key = self.current_key
        if worker is None or key is None:
            return
        self._set_reader_status(f"{self.sources[key].label}: reading the card…")

        def loaded(result: object) -> None:
            if key == self.current_key and isinstance(result, LoadedCard):
                self._show_outline(result.outline)
                self._report_recovery(result)

        def failed(error: BaseException) -> None:
            if key == self.current_key:
                self._outline_error(error)

        worker.submit("Reading the card", self._read_job(key), on_result=loaded, on_error=failed)

    def _read_job(self, key: str) -> JobFunction:
        """Read the outline; first, once per session, repair what earlier sessions left."""

        def run(context: JobContext) -> LoadedCard:
            loaded = LoadedCard(Outline(OutlineNode(NodeKind.DEVICE, "", "root"), ""))
            if self._recovered.get(key) is not context.hsm:
                self._recovered[key] = context.hsm
                try:
                    loaded.notes = run_recovery(context.hsm, context.interaction)
                except (TransportError, CardReset):
                    raise
                except Exception as error:
                    loaded.problem = error
            loaded.outline = read_outline(context.hsm)
            return loaded

        return run

    def _report_recovery(self, loaded: LoadedCard) -> None:
        if loaded.notes:
            self.recovery_notes.extend(loaded.notes)
            self.statusBar().showMessage(" ".join(loaded.notes), 15000)
            self.refresh()
        if loaded.problem is not None:
            self.show_error(loaded.problem, "Repairing an interrupted operation")

    def cancel_job(self) -> None:
        """Cancel the current source's running job."""
        if self.worker is not None:
            self.worker.cancel()

    def _worker_busy(self, key: str, busy: bool) -> None:
        if key == self.current_key:
            self._update_busy(busy)

    def _update_busy(self, busy: bool) -> None:
        self.cancel_action.setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        self.progress.setRange(0, 0)
        self._update_card_actions(busy)
        if not busy:
            self.busy_label.setText("")

    def _update_card_actions(self, busy: bool | None = None) -> None:
        if busy is None:
            busy = self.worker is None or self.worker.busy
        del busy  # the menu bar asks the worker itself
        self.menu_bar.update()

    def _job_started(self, key: str, title: str) -> None:
        if key == self.current_key:
            self.busy_label.setText(title + "…")
            self.progress.setRange(0, 0)

    def _job_progress(self, key: str, step: str, done: int, total: int) -> None:
        if key != self.current_key:
            return
        self.busy_label.setText(step)
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))

    def _report_result(self, title: str, result: object) -> None:
        summary = getattr(result, "summary", None)
        if callable(summary):
            text = summary()
            if isinstance(text, list):
                text = " ".join(str(line) for line in text)
            self.statusBar().showMessage(str(text), 8000)
        elif not self.statusBar().currentMessage():
            # the workflow's own last message (status bar) says more than "done"
            self.statusBar().showMessage(f"{title}: done", 8000)

    # --- outline -------------------------------------------------------------------

    def _expanded_ids(self) -> set[str]:
        outline = self.model.outline
        if outline is None:
            return set()
        return {
            node.node_id
            for node in outline.nodes()
            if node.children and self.tree.isExpanded(self.model.index_of(node))
        }

    def _show_outline(self, outline: Outline) -> None:
        had_outline = self.model.outline is not None
        expanded = self._expanded_ids()
        selected = self.selected_node()
        selected_id = selected.node_id if selected is not None else "device"
        if self._select_next is not None:
            selected_id, self._select_next = self._select_next, None
        self.model.set_outline(outline)
        for node in outline.nodes():
            if node.children and (
                node.node_id in expanded or (not had_outline and node.kind in DEFAULT_EXPANDED)
            ):
                self.tree.expand(self.model.index_of(node))
        index = self.model.find(selected_id)
        if not index.isValid():
            index = self.model.find("device")
        self.tree.setCurrentIndex(index)
        self._set_reader_status(self._reader_text())
        self._update_title()
        self._show_right_pane(self.selected_node())
        self._update_card_actions()
        self.outline_loaded.emit(outline)

    def _clear_outline(self, text: str) -> None:
        self.model.set_outline(None)
        self.details.show_node(None)
        self._show_right_pane(None)
        self._set_reader_status(text)
        self._update_title()
        self.menu_bar.update()

    def _update_title(self) -> None:
        """The title names the card: "keymanager — “label” (serial …) in reader"."""
        outline = self.model.outline
        self.setWindowTitle(APP_NAME if outline is None else f"{APP_NAME} — {self.card_name()}")

    def _show_right_pane(self, node: OutlineNode | None) -> None:
        """The blank-device page for an uninitialised device's node, else the details."""
        outline = self.model.outline
        blank = outline is not None and is_uninitialised(outline.device)
        if blank and (node is None or node.kind is NodeKind.DEVICE):
            self.blank_page.show_device(self.card_name())
            self.right_pane.setCurrentWidget(self.blank_page)
        else:
            self.right_pane.setCurrentWidget(self.details)

    def _outline_error(self, error: BaseException) -> None:
        message = describe_error(error, "Reading the card")
        self.last_message = message
        if isinstance(error, NORMAL_STATES):
            self._recovered.pop(self.current_key or "", None)
            self._clear_outline(f"{message.title}. {message.what_to_do}")
            self.statusBar().showMessage(message.title, 8000)
            self.message_shown.emit(message)
        elif isinstance(error, Cancelled):
            self.statusBar().showMessage("Reading the card was cancelled", 8000)
        else:
            self._clear_outline(message.title)
            self._present(message)
        self.outline_failed.emit(error)

    def selected_node(self) -> OutlineNode | None:
        return self.model.node(self.tree.currentIndex())

    def select_node(self, node_id: str) -> OutlineNode | None:
        """Make the node with ``node_id`` current (for tests and keyboard users)."""
        index = self.model.find(node_id)
        if not index.isValid():
            return None
        self.tree.setCurrentIndex(index)
        return self.model.node(index)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        node = self.model.node(current)
        self.details.show_node(node)
        self._show_right_pane(node)
        self.menu_bar.update()
        if node is not None and node.pending and node.kind is NodeKind.CERTIFICATE:
            self._load_certificate(node)

    def _load_certificate(self, node: OutlineNode) -> None:
        if node.node_id in self._loading_certificates or self.worker is None:
            return
        self._loading_certificates.add(node.node_id)

        def loaded(result: object) -> None:
            self._loading_certificates.discard(node.node_id)
            if isinstance(result, OutlineNode):
                self.model.update_node(node, result)
                if self.details.node is node:
                    self.details.show_node(node)

        def failed(error: BaseException) -> None:
            self._loading_certificates.discard(node.node_id)
            self.statusBar().showMessage(f"The certificate could not be read: {error}", 8000)
            self.model.update_node(node, certificate_read_failed(node, describe_error(error).title))
            if self.details.node is node:
                self.details.show_node(node)

        self.worker.submit(
            "Reading the certificate",
            lambda context: load_certificate(context.hsm, node),
            on_result=loaded,
            on_error=failed,
        )

    # --- actions -------------------------------------------------------------------

    def context_actions(self, node: OutlineNode) -> list[MenuAction]:
        """The actions that apply to ``node``, in menu order."""
        return [action for action in self.actions_list if action.applies_to(node)]

    def run_action(self, action_id: str, node: OutlineNode | None = None) -> bool:
        """Run the action ``action_id`` on ``node`` (default: the selected node)."""
        target = node or self.selected_node()
        if target is None and self.model.outline is not None:
            target = self.model.outline.device
        if target is None:
            return False
        action = next((a for a in self.actions_list if a.id == action_id), None)
        if action is None:
            return False
        outline = self.model.outline
        if not action.applies_to(target) and outline is not None:
            target = outline.device  # toolbar actions act on the device
        if not action.applies_to(target):
            return False
        reason = action.disabled_reason(target)
        if reason is not None:
            self.statusBar().showMessage(f"{action.label.rstrip('…')}: {reason}", 8000)
            return False
        if action.needs_card and (self.worker is None or self.worker.busy):
            self.statusBar().showMessage("The card is busy; wait or cancel first", 5000)
            return False
        if action.gui is not None:
            action.gui(target)
            return True
        job = action.job
        if job is None:
            return False
        return self.submit(
            action.label.rstrip("…"),
            lambda context: job(context, target),
            changes_card=action.changes_card,
        )

    def _menu_target(self, action: MenuAction) -> OutlineNode | None:
        """The node a menu-bar action runs on: the selection, else the device."""
        selected = self.selected_node()
        if selected is not None and action.applies_to(selected):
            return selected
        outline = self.model.outline
        if outline is not None and action.applies_to(outline.device):
            return outline.device
        return None

    def open_context_menu(self) -> QMenu | None:
        """The selected item's context menu at the item (Shift+F10, the Menu key)."""
        index = self.tree.currentIndex()
        node = self.model.node(index)
        if node is None:
            return None
        menu = self.build_context_menu(node)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        rect = self.tree.visualRect(index)
        menu.popup(self.tree.viewport().mapToGlobal(rect.bottomLeft()))
        self.dialog_opened.emit(menu)
        return menu

    def _context_menu(self, position: QPoint) -> None:
        node = self.model.node(self.tree.indexAt(position))
        if node is None:
            return
        menu = self.build_context_menu(node)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.exec(self.tree.viewport().mapToGlobal(position))

    def build_context_menu(self, node: OutlineNode) -> QMenu:
        """The context menu of ``node`` (card actions disabled while the card is busy)."""
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        busy = self.worker is not None and self.worker.busy
        for number, group in enumerate(ordered(self.context_actions(node))):
            if number:
                menu.addSeparator()
            for action in group:
                self._add_menu_entry(menu, action, node, busy)
        return menu

    def _add_menu_entry(
        self, menu: QMenu, action: MenuAction, node: OutlineNode, busy: bool
    ) -> None:
        # the shortcut is shown, not registered: the menu bar's action owns it
        shown = QKeySequence(action.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        entry = menu.addAction(f"{action.label}\t{shown}" if shown else action.label)
        entry.setObjectName(action.id)
        reason = action.disabled_reason(node)
        if reason is not None:
            entry.setToolTip(f"Not possible: {reason}")
        elif action.description:
            entry.setToolTip(action.description)
        entry.setEnabled(reason is None and not (action.needs_card and busy))
        entry.triggered.connect(lambda _checked=False, a=action.id, n=node: self.run_action(a, n))

    # --- messages ------------------------------------------------------------------

    def _show_info(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_error(self, error: BaseException, action: str = "") -> UserMessage:
        """Tell the user about ``error`` (a dialog; a status message for cancels)."""
        message = describe_error(error, action)
        self.last_message = message
        if isinstance(error, Cancelled):
            self.statusBar().showMessage(f"{action or 'The operation'} was cancelled", 8000)
            self.message_shown.emit(message)
            return message
        self._present(message)
        return message

    def _present(self, message: UserMessage) -> ErrorDialog:
        box = ErrorDialog(message, self)
        box.open()
        self.message_shown.emit(message)
        return box

    def _show_result(self, title: str, lines: Sequence[str]) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, title, parent=self)
        box.setObjectName("resultDialog")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText("\n".join(lines))
        box.addButton(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.dialog_opened.emit(box)
        return box

    # --- dialogs of the card actions ---------------------------------------------------

    def _open_dialog(self, dialog: QDialog, on_accept: Callable[[], None]) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.accepted.connect(on_accept)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _file_dialog(
        self, title: str, on_chosen: Callable[[Path], object], **options: object
    ) -> None:
        dialog = file_dialog(self, title, on_chosen, **options)  # type: ignore[arg-type]
        self.dialog_opened.emit(dialog)

    # --- the host of the area modules (keymanager.gui.areas.host.AreaHost) --------------

    def open_dialog(self, dialog: QDialog, on_accept: Callable[[], None]) -> QDialog:
        """Open ``dialog`` window-modal (deleted on close); ``on_accept`` runs on OK."""
        return self._open_dialog(dialog, on_accept)

    def open_file_dialog(
        self,
        title: str,
        on_chosen: Callable[[Path], object],
        *,
        save: bool,
        name_filter: str = "",
        default_name: str = "",
        default_suffix: str = "",
        setting: str = "",
    ) -> None:
        """Ask for a file (``setting``: the remembered folder's name)."""

        def chosen(path: Path) -> object:
            if setting:
                settings.remember_folder(setting, path)
            return on_chosen(path)

        dialog = file_dialog(
            self,
            title,
            chosen,
            save=save,
            name_filter=name_filter,
            default_name=default_name,
            default_suffix=default_suffix,
        )
        folder = settings.last_folder(setting) if setting else ""
        if folder:
            dialog.setDirectory(folder)
            if default_name:
                dialog.selectFile(default_name)
        self.dialog_opened.emit(dialog)

    def announce_dialog(self, widget: QWidget) -> None:
        """Tell listeners (tests, screenshots) that ``widget`` was opened."""
        self.dialog_opened.emit(widget)

    def select_next(self, node_id: str) -> None:
        """Select ``node_id`` once the outline is read again."""
        self._select_next = node_id

    def show_result(self, title: str, lines: Sequence[str]) -> QMessageBox:
        """Tell the user what a workflow did."""
        return self._show_result(title, lines)

    def show_status(self, text: str) -> None:
        """A short message in the status bar."""
        self.statusBar().showMessage(text, 8000)

    def current_outline(self) -> Outline | None:
        """The outline of the current card."""
        return self.model.outline

    def dialog_parent(self) -> QWidget:
        """Dialogs open on the window."""
        return self

    def domain_choices(self) -> list[tuple[int, str]]:
        """The DKEK key domains a new key can be generated in."""
        return domain_choices(self.model.outline)

    def card_name(self) -> str:
        outline = self.model.outline
        if outline is None:
            return "the card"
        device = outline.device
        label = device.detail("Label")
        name = f"“{label}”" if label and label != "(none)" else "the SmartCard-HSM"
        serial = device.detail("Serial") or "unknown"
        return f"{name} (serial {serial}) in {outline.reader}"

    # --- shutdown ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop watching readers, cancel open questions, stop and join every worker."""
        if self._closed:
            return
        self._closed = True
        if self.watcher is not None:
            self.watcher.stop()
        self.broker.close_all()
        if self.error_hook is not None:
            self.error_hook.uninstall()
        for worker in self.workers.values():
            worker.cancel_all()
        for worker in self.workers.values():
            if not worker.stop():
                logger.warning("the worker of %s did not stop in time", worker.source.label)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_settings()
        self.shutdown()
        super().closeEvent(event)

    # --- settings and the window's own commands -----------------------------------------

    def _restore_settings(self) -> None:
        geometry = settings.saved_bytes(settings.GEOMETRY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.saved_bytes(settings.STATE)
        if state is not None:
            self.restoreState(state)
        self.preferred_reader = settings.saved_reader()

    def _save_settings(self) -> None:
        settings.save_value(settings.GEOMETRY, self.saveGeometry())
        settings.save_value(settings.STATE, self.saveState())
        if self.current_key is not None:
            settings.save_value(settings.READER, self.current_key)

    def _choose_card(self) -> None:
        """Put the focus on the card chooser and open its list."""
        self.reader_combo.setFocus()
        self.reader_combo.showPopup()

    def _open_simulator_file(self) -> None:
        def chosen(path: Path) -> None:
            from keymanager.gui.worker import SimulatorSource
            from keymanager.simulator import SmartCardHsmSimulator

            try:
                simulator = SmartCardHsmSimulator(path)
            except (OSError, ValueError) as error:
                self.show_error(error, "Opening a simulated card")
                return
            source = SimulatorSource(simulator, f"Simulated card ({path.name})")
            self.add_source(source)
            self.select_source(source.key)

        self.open_file_dialog(
            "Open a simulated card",
            chosen,
            save=False,
            name_filter="Simulated cards (*.json);;All files (*)",
            setting="simulator",
        )

    def _open_user_guide(self) -> None:
        from keymanager.gui.help import UserGuideDialog

        dialog = UserGuideDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.dialog_opened.emit(dialog)

    def _show_about(self) -> None:
        from keymanager.gui.about import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.dialog_opened.emit(dialog)


@dataclass
class LoadedCard:
    """What the read job returns: the outline and what the recovery hooks did."""

    outline: Outline
    notes: list[str] = field(default_factory=list)
    problem: BaseException | None = None


def run_recovery(hsm: SmartCardHsm, interaction: Interaction) -> list[str]:
    """Finish what earlier sessions left on this card; a sentence per repair.

    Runs :func:`keymanager.workflows.keys.recover_interrupted` (generation / restore
    journal) and :func:`keymanager.workflows.plugins.transient_import.recover_leftovers`
    (PKCS#12 import journal).  Both ask before they change anything; nothing is asked
    when the journals hold nothing for this card.  A card without a readable serial
    (not a SmartCard-HSM the journals could name) is skipped.
    """
    from keymanager.workflows.keys import KeyJournal, default_journal_dir, recover_interrupted
    from keymanager.workflows.plugins.transient_import import recover_leftovers

    try:
        hsm.serial()
    except TransportError:  # gone or reset: the next connection repairs
        raise
    except (CardError, ValueError):
        return []
    notes = [
        f"An interrupted {op.operation} of key {op.key_reference} was "
        + ("completed." if op.kept else "rolled back.")
        for op in recover_interrupted(hsm, interaction, KeyJournal(default_journal_dir()))
    ]
    leftovers = recover_leftovers(hsm, interaction)
    if leftovers.found and not leftovers.declined:
        notes.append("The leftovers of an interrupted PKCS#12 import were removed.")
    return notes
