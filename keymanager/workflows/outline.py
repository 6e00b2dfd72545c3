"""The outline of a card as a pure-Python tree: what the desktop app's tree view shows.

:func:`read_outline` reads a SmartCard-HSM through its session and returns an
:class:`Outline`: a tree of :class:`OutlineNode`, each with a :class:`NodeKind`, a title,
copyable :class:`Detail` fields and children.  No Qt here: the GUI wraps the tree in a
thin item model, tests read it directly.

Shape of the tree (``docs/gui.md`` explains the choices)::

    device (TokenInfo label, version, serial, genuine / unverified / not genuine,
    │       secure messaging: active / unavailable (why) / off)
    ├── user PIN (verified, tries left)
    ├── SO-PIN (tries left)
    ├── Public key authentication: 2 of 3 keys registered, 1 authenticated (2 needed)
    │   └── slot n: the custodian key's CHR, authenticated or not (only on a PKA card;
    │                :mod:`keymanager.workflows.outline_pka`)
    ├── key domain 0 … n (purpose and label from keymanager's registry, DKEK / XKEK /
    │   │                 empty, shares, KCV - "pending" while shares are outstanding,
    │   │                 "hidden until login" only for a complete one -, keys, sealed)
    │   └── keys the registry (or a WRAP probe it recorded) places in that domain
    ├── Domain not recorded: keys keymanager has no domain record of ("Find key domains")
    │   └── key (label, reference, type and size, exportable / sealed when known)
    │       └── certificate (subject; issuer and validity once loaded)
    ├── Keys: keys recorded as in no key domain (every key, on a device without domains)
    ├── CA certificates
    └── Data objects

Costs: SELECT was paid when the session opened; the outline adds EF 2F03 (one READ),
EF 2F02 (one READ, cached by the session), two PIN status queries, the PKA status (one
APDU; on a PKA card one more per slot), one query per key
domain slot plus one, keymanager's key-domain registry (one READ of EF CFFE), and the
key store's listings (three ENUMERATEs and one READ per key, CA certificate and
data-object description).  A key's certificate file is read by
:func:`load_certificate` when somebody looks at it.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from keymanager.card.cvc import Genuineness, unreadable_identity_text
from keymanager.card.domain_registry import DomainPurpose, DomainRecord, Registry
from keymanager.card.errors import CardError, FileNotFound, NoKeyDomainSupport, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import (
    Algorithm,
    KeyDomainSlot,
    KeyDomainStatus,
    PinState,
    PinStatus,
)
from keymanager.card.keystore import (
    CaCertificateInfo,
    DataObjectInfo,
    KeyInfo,
    KeyStore,
)
from keymanager.card.pkcs15 import Pkcs15Error, decode_tokeninfo
from keymanager.card.secure_messaging import SecureMessagingError
from keymanager.dkek.dkek import format_kcv

T = TypeVar("T")

FID_TOKEN_INFO = 0x2F03
DEFAULT_DEVICE_TITLE = "SmartCard-HSM"
KCV_HIDDEN = "hidden until login"
"""A complete domain whose KCV the card shows only after the PIN is verified (never
used while shares are outstanding: that is :data:`KCV_PENDING`)."""
KCV_PENDING = "pending: shares outstanding"
NO_DKEK_TEXT = "no DKEK: keys cannot be backed up"
"""A complete domain (or a device) without DKEK: its KCV reads zero once the PIN is
verified (:func:`domain_without_dkek`)."""
NOT_REPORTED = "not reported by the card"
UNRECORDED_GROUP_ID = "keys:unrecorded"
"""The group of keys whose key domain keymanager has no record of."""
DOMAIN_NOT_RECORDED = "Domain not recorded"
SEALED_TEXT = "sealed: the card refuses to export it"
EXPORTABLE_TEXT = "exportable (wrapped under its key domain's DKEK)"
EXPORTABLE_XKEK_TEXT = (
    "exportable (wrapped under its XKEK domain's KEK, to another device of the group)"
)
DOMAIN_SOURCE_TEXT = {
    "recorded": "recorded by keymanager",
    "probed": "probed",
    "unknown": "unknown",
}
"""How a key's domain was learnt, in words (the outline's details and the audit)."""


class NodeKind(enum.Enum):
    """What a node of the outline stands for (the GUI picks icons and actions by it)."""

    DEVICE = "device"
    USER_PIN = "user PIN"
    SO_PIN = "SO-PIN"
    KEY_DOMAIN = "key domain"
    KEY_GROUP = "keys"
    KEY = "key"
    CERTIFICATE = "certificate"
    CA_GROUP = "CA certificates"
    CA_CERTIFICATE = "CA certificate"
    DATA_GROUP = "data objects"
    DATA_OBJECT = "data object"
    NOTICE = "notice"
    """Something the outline could not read; the title says what."""
    PKA = "public key authentication"
    """The card's custodian keys (only on a card initialised for them)."""
    CUSTODIAN_KEY = "custodian key"
    """One slot of the card's public-key-authentication table."""


