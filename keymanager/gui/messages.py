"""Errors as the user should read them: what happened, and what to do about it.

:func:`describe_error` maps exception *classes* (never raw status words) to a
:class:`UserMessage`; the technical text and, for unexpected errors, the traceback go
into :attr:`UserMessage.details`, shown behind a button.  Exception texts of this
project never contain secrets (a project rule), so the details may be saved to a file.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from keymanager.card.errors import (
    ApplicationNotFound,
    CardError,
    CardInUse,
    CardRemoved,
    CardReset,
    DkekMismatch,
    NoCard,
    NoKeyDomainSupport,
    NoReader,
    NotInitialised,
    PcscUnavailable,
    PinBlocked,
    SecurityStatusNotSatisfied,
    TransportError,
    WrongPin,
)
from keymanager.dkek.errors import DkekError
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled

PCSC_HINT = (
    "Start the PC/SC service: `sudo systemctl start pcscd` (Debian, Ubuntu, Fedora); "
    "in a Flatpak the host must run pcscd."
)


@dataclass(frozen=True)
class UserMessage:
    """A message for the user: a headline, what to do, and technical details."""

    title: str
    text: str
    what_to_do: str
    details: str
    warning_only: bool = False

    @property
    def full_text(self) -> str:
        return f"{self.text}\n\n{self.what_to_do}" if self.what_to_do else self.text


def _details(error: BaseException, with_traceback: bool) -> str:
    head = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
    if not with_traceback or error.__traceback__ is None:
        return head
    return head + "\n\n" + "".join(traceback.format_exception(error)).rstrip()


def describe_error(error: BaseException, action: str = "") -> UserMessage:
    """The message for ``error`` raised while doing ``action`` ("Reading the card")."""
    doing = f"{action} failed" if action else "The operation failed"
    text = str(error) or type(error).__name__

    def message(title: str, what: str, *, trace: bool = False, warn: bool = False) -> UserMessage:
        return UserMessage(title, f"{doing}: {text}", what, _details(error, trace), warn)

    if isinstance(error, Cancelled):
        return message("Cancelled", "Nothing else was done.", warn=True)
    if isinstance(error, PcscUnavailable):
        return message("The smart-card service is not running", PCSC_HINT)
    if isinstance(error, NoReader):
        return message(
            "No reader",
            "Plug the reader in; it appears in the reader list within a second.",
        )
    if isinstance(error, CardRemoved):
        return message(
            "The card was removed",
            "Insert the card again and press Refresh (F5).  If this happened during a "
            "change, check the outline before repeating it: the last step may not "
            "have been done.",
        )
    if isinstance(error, NoCard):
        return message("No card in the reader", "Insert the card, then press Refresh (F5).")
    if isinstance(error, CardReset):
        return message(
            "The card was reset by another program",
            "The PIN has to be verified again.  Press Refresh (F5) and repeat the step.",
        )
    if isinstance(error, CardInUse):
        return message(
            "Another program is using the card",
            "Close the program holding it (often GnuPG's scdaemon: "
            "`gpgconf --kill scdaemon`, or a browser using the card), then press Refresh.",
        )
    if isinstance(error, TransportError):
        return message(
            "The card could not be reached",
            "Check the reader and the card, then press Refresh (F5).",
            trace=True,
        )
    if isinstance(error, WrongPin):
        tries = error.tries_left
        return message(
            "Wrong PIN",
            f"{tries} {'try' if tries == 1 else 'tries'} left.  Check the PIN and try again"
            + (" - the next wrong entry blocks it." if tries == 1 else "."),
        )
    if isinstance(error, PinBlocked):
        return message(
            "The PIN is blocked",
            "Unblock it with the SO-PIN (PIN ▸ Unblock), or re-initialise the device.",
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
        return message("Could not complete the step", "Nothing else was changed.")
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
