"""Screenshots of the main window and of single dialogs, for tests and documentation.

:data:`DIALOGS` maps a name (``keymanager --screenshot FILE --dialog NAME``) to a
function that builds that dialog on top of a main window with its outline loaded.
Dialogs of later issues (share input, PKCS#12 wizard…) register themselves here with
:func:`register_dialog`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from keymanager.gui.main_window import MainWindow
from keymanager.gui.pin_dialog import PinDialog
from keymanager.workflows.interaction import SecretKind, SecretRequest

DialogBuilder = Callable[[MainWindow], QWidget]
DIALOGS: dict[str, DialogBuilder] = {}

LOAD_TIMEOUT_MS = 60_000
SCREENSHOT_NODE = "domain:0"
PNG_QUALITY = 0
"""For PNG, Qt maps quality 0 to the strongest compression (smaller files for docs)."""


def register_dialog(name: str, builder: DialogBuilder) -> None:
    """Make a dialog available to ``--dialog NAME``."""
    DIALOGS[name] = builder


def _pin_dialog(window: MainWindow) -> QWidget:
    return PinDialog(SecretRequest(SecretKind.USER_PIN, "verification", tries_left=1), window)


def _so_pin_dialog(window: MainWindow) -> QWidget:
    return PinDialog(SecretRequest(SecretKind.SO_PIN, "unblocking the PIN", tries_left=15), window)


register_dialog("pin", _pin_dialog)
register_dialog("so-pin", _so_pin_dialog)


def wait_for_outline(window: MainWindow, timeout_ms: int = LOAD_TIMEOUT_MS) -> bool:
    """Run the event loop until the window's first read of the card ends; ``True`` if it loaded."""
    if window.model.outline is not None and not (window.worker and window.worker.busy):
        return True
    loop = QEventLoop()
    outcome: list[bool] = []

    def finish(ok: bool) -> None:
        outcome.append(ok)
        loop.quit()

    window.outline_loaded.connect(lambda _outline: finish(True))
    window.outline_failed.connect(lambda _error: finish(False))
    QTimer.singleShot(timeout_ms, lambda: finish(False))
    if not outcome:
        loop.exec()
    return bool(outcome and outcome[0])


def settle(window: QWidget) -> None:
    """Let pending layout and paint events run."""
    for _ in range(3):
        QApplication.processEvents()
    window.repaint()
    QApplication.processEvents()


def render(window: MainWindow, path: Path, dialog: str | None = None) -> Path:
    """Save the main window (or one of :data:`DIALOGS` over it) as a PNG."""
    window.show()
    loaded = wait_for_outline(window)
    if loaded:
        window.tree.expandAll()
        window.select_node(SCREENSHOT_NODE)
    settle(window)
    target: QWidget = window
    if dialog is not None:
        if dialog not in DIALOGS:
            raise KeyError(f"no dialog called {dialog!r}; known: {', '.join(sorted(DIALOGS))}")
        target = DIALOGS[dialog](window)
        target.show()
        settle(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not target.grab().save(str(path), "PNG", PNG_QUALITY):
        raise OSError(f"could not write {path}")
    if target is not window:
        target.close()
    return path
