"""Public key authentication (PKA): custodian keys, their registration, and unlocking.

A device initialised with ``init --pka N/M`` is unlocked when M of its N registered
custodian keys authenticate in one card session (with "PKA and PIN" the user PIN is
needed as well).  Each custodian key lives on the custodian's own SmartCard-HSM:

* :func:`create_custodian_key` — on the custodian's card: an EC key (brainpoolP256r1 or
  P-256) whose CHR is the card's serial and the key reference (``UTSIM12345600003``),
  CAR = CHR, a PKCS#15 description with the label as every generated key gets; its
  authenticated request and the card's certificate chain are written atomically as a
  ``.pka`` file (the new layout).  Nothing secret is in the file.
* :func:`register_custodian` — on the device being protected: the file is read and its
  chain and signatures checked before any APDU; then the card is taught the chain and
  registers the key (in the next free slot, or replacing ``slot``).  No login (the
  simulator's decision; a card that wants one gets ``verify_pin=True``).
* :func:`authenticate_custodians` — one GET CHALLENGE on the device, then each custodian
  card in turn: opened, its key registered on the device found (by CHR), its user PIN
  verified (one try: a wrong PIN stops the round with the tries left), the challenge
  signed and sent.  Those done before an error stay authenticated in the session.
* :func:`pka_overview` — the status and the slots, for status, audit and the outline.

The card-layer errors (:mod:`keymanager.card.pka`) become the errors of
:mod:`keymanager.workflows.errors` (``PkaNotAvailable`` … ``CustodianSignatureRefused``),
whose messages say what happened and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keymanager.card.cvc import CvcError
from keymanager.card.errors import CardError, PinBlocked, TransportError, WrongPin
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitOptions, PinState
from keymanager.card.pka import (
    PkaChainInvalid,
    PkaError,
    PkaKeyAlreadyRegistered,
    PkaLoginRequired,
    PkaNoFreeSlot,
    PkaNotEnabled,
    PkaReplaceNotAllowed,
    PkaSignatureRefused,
    PkaStatus,
    PkaUnknownCustodian,
    RegisteredKey,
    authenticate_custodian,
    authentication_message,
    custodian_signature,
    pka_challenge,
    pka_status,
    register_public_key,
    registered_keys,
)
from keymanager.card.pka_file import PkaFile, PkaFileError
from keymanager.dkek.secret import wipe
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import (
    CustodianAlreadyRegistered,
    CustodianCardUnavailable,
    CustodianNotRegistered,
    CustodianPinUnusable,
    CustodianPinWrong,
    CustodianSignatureRefused,
    NoFreePkaSlot,
    PkaFileRejected,
    PkaNotAvailable,
    PkaReplaceRefused,
    PkaWorkflowError,
)
from keymanager.workflows.interaction import Cancelled, Interaction, SecretKind, SecretRequest
from keymanager.workflows.pka_keys import (
    CUSTODIAN_CURVES,
    CustodianKey,
    create_custodian_key,
    custodian_keys,
)

__all__ = [
    "CUSTODIAN_CURVES",
    "CustodianCard",
    "CustodianKey",
    "PkaOverview",
    "Registration",
    "authenticate_custodians",
    "create_custodian_key",
    "custodian_pin_purpose",
    "pka_overview",
    "read_pka_file",
    "register_custodian",
]

NOT_AVAILABLE_TEXT = (
    "the device was not initialised for public key authentication: initialise it with "
    "custodian keys (init --pka N/M, which erases it); nothing was changed"
)


# --- overview ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PkaOverview:
    """The device's PKA state: the status and every slot.

    :param replaceable: option ``0x0008`` (``None``: the card did not say its options).
    :param pin_too: option ``0x0010``: the user PIN is needed as well.
    """

    status: PkaStatus
    keys: tuple[RegisteredKey, ...]
    replaceable: bool | None = None
    pin_too: bool | None = None

    @property
    def text(self) -> str:
        """``2 of 3 keys registered, 1 authenticated (2 needed)``."""
        return self.status.text

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.status.to_dict(),
            "text": self.status.text,
            "replaceable": self.replaceable,
            "pin_too": self.pin_too,
            "slots": [
                {"slot": key.slot, "chr": key.chr, "authenticated": key.authenticated}
                for key in self.keys
            ],
        }


def _options(hsm: SmartCardHsm) -> InitOptions | None:
    return hsm.info.options


def pka_overview(hsm: SmartCardHsm) -> PkaOverview | None:
    """The status and the slots; ``None`` for a card without public key authentication."""
    status = pka_status(hsm)
    if status is None:
        return None
    options = _options(hsm)
    return PkaOverview(
        status=status,
        keys=tuple(registered_keys(hsm, status.total)),
        replaceable=None if options is None else bool(options & InitOptions.REPLACE_PKA_KEYS),
        pin_too=None if options is None else bool(options & InitOptions.REQUIRE_PKA_AND_PIN),
    )


def _require_pka(hsm: SmartCardHsm) -> PkaStatus:
    status = pka_status(hsm)
    if status is None:
        raise PkaNotAvailable(NOT_AVAILABLE_TEXT)
    return status


# --- registration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What :func:`register_custodian` did: which custodian went into which slot."""

    status: PkaStatus
    slot: int | None
    """The slot the key is in now (``None``: the card did not list it)."""
    chr: str
    device_serial: str
    replaced: str | None = None
    """The CHR of the key the registration replaced."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "chr": self.chr,
            "device_serial": self.device_serial,
            "replaced": self.replaced,
            "pka": {**self.status.to_dict(), "text": self.status.text},
        }


def read_pka_file(path: Path) -> PkaFile:
    """Read and check a ``.pka`` file (chain, the device's signature, the key).

    :raises PkaFileRejected: unreadable, malformed, or a check fails (the file named).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PkaFileRejected(
            f"cannot read the custodian key file {path}: {error.strerror or error}"
        ) from None
    try:
        pka = PkaFile.parse(data)
        pka.check()
    except (PkaFileError, CvcError) as error:
        raise PkaFileRejected(
            f"{path.name} is not a valid custodian key file: {error}; ask the custodian "
            "for a new one (pka create-key); nothing was changed"
        ) from None
    return pka


@ceremony_step("register custodian key", witness=True)
def register_custodian(
    hsm: SmartCardHsm,
    interaction: Interaction,
    pka_path: Path,
    *,
    slot: int | None = None,
    verify_pin: bool = False,
) -> Registration:
    """Register the custodian key of ``pka_path`` on the device.

    :param slot: replace the key in this slot (the card must allow replacing).
    :param verify_pin: verify the device's user PIN first (for cards that register only
        in a logged-in session, as Pico HSM; the simulator needs none).
    :raises PkaFileRejected, PkaNotAvailable, CustodianAlreadyRegistered, NoFreePkaSlot,
        PkaReplaceRefused: as named; nothing was changed.
    """
    pka = read_pka_file(pka_path)
    status = _require_pka(hsm)
    keys = registered_keys(hsm, status.total)
    for key in keys:
        if key.chr == pka.chr and key.slot != slot:
            raise CustodianAlreadyRegistered(
                f"the custodian key {pka.chr} (device {pka.device_serial}) is registered in "
                f"slot {key.slot} already; nothing was changed"
            )
    replaced: str | None = None
    if slot is not None:
        replaced = _check_replace(hsm, interaction, keys, slot, pka)
    elif status.missing == 0:
        raise NoFreePkaSlot(
            f"all {status.total} custodian keys are registered: there is no free slot for "
            f"{pka.chr}; replace one (--slot N) if the device allows it; nothing was changed"
        )
    if verify_pin:
        verify_user_pin(hsm, interaction, f"registering the custodian key {pka.chr}")
    try:
        new_status = register_public_key(hsm, pka, replace_slot=slot if replaced else None)
    except PkaError as error:
        raise _registration_error(error, pka) from None
    listed = registered_keys(hsm, new_status.total)
    where = next((key.slot for key in listed if key.chr == pka.chr), slot)
    interaction.inform(
        f"Registered the custodian key {pka.chr} of device {pka.device_serial} in slot "
        f"{where if where is not None else '?'}: {new_status.text}."
    )
    return Registration(new_status, where, pka.chr, pka.device_serial, replaced)


def _check_replace(
    hsm: SmartCardHsm,
    interaction: Interaction,
    keys: Sequence[RegisteredKey],
    slot: int,
    pka: PkaFile,
) -> str:
    """The CHR the registration replaces in ``slot`` (confirmed by the user)."""
    if not 0 <= slot < len(keys):
        raise PkaReplaceRefused(
            f"the device has slots 0 to {len(keys) - 1}, not {slot}; nothing was changed"
        )
    current = keys[slot].chr
    if current is None:
        free = next(key.slot for key in keys if key.chr is None)
        raise PkaReplaceRefused(
            f"slot {slot} is empty: register without --slot (the device fills its next "
            f"free slot, {free}); nothing was changed"
        )
    options = _options(hsm)
    if options is not None and not options & InitOptions.REPLACE_PKA_KEYS:
        raise PkaReplaceRefused(
            "the device was initialised without 'registered keys may be replaced' "
            "(init --pka-replaceable): its custodian keys cannot be replaced; nothing was "
            "changed"
        )
    if not interaction.confirm(
        f"Replace the custodian key {current} in slot {slot} by {pka.chr} (device "
        f"{pka.device_serial})?  The custodian of {current} can no longer unlock the device.",
        destructive=True,
    ):
        raise Cancelled("the replacement was not confirmed; nothing was changed")
    return current


def _registration_error(error: PkaError, pka: PkaFile) -> PkaWorkflowError:
    who = f"the custodian key {pka.chr} (device {pka.device_serial})"
    if isinstance(error, PkaNotEnabled):
        return PkaNotAvailable(NOT_AVAILABLE_TEXT)
    if isinstance(error, PkaKeyAlreadyRegistered):
        return CustodianAlreadyRegistered(
            f"{who} is registered on this device already; nothing was changed"
        )
    if isinstance(error, PkaNoFreeSlot):
        return NoFreePkaSlot(f"the device has no free slot for {who}: {error}; nothing was changed")
    if isinstance(error, PkaReplaceNotAllowed):
        return PkaReplaceRefused(
            "the device was initialised without 'registered keys may be replaced': its "
            "custodian keys cannot be replaced; nothing was changed"
        )
    if isinstance(error, PkaLoginRequired):
        return PkaWorkflowError(
            f"the device registers {who} only after the user PIN was verified "
            "(keymanager-cli: --pin-env VAR); nothing was registered"
        )
    if isinstance(error, PkaChainInvalid):
        return PkaFileRejected(f"the device refused {who}: {error}; nothing was registered")
    return PkaWorkflowError(f"registering {who} failed: {error}")


# --- authentication ---------------------------------------------------------------------


@dataclass(frozen=True)
class CustodianCard:
    """One custodian's card: ``name`` for messages (a reader name, a file), ``open`` to
    reach it (its own reader or transport; it may wait for the card to be inserted).

    :func:`authenticate_custodians` closes the session's transport
    (``hsm.transport.close()``) when that custodian's turn is over.  ``open`` may raise
    :class:`~keymanager.workflows.errors.CustodianCardUnavailable`,
    :class:`~keymanager.card.errors.CardError` or :class:`OSError` when the card cannot
    be reached.
    """

    name: str
    open: Callable[[], SmartCardHsm]


def custodian_pin_purpose(name: str) -> str:
    """The purpose of the :class:`SecretRequest` for custodian ``name``'s user PIN
    (front ends that hold one PIN per custodian tell them apart by it)."""
    return f"the custodian card {name}"


def _done_text(done: Sequence[str]) -> str:
    if not done:
        return "no custodian authenticated in this session"
    return f"{', '.join(done)} stay{'s' if len(done) == 1 else ''} authenticated in this session"


@ceremony_step("authenticate custodians")
def authenticate_custodians(
    hsm: SmartCardHsm, interaction: Interaction, custodians: Sequence[CustodianCard]
) -> PkaStatus:
    """Authenticate each custodian card in turn on the device's session (see the module).

    :returns: the device's status afterwards (``unlocked``: enough custodians).
    :raises PkaNotAvailable: the device has no public key authentication.
    :raises CustodianNotRegistered: a custodian card holds no key registered here.
    :raises CustodianPinWrong, CustodianPinUnusable: that card's PIN was wrong (its tries
        left named) or cannot be used.
    :raises CustodianCardUnavailable: a card could not be opened or went away.
    :raises CustodianSignatureRefused: the device refused a signature.
    The custodians before the one that failed stay authenticated in this session.
    """
    status = _require_pka(hsm)
    if not custodians:
        raise PkaWorkflowError("name at least one custodian card")
    registered = {key.chr: key for key in registered_keys(hsm, status.total) if key.chr}
    if not registered:
        raise CustodianNotRegistered(
            "no custodian key is registered on this device yet: register the custodians' "
            ".pka files first (pka register); nothing was changed"
        )
    message = authentication_message(hsm.device_certificate().chr, pka_challenge(hsm))
    done: list[str] = []
    for custodian in custodians:
        custodian_chr = _sign_and_send(hsm, interaction, custodian, registered, message, done)
        done.append(f"{custodian.name} ({custodian_chr})")
        registered[custodian_chr] = replace(registered[custodian_chr], authenticated=True)
    final = pka_status(hsm)
    assert final is not None
    return final


def _sign_and_send(
    hsm: SmartCardHsm,
    interaction: Interaction,
    custodian: CustodianCard,
    registered: dict[str, RegisteredKey],
    message: bytes,
    done: Sequence[str],
) -> str:
    """One custodian's turn; returns its key's CHR."""
    try:
        card = custodian.open()
    except (CustodianCardUnavailable, CardError, OSError) as error:
        raise CustodianCardUnavailable(
            f"the custodian card {custodian.name} cannot be opened ({error}): check that it "
            f"is inserted, then run the authentication again; {_done_text(done)}"
        ) from None
    try:
        keys = [key for key in custodian_keys(card) if key.chr in registered]
        if not keys:
            raise CustodianNotRegistered(
                f"the custodian card {custodian.name} (device {card.serial()}) holds no key "
                "registered on this device: register its .pka file first (pka register); "
                f"{_done_text(done)}"
            )
        fresh = [k for k in keys if not registered[k.chr].authenticated]
        if not fresh:  # nothing to sign: its PIN is not asked
            interaction.inform(
                f"Custodian {custodian.name} ({keys[0].chr}) was authenticated already in "
                "this session."
            )
            return keys[0].chr
        key = fresh[0]
        _verify_custodian_pin(card, interaction, custodian, done)
        signature = custodian_signature(card, key.key_ref, message, key.field_bytes)
    except TransportError as error:
        raise CustodianCardUnavailable(
            f"the custodian card {custodian.name} went away during its turn ({error}): "
            f"insert it again and run the authentication again; {_done_text(done)}"
        ) from None
    finally:
        card.transport.close()
    try:
        counted = authenticate_custodian(hsm, key.chr, signature)
    except PkaUnknownCustodian:
        raise CustodianNotRegistered(
            f"the device does not know the custodian key {key.chr} of {custodian.name}: "
            f"register its .pka file first (pka register); {_done_text(done)}"
        ) from None
    except PkaSignatureRefused as error:
        raise CustodianSignatureRefused(
            f"the device refused the signature of {custodian.name} ({error}); run the "
            f"authentication again; {_done_text(done)}"
        ) from None
    status = pka_status(hsm)
    counts = f": {status.text}" if status is not None else ""
    if counted:
        interaction.inform(f"Custodian {custodian.name} ({key.chr}) authenticated{counts}.")
    else:
        interaction.inform(
            f"Custodian {custodian.name} ({key.chr}) was authenticated already{counts}."
        )
    return key.chr


def _verify_custodian_pin(
    card: SmartCardHsm, interaction: Interaction, custodian: CustodianCard, done: Sequence[str]
) -> None:
    """Verify the custodian card's user PIN: asked once (a wrong one stops the round)."""
    state = card.pin_status()
    if state.state is PinState.BLOCKED:
        raise CustodianPinUnusable(
            f"the user PIN of the custodian card {custodian.name} is blocked: its custodian "
            f"unblocks it with that card's SO-PIN (pin unblock); {_done_text(done)}"
        )
    if state.state is PinState.NOT_INITIALISED:
        raise CustodianPinUnusable(
            f"the custodian card {custodian.name} is not initialised: it holds no custodian "
            f"key; {_done_text(done)}"
        )
    if state.state is PinState.TRANSPORT_PIN:
        raise CustodianPinUnusable(
            f"the custodian card {custodian.name} still has its transport PIN: change it "
            f"first (pin change); {_done_text(done)}"
        )
    pin = interaction.ask_secret(
        SecretRequest(
            SecretKind.USER_PIN, custodian_pin_purpose(custodian.name), tries_left=state.tries_left
        )
    )
    try:
        card.verify_pin(bytes(pin))
    except WrongPin as error:
        tries = error.tries_left
        left = (
            "it is blocked now"
            if tries == 0
            else f"{tries} {'try' if tries == 1 else 'tries'} left"
        )
        raise CustodianPinWrong(
            f"wrong user PIN for the custodian card {custodian.name}: {left}; nothing was "
            f"changed on the device; {_done_text(done)}",
            tries,
        ) from None
    except PinBlocked:
        raise CustodianPinUnusable(
            f"the user PIN of the custodian card {custodian.name} is blocked; {_done_text(done)}"
        ) from None
    except ValueError as error:
        raise CustodianPinWrong(
            f"the user PIN for the custodian card {custodian.name}: {error}; nothing was "
            f"sent; {_done_text(done)}",
            state.tries_left,
        ) from None
    finally:
        wipe(pin)
