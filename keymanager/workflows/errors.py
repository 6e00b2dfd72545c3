"""Errors of the workflows: each names what went wrong and what the user can do.

Every workflow error derives from :class:`WorkflowError`.  Errors from the layers below
(:class:`~keymanager.card.errors.CardError`, :class:`~keymanager.dkek.errors.DkekError`)
pass through unchanged where their message already says enough.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """A workflow could not be completed; the message says why and what to do."""


class DkekKcvMismatch(WorkflowError):
    """The DKEK assembled on the host is not the one the card's key domain holds."""

    def __init__(self, domain: int, host_kcv: str, card_kcv: str) -> None:
        self.domain = domain
        self.host_kcv = host_kcv
        self.card_kcv = card_kcv
        super().__init__(
            f"the shares entered give a DKEK with KCV {host_kcv}, but key domain {domain} "
            f"on the card has KCV {card_kcv}: a share is wrong, missing, or belongs to "
            "another device; nothing was imported"
        )


class PinNotVerified(WorkflowError):
    """The user PIN could not be verified (blocked, or the user gave up)."""


class DomainNotReady(WorkflowError):
    """The key domain is empty, still waiting for shares, or not a DKEK domain."""


class WrongPinEntered(WorkflowError):
    """A PIN or SO-PIN was wrong; ``tries_left`` says how many tries remain (``None``: unknown)."""

    def __init__(self, message: str, tries_left: int | None = None) -> None:
        self.tries_left = tries_left
        super().__init__(message)


class PinBlockedNow(WrongPinEntered, PinNotVerified):
    """The last try of the user PIN was wrong: it is blocked now (``tries_left`` 0)."""


class BackupDkekMismatch(WorkflowError):
    """A key backup was wrapped under a DKEK that none of the card's key domains holds."""
