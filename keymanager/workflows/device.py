"""Setting a device up: initialisation, and creating, clearing and deleting key domains.

**Initialise** (:func:`initialize_device`): the SO-PIN (16 hex digits; optionally a new
one), the user PIN (typed twice, or a random one shown once), the retry counter, the
RESET RETRY COUNTER options, the transport-PIN option, the key-management scheme (no
DKEK, a random DKEK, a DKEK of n shares, or n key-domain slots) and a label.  A
destructive confirmation names the card (serial and reader) before INITIALIZE.  As
``sc-hsm-tool --label`` does, the label goes into EF.TokenInfo (``2F03``) after
INITIALIZE and a VERIFY of the new PIN.

Order and what an interruption leaves: the SO-PIN is asked **first** and checked at
once (:func:`~keymanager.workflows.pins.ask_current_so_pin`: CHANGE SO-PIN to the same
value, which erases nothing - the SmartCard-HSM has no SO-PIN login); a wrong one is
asked again with the tries left, keeping every choice of the plan, so nobody types a
new PIN (or refills a dialog) for an SO-PIN the card then refuses.  Then everything
else is asked and checked before any APDU that changes the card; a random PIN is shown
*before* INITIALIZE (so a front end that cannot show it fails while nothing has
changed); then INITIALIZE (one APDU: either the card is initialised or it is not),
CHANGE SO-PIN if asked, VERIFY, and the TokenInfo write.  A failure after INITIALIZE
leaves an initialised card whose state the error names (SO-PIN not changed yet, label
not written).  Where the card refuses the check for another reason than a wrong SO-PIN
(a card that answers CHANGE SO-PIN on a blank device with ``6A88``, say), INITIALIZE
checks it: a wrong SO-PIN then ends with ``63Cx`` and erases nothing either.

**Key domains**: :func:`create_key_domain`, :func:`clear_kek` (DELETE KEK: every share
is outstanding again) and :func:`delete_key_domain` (the card refuses while keys
belong to the domain; the error says so).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from keymanager.card.domain_registry import DomainPurpose, Registry
from keymanager.card.errors import (
    ApduError,
    CardError,
    FileExists,
    IncorrectParameters,
    NoKeyDomainSupport,
    TransportError,
    WrongData,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import (
    InitOptions,
    InitParams,
    PinState,
    parse_so_pin,
)
from keymanager.card.pkcs15 import TokenInfo, encode_tokeninfo
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.secret import wipe
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import DomainNotReady, WorkflowError
from keymanager.workflows.interaction import Cancelled, Interaction, SecretKind, SecretRequest
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.pins import ask_current_so_pin

FID_TOKEN_INFO = 0x2F03
RANDOM_PIN_LENGTH = 8
MAX_PKA_KEYS = 90
"""The most custodian keys a device registers (tag ``93``)."""
"""Digits of a random user PIN (8 allows every retry counter up to 10)."""


class DkekScheme(enum.Enum):
    """How keys on the device can be backed up (the key-management scheme)."""

    NO_DKEK = "no DKEK (keys cannot be backed up)"
    RANDOM_DKEK = (
        "random DKEK (the card makes it and nobody holds it: backups restore only onto this device)"
    )
    DKEK_SHARES = "DKEK of n shares (keys can be backed up and restored)"
    KEY_DOMAINS = "n key-domain slots (set up each domain later)"


@dataclass(frozen=True)
class InitPlan:
    """The choices of :func:`initialize_device` (everything but the secrets).

    :param shares: for :attr:`DkekScheme.DKEK_SHARES`, the number of shares (1 to 255).
    :param key_domains: for :attr:`DkekScheme.KEY_DOMAINS`, the number of slots (1 to 255).
    :param random_pin: generate the user PIN and show it once instead of asking.
    :param transport_pin: the user PIN is a transport PIN that must be changed first.
    :param reset_retry_counter: allow RESET RETRY COUNTER with the SO-PIN.
    :param unblock_only: RESET RETRY COUNTER may only unblock, never set a new PIN.
    :param change_so_pin: ask for a new SO-PIN and set it after INITIALIZE.
    :param public_key_auth: ``(N, M)``: N custodian keys may be registered, M of them
        unlock the device (tag ``93``); ``None``: the user PIN alone.
    :param pka_and_pin: with ``public_key_auth``, the user PIN is needed as well as the
        M custodians (option ``0x0010``); without it the custodians alone unlock.
    :param pka_replaceable: registered custodian keys may be replaced (option ``0x0008``).
    """

    scheme: DkekScheme = DkekScheme.NO_DKEK
    shares: int = 1
    key_domains: int = 1
    retry_counter: int = 3
    random_pin: bool = False
    transport_pin: bool = False
    reset_retry_counter: bool = True
    unblock_only: bool = False
    label: str | None = None
    change_so_pin: bool = False
    public_key_auth: tuple[int, int] | None = None
    pka_and_pin: bool = False
    pka_replaceable: bool = False

    def __post_init__(self) -> None:
        if self.scheme is DkekScheme.DKEK_SHARES and not 1 <= self.shares <= 255:
            raise ValueError("a DKEK is made of 1 to 255 shares")
        if self.scheme is DkekScheme.KEY_DOMAINS and not 1 <= self.key_domains <= 255:
            raise ValueError("a device has 1 to 255 key-domain slots")
        if not 1 <= self.retry_counter <= 10:
            raise ValueError("the retry counter is 1 to 10")
        if self.unblock_only and not self.reset_retry_counter:
            raise ValueError("'unblock only' needs RESET RETRY COUNTER to be allowed")
        if self.label is not None and len(self.label.encode()) > 255:
            raise ValueError("the label is at most 255 bytes")
        if self.public_key_auth is not None:
            total, required = self.public_key_auth
            if not 1 <= required <= total <= MAX_PKA_KEYS:
                raise ValueError(
                    f"public key authentication is M of N custodian keys with "
                    f"1 <= M <= N <= {MAX_PKA_KEYS}, not {required} of {total}"
                )
        elif self.pka_and_pin or self.pka_replaceable:
            raise ValueError("--pka-and-pin and --pka-replaceable go with --pka N/M")

    @property
    def options(self) -> InitOptions:
        """Tag ``80`` of INITIALIZE."""
        options = InitOptions.NONE
        if self.reset_retry_counter:
            options |= InitOptions.RESET_RETRY_COUNTER
        if self.unblock_only:
            options |= InitOptions.RRC_UNBLOCK_ONLY
        if self.transport_pin:
            options |= InitOptions.TRANSPORT_PIN
        if self.public_key_auth is not None and self.pka_replaceable:
            options |= InitOptions.REPLACE_PKA_KEYS
        if self.public_key_auth is not None and self.pka_and_pin:
            options |= InitOptions.REQUIRE_PKA_AND_PIN
        return options

    @property
    def dkek_shares(self) -> int | None:
        """Tag ``92``: ``None`` no DKEK, ``0`` random DKEK, ``n`` shares."""
        if self.scheme is DkekScheme.RANDOM_DKEK:
            return 0
        if self.scheme is DkekScheme.DKEK_SHARES:
            return self.shares
        return None

    @property
    def key_domain_slots(self) -> int | None:
        """Tag ``97``."""
        return self.key_domains if self.scheme is DkekScheme.KEY_DOMAINS else None


@dataclass(frozen=True)
class CardIdentity:
    """How a destructive confirmation names the card."""

    serial: str | None
    reader: str

    def describe(self) -> str:
        serial = self.serial or "with unknown serial"
        return f"SmartCard-HSM {serial} in {self.reader!r}"


@dataclass(frozen=True)
class InitResult:
    """What :func:`initialize_device` did."""

    card: CardIdentity
    scheme: DkekScheme
    dkek_shares: int | None
    key_domains: int | None
    retry_counter: int
    options: InitOptions
    label: str | None
    label_written: bool
    random_pin_shown: bool
    so_pin_changed: bool
    pin_status: str
    domain_kcv: str | None = None
    public_key_auth: tuple[int, int] | None = None
    """``(N, M)`` of a device initialised for public key authentication."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "serial": self.card.serial,
            "reader": self.card.reader,
            "scheme": self.scheme.name.lower().replace("_", "-"),
            "dkek_shares": self.dkek_shares,
            "key_domains": self.key_domains,
            "retry_counter": self.retry_counter,
            "options": int(self.options),
            "label": self.label,
            "label_written": self.label_written,
            "random_pin_shown": self.random_pin_shown,
            "so_pin_changed": self.so_pin_changed,
            "pin": self.pin_status,
            "kcv": self.domain_kcv,
            "pka": (
                None
                if self.public_key_auth is None
                else {
                    "total": self.public_key_auth[0],
                    "required": self.public_key_auth[1],
                    "replaceable": bool(self.options & InitOptions.REPLACE_PKA_KEYS),
                    "pin_too": bool(self.options & InitOptions.REQUIRE_PKA_AND_PIN),
                }
            ),
        }


