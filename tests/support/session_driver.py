"""Drive the real ``keymanager`` entry point through a long scripted session, then quit.

Run as ``python -m tests.support.session_driver --state DEMO.json [--refreshes N]`` in a
process of its own (with ``HOME``/``XDG_*`` pointing at a temporary folder): it makes
the ``QApplication``, schedules the script and calls :func:`keymanager.gui.app.main` on
the demo card, which opens the main window and runs the event loop as a user's start
would.  The script refreshes many times, verifies the PIN, opens and closes dialogs,
selects every node and builds its context menu, generates a key, runs the audit and
finally closes the window, which ends ``main``.  Exit status: ``main``'s, or 3 with the
failed step on stderr when a step did not happen in time.

The tests (``tests/gui/test_long_session.py``, and on xcb ``tests/gui_xcb``) start it
with :func:`run_session` and check the exit status and that stderr holds no ``Fatal
Python error``: the crash at exit after a long session.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]

STEP_TIMEOUT_MS = 20_000
TICK_MS = 5

Wait = Callable[[], bool]
Script = Generator[Wait, None, None]


class SessionDriver:
    """Runs a generator script: each ``yield`` hands back a condition to wait for."""

    def __init__(self, script: Callable[[SessionDriver], Script]) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.failure: str | None = None
        self.step = "start"
        self.steps_done = 0
        self._script = script(self)
        self._waiting: Wait = lambda: True
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def _tick(self) -> None:
        if not self._waiting():
            if self._clock.elapsed() > STEP_TIMEOUT_MS:
                self._fail(f"step {self.step!r} did not happen in time")
            return
        try:
            self._waiting = next(self._script)
            self._clock.restart()
        except StopIteration:
            self._timer.stop()
        except Exception as error:  # a broken step fails the run, it does not hang it
            self._fail(f"step {self.step!r} failed: {error!r}")

    def _fail(self, text: str) -> None:
        self.failure = text
        self._timer.stop()
        window = main_window()
        if window is not None:
            window.close()

    def begin(self, step: str) -> None:
        self.step = step
        self.steps_done += 1


def main_window() -> Any:
    from PySide6.QtWidgets import QApplication

    from keymanager.gui.main_window import MainWindow

    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow):
            return widget
    return None


def long_session(refreshes: int) -> Callable[[SessionDriver], Script]:
    """The session: what a user does in an afternoon, compressed."""

    def script(driver: SessionDriver) -> Script:
        from PySide6.QtWidgets import QApplication, QWidget

        from keymanager.gui.audit_view import AuditView
        from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
        from keymanager.gui.pin_dialog import PinDialog
        from keymanager.simulator.demo import DEMO_PIN

        driver.begin("the window opens and reads the card")
        yield lambda: main_window() is not None
        window = main_window()
        opened: list[object] = []
        window.dialog_opened.connect(opened.append)
        window.broker.dialog_opened.connect(opened.append)

        def idle() -> bool:
            worker = window.worker
            return worker is not None and not worker.busy and window.model.outline is not None

        def dialog_of(kind: type) -> Callable[[], bool]:
            return lambda: any(isinstance(d, kind) for d in opened)

        def has_key(label: str) -> bool:
            outline = window.model.outline
            return outline is not None and any(label in node.title for node in outline.nodes())

        def take(kind: type) -> Any:
            found = next(d for d in opened if isinstance(d, kind))
            opened.remove(found)
            return found

        yield idle
        for number in range(refreshes):
            driver.begin(f"refresh {number + 1}")
            window.refresh()
            yield idle

        driver.begin("verify the PIN")
        assert window.run_action("verify-pin", window.model.outline.find("pin"))
        yield dialog_of(PinDialog)
        pin = take(PinDialog)
        pin.entry.setText(DEMO_PIN)
        pin.accept()
        yield lambda: idle() and window.model.outline.find("pin").detail("State") == "verified"

        driver.begin("select every node and build its context menu")
        for node in list(window.model.outline.nodes()):
            window.select_node(node.node_id)
            menu = window.build_context_menu(node)
            menu.deleteLater()
            QApplication.processEvents()
        yield idle

        driver.begin("open and close the catalog's dialogs")
        from keymanager.gui.dialog_catalog import CATALOG

        for name in CATALOG.names():
            if name == "audit":
                continue  # the audit step below opens it the way the user does
            dialog: QWidget = CATALOG.build(name, window)
            dialog.show()
            QApplication.processEvents()
            dialog.grab()
            dialog.close()
            dialog.deleteLater()
            yield idle

        opened.clear()  # the catalog's dialogs were announced too
        for number in range(2):
            driver.begin(f"generate key {number + 1}")
            assert window.run_action("generate-key")
            yield dialog_of(GenerateKeyDialog)
            generate = take(GenerateKeyDialog)
            label = f"Long session key {number + 1}"
            generate.label_edit.setText(label)
            generate.accept()
            yield lambda label=label: idle() and has_key(label)
            window.refresh()
            yield idle

        driver.begin("run the audit")
        assert window.run_action("audit")
        yield dialog_of(AuditView)
        take(AuditView).close()
        yield idle

        for number in range(refreshes // 2):
            driver.begin(f"refresh after the audit {number + 1}")
            window.refresh()
            yield idle

        driver.begin("quit through the window's close")
        window.close()

    return script


def run_session(
    home: Path, *extra: str, platform: str = "offscreen", display: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the scripted session in a fresh process with ``home`` as HOME and XDG dirs.

    ``platform`` is Qt's (``offscreen``, or ``xcb`` with ``display`` an X server).
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "QT_", "KEYMANAGER_", "WAYLAND_"))
        and key not in ("DISPLAY", "XAUTHORITY")
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
    if display is not None:
        environment["DISPLAY"] = display
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


def run(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True, help="the demo card's state file")
    parser.add_argument("--refreshes", type=int, default=200)
    options = parser.parse_args(arguments)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from keymanager.gui.app import main

    app = QApplication(sys.argv[:1])
    driver = SessionDriver(long_session(options.refreshes))
    QTimer.singleShot(0, driver.start)
    status = main(["--demo", str(options.state), "--no-readers"])
    print(f"session driver: {driver.steps_done} steps, last {driver.step!r}", flush=True)
    del app
    if driver.failure is not None:
        print(f"session driver: {driver.failure}", file=sys.stderr, flush=True)
        return 3
    return status


if __name__ == "__main__":
    sys.exit(run())
