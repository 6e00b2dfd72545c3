"""The one small interface through which a workflow asks its user for things.

A workflow (PKCS#12 import, a share ceremony, initialisation…) never prompts by
itself: it calls an :class:`Interaction`.  The GUI implements it with dialogs, the CLI
with environment variables and terminal prompts, and tests with
:class:`ScriptedInteraction`, which answers from a script and records what it was told.
So the very same workflow code runs behind every front end.

Everything a workflow can ask for:

* :meth:`Interaction.ask_number`, :meth:`~Interaction.ask_choice`,
  :meth:`~Interaction.ask_text` - plain values;
* :meth:`~Interaction.ask_secret` - a PIN, SO-PIN or password (returned as a
  ``bytearray`` the workflow wipes when done);
* :meth:`~Interaction.ask_share` - one DKEK share by one of the three routes (share
  file and password, n-of-m fragments, PaperKey); the front end collects the raw
  input, the workflow decodes it;
* :meth:`~Interaction.confirm` - yes or no, with a flag for destructive actions;
* :meth:`~Interaction.show_secret` - a secret shown once (a random PIN, one
  custodian's n-of-m fragment, a PaperKey sheet), acknowledged by the user;
* :meth:`~Interaction.inform` / :meth:`~Interaction.warn` - messages;
* :meth:`~Interaction.progress` and :meth:`~Interaction.cancel_requested` - long
  steps report progress and stop when the user cancels (:class:`Cancelled`).
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """The user cancelled; the workflow stopped and says what it left behind."""


class SecretKind(enum.Enum):
    """What kind of secret a workflow asks for (front ends format and validate by it).

    The values are the names shown to the user, not secrets.
    """

    USER_PIN = "user PIN"
    NEW_USER_PIN = "new user PIN"
    SO_PIN = "SO-PIN"
    NEW_SO_PIN = "new SO-PIN"
    SHARE_PASSWORD = "share-file password"  # noqa: S105 - a name, not a password
    NEW_SHARE_PASSWORD = "new share-file password"  # noqa: S105
    PKCS12_PASSWORD = "PKCS#12 password"  # noqa: S105


@dataclass(frozen=True)
class SecretRequest:
    """One secret to ask for.

    :param purpose: what it is for, read after "for" ("Enter the SO-PIN for
        initialising the device"), e.g. "share 2 of 3 (file b.pbe)".
    :param tries_left: for PINs, the card's remaining tries (front ends warn at 1).
    :param confirm: ask twice (new secrets).
    :param retry_reason: why it is asked again ("The SO-PIN entered was wrong."): the
        card refused the previous entry; front ends show it with the question.
    """

    kind: SecretKind
    purpose: str = ""
    tries_left: int | None = None
    confirm: bool = False
    retry_reason: str = ""


@dataclass(frozen=True)
class Choice(Generic[T]):
    """One option of :meth:`Interaction.ask_choice`; ``disabled`` says why it cannot be taken."""

    value: T
    label: str
    detail: str = ""
    disabled: str | None = None


class ShareRoute(enum.Enum):
    """The three ways a custodian can hand over a DKEK share."""

    FILE = "share file and password"
    N_OF_M = "n-of-m password fragments"
    PAPERKEY = "PaperKey"


@dataclass
class FileShareInput:
    """A share file and its password."""

    path: Path
    password: bytearray
    route: ShareRoute = field(default=ShareRoute.FILE, init=False)


@dataclass
class NofMShareInput:
    """A share file whose password is rebuilt from n-of-m fragments.

    :param prime: the prime as printed (``:``-separated hex);
    :param fragments: (ID as printed, value as printed) per custodian present.
    """

    path: Path
    prime: str
    fragments: list[tuple[str, str]]
    route: ShareRoute = field(default=ShareRoute.N_OF_M, init=False)


@dataclass
class PaperKeyShareInput:
    """The lines of a PaperKey as typed."""

    lines: list[str]
    route: ShareRoute = field(default=ShareRoute.PAPERKEY, init=False)


ShareInput = FileShareInput | NofMShareInput | PaperKeyShareInput


@dataclass(frozen=True)
class ShareRequest:
    """Ask for share ``number`` of ``total`` for key domain ``domain``.

    :param card_kcv: the KCV the card shows for the domain (None: not known yet or hidden),
        so a front end can show the running KCV beside it.
    """

    number: int
    total: int
    domain: int | None = None
    routes: tuple[ShareRoute, ...] = tuple(ShareRoute)
    card_kcv: bytes | None = None
    reports_outcome: bool = False
    """The workflow calls :meth:`Interaction.share_checked` after reading each share and
    waits, after the last one, until the user has compared the KCVs."""
    last: int = 0
    """The number of the last share this workflow asks for now (0: ``total``); below
    ``total`` when only some of a domain's outstanding shares are imported."""
    into_card: bool = False
    """Each share goes into the card's key domain as soon as it is read: shares before
    ``number`` are already there, and the domain shows no KCV while any is outstanding.
    The workflow reports each outcome without waiting for the user."""

    @property
    def last_number(self) -> int:
        """The number of the last share asked for now."""
        return self.last or self.total


class MessageLevel(enum.Enum):
    """How loud a message is."""

    INFO = "info"
    WARNING = "warning"


Progress = Callable[[int, int], None]
"""``progress(done, total)`` as the DKEK library's key derivation takes it."""


class Interaction(ABC):
    """What a workflow may ask of its user.  Implemented by the GUI, the CLI and tests."""

    @abstractmethod
    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        """A whole number in ``[minimum, maximum]``.  Raises :class:`Cancelled`."""

    @abstractmethod
    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        """One of ``choices`` (never a disabled one).  Raises :class:`Cancelled`."""

    @abstractmethod
    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        """Any subset of ``choices``, in their order (never a disabled one)."""

    @abstractmethod
    def ask_text(self, prompt: str, *, default: str = "") -> str:
        """A line of text (labels and the like, never secrets)."""

    @abstractmethod
    def ask_secret(self, request: SecretRequest) -> bytearray:
        """A secret as UTF-8 bytes; the caller wipes it.  Raises :class:`Cancelled`."""

    @abstractmethod
    def ask_share(self, request: ShareRequest) -> ShareInput:
        """One DKEK share by a route the user picks.  Raises :class:`Cancelled`."""

    @abstractmethod
    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        """Yes or no.  Destructive confirmations name what will be lost."""

    @abstractmethod
    def show_secret(self, title: str, text: str) -> None:
        """Show a secret once (random PIN, a custodian's fragment, a PaperKey) and wait
        until the user has taken it down.  Front ends never log or copy it."""

    @abstractmethod
    def message(self, level: MessageLevel, text: str) -> None:
        """Tell the user something."""

    def inform(self, text: str) -> None:
        """An informational message."""
        self.message(MessageLevel.INFO, text)

    def warn(self, text: str) -> None:
        """A warning."""
        self.message(MessageLevel.WARNING, text)

    def progress(self, step: str, done: int, total: int) -> None:  # noqa: B027
        """Report progress of a long step (default: ignore)."""

    def cancel_requested(self) -> bool:
        """Whether the user asked to stop; long steps check it between units of work."""
        return False

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel_requested():
            raise Cancelled("cancelled by the user")

    def progress_for(self, step: str) -> Progress:
        """A ``progress(done, total)`` callback bound to ``step``."""

        def report(done: int, total: int) -> None:
            self.progress(step, done, total)

        return report

    def share_checked(self, outcome: ShareOutcome) -> None:  # noqa: B027
        """A share handed over through :meth:`ask_share` was read (default: ignore).

        Called by workflows that assemble a DKEK on the host (``request.reports_outcome``):
        accepted, with the share's fingerprint and the KCV of the DKEK assembled so far,
        or refused, with the reason.  Front ends show it beside the card's KCV.  May raise
        (:class:`Cancelled`, or a workflow error when the user stops on a KCV mismatch).
        """


class ScriptExhausted(AssertionError):
    """A :class:`ScriptedInteraction` was asked something its script does not answer."""


@dataclass
class ScriptedInteraction(Interaction):
    """Answers from a script, in order; records every message, secret shown and progress.

    Each answer is matched to the kind of question (``number``, ``choice``, ``choices``,
    ``text``, ``secret``, ``share``, ``confirm``); a question of another kind than the
    next answer fails loudly.  For scripted (non-interactive) use by tests and by the
    CLI's ``--yes`` runs.  An answer may be :data:`CANCEL` to model the user cancelling.
    """

    answers: deque[tuple[str, object]] = field(default_factory=deque)
    messages: list[tuple[MessageLevel, str]] = field(default_factory=list)
    shown_secrets: list[tuple[str, str]] = field(default_factory=list)
    progress_reports: list[tuple[str, int, int]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    share_outcomes: list[ShareOutcome] = field(default_factory=list)

    def answer(self, kind: str, value: object) -> ScriptedInteraction:
        """Append an answer (fluent)."""
        self.answers.append((kind, value))
        return self

    def _next(self, kind: str, question: str) -> object:
        self.questions.append(f"{kind}: {question}")
        if not self.answers:
            raise ScriptExhausted(f"no scripted answer for {kind} question {question!r}")
        answer_kind, value = self.answers.popleft()
        if answer_kind != kind:
            raise ScriptExhausted(
                f"asked a {kind} question ({question!r}) but the script answers {answer_kind}"
            )
        if value is CANCEL:
            raise Cancelled(f"cancelled at {question!r}")
        return value

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        value = self._next("number", prompt)
        assert isinstance(value, int) and minimum <= value <= maximum, (value, minimum, maximum)
        return value

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        value = self._next("choice", prompt)
        for choice in choices:
            if choice.value == value or choice.label == value:
                if choice.disabled:
                    raise ScriptExhausted(f"{choice.label!r} is disabled: {choice.disabled}")
                return choice.value
        raise ScriptExhausted(f"{value!r} is not among {[c.label for c in choices]}")

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        value = self._next("choices", prompt)
        if value == "all":
            return [choice.value for choice in choices if not choice.disabled]
        assert isinstance(value, list | tuple)
        picked = []
        for choice in choices:
            if choice.value in value or choice.label in value:
                if choice.disabled:
                    raise ScriptExhausted(f"{choice.label!r} is disabled: {choice.disabled}")
                picked.append(choice.value)
        return picked

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        value = self._next("text", prompt)
        assert isinstance(value, str)
        return value or default

    def ask_secret(self, request: SecretRequest) -> bytearray:
        value = self._next("secret", f"{request.kind.value} {request.purpose}".strip())
        if isinstance(value, str):
            return bytearray(value.encode())
        assert isinstance(value, bytes | bytearray)
        return bytearray(value)

    def ask_share(self, request: ShareRequest) -> ShareInput:
        value = self._next("share", f"share {request.number} of {request.total}")
        assert isinstance(value, FileShareInput | NofMShareInput | PaperKeyShareInput)
        return value

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        value = self._next("confirm", message)
        assert isinstance(value, bool)
        return value

    def show_secret(self, title: str, text: str) -> None:
        self.shown_secrets.append((title, text))

    def message(self, level: MessageLevel, text: str) -> None:
        self.messages.append((level, text))

    def progress(self, step: str, done: int, total: int) -> None:
        self.progress_reports.append((step, done, total))

    def cancel_requested(self) -> bool:
        return self.cancel_event.is_set()

    def share_checked(self, outcome: ShareOutcome) -> None:
        self.share_outcomes.append(outcome)

    @property
    def finished(self) -> bool:
        """Whether every scripted answer was used."""
        return not self.answers

    def texts(self, level: MessageLevel | None = None) -> list[str]:
        """The messages told so far (of one level, or all)."""
        return [text for lvl, text in self.messages if level is None or lvl is level]


CANCEL = object()
"""A scripted answer that makes the question raise :class:`Cancelled`."""


@dataclass(frozen=True)
class ShareOutcome:
    """What became of one share handed over for ``request`` (no secrets in it).

    :param fingerprint: the accepted share's fingerprint (16 hex digits), ``""`` if refused.
    :param running_kcv: the KCV of the DKEK assembled from the shares accepted so far.
    :param shares_accepted: how many shares of ``request.total`` are accepted now.
    :param problem: why the share was refused (``""`` if accepted).
    """

    request: ShareRequest
    accepted: bool
    fingerprint: str = ""
    running_kcv: bytes | None = None
    shares_accepted: int = 0
    problem: str = ""

    @property
    def complete(self) -> bool:
        """The last share asked for now (normally the request's total) is accepted."""
        return self.accepted and self.shares_accepted >= self.request.last_number