def identify(hsm: SmartCardHsm) -> CardIdentity:
    """The card's serial (from its device certificate) and reader name."""
    try:
        serial: str | None = hsm.serial()
    except TransportError:  # removed or reset: the caller must not go on as if not
        raise
    except (CardError, ValueError):
        serial = None
    return CardIdentity(serial, hsm.transport.name)


def random_pin(length: int = RANDOM_PIN_LENGTH) -> bytearray:
    """A random numeric user PIN (the caller wipes it)."""
    return bytearray("".join(secrets.choice("0123456789") for _ in range(length)).encode())


def _ask_new_so_pin(interaction: Interaction) -> bytes:
    secret = interaction.ask_secret(
        SecretRequest(SecretKind.NEW_SO_PIN, "the initialised device", confirm=True)
    )
    try:
        return parse_so_pin(secret.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise WorkflowError(f"new SO-PIN: {error}; nothing was changed") from None
    finally:
        wipe(secret)


@ceremony_step("initialise", witness=True)
def initialize_device(hsm: SmartCardHsm, interaction: Interaction, plan: InitPlan) -> InitResult:
    """Initialise (or re-initialise) the device: ERASES every key and key domain.

    The SO-PIN is asked first and checked without erasing anything; a wrong one is asked
    again (see the module docstring).

    :raises Cancelled: the user did not confirm (nothing changed).
    :raises WorkflowError: a value is unusable (nothing changed).
    :raises WrongPinEntered: the SO-PIN was wrong too many times in a row, or is blocked
        now (``tries_left`` 0: the device cannot be initialised again); nothing erased.
    :raises CardError: the card refused or was removed (see the module description).
    """
    card = identify(hsm)
    so_status = hsm.so_pin_status()
    if so_status.state is PinState.BLOCKED:
        raise WorkflowError("the SO-PIN is blocked: this device cannot be initialised again")
    tries = so_status.tries_left
    if tries == 1:
        interaction.warn("This is the last try for the SO-PIN: a wrong entry blocks the device.")
    current_so, _confirmed = ask_current_so_pin(
        hsm,
        interaction,
        "initialising the device",
        tries,
        blocked="it is blocked now: this device cannot be initialised again",
    )
    new_so = _ask_new_so_pin(interaction) if plan.change_so_pin else current_so
    if plan.random_pin:
        pin = random_pin()
    else:
        pin = interaction.ask_secret(
            SecretRequest(SecretKind.NEW_USER_PIN, "the initialised device", confirm=True)
        )
    try:
        try:
            params = InitParams(
                user_pin=bytes(pin),
                so_pin=new_so,
                options=plan.options,
                retry_counter=plan.retry_counter,
                dkek_shares=plan.dkek_shares,
                key_domains=plan.key_domain_slots,
                public_key_auth=plan.public_key_auth,
                current_so_pin=current_so if new_so != current_so else None,
            )
        except ValueError as error:
            raise WorkflowError(f"{error}; nothing was changed") from None
        if not interaction.confirm(
            f"Initialise the {card.describe()}? This ERASES every key, certificate and "
            "key domain on it; backups made under its DKEK can only be restored onto a "
            "device holding the same DKEK.",
            destructive=True,
        ):
            raise Cancelled("initialisation not confirmed; nothing was changed")
        if plan.random_pin:
            interaction.show_secret(
                "The new user PIN (shown once)",
                f"User PIN: {pin.decode()}\n\nWrite it down now: it is not shown again.",
            )
        try:
            hsm.initialize(params)
        except BaseException:
            if plan.random_pin:
                interaction.warn("Initialisation failed: the PIN shown was NOT set.")
            raise
        label_written = False
        if not plan.transport_pin:
            hsm.verify_pin(bytes(pin))
            if plan.label:
                try:
                    hsm.write_file(FID_TOKEN_INFO, encode_tokeninfo(TokenInfo(label=plan.label)))
                    label_written = True
                except ApduError as error:  # Pico HSM fails here (pcsc-testing item 11)
                    interaction.warn(
                        f"The device is initialised, but the label was not written ({error}); "
                        "some devices (Pico HSM) cannot store a token label."
                    )
            if plan.scheme in (DkekScheme.RANDOM_DKEK, DkekScheme.DKEK_SHARES):
                purpose = (
                    DomainPurpose.RANDOM
                    if plan.scheme is DkekScheme.RANDOM_DKEK
                    else DomainPurpose.CUSTODIAN
                )
                record_quietly(
                    hsm,
                    interaction,
                    lambda registry: registry.record_domain(
                        0, purpose, "initialise", shares=plan.dkek_shares
                    ),
                )
        elif plan.label:
            interaction.warn(
                "The label was not written: with a transport PIN nothing can be written "
                "until the PIN is changed."
            )
    finally:
        wipe(pin)
    if card.serial is None:
        # a blank card may have no readable device certificate before INITIALIZE: the
        # result names the serial the initialised card tells
        card = identify(hsm)
    domain_kcv: str | None = None
    if plan.scheme is DkekScheme.RANDOM_DKEK:
        status = hsm.key_domain_status(0)
        if status is not None and status.kcv is not None:
            domain_kcv = format_kcv(status.kcv)
    pin_status = hsm.pin_status().describe()
    interaction.inform(f"Initialised the {card.describe()}.")
    if plan.scheme is DkekScheme.DKEK_SHARES:
        interaction.inform(f"Import the {plan.shares} DKEK share(s) into key domain 0 next.")
    if plan.public_key_auth is not None:
        total, required = plan.public_key_auth
        interaction.inform(
            f"Register the {total} custodian keys next (their .pka files); then {required} "
            f"of them unlock the device{' together with the user PIN' if plan.pka_and_pin else ''}."
        )
    return InitResult(
        card=card,
        scheme=plan.scheme,
        dkek_shares=plan.dkek_shares,
        key_domains=plan.key_domain_slots,
        retry_counter=plan.retry_counter,
        options=plan.options,
        label=plan.label,
        label_written=label_written,
        random_pin_shown=plan.random_pin,
        so_pin_changed=new_so != current_so,
        pin_status=pin_status,
        domain_kcv=domain_kcv,
        public_key_auth=plan.public_key_auth,
    )


# --- key domains ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyDomainResult:
    """A key domain after a management step (``state`` is ``"empty"`` after a delete)."""

    domain: int
    state: str
    shares_total: int = 0
    shares_outstanding: int = 0
    kcv: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "domain": self.domain,
            "state": self.state,
            "shares_total": self.shares_total,
            "shares_outstanding": self.shares_outstanding,
            "kcv": self.kcv,
        }


