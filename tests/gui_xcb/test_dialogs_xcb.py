"""Every catalog dialog opens in a real X11 window under Xvfb, paints, and closes.

One subprocess (``tests/gui_xcb/xcb_smoke.py``, ``QT_QPA_PLATFORM=xcb`` on the private
Xvfb) opens them all, one after another, on the demo card's main window; each dialog
is then one test here: visible, a non-empty size, exposed by the X server, neither
the widget's grab nor the pixels read back from the X server blank, and no label, field
or button squashed below the height it needs (``tests/support/dialog_layout.py``).  If
the subprocess dies on a dialog (a crash in Qt), that dialog fails with the process's
last words and a new subprocess goes on with the rest.

The long scripted session (``tests/gui/test_long_session.py``) runs here too, on xcb.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keymanager.gui.dialog_catalog import CATALOG
from tests.gui_xcb.xcb_smoke import RESULT
from tests.support.session_driver import run_session
from tests.support.xvfb import XvfbServer, xvfb_environment

REPOSITORY = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 120
MIN_SIDE = 40
"""Pixels: the smallest dialog (a one-line question) is wider and taller than this."""


def _temporary_home(base: Path) -> dict[str, str]:
    runtime = base / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "HOME": str(base),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_STATE_HOME": str(base / "state"),
        "XDG_DATA_HOME": str(base / "data"),
        "XDG_CACHE_HOME": str(base / "cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONFAULTHANDLER": "1",
    }


def _run_smoke(
    server: XvfbServer, base: Path, names: list[str]
) -> tuple[dict[str, dict[str, object]], subprocess.CompletedProcess[str]]:
    environment = xvfb_environment(server)
    environment.update(_temporary_home(base))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.gui_xcb.xcb_smoke",
            "--state",
            str(base / "demo-card.json"),
            "--shots",
            str(base / "shots"),
            *names,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=REPOSITORY,
        env=environment,
        check=False,
    )
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith(RESULT):
            entry = json.loads(line[len(RESULT) :])
            found[str(entry["name"])] = entry
    return found, result


@pytest.fixture(scope="module")
def smoke_results(
    xvfb: XvfbServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, object]]:
    """Each catalog name → what the subprocess saw (a new process after a crash)."""
    remaining = CATALOG.names()
    results: dict[str, dict[str, object]] = {}
    for _attempt in range(len(remaining)):
        if not remaining:
            break
        found, process = _run_smoke(xvfb, tmp_path_factory.mktemp("xcb"), remaining)
        results.update(found)
        remaining = [name for name in remaining if name not in found]
        if process.returncode == 0 or not remaining:
            if remaining:  # ended cleanly without them: say so for each
                for name in remaining:
                    results[name] = {"name": name, "error": "not reported: " + process.stderr}
            break
        crashed = remaining.pop(0)
        results[crashed] = {
            "name": crashed,
            "error": f"the process died (status {process.returncode}) on this dialog: "
            + process.stderr[-3000:],
        }
    return results


@pytest.mark.parametrize("name", CATALOG.names())
def test_dialog_paints_in_a_real_window(
    name: str, smoke_results: dict[str, dict[str, object]]
) -> None:
    result = smoke_results[name]
    assert result["error"] is None, result["error"]
    assert result["visible"], f"{name} is not visible"
    assert result["exposed"], f"the X server never exposed {name}"
    width, height = result["width"], result["height"]
    assert isinstance(width, int) and isinstance(height, int)
    assert width >= MIN_SIDE and height >= MIN_SIDE, f"{name} is {width}x{height}"
    assert result["blank"] is None, f"{name}'s grab is blank: {result['blank']}"
    assert result["screen_blank"] is None, f"{name} on the X server: {result['screen_blank']}"
    assert result["cramped"] == [], f"{name} squashes: {result['cramped']}"


def test_long_session_on_xcb_quits_cleanly(xvfb: XvfbServer, tmp_path: Path) -> None:
    result = run_session(tmp_path, "--refreshes", "40", platform="xcb", display=xvfb.display)
    assert "Fatal Python error" not in result.stderr, result.stderr[-4000:]
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'last "quit through the window\'s close"' in result.stdout, result.stdout
