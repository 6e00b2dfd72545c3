"""An :class:`Interaction` that hands every question to another one.

Subclasses override what a dialog of the main window already answered: the delete
dialog (the label typed) answers the workflow's destructive confirmation, the share
ceremony shows sheets in a dialog that can print them.
"""

from __future__ import annotations

from collections.abc import Sequence

from keymanager.workflows.interaction import (
    Choice,
    Interaction,
    MessageLevel,
    SecretRequest,
    ShareInput,
    ShareRequest,
    T,
)


class DelegatingInteraction(Interaction):
    """Passes every question and message on to ``inner``."""

    def __init__(self, inner: Interaction) -> None:
        self.inner = inner

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        return self.inner.ask_number(prompt, minimum=minimum, maximum=maximum, default=default)

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        return self.inner.ask_choice(prompt, choices)

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        return self.inner.ask_choices(prompt, choices)

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        return self.inner.ask_text(prompt, default=default)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        return self.inner.ask_secret(request)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        return self.inner.ask_share(request)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        return self.inner.confirm(message, destructive=destructive)

    def show_secret(self, title: str, text: str) -> None:
        self.inner.show_secret(title, text)

    def message(self, level: MessageLevel, text: str) -> None:
        self.inner.message(level, text)

    def progress(self, step: str, done: int, total: int) -> None:
        self.inner.progress(step, done, total)

    def cancel_requested(self) -> bool:
        return self.inner.cancel_requested()