@dataclass(frozen=True)
class Detail:
    """One field of a node's details: a label and a value the user can copy."""

    label: str
    value: str
    copyable: bool = True


@dataclass(eq=False)
class OutlineNode:
    """One node of the outline.

    :param node_id: stable across refreshes (``"key:3"``, ``"domain:0"``), so a view
        can keep the selection and the expanded nodes.
    :param data: the card-layer value the node shows (``KeyInfo``, ``KeyDomainSlot``…).
    :param pending: details still to be loaded (a certificate not read yet).
    """

    kind: NodeKind
    title: str
    node_id: str
    details: tuple[Detail, ...] = ()
    children: list[OutlineNode] = field(default_factory=list)
    parent: OutlineNode | None = field(default=None, repr=False)
    data: object = field(default=None, repr=False)
    pending: bool = False

    def add(self, child: OutlineNode) -> OutlineNode:
        """Append ``child`` and return it."""
        child.parent = self
        self.children.append(child)
        return child

    @property
    def row(self) -> int:
        """The index of this node among its parent's children (0 for the root)."""
        if self.parent is None:
            return 0
        for index, sibling in enumerate(self.parent.children):
            if sibling is self:
                return index
        raise ValueError("the node is not among its parent's children")

    def detail(self, label: str) -> str | None:
        """The value of the detail called ``label``, if there is one."""
        for item in self.details:
            if item.label == label:
                return item.value
        return None

    def walk(self) -> Iterator[OutlineNode]:
        """This node and all below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, node_id: str) -> OutlineNode | None:
        """The node with ``node_id`` in this subtree."""
        for node in self.walk():
            if node.node_id == node_id:
                return node
        return None

    def update_from(self, other: OutlineNode) -> None:
        """Take ``other``'s title, details, data and pending flag (children stay)."""
        self.title = other.title
        self.details = other.details
        self.data = other.data
        self.pending = other.pending


@dataclass
class Outline:
    """A card's outline: an invisible root whose single child is the device node."""

    root: OutlineNode
    reader: str

    @property
    def device(self) -> OutlineNode:
        return self.root.children[0]

    def nodes(self, kind: NodeKind | None = None) -> list[OutlineNode]:
        """Every node (of one kind), depth first, the root excluded."""
        return [
            node
            for node in self.root.walk()
            if node is not self.root and (kind is None or node.kind is kind)
        ]

    def find(self, node_id: str) -> OutlineNode | None:
        return self.root.find(node_id)


# --- reading --------------------------------------------------------------------------


