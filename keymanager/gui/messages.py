"""Errors as the user should read them: what happened, and what to do about it.

:func:`describe_error` maps exception *classes* (never raw status words) to a
:class:`UserMessage`; the technical text and, for unexpected errors, the traceback go
into :attr:`UserMessage.details`, shown behind a button.  Exception texts of this
project never contain secrets (a project rule), so the details may be saved to a file.

:class:`ErrorDialog` shows a message: the headline and what to do first, the details
behind "Show Details…", and "Save log…" (the message, the details and the recent log
lines kept by :class:`LogBuffer`).  :func:`install_excepthook` routes uncaught
exceptions (``sys.excepthook`` and ``threading.excepthook``) to that dialog on the
GUI thread, after handing them to the previous hook.

**How a message reads.**  The *headline* (:attr:`UserMessage.title`, the dialog's bold
first line) names the problem in words: "Wrong PIN", "The card was removed".  The *main
text* says what happened and what to do, in words.  Card status words (``6982``,
``SW 6A88``) and command names (``VERIFY:``) appear only under *Details*, never in the
headline or the main text (:func:`plain_text` takes them out).  A message says at most
once that nothing was changed.

**Window titles**, one scheme for every message box of the GUI:

* an error of an action: ``<Action> failed`` ("Initialising the device failed");
* an action the user cancelled: ``<Action> cancelled``;
* an error without a known action (an uncaught exception): ``KeyManager — error``;
* a note or question of a running workflow: ``KeyManager — <kind>`` ("KeyManager —
  warning", "KeyManager — confirm"), made by :func:`note_title`.
"""

from __future__ import annotations

import collections
import datetime
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from keymanager.card.errors import (
    ApplicationNotFound,
    CardError,
    CardInUse,
    CardRemoved,
    CardReset,
    DkekMismatch,
    MalformedResponse,
    NoCard,
    NoKeyDomainSupport,
    NoReader,
    NotInitialised,
    PcscUnavailable,
    PinBlocked,
    ReferenceDataNotUsable,
    SecurityStatusNotSatisfied,
    TransportError,
    WrongPin,
)
from keymanager.dkek.errors import DkekError
from keymanager.gui import APP_NAME
from keymanager.workflows.errors import WorkflowError, WrongPinEntered
from keymanager.workflows.interaction import Cancelled
from keymanager.workflows.secure_messaging import channel_problem

PCSC_HINT = (
    "Start the PC/SC service: `sudo systemctl start pcscd` (Debian, Ubuntu, Fedora); "
    "in a Flatpak the host must run pcscd."
)


INTERRUPTED_ADVICE = (
    "press Refresh (F5): reading the card again repairs an interrupted key generation, "
    "restore or PKCS#12 import (you are asked first).  If this happened during a change, "
    "check the outline before repeating it: the last step may not have been done."
)
"""What to do after the card went away or was reset in the middle of a job."""


def window_title(action: str = "", *, cancelled: bool = False) -> str:
    """The window title of a message about ``action`` (see the module docstring)."""
    if action:
        return f"{action} {'cancelled' if cancelled else 'failed'}"
    return note_title("cancelled" if cancelled else "error")


def note_title(kind: str) -> str:
    """The window title of a workflow's note or question of ``kind`` ("warning")."""
    return f"{APP_NAME} — {kind}"


@dataclass(frozen=True)
class UserMessage:
    """A message for the user: a headline, what to do, and technical details.

    :param title: the headline, in words (no status word).
    :param text: what happened, in words (no status word, no command name).
    :param details: the technical account (the class, the full text with its status
        word, and for unexpected errors the traceback), shown behind "Show Details…".
    :param window_title: see the module docstring.
    """

    title: str
    text: str
    what_to_do: str
    details: str
    warning_only: bool = False
    window_title: str = field(default_factory=window_title)

    @property
    def full_text(self) -> str:
        return f"{self.text}\n\n{self.what_to_do}" if self.what_to_do else self.text


def _details(error: BaseException, with_traceback: bool) -> str:
    head = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
    if not with_traceback or error.__traceback__ is None:
        return head
    return head + "\n\n" + "".join(traceback.format_exception(error)).rstrip()


_STATUS_WORD = re.compile(r"\b(?:SW|SELECT answered|status word)\s*[0-9A-Fa-f]{4}\b")
_COMMAND_PREFIX = re.compile(r"^[A-Z][A-Z0-9#-]*(?: [A-Z0-9#-]+)*: ")
_NOTHING_CHANGED = re.compile(r"nothing (?:else )?(?:was|has been) changed", re.IGNORECASE)


