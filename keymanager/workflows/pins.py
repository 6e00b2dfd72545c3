"""PINs: verify, change the user PIN, unblock or set it with the SO-PIN, change the SO-PIN.

Every step tells the tries left (from the card's status before, and from the card's
answer to a wrong entry) in the request for the secret; the front ends warn before the
last try from it (the PIN dialog, the CLI prompt), so these workflows add no separate
warning box, except :func:`verify_pin`.

**Each secret is checked as soon as it is entered**, before the next one is asked:

* *Change PIN*: the current PIN is checked with VERIFY first; a wrong one is asked again
  (with the tries left and the reason, :attr:`SecretRequest.retry_reason`), then the new
  PIN is asked once.  In transport-PIN mode VERIFY cannot be used (``6984``): the current
  PIN is checked by CHANGE REFERENCE DATA itself, and a wrong one is asked again while
  the new PIN typed already is kept.
* *SO-PIN* (change SO-PIN, unblock, set, and initialisation in
  :mod:`keymanager.workflows.device`): the SmartCard-HSM has no SO-PIN login (OpenSC
  issue 1318: it only authorises INITIALIZE and RESET RETRY COUNTER), so
  :func:`ask_current_so_pin` checks it with CHANGE SO-PIN from the entered value *to the
  same value* (``00 24 00 88 old‖old``): a wrong SO-PIN answers ``63Cx`` and changes
  nothing, a right one leaves it as it was (and resets its retry counter, as any right
  entry does).  CHANGE SO-PIN exists on every SmartCard-HSM and on Pico HSM, with the
  same 8-byte format OpenSC uses; VERIFY with ``P2=88`` and data would be a purer check
  (Pico HSM has it), but the genuine card documents it only as the status query, so it
  is not relied on.  (Pico HSM rewrites its SO-PIN record and the MKEK wrapped under it
  on every CHANGE SO-PIN: one flash write, same values.)  Pico HSM's INITIALIZE does not
  check the SO-PIN at all (``cmd_initialize.c``): the check here is what stops a wrong
  one there.  Where the card refuses the check for another reason, the SO-PIN is left
  for the command that uses it to check.

A wrong entry is asked again at most :data:`~keymanager.workflows.common.MAX_PIN_ATTEMPTS`
times in a row (the card's own counter decides when a PIN blocks); then the workflow
ends with :class:`~keymanager.workflows.errors.WrongPinEntered`, whose ``tries_left`` the
front end shows.  A format error (an SO-PIN that is not 16 hex digits) is not sent to the
card and ends the workflow with a :class:`WorkflowError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keymanager.card.errors import (
    ApduError,
    CommandNotAllowed,
    NotInitialised,
    PinBlocked,
    ReferenceDataNotUsable,
    WrongPin,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitOptions, PinState, PinStatus, parse_so_pin
from keymanager.dkek.secret import wipe
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import (
    MAX_PIN_ATTEMPTS,
    PIN_BLOCKED_NOW_TEXT,
    verify_user_pin,
)
from keymanager.workflows.errors import (
    PinBlockedNow,
    PinNotVerified,
    WorkflowError,
    WrongPinEntered,
)
from keymanager.workflows.interaction import Interaction, SecretKind, SecretRequest


@dataclass(frozen=True)
class PinResult:
    """The PINs' state after a PIN workflow."""

    action: str
    pin: str
    so_pin: str
    user_tries_left: int | None = None
    left_transport_mode: bool | None = None
    """After changing a transport PIN: whether the card left transport-PIN mode
    (``None``: the PIN was no transport PIN, or another action)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "action": self.action,
            "pin": self.pin,
            "so_pin": self.so_pin,
            "tries_left": self.user_tries_left,
            "left_transport_mode": self.left_transport_mode,
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


def _wrong_entry(name: str) -> str:
    return f"The {name} entered was wrong."


@ceremony_step("change PIN")
def change_pin(hsm: SmartCardHsm, interaction: Interaction) -> PinResult:
    """Change the user PIN (also replaces a transport PIN).

    The current PIN is checked before the new one is asked (see the module docstring).

    :raises WrongPinEntered: the current PIN was wrong too many times in a row.
    :raises PinBlockedNow: the last try was wrong: the PIN is blocked now.
    :raises PinNotVerified: the PIN is blocked or the device not initialised.
    """
    status = hsm.pin_status()
    if status.state is PinState.BLOCKED:
        raise PinNotVerified("the user PIN is blocked: unblock it with the SO-PIN (pin unblock)")
    if status.state is PinState.NOT_INITIALISED:
        raise PinNotVerified("the device is not initialised: initialise it first")
    checked_by_verify = status.state is not PinState.TRANSPORT_PIN
    purpose = "changing the user PIN"
    tries = status.tries_left
    current = bytearray()
    new = bytearray()
    try:
        for attempt in range(MAX_PIN_ATTEMPTS):
            wipe(current)
            current = interaction.ask_secret(
                SecretRequest(
                    SecretKind.USER_PIN,
                    purpose,
                    tries_left=tries,
                    retry_reason=_wrong_entry("user PIN") if attempt else "",
                )
            )
            if not checked_by_verify:
                break
            try:
                hsm.verify_pin(bytes(current))
                break
            except ValueError as error:
                raise WorkflowError(f"{error}; nothing was changed") from None
            except ReferenceDataNotUsable:  # a transport PIN after all: CHANGE checks it
                checked_by_verify = False
                break
            except WrongPin as error:
                tries = error.tries_left
                if tries == 0:
                    raise PinBlockedNow(PIN_BLOCKED_NOW_TEXT, 0) from None
            except PinBlocked:
                raise PinNotVerified(
                    "the user PIN is blocked: unblock it with the SO-PIN"
                ) from None
        else:
            raise WrongPinEntered(
                f"wrong user PIN: {tries} {_plural(tries)} left; nothing was changed", tries
            )
        new = interaction.ask_secret(SecretRequest(SecretKind.NEW_USER_PIN, confirm=True))
        for attempt in range(MAX_PIN_ATTEMPTS):
            if attempt:
                wipe(current)
                current = interaction.ask_secret(
                    SecretRequest(
                        SecretKind.USER_PIN,
                        purpose,
                        tries_left=tries,
                        retry_reason=_wrong_entry("user PIN"),
                    )
                )
            try:
                hsm.change_pin(bytes(current), bytes(new))
                break
            except ValueError as error:
                raise WorkflowError(f"{error}; nothing was changed") from None
            except WrongPin as error:
                tries = error.tries_left
                if tries == 0:  # a transport PIN checked by CHANGE REFERENCE DATA
                    raise PinBlockedNow(PIN_BLOCKED_NOW_TEXT, 0) from None
                if checked_by_verify:
                    raise _wrong(error, "user PIN") from None
            except PinBlocked:
                raise PinNotVerified(
                    "the user PIN is blocked: unblock it with the SO-PIN"
                ) from None
        else:
            raise WrongPinEntered(
                f"wrong user PIN: {tries} {_plural(tries)} left; nothing was changed", tries
            )
        left = False
        if status.state is PinState.TRANSPORT_PIN:
            # a card logged in by the change may answer "verified" whatever its mode:
            # only a logged-out card tells whether it is still in transport-PIN mode
            hsm.select()
            left = hsm.pin_status().state is not PinState.TRANSPORT_PIN
            if left:
                hsm.verify_pin(bytes(new))  # logged in again, as after any change
    finally:
        wipe(current, new)
    if status.state is not PinState.TRANSPORT_PIN:
        interaction.inform("The user PIN was changed.")
        return _result(hsm, "change")
    interaction.inform(
        "The transport PIN was replaced: the card left transport-PIN mode."
        if left
        else "The user PIN was changed, but the card is still in transport-PIN mode (Pico "
        "HSM never leaves it): it keeps asking for a PIN change before use."
    )
    result = _result(hsm, "change")
    return PinResult(
        result.action, result.pin, result.so_pin, result.user_tries_left, left_transport_mode=left
    )


def _parse_so_pin(secret: bytearray, name: str) -> bytes:
    try:
        return parse_so_pin(secret.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise WorkflowError(f"{name}: {error}; nothing was changed") from None
    finally:
        wipe(secret)


def so_pin_status_for_use(hsm: SmartCardHsm) -> PinStatus:
    """The SO-PIN's status; :raises PinNotVerified: blocked or never initialised."""
    status = hsm.so_pin_status()
    if status.state is PinState.BLOCKED:
        raise PinNotVerified("the SO-PIN is blocked: it cannot be used any more")
    if status.state is PinState.NOT_INITIALISED:
        raise PinNotVerified("the device is not initialised: initialise it first")
    return status


