"""PySide6 calls that lose references to None/True/False cannot end a session.

PySide6 6.12.0 on Python 3.11 takes a reference away from ``None`` on every void Qt
call and from ``True``/``False`` on every ``emit``/``disconnect``
(:mod:`keymanager.gui.pyside_refcount`).  Each test runs in a fresh interpreter, makes
far more such calls than the objects have references, and must end cleanly.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from keymanager.gui.pyside_refcount import PROBE_CALLS

REPOSITORY = Path(__file__).resolve().parents[2]
CALLS = 200_000
"""More than the references a small process holds to None, True or False."""

STRESS = f"""
import warnings
import keymanager.gui
from keymanager.gui import pyside_refcount
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel

app = QApplication([])

class Emitter(QObject):
    changed = Signal(bool)

emitter = Emitter()
emitter.changed.connect(lambda value: None)
label = QLabel()
def never_connected():
    pass
warnings.simplefilter("ignore", RuntimeWarning)
for number in range({CALLS}):
    label.setText("x")              # void: returns None
    emitter.changed.emit(number % 2 == 0)  # returns True
for number in range({CALLS} // 10):
    emitter.changed.disconnect(never_connected)  # fails: returns False
print(pyside_refcount.install())
print(all(pyside_refcount.immortal(value) for value in (None, True, False)))
del label, emitter, app
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
        env=environment,
        check=False,
    )


def test_many_calls_that_lose_references_end_cleanly() -> None:
    result = _run(STRESS)
    assert "Fatal Python error" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    lost_line, immortal_line = result.stdout.splitlines()[-2:]
    lost = ast.literal_eval(lost_line)
    assert set(lost) == {"None", "True", "False"}
    # where the probe found the fault, the objects were protected
    if any(count >= PROBE_CALLS // 2 for count in lost.values()):
        assert immortal_line == "True"


def test_probe_tells_a_faulty_build_from_a_sound_one() -> None:
    """The probe's numbers are what the calls really lose, measured again here."""
    code = """
import sys
from keymanager.gui import pyside_refcount
from PySide6.QtCore import QObject
lost = pyside_refcount.probe()
target = QObject()
before = sys.getrefcount(None)
for _ in range(pyside_refcount.PROBE_CALLS):
    target.setObjectName("again")
after = sys.getrefcount(None)
print(lost["None"], before - after)
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    probed, measured = (int(value) for value in result.stdout.split())
    assert abs(probed - measured) <= 2