def _slots(hsm: SmartCardHsm) -> list[Any]:
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    if not slots:
        raise DomainNotReady(
            "the device has no key-domain slots: initialise it with --key-domains N"
        )
    return slots


@ceremony_step("create key domain")
def create_key_domain(
    hsm: SmartCardHsm, interaction: Interaction, shares: int, domain: int | None = None
) -> KeyDomainResult:
    """Create a DKEK key domain expecting ``shares`` shares (0: a random DKEK).

    :param domain: the slot; ``None`` takes the first empty one.
    :raises DomainNotReady: no slots, no empty slot, or the slot is in use.
    """
    if not 0 <= shares <= 255:
        raise WorkflowError("a key domain takes 0 (random DKEK) to 255 shares")
    slots = _slots(hsm)
    if domain is None:
        empty = [slot.index for slot in slots if slot.status is None]
        if not empty:
            raise DomainNotReady("No empty key domain: every slot is in use")
        domain = empty[0]
    elif domain >= len(slots):
        raise DomainNotReady(f"the device has key domains 0 to {len(slots) - 1}, not {domain}")
    elif slots[domain].status is not None:
        raise DomainNotReady(f"key domain {domain} is in use: delete it first")
    verify_user_pin(hsm, interaction, f"creating key domain {domain}")
    purpose = DomainPurpose.CUSTODIAN if shares else DomainPurpose.RANDOM
    slot = domain

    def note_domain(registry: Registry) -> None:
        registry.forget_domain(slot)  # entries of an earlier domain in this slot
        registry.record_domain(slot, purpose, "domain create", shares=shares)

    record_quietly(hsm, interaction, note_domain)
    status = hsm.create_dkek_domain(domain, shares)
    if shares == 0:
        status = hsm.key_domain_status(domain) or status  # the PIN is verified: KCV shown
        if status.kcv is None:
            # Pico HSM makes no DKEK for a 0-share domain (pcsc-testing item 10)
            record_quietly(
                hsm,
                interaction,
                lambda registry: registry.record_domain(
                    slot, DomainPurpose.NO_DKEK, "domain create", shares=0
                ),
            )
            interaction.warn(
                f"The card made no DKEK for key domain {domain} (0 shares): keys in it can "
                "never be backed up.  For a random DKEK initialise the device with one; for "
                "backups, create the domain with shares."
            )
            return KeyDomainResult(domain, "DKEK", status.shares_total, 0, None)
    interaction.inform(
        f"Created key domain {domain}: "
        + (f"{shares} share(s) to import." if shares else "random DKEK.")
    )
    return KeyDomainResult(
        domain,
        "DKEK",
        status.shares_total,
        status.shares_outstanding,
        format_kcv(status.kcv) if status.complete and status.kcv is not None else None,
    )


