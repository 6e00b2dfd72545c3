"""Open each catalog dialog in a real X11 window and report what showed (a subprocess).

``python -m tests.gui_xcb.xcb_smoke --state DEMO.json --shots DIR [NAME ...]`` (with
``DISPLAY`` and ``QT_QPA_PLATFORM=xcb`` set by the test) opens the main window on the
demo card, then for each dialog of :data:`keymanager.gui.dialog_catalog.CATALOG`
(default: all): builds it, shows it on the window, waits until the X server exposed
it, lets it paint, grabs it twice (the widget rendered by Qt, and the window's pixels
read back from the X server), closes it.  One line per dialog on stdout, flushed at
once so a crash still leaves the lines before it::

    RESULT {"name": ..., "visible": ..., "width": ..., "height": ..., "exposed": ...,
            "blank": null or why, "screen_blank": null or why,
            "cramped": [squashed widgets], "error": null or text}
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT = "RESULT "
EXPOSE_TIMEOUT_MS = 5_000
PAINT_ROUNDS = 5


def _settle(app: Any) -> None:
    for _ in range(PAINT_ROUNDS):
        app.processEvents()


def check_dialog(app: Any, window: Any, name: str, shots: Path) -> dict[str, object]:
    from PySide6.QtTest import QTest

    from keymanager.gui.dialog_catalog import CATALOG
    from tests.support.blank_image import blank_reason
    from tests.support.dialog_layout import cramped_widgets

    result: dict[str, object] = {"name": name, "error": None}
    dialog = CATALOG.build(name, window)
    dialog.show()
    dialog.raise_()
    result["exposed"] = bool(QTest.qWaitForWindowExposed(dialog, EXPOSE_TIMEOUT_MS))
    _settle(app)
    dialog.repaint()
    _settle(app)
    result["visible"] = dialog.isVisible()
    result["width"], result["height"] = dialog.width(), dialog.height()
    result["cramped"] = cramped_widgets(dialog)
    image = dialog.grab().toImage()
    result["blank"] = blank_reason(image)
    screen_image = dialog.screen().grabWindow(dialog.winId()).toImage()
    result["screen_blank"] = blank_reason(screen_image)
    screen_image.save(str(shots / f"{name}.png"), "PNG")
    dialog.close()
    dialog.deleteLater()
    _settle(app)
    return result


def run(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--shots", type=Path, required=True)
    parser.add_argument("names", nargs="*")
    options = parser.parse_args(arguments)

    from PySide6.QtWidgets import QApplication

    from keymanager.gui.app import close_window
    from keymanager.gui.dialog_catalog import CATALOG
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.screenshots import wait_for_outline
    from keymanager.gui.worker import SimulatorSource
    from keymanager.simulator.demo import build_demo_card

    app = QApplication(sys.argv[:1])
    print(f"platform {app.platformName()}", flush=True)
    if app.platformName() != "xcb":
        print("xcb_smoke: not on the xcb platform", file=sys.stderr)
        return 2
    options.shots.mkdir(parents=True, exist_ok=True)
    card = build_demo_card(options.state)
    window = MainWindow([SimulatorSource(card, "Simulated card (demo)")], watch_readers=False)
    window.show()
    if not wait_for_outline(window):
        print("xcb_smoke: the demo card's outline did not load", file=sys.stderr)
        close_window(window)
        return 2
    for name in options.names or CATALOG.names():
        try:
            result = check_dialog(app, window, name, options.shots)
        except Exception:  # reported as this dialog's failure; the others go on
            result = {"name": name, "error": traceback.format_exc()}
        print(RESULT + json.dumps(result), flush=True)
    window.close()
    close_window(window)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(run())
