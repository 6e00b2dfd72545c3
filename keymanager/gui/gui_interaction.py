"""The GUI's :class:`~keymanager.workflows.interaction.Interaction`: dialogs for workflows.

A workflow runs on a worker thread and calls :class:`GuiInteraction`.  Each question
becomes a :class:`PromptRequest` handed to the :class:`PromptBroker` (a QObject on the
GUI thread) through a queued signal; the broker opens a dialog *non-modally for the
event loop* (``QDialog.open()``, window-modal), so the GUI keeps running, and the
dialog's answer is handed back to the worker, which blocks on the request until then.
If the job is cancelled while a dialog is open, the worker stops waiting (raising
:class:`~keymanager.workflows.interaction.Cancelled`) and the dialog is closed.

Called on the GUI thread itself, the interaction spins a local event loop until the
dialog is answered (for dialogs started outside a job).

The dialog for each kind of question is made by a :class:`DialogFactory`; tests and
later issues may put in their own.  Shares are asked through one
:class:`~keymanager.gui.shares.ShareDialog` per job that stays open across the
shares (the next custodian types while the previous share is decrypted): its
progress bar gets the key derivation's progress, and :meth:`GuiInteraction.share_checked`
shows each share's fingerprint and the running KCV, waiting for "Continue" after the
last share (a card import, whose shares are on the card already, does not wait).

The requests, their dialogs and the broker are in :mod:`keymanager.gui.prompt_broker`
(their names are importable from here too); this module is the worker's side,
:class:`GuiInteraction`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from keymanager.gui.prompt_broker import (
    WAIT_SLICE,
    ChoiceDialog,
    DialogFactory,
    Opener,
    PromptBroker,
    PromptKind,
    PromptRequest,
)
from keymanager.gui.shares import ShareSession
from keymanager.workflows.interaction import (
    Choice,
    FileShareInput,
    Interaction,
    MessageLevel,
    NofMShareInput,
    PaperKeyShareInput,
    SecretRequest,
    ShareInput,
    ShareOutcome,
    ShareRequest,
)

__all__ = [
    "PROGRESS_INTERVAL",
    "WAIT_SLICE",
    "ChoiceDialog",
    "DialogFactory",
    "GuiInteraction",
    "Opener",
    "PromptBroker",
    "PromptKind",
    "PromptRequest",
]

T = TypeVar("T")

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress updates of the share dialog."""


class GuiInteraction(Interaction):
    """Answers a workflow's questions with dialogs (see the module docstring).

    :param cancel: the job's cancel flag (set by the Cancel button).
    :param report: where progress goes (the worker's throttled progress signal).
    """

    def __init__(
        self,
        broker: PromptBroker,
        cancel: threading.Event | None = None,
        report: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.broker = broker
        self.cancel = cancel or threading.Event()
        self._report = report
        self._share_session: ShareSession | None = None
        self._last_share_progress = 0.0

    def _ask(self, kind: PromptKind, **payload: Any) -> object:
        self.check_cancelled()
        return self.broker.ask(PromptRequest(kind, payload), self.cancel)

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        value = self._ask(
            PromptKind.NUMBER, prompt=prompt, minimum=minimum, maximum=maximum, default=default
        )
        assert isinstance(value, int)
        return value

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        return cast(T, self._ask(PromptKind.CHOICE, prompt=prompt, choices=list(choices)))

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        return cast(list[T], self._ask(PromptKind.CHOICES, prompt=prompt, choices=list(choices)))

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        return str(self._ask(PromptKind.TEXT, prompt=prompt, default=default))

    def ask_secret(self, request: SecretRequest) -> bytearray:
        value = self._ask(PromptKind.SECRET, request=request)
        assert isinstance(value, bytearray)
        return value

    def ask_share(self, request: ShareRequest) -> ShareInput:
        """The share dialog (opened once per job, kept open across the shares) answers."""
        if self._share_session is None:
            self._share_session = ShareSession(cancel=self.cancel)
        value = self._ask(PromptKind.SHARE, request=request, session=self._share_session)
        assert isinstance(value, FileShareInput | NofMShareInput | PaperKeyShareInput)
        return value

    def share_checked(self, outcome: ShareOutcome) -> None:
        """Show the share's fingerprint and the running KCV; after the last share wait
        for "Continue" (a KCV mismatch raises :class:`DkekKcvMismatch` on "Stop")."""
        session = self._share_session
        if session is None:
            return
        if outcome.complete and outcome.request.reports_outcome:
            self._ask(PromptKind.SHARE_DONE, session=session, outcome=outcome)
        else:
            self.broker.share_outcome.emit(session, outcome)

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        return bool(self._ask(PromptKind.CONFIRM, message=message, destructive=destructive))

    def show_secret(self, title: str, text: str) -> None:
        self._ask(PromptKind.SHOW_SECRET, title=title, text=text)

    def message(self, level: MessageLevel, text: str) -> None:
        """Warnings open a dialog (the workflow waits); information goes to the status bar."""
        if level is MessageLevel.INFO:
            self.broker.info_message.emit(text)
            return
        self._ask(PromptKind.MESSAGE, level=level, text=text)

    def progress(self, step: str, done: int, total: int) -> None:
        if self._report is not None:
            self._report(step, done, total)
        session = self._share_session
        if session is not None:
            now = time.monotonic()
            if done >= total or now - self._last_share_progress >= PROGRESS_INTERVAL:
                self._last_share_progress = now
                self.broker.share_progress.emit(session, step, done, total)

    def cancel_requested(self) -> bool:
        return self.cancel.is_set()
