"""The menu bar, keyboard access, the blank-device page, Log out and kept settings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from keymanager.gui import APP_NAME
from keymanager.gui.actions import MENU_ORDER
from keymanager.gui.main_window import MainWindow
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.settings import settings_path
from keymanager.gui.worker import SimulatorSource
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import DEMO_PIN
from tests.support.gui_window import Seen


def _menu_texts(window: MainWindow) -> dict[str, list[str]]:
    """Each menu's entries ("-" for a separator), labels without the & accelerator."""
    texts: dict[str, list[str]] = {}
    for name, menu in window.menu_bar.menus.items():
        texts[name] = ["-" if a.isSeparator() else a.text() for a in menu.actions()]
    return texts


def test_menu_bar_has_the_desktop_menus_and_every_workflow(qtbot, window) -> None:
    titles = [a.text().replace("&", "") for a in window.menuBar().actions() if a.isVisible()]
    assert titles == list(MENU_ORDER)
    texts = _menu_texts(window)
    assert texts["File"][-1] == "Quit"
    assert window.menu_bar.qactions["quit"].shortcut() == QKeySequence("Ctrl+Q")
    for label in ("Refresh", "Verify PIN…", "Log out", "Initialise device…", "Diagnose…"):
        assert label in texts["Card"], label
    for label in (
        "Generate key…",
        "Import from PKCS#12…",
        "Restore key…",
        "Back up…",
        "Delete…",
        "Export certificate…",
        "Export public key…",
        "Create certificate request…",
        "Import certificate…",
        "Rename key…",
    ):
        assert label in texts["Keys"], label
    assert "Create DKEK share…" in texts["Key domains and shares"]
    assert "User guide" in texts["Help"] and "About keymanager" in texts["Help"]
    # destructive entries come last, after a separator
    for name in ("Card", "Keys", "Key domains and shares"):
        entries = texts[name]
        destructive = {"Initialise device…", "Delete…", "Clear KEK…", "Delete key domain…"}
        last_group = entries[len(entries) - entries[::-1].index("-") :]
        assert set(last_group) <= destructive | {"Delete data object…"}, (name, last_group)
    # every card action with a menu has its QAction, and shortcuts are never shared
    shortcuts = [
        action.shortcut().toString()
        for action in window.menu_bar.qactions.values()
        if not action.shortcut().isEmpty()
    ]
    assert len(shortcuts) == len(set(shortcuts))
    assert window.menu_bar.qactions["refresh"].shortcut() == QKeySequence("F5")
    assert window.menu_bar.qactions["user-guide"].shortcut() == QKeySequence("F1")


def test_menu_entries_follow_the_selection_and_say_why_not(qtbot, window) -> None:
    window.select_node("device")
    window.menu_bar.update()
    backup = window.menu_bar.qactions["backup-key"]
    assert not backup.isEnabled() and "select an item" in backup.toolTip()
    key_node = next(n for n in window.model.outline.nodes() if n.node_id.startswith("key:"))
    window.select_node(key_node.node_id)
    window.menu_bar.update()
    assert window.menu_bar.qactions["delete-key"].isEnabled()
    # a key-domain action acts on the selected key's domain
    assert window.menu_bar.qactions["plugin:pkcs12.import"].isEnabled()
    # PIN commands reach the card's one user PIN / SO-PIN from anywhere
    assert window.menu_bar.qactions["change-pin"].isEnabled()
    assert window.menu_bar.qactions["change-so-pin"].isEnabled()
    classic = next(a for a in window.actions_list if a.id == "plugin:pkcs12.import")
    assert window._menu_target(classic).node_id == "domain:0"
    # a sealed demo key: Back up… greyed with the card's reason
    sealed = next(
        n
        for n in window.model.outline.nodes()
        if getattr(n.data, "exportable", None) is False and n.node_id.startswith("key:")
    )
    window.select_node(sealed.node_id)
    window.menu_bar.update()
    assert not backup.isEnabled() and "Not possible" in backup.toolTip()


def test_context_menu_groups_and_keyboard(qtbot, window) -> None:
    domain = window.model.outline.find("domain:0")
    menu = window.build_context_menu(domain)
    entries = [a for a in menu.actions()]
    assert any(a.isSeparator() for a in entries)
    labels = [a.text().split("\t")[0] for a in entries if not a.isSeparator()]
    assert labels[-2:] == ["Clear KEK…", "Delete key domain…"]
    window.select_node("domain:0")
    opened: list[object] = []
    window.dialog_opened.connect(opened.append)
    qtbot.keyClick(window.tree, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: any(isinstance(o, QMenu) for o in opened), timeout=5_000)
    popup = next(o for o in opened if isinstance(o, QMenu))
    assert "Copy KCV" in [a.text() for a in popup.actions()]
    popup.close()


def test_title_names_the_card(qtbot, window) -> None:
    serial = window.model.outline.device.detail("Serial")
    assert serial and serial in window.windowTitle()
    assert window.windowTitle().startswith(f"{APP_NAME} — ")


def test_log_out_drops_the_pin(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    assert window.run_action("verify-pin")
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        enter_secret(seen.next(PinDialog), DEMO_PIN)
    assert window.model.outline.find("pin").detail("State") == "verified"
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        assert window.run_action("log-out")
    assert window.model.outline.find("pin").detail("State") == "not verified"
    # nothing to log out of now: greyed with the reason
    assert window.run_action("log-out") is False


def test_blank_device_says_what_to_do(qtbot, tmp_path: Path) -> None:
    blank = SmartCardHsmSimulator(tmp_path / "blank.json", seed=b"blank page")
    window = MainWindow([SimulatorSource(blank, "Simulated card (blank)")], watch_readers=False)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
            window.show()
        assert window.right_pane.currentWidget() is window.blank_page
        assert "not initialised" in window.blank_page.text.text()
        generate = next(a for a in window.actions_list if a.id == "generate-key")
        assert "not initialised" in (generate.disabled_reason(window.model.outline.device) or "")
        assert window.run_action("generate-key") is False
        seen = Seen(qtbot, window)
        window.blank_page.initialise_button.click()
        dialog = seen.next(object)
        assert type(dialog).__name__ == "InitDeviceDialog"
        dialog.reject()
    finally:
        window.shutdown()


def test_settings_keep_geometry_and_reader(qtbot, demo_card) -> None:
    first = MainWindow([SimulatorSource(demo_card, "demo")], watch_readers=False)
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.outline_loaded, timeout=20_000):
        first.show()
    first.resize(700, 500)  # inside the offscreen screen (800 x 600)
    qtbot.waitUntil(lambda: first.height() == 500, timeout=5_000)
    size = first.size()
    first.close()
    assert settings_path().is_file()
    text = settings_path().read_text()
    assert "geometry" in text and "simulator:" in text
    assert DEMO_PIN not in text
    second = MainWindow([SimulatorSource(demo_card, "demo")], watch_readers=False)
    qtbot.addWidget(second)
    try:
        assert second.preferred_reader.startswith("simulator:")
        with qtbot.waitSignal(second.outline_loaded, timeout=20_000):
            second.show()
        assert second.size() == size  # not the default 1100 x 680
    finally:
        second.shutdown()


def enter_secret(dialog: PinDialog, secret: str) -> None:
    dialog.entry.setText(secret)
    dialog.accept()