def plain_text(text: str) -> str:
    """``text`` without card status words (``SW 6A88``) and the brackets they leave."""
    text = _STATUS_WORD.sub("", text)
    text = re.sub(r"\(\s*[:;,]?\s*", "(", text)
    text = re.sub(r"\s*[:;,]?\s*\)", ")", text)
    text = re.sub(r"\s*\(\)", "", text)
    text = re.sub(r"\s*[;,:]\s*$", "", text.strip())
    return re.sub(r"\s{2,}", " ", text).strip()


def says_nothing_changed(text: str) -> bool:
    """Whether ``text`` already says that nothing was changed."""
    return _NOTHING_CHANGED.search(text) is not None


def _sentence(error: BaseException) -> str:
    """The error's own text for the main text: no command name, no status word."""
    text = str(error)
    if isinstance(error, CardError):
        text = _COMMAND_PREFIX.sub("", text, count=1)
    text = plain_text(text) or type(error).__name__
    return text if text[-1] in ".!?" else text + "."


def describe_error(error: BaseException, action: str = "") -> UserMessage:
    """The message for ``error`` raised while doing ``action`` ("Reading the card")."""
    doing = f"{action} failed" if action else "The operation failed"
    text = _sentence(error)
    cancelled = isinstance(error, Cancelled)

    def message(title: str, what: str, *, trace: bool = False, warn: bool = False) -> UserMessage:
        return UserMessage(
            title,
            f"{doing}: {text}",
            what,
            _details(error, trace),
            warn,
            window_title(action, cancelled=cancelled),
        )

    if isinstance(error, Cancelled):
        nothing = "" if says_nothing_changed(text) else "Nothing else was done."
        return message("Cancelled", nothing, warn=True)
    if isinstance(error, PcscUnavailable):
        return message("The smart-card service is not running", PCSC_HINT)
    if isinstance(error, NoReader):
        return message(
            "No reader",
            "Plug the reader in; it appears in the reader list within a second.",
        )
    if isinstance(error, CardRemoved):
        return message("The card was removed", "Insert the card again and " + INTERRUPTED_ADVICE)
    if isinstance(error, NoCard):
        return message("No card in the reader", "Insert the card, then press Refresh (F5).")
    if isinstance(error, CardReset):
        return message(
            "The card was reset",
            "It lost its session (another program or the reader reset it): the PIN has "
            "to be verified again.  " + INTERRUPTED_ADVICE[0].upper() + INTERRUPTED_ADVICE[1:],
        )
    if isinstance(error, CardInUse):
        from keymanager.diagnostics import likely_card_holders

        holders = likely_card_holders()
        if holders:
            named = "; ".join(
                f"{holder.program} (process {holder.pid}: {holder.description})"
                for holder in holders
            )
            advice = (
                f"Running now and likely to hold it: {named}.  Close it (for GnuPG's "
                "scdaemon: `gpgconf --kill scdaemon`), then press Refresh (F5).  "
                "keymanager never stops other programs itself."
            )
        else:
            advice = (
                "Close the program holding it (often GnuPG's scdaemon: "
                "`gpgconf --kill scdaemon`, or a browser using the card), then press "
                "Refresh (F5)."
            )
        return message("Another program is using the card", advice)
    if isinstance(error, TransportError):
        return message(
            "The card could not be reached",
            "Check the reader and the card, then press Refresh (F5).",
            trace=True,
        )
    problem = channel_problem(error)
    if problem is not None:
        look = (
            "Press Refresh (F5) to see what the card holds, then try again if it is "
            "still to be done"
            if problem.effect_unknown
            else "Press Refresh (F5) to try again"
        )
        return message(
            problem.headline, f"{problem.effect}.  {look}.  {problem.advice}", trace=True
        )
    if isinstance(error, WrongPinEntered | WrongPin):
        # the main text already gives the tries left (the card's own count)
        name = "SO-PIN" if "SO-PIN" in str(error) else "PIN"
        if error.tries_left == 0 and name == "SO-PIN":
            return message(
                "The SO-PIN is blocked",
                "It cannot be used any more: the device cannot be initialised again and "
                "its user PIN cannot be unblocked.",
            )
        if error.tries_left == 0:
            return message(
                "The PIN is blocked",
                "Unblock it with the SO-PIN (PIN ▸ Unblock), or re-initialise the device.",
            )
        last = error.tries_left == 1
        return message(
            f"Wrong {name}",
            f"Check the {name} and try again"
            + (": the next wrong entry blocks it." if last else "."),
        )
    if isinstance(error, PinBlocked):
        return message(
            "The PIN is blocked",
            "Unblock it with the SO-PIN (PIN ▸ Unblock), or re-initialise the device.",
        )
    if isinstance(error, ReferenceDataNotUsable):
        return message(
            "The PIN cannot be used yet",
            "Change the transport PIN first (PIN ▸ Change PIN…), or initialise the device.",
        )
    if isinstance(error, SecurityStatusNotSatisfied):
        return message("Not logged in", "Verify the user PIN first (Verify PIN…), then repeat.")
    if isinstance(error, NotInitialised):
        return message("The device is not initialised", "Initialise the device first.")
    if isinstance(error, ApplicationNotFound):
        return message(
            "Not a SmartCard-HSM",
            "The card in this reader is not a SmartCard-HSM or compatible device; "
            "choose another reader.",
        )
    if isinstance(error, NoKeyDomainSupport):
        return message(
            "No key domains",
            "The device was initialised without a DKEK; keys cannot be wrapped or "
            "imported.  Re-initialise it with DKEK shares to use them.",
        )
    if isinstance(error, DkekMismatch):
        return message(
            "The key belongs to another DKEK",
            "Import the DKEK shares the key was wrapped under into a key domain first.",
        )
    if isinstance(error, WorkflowError | DkekError):
        return message(
            "Could not complete the step",
            "Put right what the message names, then try again.",
        )
    if isinstance(error, MalformedResponse):
        return message(
            "The card gave an unreadable answer",
            "Nothing was taken from the answer. Press Refresh (F5) to read the card again; if "
            "it happens again, the card or reader may be faulty: save the details.",
            trace=True,
        )
    if isinstance(error, CardError):
        return message(
            "The card refused the command",
            "Press Refresh (F5) to see the card's state; the details say which command.",
            trace=True,
        )
    return message(
        "Unexpected error",
        "This is a bug in keymanager.  Save the details and report them.",
        trace=True,
    )