def read_outline(hsm: SmartCardHsm) -> Outline:
    """Read the card behind ``hsm`` into an outline.

    Errors reading one part (a certificate that does not parse, an unreadable token
    info) become :attr:`NodeKind.NOTICE` nodes or detail texts; errors of the card or
    transport as a whole (card removed, PC/SC gone) propagate.
    """
    root = OutlineNode(NodeKind.DEVICE, "", "root")
    device = root.add(_device_node(hsm))
    pin_status = hsm.pin_status()
    pin_verified = pin_status.verified
    device.add(_pin_node(NodeKind.USER_PIN, "User PIN", pin_status))
    device.add(_pin_node(NodeKind.SO_PIN, "SO-PIN", hsm.so_pin_status()))
    from keymanager.workflows.outline_pka import pka_node  # it builds on this module

    custodians = pka_node(hsm)
    if custodians is not None:
        device.add(custodians)
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    from keymanager.workflows.key_domains import keys_with_domains  # not needed for its texts

    store = KeyStore(hsm)
    listed, problem = _listed(lambda: [keys_with_domains(hsm)], "the keys")
    registry, keys = listed[0] if listed else (Registry(), [])
    used = {slot.number for slot in slots if slot.status is not None}
    placed: dict[int, list[KeyInfo]] = {number: [] for number in used}
    unrecorded: list[KeyInfo] = []
    no_domain: list[KeyInfo] = []
    for key in keys:
        if not used:
            no_domain.append(key)  # a device without key domains: no key is in one
        elif key.domain_source != "unknown" and key.key_domain in placed:
            placed[key.key_domain].append(key)
        elif key.domain_source == "recorded" and key.key_domain is None:
            no_domain.append(key)  # keymanager made it in no key domain
        else:
            unrecorded.append(key)
    for slot in slots:
        node = device.add(
            domain_node(
                slot,
                registry.domain(slot.number, slot.status),
                placed.get(slot.number, []),
                pin_verified=pin_verified,
            )
        )
        in_xkek = slot.status is not None and bool(slot.status.uid)
        for key in placed.get(slot.number, []):
            node.add(key_node(key, xkek=in_xkek))
    cas_found, ca_problem = _listed(store.list_ca_certificates, "the CA certificates")
    objects_found, data_problem = _listed(store.list_data_objects, "the data objects")
    if unrecorded:
        device.add(unrecorded_group(unrecorded, registry))
    group = OutlineNode(
        NodeKind.KEY_GROUP,
        "Keys",
        "keys",
        (
            Detail(
                "Note",
                "Keys keymanager recorded as belonging to no key domain (the card cannot "
                "back them up).  Keys of a key domain are under it; keys whose domain "
                f"keymanager has no record of are under “{DOMAIN_NOT_RECORDED}”."
                if used
                else "The device has no key domains: its keys cannot be backed up.",
                copyable=False,
            ),
        ),
    )
    if problem:
        group.add(notice_node(problem, "notice:keys"))
    for key in no_domain:
        group.add(key_node(key))
    group.title = f"Keys in no key domain ({len(no_domain)})" if used else f"Keys ({len(keys)})"
    group.data = len(keys)
    device.add(group)
    cas = device.add(OutlineNode(NodeKind.CA_GROUP, "CA certificates", "ca-certificates"))
    if ca_problem:
        cas.add(notice_node(ca_problem, "notice:ca"))
    for info in cas_found:
        cas.add(ca_certificate_node(info))
    cas.title = f"CA certificates ({len(cas_found)})"
    objects = device.add(OutlineNode(NodeKind.DATA_GROUP, "Data objects", "data-objects"))
    if data_problem:
        objects.add(notice_node(data_problem, "notice:data"))
    for item in objects_found:
        objects.add(data_object_node(item))
    objects.title = f"Data objects ({len(objects_found)})"
    return Outline(root, hsm.transport.name)


def _listed(read: Callable[[], list[T]], what: str) -> tuple[list[T], str | None]:
    """``read()``, or nothing and a problem text when the card refuses (not transport)."""
    try:
        return read(), None
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        return [], f"{what} could not be read: {error}"


def token_label(hsm: SmartCardHsm) -> tuple[str | None, str | None]:
    """The label from EF.TokenInfo, and a problem text if it could not be read."""
    try:
        raw = hsm.read_file(FID_TOKEN_INFO)
    except FileNotFound:
        return None, None
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        return None, f"EF.TokenInfo could not be read: {error}"
    try:
        return decode_tokeninfo(raw).label, None
    except Pkcs15Error as error:
        return None, f"EF.TokenInfo is malformed: {error}"


