"""Run Python's cyclic garbage collector on the GUI thread only.

Qt wrapper objects caught in reference cycles must be destroyed on the thread that
owns them.  With automatic collection, a collection can start on a card worker thread
(any allocation may trigger it) and destroy GUI objects there, which crashes PySide6
now and then.  So the app turns automatic collection off and collects from a timer on
the GUI thread instead: reference counting still frees everything that is not in a
cycle at once, and cycles go at the next tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

COLLECT_INTERVAL_MS = 1000

_installed: dict[int, QTimer] = {}


def install_gui_thread_gc(app: QCoreApplication | None = None) -> None:
    """Disable automatic collection and collect every second on ``app``'s thread (idempotent)."""
    app = app if app is not None else QCoreApplication.instance()
    if app is None:
        return
    if id(app) in _installed:
        return
    gc.disable()
    timer = QTimer(app)
    timer.setInterval(COLLECT_INTERVAL_MS)
    timer.timeout.connect(_collect)
    timer.start()
    _installed[id(app)] = timer

    def forget(_object: QObject | None = None) -> None:
        _installed.pop(id(app), None)

    app.destroyed.connect(forget)


def _collect() -> None:
    gc.collect()
