"""What the PKCS#12 wizard collected, and the import job that answers the workflow from it.

The import runs on the card's worker (:func:`run_import`) with a
:class:`WizardInteraction`: the workflow's questions about the file, its password, the
entries and the number of shares are answered from :class:`WizardAnswers`; everything
else (the shares, the PIN, warnings) goes to the window's dialogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject, Signal

from keymanager.dkek.secret import wipe
from keymanager.gui.worker import JobContext
from keymanager.workflows.import_p12 import ImportJournal, import_pkcs12
from keymanager.workflows.interaction import (
    Choice,
    Interaction,
    MessageLevel,
    SecretKind,
    SecretRequest,
    ShareInput,
    ShareOutcome,
    ShareRequest,
)
from keymanager.workflows.plugins.transient_import import transient_import

T = TypeVar("T")

TRANSIENT = -1
"""The target value of "a new transient key domain"."""


@dataclass
class WizardAnswers:
    """What the wizard collected (the password is wiped by :meth:`forget`)."""

    path: Path
    password: bytearray = field(repr=False)
    entries: list[str]
    target: int
    shares: int = 1
    journal_path: Path | None = None
    seal: bool = False
    """Classic path: the card must never export the keys (the transient path always seals)."""

    @property
    def transient(self) -> bool:
        return self.target == TRANSIENT

    def forget(self) -> None:
        wipe(self.password)


class ImportProgress(QObject):
    """Carries the workflow's per-key messages from the worker to the wizard."""

    message = Signal(str)


class WizardInteraction(Interaction):
    """Answers the import workflow's questions about the file from the wizard; everything
    else (shares, PIN, warnings, progress, cancel) goes to ``inner``."""

    def __init__(
        self, inner: Interaction, answers: WizardAnswers, progress: ImportProgress
    ) -> None:
        self.inner = inner
        self.answers = answers
        self.progress_sink = progress
        self._password_given = False

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        if "DKEK shares" in prompt and minimum <= self.answers.shares <= maximum:
            return self.answers.shares
        return self.inner.ask_number(prompt, minimum=minimum, maximum=maximum, default=default)

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        return self.inner.ask_choice(prompt, choices)

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        wanted = set(self.answers.entries)
        return [c.value for c in choices if c.disabled is None and str(c.value) in wanted]

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        if "PKCS#12 file" in prompt:
            return ""  # the wizard's file was given up front: no further file
        return self.inner.ask_text(prompt, default=default)

    def ask_secret(self, request: SecretRequest) -> bytearray:
        if request.kind is SecretKind.PKCS12_PASSWORD and not self._password_given:
            self._password_given = True
            return bytearray(self.answers.password)
        return self.inner.ask_secret(request)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        return self.inner.ask_share(request)

    def share_checked(self, outcome: ShareOutcome) -> None:
        self.inner.share_checked(outcome)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        if message.startswith(("Import more entries", "Import another PKCS#12 file")):
            return False  # the wizard chose the entries; run it again for more
        return self.inner.confirm(message, destructive=destructive)

    def show_secret(self, title: str, text: str) -> None:
        self.inner.show_secret(title, text)

    def message(self, level: MessageLevel, text: str) -> None:
        self.progress_sink.message.emit(text)
        self.inner.message(level, text)

    def progress(self, step: str, done: int, total: int) -> None:
        self.inner.progress(step, done, total)

    def cancel_requested(self) -> bool:
        return self.inner.cancel_requested()


def run_import(context: JobContext, answers: WizardAnswers, progress: ImportProgress) -> object:
    """The wizard's job on the worker thread (the wizard's answers, the card's dialogs)."""
    interaction = WizardInteraction(context.interaction, answers, progress)
    journal = ImportJournal(answers.journal_path)
    try:
        if answers.transient:
            return transient_import(
                context.hsm, interaction, path=answers.path, journal=journal, offer_more=False
            )
        return import_pkcs12(
            context.hsm,
            interaction,
            domain=answers.target,
            path=answers.path,
            journal=journal,
            offer_more=False,
            seal=answers.seal,
        )
    finally:
        answers.forget()
