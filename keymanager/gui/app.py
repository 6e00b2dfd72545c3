"""Entry point of the ``keymanager`` desktop application.

``keymanager``                      the demo simulated card (built on first start in
                                    ``~/.local/state/keymanager/demo-card.json``)
``keymanager --simulator [STATE]``  the simulated card kept in STATE (default: the
                                    CLI's ``simulated-card.json``)
``keymanager --reader NAME``        the card in the PC/SC reader whose name contains NAME
``keymanager --screenshot FILE.png [--dialog NAME]``
                                    render the window with the outline loaded (or one
                                    dialog over it) to a PNG and exit; offscreen
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from keymanager.gui import APP_ID, APP_NAME, ORGANIZATION_NAME
from keymanager.paths import state_directory

logger = logging.getLogger(__name__)


def state_dir() -> Path:
    """``$XDG_STATE_HOME/keymanager`` (default ``~/.local/state/keymanager``)."""
    return state_directory()


def demo_state_path() -> Path:
    return state_dir() / "demo-card.json"


def default_simulator_path() -> Path:
    """The simulated card the command-line tool uses by default."""
    return state_dir() / "simulated-card.json"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keymanager",
        description="Desktop key manager for SmartCard-HSM and Nitrokey HSM 2 devices.",
    )
    card = parser.add_mutually_exclusive_group()
    card.add_argument(
        "--simulator",
        metavar="STATE",
        nargs="?",
        const=default_simulator_path(),
        type=Path,
        help="use the built-in simulated card kept in STATE (created blank if missing)",
    )
    card.add_argument("--reader", metavar="NAME", help="open the card in this PC/SC reader")
    card.add_argument(
        "--demo",
        metavar="STATE",
        type=Path,
        help="the demo card kept in STATE (default without options: "
        "~/.local/state/keymanager/demo-card.json)",
    )
    parser.add_argument(
        "--screenshot", metavar="FILE.png", type=Path, help="save a screenshot and exit"
    )
    parser.add_argument("--dialog", metavar="NAME", help="with --screenshot: show this dialog")
    parser.add_argument(
        "--no-readers", action="store_true", help="do not watch PC/SC readers (simulator only)"
    )
    return parser.parse_args(argv)


def _sources(arguments: argparse.Namespace) -> list[object]:
    from keymanager.gui.worker import PcscSource, SimulatorSource
    from keymanager.simulator import SmartCardHsmSimulator
    from keymanager.simulator.demo import build_demo_card

    if arguments.reader:
        from keymanager.gui.readers import take_snapshot

        wanted = arguments.reader
        names = [r.name for r in take_snapshot().readers]
        match = next((n for n in names if wanted.lower() in n.lower()), wanted)
        return [PcscSource(match)]
    if arguments.simulator is not None:
        path = Path(arguments.simulator)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return [SimulatorSource(SmartCardHsmSimulator(path), f"Simulated card ({path.name})")]
    path = arguments.demo or demo_state_path()
    return [SimulatorSource(build_demo_card(path), "Simulated card (demo)")]


def main(argv: Sequence[str] | None = None) -> int:
    """Start the desktop application; returns the exit status."""
    arguments = parse_arguments(argv)
    if arguments.dialog and not arguments.screenshot:
        print("keymanager: --dialog needs --screenshot", file=sys.stderr)
        return 2
    if arguments.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.worker import CardSource

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION_NAME)
    from PySide6.QtGui import QIcon

    from keymanager.diagnostics import configure_logging
    from keymanager.resources import app_icon_files

    with contextlib.suppress(OSError):  # an unwritable state directory must not stop the app
        configure_logging()
    icon = QIcon()
    for path in app_icon_files():
        icon.addFile(str(path))
    app.setWindowIcon(icon)
    try:
        sources = [s for s in _sources(arguments) if isinstance(s, CardSource)]
    except ValueError as error:
        print(f"keymanager: {error}", file=sys.stderr)
        return 2
    watch = not (arguments.screenshot or arguments.no_readers)
    window = MainWindow(sources, watch_readers=watch)
    if arguments.screenshot:
        from keymanager.gui.screenshots import render

        try:
            render(window, arguments.screenshot, arguments.dialog)
        except KeyError as error:
            print(f"keymanager: {error.args[0]}", file=sys.stderr)
            return 2
        finally:
            window.shutdown()
            window.deleteLater()
        print(arguments.screenshot)
        return 0
    window.show()
    status = app.exec()
    window.shutdown()
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