def _existing_domain(hsm: SmartCardHsm, domain: int) -> Any:
    try:
        status = hsm.key_domain_status(domain)
    except NoKeyDomainSupport:
        raise DomainNotReady("the device has no key domains") from None
    except IncorrectParameters:
        raise DomainNotReady(f"the device has no key domain {domain}") from None
    if status is None:
        raise DomainNotReady(f"key domain {domain} is empty")
    return status


@ceremony_step("clear KEK", witness=True)
def clear_kek(hsm: SmartCardHsm, interaction: Interaction, domain: int) -> KeyDomainResult:
    """DELETE KEK: the domain forgets its DKEK; every share is outstanding again.

    Keys of the domain stay on the card but cannot be backed up (or keys restored into
    it) until the same shares are imported again.
    """
    status = _existing_domain(hsm, domain)
    if not interaction.confirm(
        f"Clear the KEK of key domain {domain} ({status.shares_total} share(s))? Its keys "
        "stay, but cannot be backed up or restored until all shares are imported again.",
        destructive=True,
    ):
        raise Cancelled("not confirmed; nothing was changed")
    verify_user_pin(hsm, interaction, f"clearing the KEK of key domain {domain}")
    hsm.delete_kek(domain)
    after = hsm.key_domain_status(domain)
    assert after is not None
    interaction.inform(
        f"Key domain {domain}: KEK cleared, {after.shares_outstanding} of "
        f"{after.shares_total} share(s) outstanding."
    )
    return KeyDomainResult(
        domain,
        "DKEK",
        after.shares_total,
        after.shares_outstanding,
        format_kcv(after.kcv) if after.complete and after.kcv is not None else None,
    )


