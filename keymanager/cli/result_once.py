"""An interaction that lets a command print the workflow's result once.

The key workflows (backup, restore, generate, delete) end by telling their result with
``interaction.inform`` (the desktop shows it).  The command line prints the result
itself, on standard output or as JSON, so that message must not also reach standard
error.  :class:`ResultOnceInteraction` holds the informational messages back until
anything else happens (a warning, a question), so messages keep their order; the last
one still held when the workflow returns is its result, which
:meth:`ResultOnceInteraction.take_result` hands to the command (the ones before it are
written then).  A command that prints its result in its own lines (``init``, the
``domain`` actions) drops every held message instead (:meth:`take_results`).  Held
messages are written as usual when the workflow fails (:meth:`flush`).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from keymanager.cli.workflow_support import PreparedInteraction
from keymanager.workflows.interaction import (
    Choice,
    MessageLevel,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareRequest,
)

T = TypeVar("T")


class ResultOnceInteraction(PreparedInteraction):
    """:class:`PreparedInteraction` that holds back the latest informational messages."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._held: list[str] = []

    def flush(self) -> None:
        """Write the held messages (if any) to standard error."""
        for held in self.take_results():
            super().message(MessageLevel.INFO, held)

    def take_result(self) -> str | None:
        """The workflow's last message (its result), no longer held; the messages held
        before it are written."""
        held = self.take_results()
        for text in held[:-1]:
            super().message(MessageLevel.INFO, text)
        return held[-1] if held else None

    def take_results(self) -> list[str]:
        """Every message still held, in order, none written (the command says them)."""
        held, self._held = self._held, []
        return held

    def message(self, level: MessageLevel, text: str) -> None:
        if level is MessageLevel.INFO:
            self._held.append(text)
        else:
            self.flush()
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

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        self.flush()
        return super().ask_choices(prompt, choices)

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        self.flush()
        return super().ask_number(prompt, minimum=minimum, maximum=maximum, default=default)

    def show_secret(self, title: str, text: str) -> None:
        self.flush()
        super().show_secret(title, text)


@contextlib.contextmanager
def flushed_on_error(interaction: ResultOnceInteraction) -> Iterator[None]:
    """Messages held back when the workflow fails are written after all."""
    try:
        yield
    except BaseException:
        interaction.flush()
        raise


def result_once_for(
    arguments: argparse.Namespace, secrets: dict[SecretKind, str | None], **kwargs: Any
) -> ResultOnceInteraction:
    """The interaction of a command that prints the workflow's result itself (the
    ``--…-env`` variables and ``--yes`` from ``arguments``, as ``interaction_for``)."""
    return ResultOnceInteraction(
        secret_variables={kind: [name] for kind, name in secrets.items() if name},
        assume_yes=bool(getattr(arguments, "yes", False)),
        **kwargs,
    )
