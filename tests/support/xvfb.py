"""A private Xvfb X server for tests that need real X11 (``xcb``) windows.

:func:`start_xvfb` picks a display number that no other server holds (no lock file, no
socket), starts ``Xvfb :N -screen 0 1280x1024x24 -nolisten tcp`` and waits until its
socket ``/tmp/.X11-unix/XN`` appears; a number taken meanwhile by another server (the
new one exits at once) makes it try the next.  :meth:`XvfbServer.stop` ends only the
server it started.  :func:`xvfb_environment` is the environment for a subprocess that
should open its windows there (``DISPLAY=:N``, ``QT_QPA_PLATFORM=xcb``).

``tests/gui_xcb/conftest.py`` holds the session fixture: it fails (not skips) under CI
(``CI=true``) when Xvfb is missing, since ``dev.sh`` installs it (package ``xvfb``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SOCKET_DIRECTORY = Path("/tmp/.X11-unix")
FIRST_DISPLAY = 90
"""Displays from here on: far from the :0/:1 of a desktop and of xvfb-run's :99 habit."""
DISPLAYS_TRIED = 60
START_TIMEOUT = 15.0
"""Seconds Xvfb may take to open its socket."""
SCREEN = "1280x1024x24"
INSTALL_HINT = "install Xvfb (Debian package 'xvfb'; ./dev.sh installs it)"


class XvfbError(RuntimeError):
    """Xvfb is missing or did not start."""


@dataclass
class XvfbServer:
    """A running Xvfb (started by :func:`start_xvfb`)."""

    number: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def display(self) -> str:
        return f":{self.number}"

    @property
    def socket(self) -> Path:
        return SOCKET_DIRECTORY / f"X{self.number}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """End the server (terminate, then kill after 5 s) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def find_xvfb() -> str | None:
    """The Xvfb program, or ``None`` when it is not installed."""
    return shutil.which("Xvfb")


def _taken(number: int) -> bool:
    return (SOCKET_DIRECTORY / f"X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()


def _wait_for_socket(server: XvfbServer, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if not server.alive():
            return False
        if server.socket.exists():
            return True
        time.sleep(0.02)
    return False


def start_xvfb(log_directory: Path) -> XvfbServer:
    """Start Xvfb on a free display; raises :class:`XvfbError` if it cannot."""
    program = find_xvfb()
    if program is None:
        raise XvfbError(f"Xvfb is not installed: {INSTALL_HINT}")
    log_directory.mkdir(parents=True, exist_ok=True)
    for number in range(FIRST_DISPLAY, FIRST_DISPLAY + DISPLAYS_TRIED):
        if _taken(number):
            continue
        log = log_directory / f"xvfb-{number}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # the installed Xvfb, fixed arguments
                [program, f":{number}", "-screen", "0", SCREEN, "-nolisten", "tcp"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = XvfbServer(number, process, log)
        if _wait_for_socket(server, time.monotonic() + START_TIMEOUT):
            return server
        server.stop()
        if process.returncode not in (None, 0) and not _taken(number):
            # it did not lose a race for the number: it cannot start at all
            raise XvfbError(f"Xvfb :{number} did not start: {log.read_text(errors='replace')}")
    raise XvfbError(f"no free X display in :{FIRST_DISPLAY}..:{FIRST_DISPLAY + DISPLAYS_TRIED}")


def xvfb_environment(server: XvfbServer, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) for a Qt program on ``server``."""
    environment = dict(os.environ if base is None else base)
    for name in ("WAYLAND_DISPLAY", "XAUTHORITY", "QT_QPA_PLATFORMTHEME"):
        environment.pop(name, None)
    environment.update(DISPLAY=server.display, QT_QPA_PLATFORM="xcb")
    return environment
