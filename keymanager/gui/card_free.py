"""Card-free workflows off the GUI thread (custodian rotation): one thread per run.

A card worker (:mod:`keymanager.gui.worker`) opens a card session before each job; a
workflow that needs no card (protecting a share file anew) runs here instead, on a
daemon thread of its own, asking its questions through the window's prompt broker
like any job.  The result or the error is delivered on the GUI thread through a
queued signal.  :meth:`CardFreeJobs.stop` sets every run's cancel flag and joins the
threads (the window's shutdown).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

ResultCallback = Callable[[object], None]
ErrorCallback = Callable[[BaseException], None]


class CardFreeJobs(QObject):
    """Runs card-free workflows (custodian rotation) on a thread of their own; the
    result or error arrives on the GUI thread."""

    _finished = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._callbacks: dict[int, tuple[ResultCallback, ErrorCallback]] = {}
        self._next = 0
        self.threads: list[threading.Thread] = []
        self.cancels: list[threading.Event] = []
        self._finished.connect(self._deliver)

    def run(
        self,
        title: str,
        work: Callable[[threading.Event], object],
        on_result: ResultCallback,
        on_error: ErrorCallback,
    ) -> threading.Thread:
        """Run ``work(cancel)`` on a new thread; a callback follows on the GUI thread."""
        self._next += 1
        number = self._next
        self._callbacks[number] = (on_result, on_error)
        cancel = threading.Event()

        def body() -> None:
            try:
                result = work(cancel)
            except Exception as error:
                self._finished.emit(number, None, error)
            else:
                self._finished.emit(number, result, None)

        thread = threading.Thread(target=body, name=title, daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        self.cancels.append(cancel)
        thread.start()
        return thread

    def _deliver(self, number: int, result: object, error: object) -> None:
        on_result, on_error = self._callbacks.pop(number)
        if isinstance(error, BaseException):
            on_error(error)
        else:
            on_result(result)

    def stop(self) -> None:
        """Cancel every run and join its thread."""
        for cancel in self.cancels:
            cancel.set()
        for thread in self.threads:
            thread.join(10)