def _device_node(hsm: SmartCardHsm) -> OutlineNode:
    label, problem = token_label(hsm)
    info = hsm.info
    details = [
        Detail("Label", label or "(none)"),
        Detail("Reader", hsm.transport.name),
        Detail("Applet", info.applet_description),
        Detail("Version", info.version_text),
    ]
    serial = "unknown"
    genuine = "unknown"
    short = "unknown"
    verdict: Genuineness | None = None
    try:
        certificate = hsm.device_certificate()
        serial = certificate.serial
        identity = certificate.identity()
        genuine, short, verdict = identity.text, identity.short, identity.verdict
        details.append(Detail("Serial", serial))
        details.append(Detail("Device certificate", certificate.chr))
    except (TransportError, SecureMessagingError):
        raise
    except CardError as error:
        details.append(Detail("Serial", "unknown"))
        genuine = unreadable_identity_text(error)
    details.append(Detail("Authenticity", genuine))
    details.append(Detail("Secure messaging", hsm.secure_messaging.text))
    if info.options is not None:
        details.append(Detail("Options", f"{int(info.options):04X}"))
    details.append(Detail("ATR", hsm.transport.atr.hex().upper()))
    if problem:
        details.append(Detail("Problem", problem))
    title = label or DEFAULT_DEVICE_TITLE
    suffix = f"{serial}, version {info.version_text}"
    if verdict is not Genuineness.GENUINE:
        suffix += f", {short}"
    node = OutlineNode(NodeKind.DEVICE, f"{title} ({suffix})", "device", tuple(details))
    node.data = info
    return node


def _pin_node(kind: NodeKind, name: str, status: PinStatus) -> OutlineNode:
    details = [Detail("State", status.state.value)]
    if status.tries_left is not None:
        details.append(Detail("Tries left", str(status.tries_left)))
    if status.state is PinState.NOT_VERIFIED and status.tries_left == 1:
        details.append(Detail("Warning", "one try left: a wrong entry blocks it", False))
    node_id = "pin" if kind is NodeKind.USER_PIN else "so-pin"
    return OutlineNode(kind, f"{name}: {status.describe()}", node_id, tuple(details), data=status)


def seal_summary(keys: Sequence[KeyInfo]) -> str:
    """``sealed`` / ``exportable`` when all keys agree, else the counts (unknowns left out)."""
    sealed = sum(key.exportable is False for key in keys)
    exportable = sum(key.exportable is True for key in keys)
    if keys and sealed == len(keys):
        return "sealed"
    if keys and exportable == len(keys):
        return "exportable"
    parts = [f"{sealed} sealed"] if sealed else []
    if exportable:
        parts.append(f"{exportable} exportable")
    return ", ".join(parts)


def kek_deleted(slot: KeyDomainSlot, keys: Sequence[KeyInfo]) -> bool:
    """Every share of a domain that holds keys is outstanding: its KEK is gone."""
    status = slot.status
    return (
        status is not None
        and status.shares_total > 0
        and status.shares_outstanding == status.shares_total
        and bool(keys)
    )


def domain_without_dkek(
    status: KeyDomainStatus | None, record: DomainRecord | None, *, pin_verified: bool
) -> bool:
    """Whether a DKEK domain holds no DKEK at all (its keys can never be backed up).

    Its shares are all in and its KCV reads zero, and either the PIN is verified (a card
    that hides KCVs until login shows them then: zero is no DKEK) or keymanager recorded
    the domain as one without DKEK (Pico HSM's 0-share domain).  Without the PIN and a
    record the zero KCV may be hidden only: not decided here.
    """
    if status is None or status.uid or status.shares_outstanding or status.kcv is not None:
        return False
    return pin_verified or (record is not None and record.purpose is DomainPurpose.NO_DKEK)