@ceremony_step("delete key domain", witness=True)
def delete_key_domain(hsm: SmartCardHsm, interaction: Interaction, domain: int) -> KeyDomainResult:
    """Delete a key domain (its slot becomes empty).

    An XKEK domain is deleted by :func:`keymanager.workflows.xkek.delete_xkek_domain`
    (its exchange key first, refused while another key is recorded in it).

    :raises DomainNotReady: empty already, or keys still belong to it (the card refuses;
        delete or move those keys first).
    """
    if _existing_domain(hsm, domain).uid:  # an XKEK domain: its exchange key goes first
        from keymanager.workflows.xkek import delete_xkek_domain

        return delete_xkek_domain(hsm, interaction, domain)
    if not interaction.confirm(
        f"Delete key domain {domain}? Its DKEK is gone for good: backups made under it "
        "can no longer be restored onto this device.",
        destructive=True,
    ):
        raise Cancelled("not confirmed; nothing was changed")
    verify_user_pin(hsm, interaction, f"deleting key domain {domain}")
    try:
        hsm.delete_key_domain(domain)
    except (FileExists, WrongData) as error:
        raise DomainNotReady(
            f"the card refuses to delete key domain {domain} while keys still belong to it "
            f"(SW {error.sw:04X}): delete those keys first (audit lists them)"
        ) from None
    record_quietly(hsm, interaction, lambda registry: registry.forget_domain(domain))
    interaction.inform(f"Key domain {domain} deleted.")
    return KeyDomainResult(domain, "empty")
