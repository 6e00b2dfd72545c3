"""``keymanager --screenshot``: a real PNG of the main window (and of a dialog)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from keymanager.gui.app import main
from keymanager.gui.screenshots import DIALOGS
from tests.support.blank_image import blank_reason

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


def _app_process(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keymanager.gui.app", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPOSITORY,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "QT_QPA_PLATFORM": "offscreen",
        },
        check=False,
    )


def test_list_dialogs_prints_the_catalog(tmp_path: Path) -> None:
    from keymanager.gui.dialog_catalog import CATALOG

    result = _app_process(tmp_path, "--list-dialogs")
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    assert names == CATALOG.names()
    assert {"about", "pin", "generate-key", "audit", "sheet-print-preview"} <= set(names)


def test_every_listed_dialog_renders_to_a_png(demo_state: Path, tmp_path: Path) -> None:
    """``--screenshot FILE --dialog NAME`` for every ``--list-dialogs`` name, in one process
    (``--all-dialogs`` renders them the same way on one window)."""
    listed = _app_process(tmp_path, "--list-dialogs").stdout.split()
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    shots = tmp_path / "dialogs"
    result = _app_process(tmp_path, "--demo", str(state), "--all-dialogs", str(shots))
    assert "Fatal Python error" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    for name in listed:
        path = shots / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        image = QImage(str(path))
        assert image.width() >= 150 and image.height() >= 80, name
        assert blank_reason(image) is None, f"{name}: {blank_reason(image)}"
    assert sorted(path.stem for path in shots.glob("*.png")) == sorted(listed)


def test_one_dialog_by_name_as_a_new_process(demo_state: Path, tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    target = tmp_path / "about.png"
    command = ("--demo", str(state), "--screenshot", str(target), "--dialog", "about")
    result = _app_process(tmp_path, *command)
    assert result.returncode == 0, result.stderr
    _check_png(target, 200)
    unknown = _app_process(
        tmp_path, "--demo", str(state), "--screenshot", str(target), "--dialog", "nope"
    )
    assert unknown.returncode == 2
    assert "no dialog called 'nope'" in unknown.stderr