def ask_current_so_pin(
    hsm: SmartCardHsm,
    interaction: Interaction,
    purpose: str,
    tries_left: int | None,
    *,
    blocked: str = "it is blocked now and cannot be used any more",
) -> tuple[bytes, bool]:
    """Ask for the card's SO-PIN and check it at once, asking again while it is wrong.

    The check is CHANGE SO-PIN to the same value (see the module docstring).

    :returns: the SO-PIN, and whether the card confirmed it (``False``: the card refused
        the check for another reason than a wrong SO-PIN; the command using it decides).
    :raises WrongPinEntered: wrong :data:`MAX_PIN_ATTEMPTS` times in a row, or the last
        try was used (``tries_left`` 0; ``blocked`` says what that means).
    :raises PinNotVerified: the SO-PIN was blocked already.
    :raises WorkflowError: not 16 hex digits (nothing was sent).
    """
    tries = tries_left
    for attempt in range(MAX_PIN_ATTEMPTS):
        so_pin = _parse_so_pin(
            interaction.ask_secret(
                SecretRequest(
                    SecretKind.SO_PIN,
                    purpose,
                    tries_left=tries,
                    retry_reason=_wrong_entry("SO-PIN") if attempt else "",
                )
            ),
            "SO-PIN",
        )
        try:
            hsm.change_so_pin(so_pin, so_pin)
        except WrongPin as error:
            tries = error.tries_left
            if tries == 0:
                raise WrongPinEntered(f"wrong SO-PIN: {blocked}; nothing was changed", 0) from None
            continue
        except PinBlocked:
            raise PinNotVerified("the SO-PIN is blocked: it cannot be used any more") from None
        except (ApduError, NotInitialised):
            return so_pin, False
        return so_pin, True
    raise WrongPinEntered(
        f"wrong SO-PIN: {tries} {_plural(tries)} left; nothing was changed", tries
    )


