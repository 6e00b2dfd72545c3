"""Entry point of the ``keymanager`` desktop application.

``keymanager``                      the demo simulated card (built on first start in
                                    ``~/.local/state/keymanager/demo-card.json``)
``keymanager --simulator [STATE]``  the simulated card kept in STATE (default: the
                                    CLI's ``simulated-card.json``)
``keymanager --reader NAME``        the card in the PC/SC reader whose name contains NAME
``keymanager --screenshot FILE.png [--dialog NAME]``
                                    render the window with the outline loaded (or one
                                    dialog over it) to a PNG and exit; offscreen
``keymanager --list-dialogs``       the names ``--dialog`` takes (the dialog catalog)
``keymanager --all-dialogs DIR``    render every dialog of the catalog to DIR/NAME.png

At exit the window is shut down (workers joined) and deleted, and the last garbage is
collected on the GUI thread while the ``QApplication`` still lives, before the
interpreter tears down: no Qt object is left for the interpreter's final collection.
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
        "--list-dialogs", action="store_true", help="print the names --dialog takes and exit"
    )
    parser.add_argument(
        "--all-dialogs",
        metavar="DIR",
        type=Path,
        help="render every dialog of --list-dialogs to DIR/NAME.png and exit",
    )
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
    if arguments.list_dialogs:
        from keymanager.gui.dialog_catalog import CATALOG

        for name in CATALOG.names():
            print(name)
        return 0
    if arguments.dialog and not arguments.screenshot:
        print("keymanager: --dialog needs --screenshot", file=sys.stderr)
        return 2
    if arguments.screenshot or arguments.all_dialogs:
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

    from keymanager.log_file import configure_logging
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
    offscreen = arguments.screenshot or arguments.all_dialogs
    watch = not (offscreen or arguments.no_readers)
    window = MainWindow(sources, watch_readers=watch)
    event_loop_ended = False
    try:
        if arguments.all_dialogs:
            return _render_all_dialogs(window, arguments.all_dialogs)
        if arguments.screenshot:
            from keymanager.gui.screenshots import render

            try:
                render(window, arguments.screenshot, arguments.dialog)
            except KeyError as error:
                print(f"keymanager: {error.args[0]}", file=sys.stderr)
                return 2
            print(arguments.screenshot)
            return 0
        window.show()
        event_loop_ended = True  # the user closed the window: the process ends next
        return int(app.exec())
    finally:
        close_window(window, final=event_loop_ended or existing is not app)


def _render_all_dialogs(window: object, directory: Path) -> int:
    from keymanager.gui.dialog_catalog import CATALOG
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.screenshots import render_dialogs

    assert isinstance(window, MainWindow)
    names = CATALOG.names()
    failures = render_dialogs(window, directory, names)
    for name in names:
        if name not in failures:
            print(directory / f"{name}.png")
    for name, error in failures.items():
        print(f"keymanager: dialog {name!r} could not be rendered: {error}", file=sys.stderr)
    return 1 if failures else 0


def close_window(window: object, *, final: bool = True) -> None:
    """Shut the window down (workers joined), delete it and collect on the GUI thread.

    When ``final`` (the event loop ended, or ``main`` made the ``QApplication``: the
    process ends next) the deletion happens now and Python wrappers that still point at Qt objects
    are freed here, on the GUI thread and while the ``QApplication`` lives, not by the
    interpreter's last collection at exit.  Otherwise (``main`` called inside a program
    or a test with its own application) the window is deleted by that event loop.
    """
    from PySide6.QtCore import QCoreApplication, QEvent

    from keymanager.gui.gc_guard import uninstall_gui_thread_gc
    from keymanager.gui.main_window import MainWindow

    if isinstance(window, MainWindow):
        window.shutdown()
        window.deleteLater()
    if not final:
        return
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    uninstall_gui_thread_gc()


if __name__ == "__main__":
    sys.exit(main())
