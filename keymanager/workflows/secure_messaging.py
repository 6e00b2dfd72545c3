"""Secure messaging in words: what a failed channel means, and what to do.

(The session's own state in words is ``SecureMessagingState.text``, which the outline,
``status``, the audit and diagnose show, with ``SecureMessagingStatus`` as the stable
word ``active`` / ``unavailable`` / ``off``.)

:func:`channel_problem` explains the secure-messaging errors of
:mod:`keymanager.card.secure_messaging` to a user, the same for the desktop app
(:func:`keymanager.gui.messages.describe_error`) and ``keymanager-cli`` (its error
advice): a headline, what the failure means for the command (a broken channel after
the command was sent: the card may or may not have carried it out), and what to check.
None of them says that nothing was changed: a channel breaks on an answer, after the
command went out, and a failure to open one (again) may come in the middle of a
workflow whose earlier steps were carried out (``keymanager-cli --json`` reports
``"nothing_changed": null`` for them).
"""

from __future__ import annotations

from dataclasses import dataclass

from keymanager.card.secure_messaging import (
    ChannelBroken,
    ChannelEndedByCard,
    DeviceAuthenticationFailed,
    SecureMessagingError,
    SecureMessagingUnavailable,
    UnprotectedRefusal,
)

BROKEN_HEADLINE = "The secure channel to the card broke"
DEVICE_HEADLINE = "The card failed to prove it is the device its certificate names"
REOPEN_HEADLINE = "The secure channel to the card could not be opened again"
REFUSED_HEADLINE = "The card refused a command outside the secure channel"
OTHER_HEADLINE = "Secure messaging failed"

CHECK_THE_PATH = (
    "If it happens again, check the reader, its cable and the middleware between "
    "keymanager and the card (a driver, or another program using the reader); a "
    "failure that persists may mean that something between the host and the card "
    "alters what passes"
)
"""What to check after a secure-messaging failure, for every kind of it."""
EFFECT_UNKNOWN = (
    "The card may or may not have carried out the command (its answer could not be "
    "trusted, so nothing was taken from it)"
)
LOGIN_GONE = "A new channel starts logged out: verify the PIN again where it is needed"
NOT_SENT = "keymanager sent nothing in the clear instead"


@dataclass(frozen=True)
class ChannelProblem:
    """A secure-messaging failure in words (the front ends add how to look at the card).

    :param headline: the problem (no status word).
    :param effect: what it means for the command that failed (one or more sentences,
        without the last full stop).
    :param advice: what to check if it happens again (sentences, ending in a full stop).
    :param effect_unknown: the command (or an earlier step) may have been carried
        out: look at the card before repeating it.
    """

    headline: str
    effect: str
    advice: str
    effect_unknown: bool


def channel_problem(error: BaseException) -> ChannelProblem | None:
    """The words for a secure-messaging error (``None`` for any other error)."""
    if not isinstance(error, SecureMessagingError):
        return None
    check = f"{CHECK_THE_PATH}."
    if isinstance(error, ChannelEndedByCard):
        return ChannelProblem(
            BROKEN_HEADLINE,
            "The card answered that it ended the secure channel; it reports the command "
            "as not carried out, but that answer is not protected",
            f"{LOGIN_GONE}.  {check}",
            effect_unknown=True,
        )
    if isinstance(error, ChannelBroken):
        return ChannelProblem(
            BROKEN_HEADLINE, EFFECT_UNKNOWN, f"{LOGIN_GONE}.  {check}", effect_unknown=True
        )
    if isinstance(error, DeviceAuthenticationFailed):
        return ChannelProblem(
            DEVICE_HEADLINE,
            "The card could not show that it holds the key of its device certificate "
            f"(chip authentication failed), so no secure channel was opened; {NOT_SENT}",
            f"{check}  Until it succeeds, enter no PIN and no DKEK share for this card.",
            effect_unknown=False,
        )
    if isinstance(error, SecureMessagingUnavailable):
        return ChannelProblem(
            REOPEN_HEADLINE,
            "The session ran on secure messaging and the channel could not be set up "
            f"again; {NOT_SENT}, but earlier steps of the operation may have been carried out",
            check,
            effect_unknown=True,
        )
    if isinstance(error, UnprotectedRefusal):
        return ChannelProblem(
            REFUSED_HEADLINE,
            "The card refused the command with an answer outside the secure channel",
            check,
            effect_unknown=True,
        )
    return ChannelProblem(OTHER_HEADLINE, EFFECT_UNKNOWN, check, effect_unknown=True)