def domain_node(
    slot: KeyDomainSlot,
    record: DomainRecord | None = None,
    keys: Sequence[KeyInfo] = (),
    *,
    pin_verified: bool = False,
) -> OutlineNode:
    """The node of one key-domain slot.

    :param record: what keymanager's registry says about the domain (purpose, label,
        when created); ignored for an empty slot.
    :param keys: the keys placed in it (their count and seal go into the title).
    :param pin_verified: the user PIN is verified in this session: a zero KCV of a
        complete domain means no DKEK then (:func:`domain_without_dkek`).
    """
    status = slot.status
    node_id = f"domain:{slot.number}"
    if status is None:
        return OutlineNode(
            NodeKind.KEY_DOMAIN,
            f"Key domain {slot.number}: empty",
            node_id,
            (Detail("Number", str(slot.number)), Detail("Type", "empty")),
            data=slot,
        )
    if status.uid:
        return xkek_domain_node(slot, status, record, keys, pin_verified=pin_verified)
    kind = "DKEK"
    imported = status.shares_total - status.shares_outstanding
    no_dkek = domain_without_dkek(status, record, pin_verified=pin_verified)
    if status.shares_outstanding:
        kcv = KCV_PENDING
    elif no_dkek:
        kcv = NO_DKEK_TEXT
    elif status.kcv is None:
        kcv = KCV_HIDDEN
    else:
        kcv = format_kcv(status.kcv)
    details = [
        Detail("Number", str(slot.number)),
        Detail("Type", kind),
        Detail("Shares total", str(status.shares_total)),
        Detail("Shares imported", str(max(imported, 0))),
        Detail("Shares outstanding", str(status.shares_outstanding)),
        Detail("KCV", kcv, copyable=kcv not in (KCV_HIDDEN, KCV_PENDING, NO_DKEK_TEXT)),
    ]
    if record is not None:
        details.append(Detail("Purpose", record.purpose.text))
        details.append(Detail("Label", record.label or "(none)"))
        details.append(Detail("Created", record.created.date().isoformat()))
        details.append(Detail("Recorded by", f"keymanager ({record.workflow or 'unknown'})"))
    else:
        details.append(Detail("Purpose", "not recorded by keymanager", copyable=False))
    if kek_deleted(slot, keys):
        state = "KEK deleted"
    elif status.shares_outstanding:
        state = f"waiting for {status.shares_outstanding} of {status.shares_total} share(s)"
    elif no_dkek:
        state = NO_DKEK_TEXT
    elif status.shares_total == 0 and (
        record is None or record.purpose is not DomainPurpose.RANDOM
    ):
        state = f"random DKEK, KCV {kcv}"
    else:
        state = f"KCV {kcv}"
    if keys:
        seal = seal_summary(keys)
        details.append(Detail("Keys", f"{len(keys)}{', ' + seal if seal else ''}"))
    if record is None and not keys:
        title = f"Key domain {slot.number}: {kind}, {state}"
    else:
        what = describe_record(record) if record is not None else kind
        title = f"Key domain {slot.number} — {what}, {state}"
        if keys:
            seal = seal_summary(keys)
            title += f": {len(keys)} key{'s' if len(keys) != 1 else ''}"
            title += f", {seal}" if seal else ""
    return OutlineNode(NodeKind.KEY_DOMAIN, title, node_id, tuple(details), data=slot)


KEK_NOT_DERIVED = "KEK not derived yet"
"""An XKEK domain whose KCV reads zero with the PIN verified: no KEK derived with a peer."""


def xkek_kcv_text(status: KeyDomainStatus, *, pin_verified: bool) -> str:
    """``KCV 0123…``, ``KEK not derived yet``, or (the PIN not verified: a card may hide
    the KCV until login) ``KEK not derived yet (or KCV hidden until login)``."""
    if status.kcv is not None:
        return f"KCV {format_kcv(status.kcv)}"
    return KEK_NOT_DERIVED if pin_verified else f"{KEK_NOT_DERIVED} (or KCV hidden until login)"


