"""A one-line progress display on stderr for long steps such as the share key derivation."""

from __future__ import annotations

import sys
from typing import TextIO


class TerminalProgress:
    """Callable progress reporter printing ``label: NN%`` in place when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._last_percent = -1

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled or total <= 0:
            return
        percent = done * 100 // total
        if percent != self._last_percent:
            self._last_percent = percent
            self._stream.write(f"\r{self._label}: {percent:3d}%")
            self._stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self._enabled and self._last_percent >= 0:
            self._stream.write("\n")
            self._stream.flush()
