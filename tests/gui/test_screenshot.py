"""``keymanager --screenshot``: a real PNG of the main window (and of a dialog)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from keymanager.gui.app import main
from keymanager.gui.screenshots import DIALOGS

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS_IMAGE = REPOSITORY / "docs" / "images" / "main-window.png"


def _check_png(path: Path, min_width: int) -> QImage:
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() >= min_width
    # not a blank canvas: many distinct colours (text, icons, selection)
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)
    }
    assert len(colours) > 20
    return image


def test_screenshot_in_process(qtbot, demo_state: Path, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    target = tmp_path / "shots" / "main.png"
    assert main(["--demo", str(state), "--screenshot", str(target)]) == 0
    _check_png(target, 800)


def test_screenshot_of_a_dialog(qtbot, demo_state: Path, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    assert "pin" in DIALOGS
    target = tmp_path / "pin.png"
    assert main(["--demo", str(state), "--screenshot", str(target), "--dialog", "pin"]) == 0
    _check_png(target, 200)
    assert main(["--demo", str(state), "--screenshot", str(target), "--dialog", "nope"]) == 2


def test_screenshot_as_a_new_process(demo_state: Path, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    target = tmp_path / "process.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keymanager.gui.app",
            "--demo",
            str(state),
            "--screenshot",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    _check_png(target, 800)


def test_write_docs_screenshot(qtbot, demo_state: Path, tmp_path: Path) -> None:
    """Writes docs/images/main-window.png, the picture the docs and README show."""
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    assert main(["--demo", str(state), "--screenshot", str(DOCS_IMAGE)]) == 0
    _check_png(DOCS_IMAGE, 800)
    assert DOCS_IMAGE.stat().st_size < 200_000