def xkek_domain_node(
    slot: KeyDomainSlot,
    status: KeyDomainStatus,
    record: DomainRecord | None,
    keys: Sequence[KeyInfo],
    *,
    pin_verified: bool,
) -> OutlineNode:
    """An XKEK domain: ``Key domain 1 — XKEK domain, group 0123456789ABCDEF…, KCV …``."""
    uid = status.uid.hex().upper()
    kek = xkek_kcv_text(status, pin_verified=pin_verified)
    details = [
        Detail("Number", str(slot.number)),
        Detail("Type", "XKEK"),
        Detail("Group UID", uid),
        Detail("KCV", kek.removeprefix("KCV "), copyable=status.kcv is not None),
    ]
    if record is not None:
        details.append(Detail("Purpose", record.purpose.text))
        details.append(Detail("Label", record.label or "(none)"))
        details.append(Detail("Admitted", record.created.date().isoformat()))
        details.append(Detail("Recorded by", f"keymanager ({record.workflow or 'unknown'})"))
    else:
        details.append(Detail("Purpose", "not recorded by keymanager", copyable=False))
    what = f"XKEK domain, group {uid[:16]}…"
    if record is not None and record.label:
        what = f"{record.label} ({what})"
    title = f"Key domain {slot.number} — {what}, {kek}"
    if keys:
        seal = seal_summary(keys)
        details.append(Detail("Keys", f"{len(keys)}{', ' + seal if seal else ''}"))
        title += f": {len(keys)} key{'s' if len(keys) != 1 else ''}"
        title += f", {seal}" if seal else ""
    node_id = f"domain:{slot.number}"
    return OutlineNode(NodeKind.KEY_DOMAIN, title, node_id, tuple(details), data=slot)


def describe_record(record: DomainRecord) -> str:
    """``transient import of 2026-12-01``, ``Payments (custodian DKEK of …)``; a domain
    keymanager only labelled (purpose unknown) reads as its label."""
    if record.purpose is DomainPurpose.UNKNOWN:
        return record.label or record.purpose.text
    return record.describe()


def is_transient_with_keys(node: OutlineNode) -> bool:
    """A key-domain node recorded as a transient import that holds keys (its KEK deleted:
    a share imported now would give those keys a new, known DKEK)."""
    return (
        node.kind is NodeKind.KEY_DOMAIN
        and node.detail("Purpose") == DomainPurpose.TRANSIENT.text
        and any(child.kind is NodeKind.KEY for child in node.children)
    )


def unrecorded_group(keys: Sequence[KeyInfo], registry: Registry | None = None) -> OutlineNode:
    """The group of keys whose key domain keymanager has no record of."""
    details = [
        Detail(
            "Note",
            "keymanager has no record of which key domain these keys belong to (made by "
            "another tool, or before keymanager kept its key-domain registry).  “Find key "
            "domains…” wraps each key (with the user PIN), matches the KCV and records "
            "the answer on the card.",
            copyable=False,
        )
    ]
    if registry is not None and registry.damaged:
        details.append(
            Detail(
                "Problem",
                f"keymanager's key-domain registry is damaged ({registry.damaged}); the "
                "next change rewrites it",
            )
        )
    group = OutlineNode(
        NodeKind.KEY_GROUP,
        f"{DOMAIN_NOT_RECORDED} ({len(keys)})",
        UNRECORDED_GROUP_ID,
        tuple(details),
        data=len(keys),
    )
    for key in keys:
        group.add(key_node(key))
    return group


def is_unrecorded(node: OutlineNode) -> bool:
    """The "Domain not recorded" group (with a key not probed yet), or such a key."""
    if node.node_id == UNRECORDED_GROUP_ID:
        return any(is_unrecorded(child) for child in node.children)
    return (
        node.kind is NodeKind.KEY
        and isinstance(node.data, KeyInfo)
        and node.data.domain_source == "unknown"
    )


def export_text(key: KeyInfo, *, xkek: bool = False) -> str:
    """Whether the card exports the key: sealed, exportable, or not known.

    :param xkek: the key is in an XKEK domain (wrapped under the group's KEK, not a DKEK).
    """
    if key.exportable is False:
        return SEALED_TEXT
    if key.exportable is True:
        return EXPORTABLE_XKEK_TEXT if xkek else EXPORTABLE_TEXT
    return "not known (“Find key domains…” tells)"


def key_domain_text(key: KeyInfo) -> str:
    """The key's domain and how it was learnt (``2 (recorded by keymanager)``)."""
    if key.domain_source == "unknown":
        if key.key_domain is not None:
            return f"{key.key_domain} (known from this session)"
        return "not recorded (“Find key domains…” probes it)"
    source = DOMAIN_SOURCE_TEXT.get(key.domain_source, key.domain_source)
    if key.key_domain is not None:
        return f"{key.key_domain} ({source})"
    if key.domain_source == "recorded":
        return f"none ({source})"
    if key.exportable is False:
        return "unknown (probed: sealed, the card refuses to wrap it)"
    return "in no complete key domain (probed)"