def _checked_so_pin(hsm: SmartCardHsm, interaction: Interaction, purpose: str) -> bytes:
    status = so_pin_status_for_use(hsm)
    so_pin, _confirmed = ask_current_so_pin(hsm, interaction, purpose, status.tries_left)
    return so_pin


def reset_refusal_text(options: InitOptions | None, *, set_new: bool, sw: int) -> str:
    """Why the card refused RESET RETRY COUNTER, from the options it was initialised
    with (the applet's FCP), with what the SO-PIN can still do."""
    what = "set a new user PIN" if set_new else "unblock the user PIN"
    if options is None:
        return (
            f"the device does not allow the SO-PIN to {what} (SW {sw:04X}) and does not "
            "report its options: it may have been initialised without RESET RETRY COUNTER"
            + (" or with 'unblock only' (then use pin unblock)" if set_new else "")
            + "; nothing was changed"
        )
    code = f"options {int(options):04X}"
    if not options & InitOptions.RESET_RETRY_COUNTER:
        return (
            f"the device does not allow the SO-PIN to {what}: it was initialised without "
            f"RESET RETRY COUNTER ({code}), so the SO-PIN can neither unblock nor set the "
            "user PIN; nothing was changed"
        )
    if options & InitOptions.RRC_UNBLOCK_ONLY:
        if set_new:
            return (
                "the device does not allow the SO-PIN to set a new user PIN: it was "
                f"initialised with RESET RETRY COUNTER 'unblock only' ({code}), so the "
                "SO-PIN can unblock the user PIN but not set one.  Unblock it instead "
                "(pin unblock), then change it with the old PIN (pin change); nothing was "
                "changed"
            )
        return (
            "the device refused to unblock the user PIN (SW "
            f"{sw:04X}) although its options allow the SO-PIN to unblock it ({code}: "
            "RESET RETRY COUNTER, unblock only); nothing was changed"
        )
    if set_new:
        return (
            f"the device refused to set a new user PIN (SW {sw:04X}) although its options "
            f"allow RESET RETRY COUNTER with a new PIN ({code}); nothing was changed"
        )
    return (
        f"the device refused to unblock the user PIN keeping it (SW {sw:04X}); its options "
        f"allow RESET RETRY COUNTER with a new PIN ({code}): set a new PIN with the "
        "SO-PIN instead (pin set); nothing was changed"
    )


@ceremony_step("unblock PIN", witness=True)
def unblock_pin(hsm: SmartCardHsm, interaction: Interaction, *, set_new: bool) -> PinResult:
    """RESET RETRY COUNTER with the SO-PIN: unblock only, or unblock and set a new PIN.

    The SO-PIN is checked before the new PIN is asked (see the module docstring).

    :raises WrongPinEntered: the SO-PIN was wrong too many times in a row.
    :raises WorkflowError: the card refused; the message says what its options allow
        (:func:`reset_refusal_text`).
    """
    so_pin = _checked_so_pin(hsm, interaction, "resetting the user PIN's retry counter")
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
            # SELECT again: the options read when the card was opened predate an
            # initialisation in this session (the PIN stays blocked or unchanged anyway)
            raise WorkflowError(
                reset_refusal_text(hsm.select().options, set_new=set_new, sw=error.sw)
            ) from None
    finally:
        wipe(new)
    interaction.inform(
        "The user PIN was unblocked" + (" and set." if set_new else " (the PIN is unchanged).")
    )
    return _result(hsm, "unblock" if not set_new else "set")


@ceremony_step("change SO-PIN", witness=True)
def change_so_pin(hsm: SmartCardHsm, interaction: Interaction) -> PinResult:
    """Change the SO-PIN (16 hex digits).

    The current SO-PIN is checked before the new one is asked (see the module docstring).

    :raises WrongPinEntered: the current SO-PIN was wrong too many times in a row.
    """
    current = _checked_so_pin(hsm, interaction, "changing the SO-PIN")
    new = _parse_so_pin(
        interaction.ask_secret(SecretRequest(SecretKind.NEW_SO_PIN, confirm=True)),
        "new SO-PIN",
    )
    try:
        hsm.change_so_pin(current, new)
    except WrongPin as error:
        raise _wrong(error, "SO-PIN") from None
    except PinBlocked:
        raise PinNotVerified("the SO-PIN is blocked") from None
    interaction.inform("The SO-PIN was changed.")
    return _result(hsm, "change-so-pin")
