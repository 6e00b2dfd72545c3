"""Watching the PC/SC readers: plugged in, pulled out, cards inserted and removed.

A :class:`ReaderWatcher` lists the readers every second on its own thread (listing
never blocks the GUI, and pcscd going away or coming back is just another state) and
emits :attr:`ReaderWatcher.changed` on the GUI thread when anything differs from the
last look.  pyscard is imported on that thread, only through
:mod:`keymanager.card.pcsc`; without pyscard or pcscd the snapshot carries a plain
explanation instead of readers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from keymanager.card.errors import CardError, PcscUnavailable

logger = logging.getLogger(__name__)

POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class ReaderState:
    """One reader: its name and whether a card is in it (with the card's ATR)."""

    name: str
    has_card: bool
    atr: bytes = b""


@dataclass(frozen=True)
class ReaderSnapshot:
    """What one look at PC/SC found: the readers, or why there are none to be had."""

    readers: tuple[ReaderState, ...] = ()
    problem: str | None = None


def take_snapshot() -> ReaderSnapshot:
    """List the readers now (any thread)."""
    try:
        from keymanager.card import pcsc
    except ImportError:
        return ReaderSnapshot(problem="pyscard is not installed: only the simulated card works")
    try:
        readers = pcsc.list_readers()
    except PcscUnavailable:
        return ReaderSnapshot(
            problem="The PC/SC service (pcscd) is not running: start it to use real readers"
        )
    except CardError as error:
        return ReaderSnapshot(problem=f"PC/SC readers cannot be listed: {error}")
    return ReaderSnapshot(tuple(ReaderState(r.name, r.has_card, r.atr) for r in readers))


class ReaderWatcher(QObject):
    """Polls :func:`take_snapshot` and reports changes on the GUI thread."""

    changed = Signal(object)

    def __init__(self, interval: float = POLL_INTERVAL, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = interval
        self._stop = threading.Event()
        self._last: ReaderSnapshot | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="reader watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """End the polling thread and join it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                snapshot = take_snapshot()
            except Exception as error:  # never let the watcher die silently
                logger.warning("reader listing failed: %s", error)
                snapshot = ReaderSnapshot(problem=f"PC/SC readers cannot be listed: {error}")
            if snapshot != self._last:
                self._last = snapshot
                self.changed.emit(snapshot)
            self._stop.wait(self.interval)