def algorithm_names(ids: bytes) -> str:
    """Allowed-algorithm ids as names (``ECDSA_SHA256, WRAP``); unknown ids in hex."""
    names = []
    for value in ids:
        try:
            names.append(Algorithm(value).name)
        except ValueError:
            names.append(f"0x{value:02X}")
    return ", ".join(names) if names else "any (no restriction)"


def _key_type(key: KeyInfo) -> str:
    if key.kind is None:
        return "unknown"
    public = key.public_key
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"EC {public.curve.name} ({public.curve.key_size} bits)"
    if key.size is None:
        return key.kind.value
    return f"{key.kind.value} {key.size} bits"


def key_node(key: KeyInfo, *, xkek: bool = False) -> OutlineNode:
    """The node of one key, with its certificate as a child (``xkek``: in an XKEK domain)."""
    details = [
        Detail("Label", key.label),
        Detail("Key reference", f"{key.key_reference} (CC{key.key_reference:02X})"),
        Detail("ID", key.id.hex().upper() if key.id else "(none)"),
        Detail("Type", _key_type(key)),
    ]
    if key.usage is not None:
        usage = ", ".join(
            (flag.name or "").lower() for flag in type(key.usage) if flag in key.usage
        )
        details.append(Detail("Usage", usage or "(none)"))
    details.append(Detail("Key domain", key_domain_text(key)))
    details.append(Detail("Export", export_text(key, xkek=xkek), copyable=False))
    details.append(
        Detail(
            "Allowed algorithms",
            algorithm_names(key.allowed_algorithms)
            if key.allowed_algorithms is not None
            else NOT_REPORTED,
        )
    )
    for problem in key.problems:
        details.append(Detail("Problem", problem))
    size = f"{key.kind.value} {key.size}" if key.kind is not None and key.size else "unknown type"
    seal = "" if key.exportable is None else ", exportable" if key.exportable else ", sealed"
    node = OutlineNode(
        NodeKind.KEY,
        f"{key.label} [{key.key_reference}] {size}{seal}",
        f"key:{key.key_reference}",
        tuple(details),
        data=key,
    )
    if key.certificate_subject or key.has_certificate_file:
        node.add(certificate_node(key))
    return node


def _certificate_details(certificate: x509.Certificate) -> list[Detail]:
    try:
        return _decoded_certificate_details(certificate)
    except (ValueError, UnsupportedAlgorithm, TypeError) as error:
        return [Detail("Problem", f"the certificate does not decode: {error}")]


