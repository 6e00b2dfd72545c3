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

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
REFRESHES = 150
"""Enough calls to drain the references a fresh process holds several times over."""


def run_session(
    home: Path, *extra: str, platform: str = "offscreen"
) -> subprocess.CompletedProcess[str]:
    """Run the scripted session in a fresh process with ``home`` as HOME and XDG dirs."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "QT_", "KEYMANAGER_"))
    }
    environment.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
        QT_QPA_PLATFORM=platform,
        PYTHONFAULTHANDLER="1",
    )
    (home / "runtime").mkdir(mode=0o700, parents=True, exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "tests.support.session_driver",
            "--state",
            str(home / "demo-card.json"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPOSITORY,
        env=environment,
        check=False,
    )


def test_long_session_quits_cleanly(tmp_path: Path) -> None:
    result = run_session(tmp_path, "--refreshes", str(REFRESHES))
    assert "Fatal Python error" not in result.stderr, result.stderr[-4000:]
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'last "quit through the window\'s close"' in result.stdout, result.stdout
