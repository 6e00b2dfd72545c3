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
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTreeView,
    QWidget,
)

from keymanager.card.errors import (
    CardInUse,
    CardRemoved,
    NoCard,
    NoReader,
    PcscUnavailable,
)
from keymanager.gui import APP_NAME, settings
from keymanager.gui.actions import (
    MenuAction,
    builtin_actions,
    is_uninitialised,
    load_plugin_registry,
    plugin_actions,
    with_pkcs12_reasons,
)
from keymanager.gui.areas import device as device_area
from keymanager.gui.areas import domains as domains_area
from keymanager.gui.areas import key_objects as key_objects_area
from keymanager.gui.areas import keys as keys_area
from keymanager.gui.areas import pins as pin_area
from keymanager.gui.areas import pka as pka_area
from keymanager.gui.areas import xkek as xkek_area
from keymanager.gui.areas.ceremony_record import CeremonyArea
from keymanager.gui.blank_page import BlankDevicePage
from keymanager.gui.details_pane import CopyText, DetailsPane
from keymanager.gui.dialogs.ceremony_witness import CeremonyDialogFactory
from keymanager.gui.gc_guard import install_gui_thread_gc
from keymanager.gui.gui_interaction import PromptBroker
from keymanager.gui.menus import MenuBar, ordered
from keymanager.gui.messages import (
    ExceptHookHandle,
    UserMessage,
    describe_error,
    install_excepthook,
)
from keymanager.gui.outline_model import OutlineModel
from keymanager.gui.readers import ReaderSnapshot, ReaderWatcher
from keymanager.gui.window_layout import (
    build_centre,
    build_menus,
    build_status_bar,
    build_toolbars,
)
from keymanager.gui.window_sources import CardSources
from keymanager.gui.worker import (
    CardSource,
    CardWorker,
)
from keymanager.workflows.interaction import Cancelled
from keymanager.workflows.outline import (
    NodeKind,
    Outline,
    OutlineNode,
    certificate_read_failed,
    load_certificate,
)
from keymanager.workflows.plugins import PluginRegistry

if TYPE_CHECKING:
    from keymanager.gui.areas.host import AreaHost

logger = logging.getLogger(__name__)

NORMAL_STATES = (NoCard, NoReader, PcscUnavailable, CardInUse, CardRemoved)
"""Errors of reading the outline that are states to explain, not failures to report."""
DEFAULT_EXPANDED = (NodeKind.DEVICE, NodeKind.KEY_DOMAIN, NodeKind.KEY_GROUP)


class MainWindow(CardSources, QMainWindow):
    """The key manager's main window (see the module docstring).

    :param sources: the card sources offered from the start (the simulated card);
        PC/SC readers are added and removed as the watcher sees them.
    :param initial: the key of the source to open first (default: the first).
    :param watch_readers: poll PC/SC for readers (off for screenshots and most tests).
    :param plugins: the plug-in registry (default: built-ins and installed ones).
    :param error_hook: route uncaught exceptions to an error dialog while the window
        lives (the previous hooks run first and are restored at shutdown).
    """

    # the widgets keymanager.gui.window_layout builds
    menu_bar: MenuBar
    reader_bar: QWidget
    reader_combo: QComboBox
    reader_status: QLabel
    refresh_action: QAction
    verify_action: QAction
    copy_action: QAction
    generate_action: QAction
    audit_action: QAction
    share_action: QAction
    cancel_action: QAction
    tree: QTreeView
    details: DetailsPane
    blank_page: BlankDevicePage
    right_pane: QStackedWidget
    busy_label: QLabel
    progress: QProgressBar
    cancel_button: QPushButton

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
        self.broker = PromptBroker(self, CeremonyDialogFactory())
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
            + key_objects_area.actions(host)
            + with_pkcs12_reasons(plugin_actions(registry))
            + domains_area.actions(host)
            + pka_area.actions(host)
            + xkek_area.actions(host)
        )
        from keymanager.gui.p12_wizard import install_pkcs12_wizard

        install_pkcs12_wizard(self)
        self.error_hook: ExceptHookHandle | None = (
            install_excepthook(lambda: self) if error_hook else None
        )

        self.preferred_reader = ""
        self.ceremony = CeremonyArea(cast("MainWindow", weakref.proxy(self)), self)
        build_menus(self)
        build_toolbars(self)
        build_centre(self)
        build_status_bar(self)
        self.ceremony.install()
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
        title = APP_NAME if outline is None else f"{APP_NAME} — {self.card_name()}"
        caption = self.ceremony.caption()  # "Ceremony: <title> — acting: <name>"
        self.setWindowTitle(f"{title} — {caption}" if caption else title)

    def refresh_title(self) -> None:
        """Say the card and the running ceremony in the title again."""
        self._update_title()

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
            headline = describe_error(error).title  # in words: status codes only in details
            self.statusBar().showMessage(f"The certificate could not be read: {headline}", 8000)
            self.model.update_node(node, certificate_read_failed(node, headline))
            if self.details.node is node:
                self.details.show_node(node)

        self.worker.submit(
            "Reading the certificate",
            lambda context: load_certificate(context.hsm, node),
            on_result=loaded,
            on_error=failed,
        )

    # --- actions -------------------------------------------------------------------

    def card_sources(self) -> tuple[dict[str, CardSource], str | None]:
        """Every card source in the reader bar (by key) and the current card's key."""
        return dict(self.sources), self.current_key

    def context_actions(self, node: OutlineNode) -> list[MenuAction]:
        """The actions that apply to ``node``, in menu order."""
        return [action for action in self.actions_list if action.applies_to(node)]

    def run_action(self, action_id: str, node: OutlineNode | None = None) -> bool:
        """Run the action ``action_id`` on ``node`` (default: the selected node)."""
        action = next((a for a in self.actions_list if a.id == action_id), None)
        if action is None:
            return False
        target = node if node is not None and action.applies_to(node) else None
        if target is None:
            # menus and the toolbar act on the selection, its domain, or the device
            target = self._menu_target(action, node)
        if target is None:
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

    def _menu_target(
        self, action: MenuAction, start: OutlineNode | None = None
    ) -> OutlineNode | None:
        """The node a menu-bar action runs on: the selection or the nearest item above
        it the action applies to (a key's domain), else the device."""
        node = start if start is not None else self.selected_node()
        while node is not None:
            if action.applies_to(node):
                return node
            node = node.parent
        outline = self.model.outline
        if outline is None:
            return None
        if action.applies_to(outline.device):
            return outline.device
        # an item the card has once (the user PIN, the SO-PIN): the menus reach it anywhere
        candidates = [item for item in outline.nodes() if action.applies_to(item)]
        single_kinds = {NodeKind.USER_PIN, NodeKind.SO_PIN}
        if len(candidates) == 1 and candidates[0].kind in single_kinds:
            return candidates[0]
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

    # --- shutdown ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop watching readers, cancel open questions, stop and join every worker."""
        if self._closed:
            return
        self._closed = True
        if self.watcher is not None:
            self.watcher.stop()
        self.broker.close_all()
        self.ceremony.card_free.stop()
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
