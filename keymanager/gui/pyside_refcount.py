"""Keep ``None``, ``True`` and ``False`` alive under a PySide6 that returns them unowned.

PySide6 6.12.0 (the ``cp310-abi3`` wheel) returns ``None`` from every Qt method without
a result (``label.setText(...)``, ``timer.start()``, ``app.processEvents()``, …) and the
``bool`` of ``signal.emit(...)`` and ``signal.disconnect(...)`` without taking a
reference to it, as if these objects were immortal, which they are only from Python
3.12 on.  On Python 3.11 every such call takes one reference away from ``None`` or
``True``/``False``; a long session makes tens of thousands of them, the count reaches
zero, and the process dies, usually at exit when the last real owners are freed::

    Fatal Python error: bool_dealloc: deallocating True or False: bug likely caused
    by a refcount error in a C extension

(or ``none_dealloc: deallocating None``).  The calls are everywhere, in the app and in
Qt's own Python wrappers, so no wrapper around a few methods can catch them all.

:func:`install` measures whether the installed PySide6 has the fault: it calls a void
method, emits a signal and makes a disconnect fail a few dozen times each and watches
``sys.getrefcount``.  Only if a count went down does it do what Python 3.12 does for
these objects: it gives each of them :data:`IMMORTAL_REFERENCES` extra references, so
no number of lost references can free them.  On Python 3.12 or later, and with a
PySide6 without the fault, nothing is changed.  :mod:`keymanager.gui` calls it when it
is imported, before the app emits its first signal.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import warnings
from collections.abc import Callable

PROBE_CALLS = 64
"""Calls per probe: a faulty method takes exactly this many references away."""
IMMORTAL_REFERENCES = 1 << 48
"""Extra references: at a million lost a second they would last nine years."""
SINGLETONS: dict[str, object] = {"None": None, "True": True, "False": False}

_lock = threading.Lock()
_result: dict[str, int] | None = None


def _references_lost(singleton: object, call: Callable[[], object]) -> int:
    """How many references to ``singleton`` :data:`PROBE_CALLS` calls of ``call`` took away."""
    before = sys.getrefcount(singleton)
    for _ in range(PROBE_CALLS):
        call()
    return before - sys.getrefcount(singleton)


def probe() -> dict[str, int]:
    """The references to ``None``, ``True`` and ``False`` that PySide6 calls lose (per probe)."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        fired = Signal()

    target = Probe()
    fired = target.fired

    def never_connected() -> None:
        """Disconnecting it fails: ``disconnect`` returns ``False``."""

    def failed_disconnect() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fired.disconnect(never_connected)

    lost = {
        "None": _references_lost(None, lambda: target.setObjectName("probe")),
        "True": _references_lost(True, fired.emit),
        "False": _references_lost(False, failed_disconnect),
    }
    target.deleteLater()
    return lost


def _add_references(singleton: object, count: int) -> bool:
    """Raise ``singleton``'s reference count by ``count``; ``False`` if this build cannot."""
    if hasattr(sys, "gettotalrefcount"):  # a debug build lays PyObject out differently
        return False
    field = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt, first in PyObject
    stored = field.value
    if abs(sys.getrefcount(singleton) - 1 - stored) > 2:  # getrefcount counts its argument
        return False  # not the reference count: leave the object alone
    field.value += count
    return field.value >= count


def install() -> dict[str, int]:
    """Make the singletons immortal if this PySide6 loses their references (idempotent).

    Returns the references each probe found lost (all zero: nothing was changed).
    """
    global _result
    with _lock:
        if _result is not None:
            return dict(_result)
        if sys.version_info >= (3, 12):  # None, True and False are immortal already
            _result = dict.fromkeys(SINGLETONS, 0)
            return dict(_result)
        lost = probe()
        # half the calls losing a reference is the fault: another thread moving a count
        # a little cannot make a sound build look faulty
        if any(count >= PROBE_CALLS // 2 for count in lost.values()):
            for name, singleton in SINGLETONS.items():
                if sys.getrefcount(singleton) < IMMORTAL_REFERENCES // 2 and not _add_references(
                    singleton, IMMORTAL_REFERENCES
                ):
                    warnings.warn(
                        f"PySide6 loses references to {name} and this Python build cannot "
                        "be protected from it: a long session may crash",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        _result = lost
        return dict(_result)


def immortal(singleton: object) -> bool:
    """Whether ``singleton`` holds the extra references (or is immortal by itself)."""
    return sys.version_info >= (3, 12) or sys.getrefcount(singleton) >= IMMORTAL_REFERENCES // 2
