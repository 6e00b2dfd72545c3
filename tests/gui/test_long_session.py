"""A long session of the real app ends with exit status 0 and no fatal error.

The app once died at exit after a long session ("Fatal Python error: bool_dealloc …
refcount error in a C extension", exit 134): PySide6 6.12.0 on Python 3.11 loses a
reference to ``None``/``True``/``False`` on many calls (``keymanager/gui/pyside_refcount.py``).
The session runs in a process of its own, as a user's would: the ``keymanager`` entry
point on a demo card in a temporary home, driven by ``tests/support/session_driver.py``
(refreshes, PIN, every catalog dialog, key generation, audit), and quits through the
window's close.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.session_driver import run_session

REFRESHES = 150
"""Enough calls to drain the references a fresh process holds several times over."""


def test_long_session_quits_cleanly(tmp_path: Path) -> None:
    result = run_session(tmp_path, "--refreshes", str(REFRESHES))
    assert "Fatal Python error" not in result.stderr, result.stderr[-4000:]
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'last "quit through the window\'s close"' in result.stdout, result.stdout
