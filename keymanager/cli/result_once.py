"""An interaction that lets a command print the workflow's result once.

The key workflows (backup, restore, generate, delete) end by telling their result with
``interaction.inform`` (the desktop shows it).  The command line prints the result
itself, on standard output or as JSON, so that message must not also reach standard
error.  :class:`ResultOnceInteraction` holds the latest informational message back
until anything else happens (another message, a question), so messages keep their
order; the one still held when the workflow returns is its result, which
:meth:`ResultOnceInteraction.take_result` hands to the command.  A held message is
written as usual when the workflow fails (:meth:`flush`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from keymanager.cli.workflow_support import PreparedInteraction
from keymanager.workflows.interaction import (
    Choice,
    MessageLevel,
    SecretRequest,
    ShareInput,
    ShareRequest,
)

T = TypeVar("T")


class ResultOnceInteraction(PreparedInteraction):
    """:class:`PreparedInteraction` that holds back the latest informational message."""

    _held: str | None = None

    def flush(self) -> None:
        """Write the held message (if any) to standard error."""
        held, self._held = self._held, None
        if held is not None:
            super().message(MessageLevel.INFO, held)

    def take_result(self) -> str | None:
        """The workflow's last message (its result), no longer held."""
        held, self._held = self._held, None
        return held

    def message(self, level: MessageLevel, text: str) -> None:
        self.flush()
        if level is MessageLevel.INFO:
            self._held = text
        else:
            super().message(level, text)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        self.flush()
        return super().confirm(message, destructive=destructive)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        self.flush()
        return super().ask_secret(request)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        self.flush()
        return super().ask_share(request)

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        self.flush()
        return super().ask_text(prompt, default=default)

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        self.flush()
        return super().ask_choice(prompt, choices)