def _decoded_certificate_details(certificate: x509.Certificate) -> list[Detail]:
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public_text = f"RSA {public.key_size} bits"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        public_text = f"EC {public.curve.name}"
    else:
        public_text = type(public).__name__
    der = certificate.public_bytes(Encoding.DER)
    return [
        Detail("Subject", certificate.subject.rfc4514_string()),
        Detail("Issuer", certificate.issuer.rfc4514_string()),
        Detail("Valid from", certificate.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC")),
        Detail("Valid until", certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")),
        Detail("Serial number", f"{certificate.serial_number:X}"),
        Detail("Public key", public_text),
        Detail("SHA-256 fingerprint", hashlib.sha256(der).hexdigest().upper()),
    ]


def _common_name(subject: str) -> str:
    for part in subject.split(","):
        if part.startswith("CN="):
            return part[3:]
    return subject


def certificate_node(key: KeyInfo, *, loaded: bool = False) -> OutlineNode:
    """The certificate child of a key node; ``pending`` until the file is read.

    :param loaded: the certificate file was read (by :func:`load_certificate`): if it
        gave neither a certificate nor a CV request, the node says why instead of
        "loading…".
    """
    node_id = f"certificate:{key.key_reference}"
    if key.certificate is not None:
        details = _certificate_details(key.certificate)
        subject = key.certificate.subject.rfc4514_string()
        return OutlineNode(
            NodeKind.CERTIFICATE,
            f"Certificate: {_common_name(subject)}",
            node_id,
            tuple(details),
            data=key,
        )
    if key.cv_request is not None:
        return OutlineNode(
            NodeKind.CERTIFICATE,
            "CV request (generated on the card, no X.509 certificate)",
            node_id,
            (Detail("Content", "the card's CV request; its public key is the key's"),),
            data=key,
        )
    subject = key.certificate_subject or "(not read yet)"
    if loaded and not key.has_certificate_file:
        marker = f"CE{key.key_reference:02X}"
        return OutlineNode(
            NodeKind.CERTIFICATE,
            f"Certificate: {_common_name(subject)} (missing)",
            node_id,
            (
                Detail("Subject", subject),
                Detail("Problem", f"the description names a certificate, but {marker} is absent"),
            ),
            data=key,
        )
    if loaded and key.has_certificate_file:
        marker = f"CE{key.key_reference:02X}"
        problems = [text for text in key.problems if marker in text] or [
            f"the certificate file {marker} is empty or could not be read"
        ]
        return OutlineNode(
            NodeKind.CERTIFICATE,
            f"Certificate: {_common_name(subject)} (unreadable)",
            node_id,
            (
                Detail("Subject", subject),
                *(Detail("Problem", text) for text in problems),
            ),
            data=key,
        )
    return OutlineNode(
        NodeKind.CERTIFICATE,
        f"Certificate: {_common_name(subject)}",
        node_id,
        (Detail("Subject", subject), Detail("Issuer", "loading…", copyable=False)),
        data=key,
        pending=not key.certificate_loaded,
    )


def load_certificate(hsm: SmartCardHsm, node: OutlineNode) -> OutlineNode:
    """Read the certificate file of a pending certificate node; a new, complete node.

    The caller copies it onto ``node`` (:meth:`OutlineNode.update_from`) on its own
    thread; ``node`` itself is not changed here.
    """
    key = node.data
    if not isinstance(key, KeyInfo):
        raise TypeError("not a certificate node of a key")
    loaded = KeyStore(hsm).load_certificate(key)
    fresh = certificate_node(loaded, loaded=True)
    fresh.pending = False
    return fresh


def certificate_read_failed(node: OutlineNode, reason: str) -> OutlineNode:
    """A pending certificate node whose read failed: it says so, and stays pending.

    Selecting it again retries the read (the card may have been pulled or busy).
    """
    details = tuple(
        Detail("Issuer", f"could not be read ({reason}); select it again to retry", copyable=False)
        if detail.label == "Issuer"
        else detail
        for detail in node.details
    )
    return OutlineNode(node.kind, node.title, node.node_id, details, data=node.data, pending=True)


def ca_certificate_node(info: CaCertificateInfo) -> OutlineNode:
    """The node of one CA certificate."""
    details = [
        Detail("Label", info.label),
        Detail("Number", f"{info.number} (CA{info.number:02X})"),
    ]
    title = info.label
    if info.certificate is not None:
        details += _certificate_details(info.certificate)
        name = _common_name(info.certificate.subject.rfc4514_string())
        title = info.label if name == info.label else f"{info.label}: {name}"
    for problem in info.problems:
        details.append(Detail("Problem", problem))
    return OutlineNode(
        NodeKind.CA_CERTIFICATE, title, f"ca:{info.number}", tuple(details), data=info
    )


def data_object_node(info: DataObjectInfo) -> OutlineNode:
    """The node of one data object (its description; the content is not read)."""
    details = [
        Detail("Label", info.label),
        Detail("Application", info.application or "(none)"),
        Detail("File", f"{info.fid:04X}" if info.fid is not None else "(unknown)"),
        Detail("Protection", "PIN-protected" if info.private else "public"),
    ]
    for problem in info.problems:
        details.append(Detail("Problem", problem))
    node_id = f"data:{info.fid:04X}" if info.fid is not None else f"data-description:{info.number}"
    return OutlineNode(NodeKind.DATA_OBJECT, info.label, node_id, tuple(details), data=info)


def notice_node(text: str, node_id: str = "notice") -> OutlineNode:
    """A node that says something could not be read."""
    return OutlineNode(NodeKind.NOTICE, text, node_id, (Detail("Problem", text),))
