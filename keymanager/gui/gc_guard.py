"""Run Python's cyclic garbage collector on the GUI thread only.

Qt wrapper objects caught in reference cycles must be destroyed on the thread that
owns them.  With automatic collection, a collection can start on a card worker thread
(any allocation may trigger it) and destroy GUI objects there, which crashes PySide6
now and then.  So the app turns automatic collection off and collects from a timer on
the GUI thread instead: reference counting still frees everything that is not in a
cycle at once, and cycles go at the next tick.

:func:`uninstall_gui_thread_gc` ends it at exit (after the workers are joined): one last
collection on the GUI thread while the ``QApplication`` still lives, the timer stopped,
and automatic collection back as it was before.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject, QTimer

COLLECT_INTERVAL_MS = 1000


@dataclass
class _Guard:
    timer: QTimer
    was_enabled: bool


_installed: dict[int, _Guard] = {}


def install_gui_thread_gc(app: QCoreApplication | None = None) -> None:
    """Disable automatic collection and collect every second on ``app``'s thread (idempotent)."""
    app = app if app is not None else QCoreApplication.instance()
    if app is None:
        return
    if id(app) in _installed:
        return
    was_enabled = gc.isenabled()
    gc.disable()
    timer = QTimer(app)
    timer.setInterval(COLLECT_INTERVAL_MS)
    timer.timeout.connect(_collect)
    timer.start()
    _installed[id(app)] = _Guard(timer, was_enabled)

    def forget(_object: QObject | None = None) -> None:
        _installed.pop(id(app), None)

    app.destroyed.connect(forget)


def installed(app: QCoreApplication | None = None) -> bool:
    """Whether the guard runs for ``app`` (default: the running application)."""
    app = app if app is not None else QCoreApplication.instance()
    return app is not None and id(app) in _installed


def uninstall_gui_thread_gc(app: QCoreApplication | None = None) -> None:
    """Collect once more here, stop the timer and give automatic collection back."""
    app = app if app is not None else QCoreApplication.instance()
    guard = _installed.pop(id(app), None) if app is not None else None
    gc.collect()
    if guard is None:
        return
    guard.timer.stop()
    guard.timer.deleteLater()
    if guard.was_enabled:
        gc.enable()


def _collect() -> None:
    gc.collect()
