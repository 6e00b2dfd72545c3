"""The outline's public-key-authentication node: custodian keys registered and authenticated.

A card initialised for public key authentication (``INITIALIZE`` tag ``93 N M``) gets one
child of the device node (after the PINs)::

    Public key authentication: 2 of 3 keys registered, 1 authenticated (2 needed)
    ├── Slot 0: UTSIM0000100001, authenticated
    ├── Slot 1: UTSIM0000200001, not authenticated
    └── Slot 2: empty

A card without public key authentication gets nothing.  Costs: the PKA status (one
APDU, ``80 54 00 00``) and one ``80 54 02 slot`` per slot.  The card says which slots
authenticated *in this session* (``9001``): the outline is read on the session that
authenticated, so it shows what the custodians did there.  No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

from keymanager.card.errors import CardError, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitOptions
from keymanager.card.pka import PkaStatus, RegisteredKey, pka_status, registered_keys
from keymanager.card.secure_messaging import SecureMessagingError
from keymanager.workflows.outline import Detail, NodeKind, OutlineNode

PKA_NODE_ID = "pka"
PKA_TITLE = "Public key authentication"
REPLACE_NOT_ALLOWED = (
    "every slot holds a key and the card was initialised without “registered keys may be replaced”"
)
"""Why "Register custodian key…" cannot run on a full card that keeps its keys."""


@dataclass(frozen=True)
class PkaInfo:
    """What the PKA node shows (its ``data``): the status, the slots and the options.

    :param replaceable: option ``0x0008`` (``None``: the card did not say its options).
    :param pin_too: option ``0x0010``: the user PIN is needed as well as the custodians.
    """

    status: PkaStatus
    keys: tuple[RegisteredKey, ...]
    replaceable: bool | None
    pin_too: bool | None

    @property
    def registered(self) -> list[RegisteredKey]:
        return [key for key in self.keys if key.chr is not None]

    @property
    def free_slots(self) -> list[int]:
        return [key.slot for key in self.keys if key.chr is None]

    def register_refused(self) -> str | None:
        """Why no custodian key can be registered now (``None``: one can)."""
        if self.status.missing > 0 or self.replaceable is not False:
            return None
        return REPLACE_NOT_ALLOWED

    def authenticate_refused(self) -> str | None:
        """Why custodians cannot authenticate now (``None``: they can)."""
        if not self.registered:
            return "no custodian key is registered yet: register the custodians' .pka files first"
        if self.status.unlocked:
            return (
                f"{self.status.authenticated} of {self.status.required} needed custodians "
                "authenticated already in this session"
            )
        if len(self.registered) < self.status.required:
            return (
                f"only {len(self.registered)} custodian key(s) are registered and "
                f"{self.status.required} must authenticate: register more first"
            )
        return None


def state_text(info: PkaInfo) -> str:
    """The unlock state in words."""
    status = info.status
    if status.unlocked:
        if info.pin_too:
            return "custodians authenticated: the user PIN is needed as well"
        return "unlocked: enough custodians authenticated in this session"
    more = status.required - status.authenticated
    return f"locked: {more} more custodian(s) must authenticate"


def read_pka(hsm: SmartCardHsm) -> PkaInfo | None:
    """The card's PKA state, or ``None`` for a card without public key authentication."""
    status = pka_status(hsm)
    if status is None:
        return None
    keys = tuple(registered_keys(hsm, status.total))
    options = hsm.info.options
    replaceable = None if options is None else bool(options & InitOptions.REPLACE_PKA_KEYS)
    pin_too = None if options is None else bool(options & InitOptions.REQUIRE_PKA_AND_PIN)
    return PkaInfo(status, keys, replaceable, pin_too)


def pka_node(hsm: SmartCardHsm) -> OutlineNode | None:
    """The PKA node, or ``None`` for a card without public key authentication.

    A refusal of the card (not a transport or secure-messaging failure) becomes a
    node with a "Problem" detail.
    """
    try:
        info = read_pka(hsm)
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        return OutlineNode(
            NodeKind.PKA,
            f"{PKA_TITLE}: could not be read",
            PKA_NODE_ID,
            (Detail("Problem", f"the PKA status could not be read: {error}"),),
        )
    if info is None:
        return None
    status = info.status
    details = [
        Detail("Keys registered", f"{status.registered} of {status.total}"),
        Detail("Required", str(status.required)),
        Detail("Authenticated in this session", str(status.authenticated)),
        Detail("State", state_text(info)),
    ]
    if info.pin_too is not None:
        details.append(
            Detail(
                "Unlocks with",
                f"{status.required} custodians and the user PIN"
                if info.pin_too
                else f"{status.required} custodians (no user PIN needed)",
            )
        )
    if info.replaceable is not None:
        details.append(
            Detail("Registered keys", "may be replaced" if info.replaceable else "fixed")
        )
    node = OutlineNode(
        NodeKind.PKA, f"{PKA_TITLE}: {status.text}", PKA_NODE_ID, tuple(details), data=info
    )
    for key in info.keys:
        node.add(slot_node(key))
    return node


def slot_node(key: RegisteredKey) -> OutlineNode:
    """One slot of the card's PKA table: the registered key's CHR and its state."""
    if key.chr is None:
        title = f"Slot {key.slot}: empty"
        details: tuple[Detail, ...] = (Detail("Slot", str(key.slot)), Detail("State", "empty"))
    else:
        state = "authenticated" if key.authenticated else "not authenticated"
        title = f"Slot {key.slot}: {key.chr}, {state}"
        details = (
            Detail("Slot", str(key.slot)),
            Detail("Custodian key (CHR)", key.chr),
            Detail("State", f"{state} in this session"),
        )
    return OutlineNode(NodeKind.CUSTODIAN_KEY, title, f"pka:{key.slot}", details, data=key)