# --- the log kept for "Save log…" ---------------------------------------------------

LOG_LINES = 500
"""How many recent log lines :class:`LogBuffer` keeps."""


class LogBuffer(logging.Handler):
    """Keeps the last :data:`LOG_LINES` formatted log records in memory (no file).

    The project never logs secrets, so these lines may be saved with an error report.
    """

    def __init__(self, capacity: int = LOG_LINES) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not break the program
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)


_LOG_BUFFER: LogBuffer | None = None


def log_buffer() -> LogBuffer:
    """The process-wide :class:`LogBuffer`, attached to the ``keymanager`` logger."""
    global _LOG_BUFFER
    if _LOG_BUFFER is None:
        _LOG_BUFFER = LogBuffer()
        package = logging.getLogger("keymanager")
        package.addHandler(_LOG_BUFFER)
        if package.level == logging.NOTSET or package.level > logging.INFO:
            package.setLevel(logging.INFO)
    return _LOG_BUFFER


def report_text(message: UserMessage) -> str:
    """What "Save log…" writes: the message, its details and the recent log lines."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return (
        f"keymanager error report, {stamp}\n\n{message.title}\n\n{message.full_text}\n\n"
        f"Details:\n{message.details}\n\nRecent log:\n{log_buffer().text()}\n"
    )


def save_report(message: UserMessage, path: Path) -> Path:
    """Write :func:`report_text` to ``path`` (UTF-8)."""
    path.write_text(report_text(message), encoding="utf-8")
    return path


# --- the error dialog ----------------------------------------------------------------


class ErrorDialog(QMessageBox):
    """A message for the user: headline and what to do first, details behind a button.

    "Save log…" asks for a file (a non-native, window-modal file dialog, published as
    :attr:`save_dialog` for tests) and writes :func:`report_text` to it.
    """

    log_saved = Signal(str)

    def __init__(self, message: UserMessage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.save_dialog: QFileDialog | None = None
        self.setObjectName("errorDialog")
        self.setIcon(
            QMessageBox.Icon.Information if message.warning_only else QMessageBox.Icon.Warning
        )
        self.setWindowTitle(message.window_title)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(message.title)
        self.setInformativeText(message.full_text)
        self.setDetailedText(message.details)
        self.save_button = self.addButton("Save log…", QMessageBox.ButtonRole.ActionRole)
        self.save_button.setObjectName("saveLog")
        # an ActionRole button would close the box: keep it open while saving
        self.save_button.clicked.disconnect()
        self.save_button.clicked.connect(self.ask_save_path)
        self.addButton(QMessageBox.StandardButton.Close)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def ask_save_path(self) -> QFileDialog:
        """Open the "Save log" file dialog; the report is written when a file is chosen."""
        dialog = QFileDialog(self, "Save log", "keymanager-error.txt", "Text (*.txt)")
        dialog.setObjectName("saveLogDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.save_to)
        self.save_dialog = dialog
        dialog.open()
        return dialog

    def save_to(self, path: str) -> None:
        save_report(self.message, Path(path))
        self.log_saved.emit(path)


# --- uncaught exceptions ----------------------------------------------------------------

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]
logger = logging.getLogger(__name__)


class _Router(QObject):
    """Lives on the GUI thread; shows the dialog for an uncaught exception."""

    raised = Signal(object)

    def __init__(self, parent_widget: Callable[[], QWidget | None]) -> None:
        super().__init__()
        self._parent_widget = parent_widget
        self.dialogs: list[ErrorDialog] = []
        self.raised.connect(self._show, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _show(self, error: object) -> None:
        if not isinstance(error, BaseException):
            return
        parent = self._parent_widget()
        if parent is not None and not shiboken6.isValid(parent):
            parent = None
        dialog = ErrorDialog(describe_error(error), parent)
        self.dialogs = [d for d in self.dialogs if shiboken6.isValid(d)] + [dialog]
        dialog.open()


class ExceptHookHandle:
    """What :func:`install_excepthook` installed; :meth:`uninstall` puts the old hooks back."""

    def __init__(self, router: _Router, previous: ExceptHook, previous_thread: object) -> None:
        self.router = router
        self.previous = previous
        self.previous_thread = previous_thread
        self.hook: ExceptHook | None = None
        self.thread_hook: Callable[[threading.ExceptHookArgs], None] | None = None

    @property
    def dialogs(self) -> list[ErrorDialog]:
        """The dialogs opened so far that are still open."""
        return [d for d in self.router.dialogs if shiboken6.isValid(d)]

    def uninstall(self) -> None:
        """Restore the previous hooks (only where ours is still the one installed)."""
        if sys.excepthook is self.hook:
            sys.excepthook = self.previous
        if threading.excepthook is self.thread_hook:
            threading.excepthook = self.previous_thread  # type: ignore[assignment]
        self.hook = None
        self.thread_hook = None


def install_excepthook(parent_widget: Callable[[], QWidget | None]) -> ExceptHookHandle:
    """Route uncaught exceptions to an :class:`ErrorDialog` (on the GUI thread).

    Each exception goes to the previous hook first (the traceback on stderr, or a test
    runner's capture), then to the log, then to the dialog.  A ``KeyboardInterrupt``
    only goes to the previous hook.  Call on the GUI thread (the router lives there).
    """
    router = _Router(parent_widget)
    app = QApplication.instance()
    if app is not None:
        router.setParent(app)
    handle = ExceptHookHandle(router, sys.excepthook, threading.excepthook)
    previous = sys.excepthook
    previous_thread = threading.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        try:
            previous(kind, error, trace)
        finally:
            if not issubclass(kind, KeyboardInterrupt):
                logger.error("uncaught %s: %s", kind.__name__, error, exc_info=(kind, error, trace))
                if error.__traceback__ is None and trace is not None:
                    error = error.with_traceback(trace)
                if shiboken6.isValid(router):
                    router.raised.emit(error)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        try:
            previous_thread(args)
        finally:
            if args.exc_value is not None and not issubclass(args.exc_type, SystemExit):
                logger.error(
                    "uncaught %s in thread %s",
                    args.exc_type.__name__,
                    args.thread.name if args.thread is not None else "?",
                    exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
                )
                if shiboken6.isValid(router):
                    router.raised.emit(args.exc_value)

    handle.hook = hook
    handle.thread_hook = thread_hook
    sys.excepthook = hook
    threading.excepthook = thread_hook
    log_buffer()
    return handle
