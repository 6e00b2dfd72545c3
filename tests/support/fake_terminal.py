"""A scripted terminal for driving ``keymanager-cli`` in-process, as a custodian types.

:class:`FakeTerminal` stands in for ``sys.stdin`` and ``sys.stderr`` (a terminal:
``isatty()`` is true) and for :func:`getpass.getpass` (typed without echo).  Everything
written and typed lands in one transcript in the order a screen shows it, so a test can
tell that a message came right after a given line was typed, before the next prompt.
"""

from __future__ import annotations

import getpass
import io
import sys
from collections import deque
from collections.abc import Iterable

import pytest

ECHO_HIDDEN = "\n"
"""What the transcript shows for a line typed without echo."""


class FakeTerminal(io.TextIOBase):
    """A terminal that types ``lines`` one per read, and records the screen."""

    def __init__(self, lines: Iterable[str]) -> None:
        super().__init__()
        self._lines = deque(lines)
        self._screen: list[str] = []

    def isatty(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if not self._lines:
            return ""  # end of input (Ctrl-D)
        line = self._lines.popleft()
        self._screen.append(line + "\n")  # echoed
        return line + "\n"

    def write(self, text: str) -> int:
        self._screen.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def secret(self, prompt: str = "Password: ", stream: object = None) -> str:
        """:func:`getpass.getpass`: the prompt is shown, the line typed is not."""
        self._screen.append(prompt)
        if not self._lines:
            raise EOFError
        line = self._lines.popleft()
        self._screen.append(ECHO_HIDDEN)
        return line

    @property
    def screen(self) -> str:
        """Everything shown so far (hidden lines as empty lines)."""
        return "".join(self._screen)

    @property
    def unread(self) -> list[str]:
        """Lines scripted but never read."""
        return list(self._lines)


def install_terminal(monkeypatch: pytest.MonkeyPatch, lines: Iterable[str]) -> FakeTerminal:
    """Make ``lines`` what the user types on a terminal (stdin, stderr and getpass)."""
    terminal = FakeTerminal(lines)
    monkeypatch.setattr(sys, "stdin", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(getpass, "getpass", terminal.secret)
    return terminal
