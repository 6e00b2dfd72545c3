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


# -- public key authentication (keymanager.workflows.pka) -----------------------------


class PkaWorkflowError(WorkflowError):
    """A public-key-authentication step failed; ``nothing_changed`` says whether the
    card is as before (``True`` for every refusal: the card registered or counted
    nothing)."""

    nothing_changed: bool | None = True


class PkaNotAvailable(PkaWorkflowError):
    """The device was not initialised for public key authentication."""


class PkaFileRejected(PkaWorkflowError):
    """A ``.pka`` file cannot be read, or its chain or signatures do not verify."""


class CustodianAlreadyRegistered(PkaWorkflowError):
    """The custodian's key is registered on the device already."""


class NoFreePkaSlot(PkaWorkflowError):
    """Every slot holds a key (and no replacement was asked or allowed)."""


class PkaReplaceRefused(PkaWorkflowError):
    """A registered key cannot be replaced (option not set, or the slot is empty)."""


class CustodianNotRegistered(PkaWorkflowError):
    """A custodian card holds no key registered on the device."""


class CustodianCardUnavailable(PkaWorkflowError):
    """A custodian card could not be opened or went away during its turn."""


class CustodianPinWrong(PkaWorkflowError, WrongPinEntered):
    """A custodian card's user PIN was wrong (``tries_left`` on that card)."""

    def __init__(self, message: str, tries_left: int | None = None) -> None:
        WrongPinEntered.__init__(self, message, tries_left)


class CustodianPinUnusable(PkaWorkflowError):
    """A custodian card's user PIN is blocked, or the card is not initialised."""


class CustodianSignatureRefused(PkaWorkflowError):
    """The device did not accept a custodian card's signature of its challenge."""


class CustodianKeyNotCreated(PkaWorkflowError):
    """A custodian key could not be made or its ``.pka`` file not written."""
