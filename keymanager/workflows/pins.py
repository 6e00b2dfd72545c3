"""PINs: verify, change the user PIN, unblock or set it with the SO-PIN, change the SO-PIN.

Every step tells the tries left (from the card's status before, and from the card's
answer to a wrong entry) and warns before the last try.  A wrong PIN is not asked
again here (except by :func:`verify_pin`, which uses the shared verification loop):
it ends the workflow with :class:`~keymanager.workflows.errors.WrongPinEntered`,
whose ``tries_left`` the front end shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keymanager.card.errors import (
    CommandNotAllowed,
    PinBlocked,
    ReferenceDataNotUsable,
    WrongPin,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import PinState, PinStatus, parse_so_pin
from keymanager.dkek.secret import wipe
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import PinNotVerified, WorkflowError, WrongPinEntered
from keymanager.workflows.interaction import Interaction, SecretKind, SecretRequest


@dataclass(frozen=True)
class PinResult:
    """The PINs' state after a PIN workflow."""

    action: str
    pin: str
    so_pin: str
    user_tries_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "action": self.action,
            "pin": self.pin,
            "so_pin": self.so_pin,
            "tries_left": self.user_tries_left,
        }


def _plural(count: int | None) -> str:
    return "try" if count == 1 else "tries"


def _warn_last_try(interaction: Interaction, status: PinStatus, name: str) -> None:
    if status.tries_left == 1:
        interaction.warn(f"This is the last try for the {name}: a wrong entry blocks it.")


def _result(hsm: SmartCardHsm, action: str) -> PinResult:
    status = hsm.pin_status()
    return PinResult(action, status.describe(), hsm.so_pin_status().describe(), status.tries_left)


def _wrong(error: WrongPin, name: str) -> WrongPinEntered:
    return WrongPinEntered(
        f"wrong {name}: {error.tries_left} {_plural(error.tries_left)} left; nothing was changed",
        error.tries_left,
    )


def verify_pin(hsm: SmartCardHsm, interaction: Interaction) -> PinResult:
    """Verify the user PIN (asked again while wrong, up to the shared limit)."""
    status = hsm.pin_status()
    _warn_last_try(interaction, status, "user PIN")
    verify_user_pin(hsm, interaction, "verification")
    interaction.inform("The user PIN is verified.")
    return _result(hsm, "verify")


def change_pin(hsm: SmartCardHsm, interaction: Interaction) -> PinResult:
    """Change the user PIN (also replaces a transport PIN).

    :raises WrongPinEntered: the current PIN is wrong (tries left given).
    :raises PinNotVerified: the PIN is blocked or the device not initialised.
    """
    status = hsm.pin_status()
    if status.state is PinState.BLOCKED:
        raise PinNotVerified("the user PIN is blocked: unblock it with the SO-PIN (pin unblock)")
    if status.state is PinState.NOT_INITIALISED:
        raise PinNotVerified("the device is not initialised: initialise it first")
    _warn_last_try(interaction, status, "user PIN")
    current = interaction.ask_secret(
        SecretRequest(SecretKind.USER_PIN, "the current one", tries_left=status.tries_left)
    )
    new = bytearray()
    try:
        new = interaction.ask_secret(SecretRequest(SecretKind.NEW_USER_PIN, confirm=True))
        try:
            hsm.change_pin(bytes(current), bytes(new))
        except ValueError as error:
            raise WorkflowError(f"{error}; nothing was changed") from None
        except WrongPin as error:
            raise _wrong(error, "user PIN") from None
        except PinBlocked:
            raise PinNotVerified("the user PIN is blocked: unblock it with the SO-PIN") from None
    finally:
        wipe(current, new)
    interaction.inform("The user PIN was changed.")
    return _result(hsm, "change")


def _ask_so_pin(hsm: SmartCardHsm, interaction: Interaction, purpose: str) -> bytes:
    status = hsm.so_pin_status()
    if status.state is PinState.BLOCKED:
        raise PinNotVerified("the SO-PIN is blocked: it cannot be used any more")
    if status.state is PinState.NOT_INITIALISED:
        raise PinNotVerified("the device is not initialised: initialise it first")
    _warn_last_try(interaction, status, "SO-PIN")
    secret = interaction.ask_secret(
        SecretRequest(SecretKind.SO_PIN, purpose, tries_left=status.tries_left)
    )
    try:
        return parse_so_pin(secret.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise WorkflowError(f"SO-PIN: {error}; nothing was changed") from None
    finally:
        wipe(secret)


def unblock_pin(hsm: SmartCardHsm, interaction: Interaction, *, set_new: bool) -> PinResult:
    """RESET RETRY COUNTER with the SO-PIN: unblock only, or unblock and set a new PIN.

    :raises WrongPinEntered: the SO-PIN is wrong (tries left given).
    :raises WorkflowError: the device was initialised without RESET RETRY COUNTER, or
        (with ``set_new``) with "unblock only".
    """
    so_pin = _ask_so_pin(hsm, interaction, "resetting the user PIN's retry counter")
    new = bytearray()
    try:
        if set_new:
            new = interaction.ask_secret(SecretRequest(SecretKind.NEW_USER_PIN, confirm=True))
        try:
            hsm.reset_retry_counter(so_pin, bytes(new) if set_new else None)
        except ValueError as error:
            raise WorkflowError(f"{error}; nothing was changed") from None
        except WrongPin as error:
            raise _wrong(error, "SO-PIN") from None
        except PinBlocked:
            raise PinNotVerified("the SO-PIN is blocked") from None
        except (CommandNotAllowed, ReferenceDataNotUsable) as error:
            what = "set a new PIN" if set_new else "unblock the PIN"
            raise WorkflowError(
                f"the device does not allow the SO-PIN to {what} (SW {error.sw:04X}): it was "
                "initialised without RESET RETRY COUNTER"
                + (" or with 'unblock only'" if set_new else "")
            ) from None
    finally:
        wipe(new)
    interaction.inform(
        "The user PIN was unblocked" + (" and set." if set_new else " (the PIN is unchanged).")
    )
    return _result(hsm, "unblock" if not set_new else "set")


def change_so_pin(hsm: SmartCardHsm, interaction: Interaction) -> PinResult:
    """Change the SO-PIN (16 hex digits).

    :raises WrongPinEntered: the current SO-PIN is wrong (tries left given).
    """
    current = _ask_so_pin(hsm, interaction, "the current one")
    secret = interaction.ask_secret(SecretRequest(SecretKind.NEW_SO_PIN, confirm=True))
    try:
        new = parse_so_pin(secret.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise WorkflowError(f"new SO-PIN: {error}; nothing was changed") from None
    finally:
        wipe(secret)
    try:
        hsm.change_so_pin(current, new)
    except WrongPin as error:
        raise _wrong(error, "SO-PIN") from None
    except PinBlocked:
        raise PinNotVerified("the SO-PIN is blocked") from None
    interaction.inform("The SO-PIN was changed.")
    return _result(hsm, "change-so-pin")
