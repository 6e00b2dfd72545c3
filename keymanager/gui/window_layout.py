"""The main window's widgets and its own commands, built once by ``MainWindow.__init__``.

:func:`build_menus` makes the menu bar from the actions' table
(:class:`~keymanager.gui.menus.MenuBar`) plus the window's commands (open a card or a
simulator file, the secure-messaging setting, quit, expand/collapse, the context menu,
user guide, About);
:func:`build_toolbars` the reader bar and the toolbar, which reuses the menu bar's
``QAction`` objects; :func:`build_centre` the outline beside the details pane (or the
blank-device page); :func:`build_status_bar` the job's progress and Cancel.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui import settings
from keymanager.gui.actions import MENU_CARD, MENU_FILE, MENU_HELP, MENU_VIEW
from keymanager.gui.blank_page import BlankDevicePage
from keymanager.gui.details_pane import DetailsPane
from keymanager.gui.menus import Extra, MenuBar

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow


def build_toolbars(window: MainWindow) -> None:
    window.reader_bar = QWidget()
    window.reader_bar.setObjectName("readerBar")
    bar_layout = QHBoxLayout(window.reader_bar)
    bar_layout.setContentsMargins(6, 4, 6, 0)
    bar_layout.addWidget(QLabel("Card:"))
    window.reader_combo = QComboBox()
    window.reader_combo.setObjectName("readerCombo")
    window.reader_combo.setMinimumWidth(260)
    window.reader_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    window.reader_combo.activated.connect(window._combo_activated)
    bar_layout.addWidget(window.reader_combo)
    window.reader_status = QLabel()
    window.reader_status.setObjectName("readerStatus")
    window.reader_status.setWordWrap(True)
    window.reader_status.setContentsMargins(8, 0, 0, 0)
    window.reader_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    bar_layout.addWidget(window.reader_status, 1)

    style = window.style()
    icons = {
        "refresh": QStyle.StandardPixmap.SP_BrowserReload,
        "verify-pin": QStyle.StandardPixmap.SP_DialogApplyButton,
        "copy-details": QStyle.StandardPixmap.SP_FileDialogContentsView,
        "generate-key": QStyle.StandardPixmap.SP_FileDialogNewFolder,
        "create-share": QStyle.StandardPixmap.SP_DialogSaveButton,
        "audit": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    }
    qactions = window.menu_bar.qactions
    for action_id, pixmap in icons.items():
        qactions[action_id].setIcon(style.standardIcon(pixmap))
    window.refresh_action = qactions["refresh"]
    window.refresh_action.setShortcuts([QKeySequence("F5"), QKeySequence("Ctrl+R")])
    window.verify_action = qactions["verify-pin"]
    window.copy_action = qactions["copy-details"]
    window.generate_action = qactions["generate-key"]
    window.audit_action = qactions["audit"]
    window.share_action = qactions["create-share"]
    window.cancel_action = QAction(
        style.standardIcon(QStyle.StandardPixmap.SP_BrowserStop), "Cancel", window
    )
    window.cancel_action.setShortcut(QKeySequence("Esc"))
    window.cancel_action.setToolTip("Cancel the running card job (Esc)")
    window.cancel_action.setEnabled(False)
    window.cancel_action.triggered.connect(window.cancel_job)
    tools = QToolBar("Actions")
    tools.setObjectName("actionsBar")
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for action in (window.refresh_action, window.verify_action, window.copy_action):
        tools.addAction(action)
    tools.addSeparator()
    for action in (window.generate_action, window.share_action, window.audit_action):
        tools.addAction(action)
    tools.addSeparator()
    tools.addAction(window.cancel_action)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)


def build_menus(window: MainWindow) -> None:
    """The menu bar from the actions' table, plus the window's own commands."""
    window.secure_messaging_on = settings.secure_messaging_on()
    extras = [
        Extra(
            "open-card",
            "Open card…",
            MENU_FILE,
            lambda: choose_card(window),
            "Ctrl+O",
            "open",
            "Choose the reader or simulated card to work on",
        ),
        Extra(
            "open-simulator",
            "Open simulator file…",
            MENU_FILE,
            lambda: open_simulator_file(window),
            "",
            "open",
            "Work on a simulated SmartCard-HSM kept in a state file",
        ),
        Extra(
            "refresh",
            "Refresh",
            MENU_CARD,
            window.refresh,
            "F5",
            "refresh",
            "Read the card again (F5)",
        ),
        Extra(
            "secure-messaging",
            "Use secure messaging",
            MENU_CARD,
            lambda: window.set_secure_messaging(
                window.menu_bar.qactions["secure-messaging"].isChecked()
            ),
            "",
            "session",
            "Encrypt PINs and DKEK shares on their way to the card (a secure channel "
            "bound to the device key) where the card offers it",
            checked=lambda: window.secure_messaging_on,
        ),
        *window.ceremony.menu_entries(),
        Extra("quit", "Quit", MENU_FILE, window.close, "Ctrl+Q", "last", "Close keymanager"),
        Extra("expand-all", "Expand all", MENU_VIEW, lambda: window.tree.expandAll(), "Ctrl+E"),
        Extra(
            "collapse-all",
            "Collapse all",
            MENU_VIEW,
            lambda: window.tree.collapseAll(),
            "Ctrl+Shift+E",
        ),
        Extra(
            "context-menu",
            "Actions of the selected item…",
            MENU_VIEW,
            window.open_context_menu,
            "Shift+F10",
            "menu",
            "The context menu of the selected item (also the Menu key)",
        ),
        Extra(
            "user-guide",
            "User guide",
            MENU_HELP,
            lambda: open_user_guide(window),
            "F1",
            "help",
            "Open the user guide",
        ),
        Extra(
            "about",
            "About keymanager",
            MENU_HELP,
            lambda: show_about(window),
            "",
            "last",
            "Versions and licence",
        ),
    ]
    window.menu_bar = MenuBar(
        window,
        window.actions_list,
        extras,
        target=window._menu_target,
        busy=lambda: window.worker is None or window.worker.busy,
        run=window.run_action,
    )


def build_centre(window: MainWindow) -> None:
    window.tree = QTreeView()
    window.tree.setObjectName("outline")
    window.tree.setModel(window.model)
    window.tree.setHeaderHidden(True)
    window.tree.setUniformRowHeights(True)
    window.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    window.tree.customContextMenuRequested.connect(window._context_menu)
    window.tree.selectionModel().currentChanged.connect(window._current_changed)
    window.details = DetailsPane(window.copy_text)
    window.details.setObjectName("details")
    window.blank_page = BlankDevicePage(window.run_action)
    window.right_pane = QStackedWidget()
    window.right_pane.addWidget(window.details)
    window.right_pane.addWidget(window.blank_page)
    splitter = QSplitter()
    splitter.addWidget(window.tree)
    splitter.addWidget(window.right_pane)
    splitter.setStretchFactor(0, 3)
    splitter.setStretchFactor(1, 2)
    splitter.setSizes([560, 440])
    centre = QWidget()
    layout = QVBoxLayout(centre)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(window.reader_bar)
    layout.addWidget(splitter, 1)
    window.setCentralWidget(centre)


def build_status_bar(window: MainWindow) -> None:
    bar = window.statusBar()
    window.busy_label = QLabel()
    window.busy_label.setObjectName("busyLabel")
    window.progress = QProgressBar()
    window.progress.setMaximumWidth(200)
    window.progress.setVisible(False)
    window.cancel_button = QPushButton("Cancel")
    window.cancel_button.setVisible(False)
    window.cancel_button.clicked.connect(window.cancel_job)
    bar.addPermanentWidget(window.busy_label)
    bar.addPermanentWidget(window.progress)
    bar.addPermanentWidget(window.cancel_button)


# --- the window's own commands ------------------------------------------------------


def choose_card(window: MainWindow) -> None:
    """Put the focus on the card chooser and open its list."""
    window.reader_combo.setFocus()
    window.reader_combo.showPopup()


def open_simulator_file(window: MainWindow) -> None:
    def chosen(path: Path) -> None:
        from keymanager.gui.worker import SimulatorSource
        from keymanager.simulator import SmartCardHsmSimulator

        try:
            simulator = SmartCardHsmSimulator(path)
        except (OSError, ValueError) as error:
            window.show_error(error, "Opening a simulated card")
            return
        source = SimulatorSource(simulator, f"Simulated card ({path.name})")
        window.add_source(source)
        window.select_source(source.key)

    window.open_file_dialog(
        "Open a simulated card",
        chosen,
        save=False,
        name_filter="Simulated cards (*.json);;All files (*)",
        setting="simulator",
    )


def open_user_guide(window: MainWindow) -> None:
    from keymanager.gui.help import UserGuideDialog

    dialog = UserGuideDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    window.dialog_opened.emit(dialog)


def show_about(window: MainWindow) -> None:
    from keymanager.gui.about import AboutDialog

    dialog = AboutDialog(window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    window.dialog_opened.emit(dialog)
