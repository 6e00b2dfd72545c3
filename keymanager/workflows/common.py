"""Steps several workflows share: verifying the user PIN, reading a key domain's KCV."""

from __future__ import annotations

from keymanager.card.errors import PinBlocked, WrongPin
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeyDomainStatus, PinState
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.secret import wipe
from keymanager.workflows.errors import (
    DkekKcvMismatch,
    DomainNotReady,
    PinBlockedNow,
    PinNotVerified,
)
from keymanager.workflows.interaction import Interaction, SecretKind, SecretRequest

PIN_BLOCKED_NOW_TEXT = (
    "wrong user PIN: it is blocked now (unblock it with the SO-PIN: pin unblock); "
    "nothing was changed"
)
"""What :class:`PinBlockedNow` says: the last try of the user PIN was wrong."""
MAX_PIN_ATTEMPTS = 3
"""How many times one workflow asks for a wrong PIN before it stops (never below the
card's own counter: the card decides when the PIN blocks)."""


def verify_user_pin(hsm: SmartCardHsm, interaction: Interaction, purpose: str = "") -> None:
    """Make sure the user PIN is verified in this card session, asking for it if needed.

    Shows the tries left; a wrong PIN is asked again (the card counts down); the last
    try is flagged so the front end can warn.  The PIN buffer is wiped after use.

    :raises PinNotVerified: the PIN is blocked, or wrong too many times in a row.
    :raises PinBlockedNow: the last try was wrong: the PIN is blocked now.
    """
    pin = _ask_until_verified(hsm, interaction, purpose, keep_session=True, warn_last_try=False)
    if pin is not None:
        wipe(pin)


def ask_and_verify_pin(hsm: SmartCardHsm, interaction: Interaction, purpose: str) -> bytearray:
    """Ask for the user PIN, verify it, and return it for a later re-verification.

    Like :func:`verify_user_pin` (tries left shown, a wrong PIN asked again), but it
    always asks, warns before the last try, and the caller keeps the PIN and wipes it.

    :raises PinNotVerified: blocked, not initialised, transport PIN, or wrong too often.
    """
    pin = _ask_until_verified(hsm, interaction, purpose, keep_session=False, warn_last_try=True)
    assert pin is not None
    return pin


def _ask_until_verified(
    hsm: SmartCardHsm,
    interaction: Interaction,
    purpose: str,
    *,
    keep_session: bool,
    warn_last_try: bool,
) -> bytearray | None:
    """The PIN that verified (the caller wipes it), or ``None`` when ``keep_session``
    and the session was already verified (nothing asked)."""
    for _attempt in range(MAX_PIN_ATTEMPTS):
        status = hsm.pin_status()
        if keep_session and status.state is PinState.VERIFIED:
            return None
        if status.state is PinState.BLOCKED:
            raise PinNotVerified(
                "the user PIN is blocked: unblock it with the SO-PIN (pin unblock)"
            )
        if status.state is PinState.NOT_INITIALISED:
            raise PinNotVerified("the device is not initialised: initialise it first")
        if status.state is PinState.TRANSPORT_PIN:
            raise PinNotVerified("the transport PIN must be changed first (pin change)")
        if warn_last_try and status.tries_left == 1:
            interaction.warn("This is the last try for the user PIN: a wrong entry blocks it.")
        pin = interaction.ask_secret(
            SecretRequest(SecretKind.USER_PIN, purpose, tries_left=status.tries_left)
        )
        try:
            hsm.verify_pin(bytes(pin))
            return pin
        except WrongPin as error:
            wipe(pin)
            if error.tries_left == 0:
                raise PinBlockedNow(PIN_BLOCKED_NOW_TEXT, 0) from None
            interaction.warn(
                f"Wrong PIN: {error.tries_left} {'try' if error.tries_left == 1 else 'tries'} left."
            )
        except PinBlocked:
            wipe(pin)
            break
        except ValueError as error:  # not 6 to 16 characters: nothing was sent
            wipe(pin)
            interaction.warn(str(error))
        except BaseException:
            wipe(pin)
            raise
    raise PinNotVerified("the user PIN was not verified; nothing was changed")


def complete_domain_status(hsm: SmartCardHsm, domain: int) -> KeyDomainStatus:
    """The status of a key domain that holds a complete DKEK.

    :raises DomainNotReady: the domain is empty or still waiting for shares.
    """
    status = hsm.key_domain_status(domain)
    if status is None:
        raise DomainNotReady(f"key domain {domain} is empty")
    if status.uid:
        raise DomainNotReady(f"key domain {domain} is an XKEK domain, not a DKEK domain")
    if status.shares_outstanding:
        raise DomainNotReady(
            f"key domain {domain} still waits for {status.shares_outstanding} of "
            f"{status.shares_total} DKEK share(s)"
        )
    return status


def check_dkek_matches(hsm: SmartCardHsm, dkek: Dkek, domain: int) -> None:
    """Compare the host DKEK's KCV with the card's for ``domain`` before touching keys.

    A KCV the card hides until login is read again after the PIN was verified (the
    caller verifies first).

    :raises DkekKcvMismatch: they differ.
    :raises DomainNotReady: the domain holds no complete DKEK.
    """
    status = complete_domain_status(hsm, domain)
    if status.kcv is None:
        raise DomainNotReady(
            f"the card does not show the KCV of key domain {domain}; verify the PIN first"
        )
    if status.kcv != dkek.kcv():
        raise DkekKcvMismatch(domain, format_kcv(dkek.kcv()), format_kcv(status.kcv))
