"""The actions of the outline's context menus and the menu bar: the table they share.

A :class:`MenuAction` names the node kinds it applies to and either a *job* (run on
the card's worker thread with the node, refreshing the outline afterwards when it
changes the card) or a *GUI* callback (copying, refreshing, opening a dialog whose
answer then starts a job), and where it stands in the menu bar (``menu``, ``group``,
``shortcut``; ``destructive`` ones come last after a separator).

The actions come from one table per area: :func:`builtin_actions` here (Refresh, Copy
KCV, Copy details), :mod:`keymanager.gui.areas` (device, PINs, keys, key objects, key
domains and shares, custodians, key-domain groups) and :func:`plugin_actions`, which
wraps every action of :mod:`keymanager.workflows.plugins` whose node kind the outline
has (the PKCS#12 imports, shown in the Keys menu).

Which node offers what:

=================  =============================================================
device             Verify PIN…, Log out, Generate key…, Restore key…, Import PKCS#12…,
                   Create DKEK share…, Create key domain…, Create key-domain group…,
                   Admit a device to the group…, Derive group KEK…, Audit…,
                   Diagnose…, Initialise device…
user PIN           Verify PIN…, Log out, Change PIN…, Unblock PIN…, Unblock and set…
SO-PIN             Change SO-PIN…
key domain         Create key domain… (empty slot), Import DKEK shares… (waiting;
                   disabled for a transient import that holds keys), Rename key
                   domain…, Derive group KEK… (XKEK), Copy KCV, Clear KEK…,
                   Delete key domain… (not empty)
Keys group         Generate key…, Restore key…, Find key domains… (not recorded)
key                Back up… (disabled for a sealed key), Copy key to another device
                   of the group… (XKEK), Rename, export, certificate request and
                   certificate import, Delete…
=================  =============================================================

An action that applies to a node but cannot run there says why: ``disabled`` gives the
reason, the context menu and the menu bar show the entry greyed with the reason as its
tooltip, and :meth:`MainWindow.run_action` refuses it with the reason in the status bar.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keymanager.card.hsm_types import KeyDomainSlot, PinState
from keymanager.card.keystore import CaCertificateInfo, DataObjectInfo, KeyInfo
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import (
    KCV_HIDDEN,
    KCV_PENDING,
    NO_DKEK_TEXT,
    SEALED_TEXT,
    NodeKind,
    OutlineNode,
    is_transient_with_keys,
)

if TYPE_CHECKING:
    from keymanager.workflows.plugins import Action, PluginRegistry

logger = logging.getLogger(__name__)

ALL_KINDS = frozenset(NodeKind)

MENU_FILE = "File"
MENU_CARD = "Card"
MENU_KEYS = "Keys"
MENU_DOMAINS = "Key domains and shares"
MENU_CEREMONY = "Ceremony"
MENU_VIEW = "View"
MENU_HELP = "Help"
MENU_ORDER = (MENU_FILE, MENU_CARD, MENU_KEYS, MENU_DOMAINS, MENU_CEREMONY, MENU_VIEW, MENU_HELP)
JobRun = Callable[[JobContext, OutlineNode], object]
GuiRun = Callable[[OutlineNode], None]


@dataclass(frozen=True)
class MenuAction:
    """One entry of a node's context menu.

    :param needs_card: runs a card job: disabled while the worker is busy.
    :param changes_card: the outline is read again after the job (success or not).
    :param available: further condition on the node (e.g. the KCV is known).
    :param disabled: why the action, though it applies, cannot run on the node
        (``None``: it can); the menu shows it greyed with this reason as tooltip.
    """

    id: str
    label: str
    kinds: frozenset[NodeKind]
    job: JobRun | None = None
    gui: GuiRun | None = None
    needs_card: bool = False
    changes_card: bool = False
    available: Callable[[OutlineNode], bool] | None = None
    description: str = ""
    disabled: Callable[[OutlineNode], str | None] | None = None
    menu: str = ""
    """The menu-bar menu that lists the action (one of the ``MENU_*`` names; "" = none)."""
    shortcut: str = ""
    """A key sequence (``QKeySequence`` text, e.g. ``"Ctrl+N"``) shown in the menus."""
    group: str = ""
    """Actions of one group stand together; menus put a separator between groups."""
    destructive: bool = False
    """Erases or deletes something: menus list it last, after a separator."""

    def applies_to(self, node: OutlineNode) -> bool:
        if node.kind not in self.kinds:
            return False
        return self.available is None or self.available(node)

    def disabled_reason(self, node: OutlineNode) -> str | None:
        """Why the action cannot run on ``node`` (``None``: it can)."""
        return None if self.disabled is None else self.disabled(node)


def node_payload(node: OutlineNode) -> object:
    """What a plug-in's action context carries for ``node`` (see ``ActionContext.node``)."""
    data = node.data
    if node.kind is NodeKind.KEY_DOMAIN and isinstance(data, KeyDomainSlot):
        return data.number
    if isinstance(data, KeyInfo | CaCertificateInfo | DataObjectInfo):
        return data
    return None


def has_kcv(node: OutlineNode) -> bool:
    """Whether a key-domain node shows a KCV that can be copied (not hidden, pending,
    a domain without DKEK or an XKEK domain without KEK, whose KCV detail says so in
    words and is not copyable)."""
    kcv = node.detail("KCV")
    copyable = any(item.label == "KCV" and item.copyable for item in node.details)
    return kcv is not None and copyable and kcv not in (KCV_HIDDEN, KCV_PENDING, NO_DKEK_TEXT)


def builtin_actions(
    *,
    refresh: GuiRun,
    copy_text: Callable[[str], None],
) -> list[MenuAction]:
    """Refresh, Copy KCV and Copy details."""

    def copy_kcv(node: OutlineNode) -> None:
        copy_text(node.detail("KCV") or "")

    def copy_details(node: OutlineNode) -> None:
        copy_text("\n".join(f"{d.label}: {d.value}" for d in node.details if d.copyable))

    return [
        MenuAction(
            "refresh",
            "Refresh",
            ALL_KINDS,
            gui=refresh,
            description="Read the card again",
            shortcut="F5",
        ),
        MenuAction(
            "copy-kcv",
            "Copy KCV",
            frozenset({NodeKind.KEY_DOMAIN}),
            gui=copy_kcv,
            available=has_kcv,
            description="Copy the key domain's key check value",
            menu=MENU_DOMAINS,
            group="copy",
        ),
        MenuAction(
            "copy-details",
            "Copy details",
            ALL_KINDS,
            gui=copy_details,
            description="Copy the selected item's public details (never a secret)",
            menu=MENU_VIEW,
            shortcut="Ctrl+Shift+C",
            group="copy",
        ),
    ]


# --- the workflows' actions ------------------------------------------------------------


def domain_slot(node: OutlineNode) -> KeyDomainSlot | None:
    """The key-domain slot a node shows (``None`` for other nodes)."""
    data = node.data
    return data if node.kind is NodeKind.KEY_DOMAIN and isinstance(data, KeyDomainSlot) else None


def is_empty_domain(node: OutlineNode) -> bool:
    slot = domain_slot(node)
    return slot is not None and slot.status is None


def is_waiting_domain(node: OutlineNode) -> bool:
    """A DKEK domain still waiting for shares."""
    slot = domain_slot(node)
    return (
        slot is not None
        and slot.status is not None
        and not slot.status.uid
        and slot.status.shares_outstanding > 0
    )


def is_used_domain(node: OutlineNode) -> bool:
    slot = domain_slot(node)
    return slot is not None and slot.status is not None


def is_uninitialised(node: OutlineNode) -> bool:
    """A device node whose user PIN is not initialised: a blank or erased device."""
    if node.kind is not NodeKind.DEVICE:
        return False
    pins = [child for child in node.children if child.kind is NodeKind.USER_PIN]
    return bool(pins) and pins[0].detail("State") == PinState.NOT_INITIALISED.value


def is_key(node: OutlineNode) -> bool:
    return isinstance(node.data, KeyInfo) and node.data.key_reference != 0


def key_of(node: OutlineNode) -> KeyInfo:
    assert isinstance(node.data, KeyInfo)
    return node.data


BACKUP_SEALED_REASON = SEALED_TEXT
"""Why "Back up…" is disabled on a sealed key."""
IMPORT_TRANSIENT_REASON = (
    "a transient import whose KEK was deleted holds keys here: a share would give them a "
    "new DKEK known to its holder.  Delete the keys and the domain, then create a new one"
)
"""Why "Import DKEK shares…" is disabled on a transient-import domain that holds keys."""


def backup_refused(node: OutlineNode) -> str | None:
    """A sealed key cannot be backed up: the card refuses to export it."""
    data = node.data
    if isinstance(data, KeyInfo) and data.exportable is False:
        return BACKUP_SEALED_REASON
    return None


def share_import_refused(node: OutlineNode) -> str | None:
    """A recorded transient-import domain that holds keys takes no shares."""
    return IMPORT_TRANSIENT_REASON if is_transient_with_keys(node) else None


def unrecorded_keys(node: OutlineNode) -> list[KeyInfo]:
    """The keys a "Find key domains" on ``node`` probes (the group's, or the key)."""
    candidates = (
        [node.data]
        if isinstance(node.data, KeyInfo)
        else [child.data for child in node.children if isinstance(child.data, KeyInfo)]
    )
    return [key for key in candidates if key.domain_source == "unknown"]


PKCS12_EMPTY_SLOT_REASON = (
    "this slot holds no key domain: create one (Key domains and shares → Create key "
    "domain…) and import its DKEK shares first"
)
PKCS12_WAITING_REASON = "the key domain still waits for DKEK shares: import them first"


def pkcs12_refused(node: OutlineNode) -> str | None:
    """Why a classic PKCS#12 import cannot go into ``node``'s key domain."""
    slot = domain_slot(node)
    if slot is not None and slot.status is None:
        return PKCS12_EMPTY_SLOT_REASON
    if is_waiting_domain(node):
        return PKCS12_WAITING_REASON
    return None


def uninitialised_refused(node: OutlineNode) -> str | None:
    """Why a key import cannot start on a blank device."""
    if is_uninitialised(node):
        return "the device is not initialised yet: initialise it first"
    return None


def with_pkcs12_reasons(entries: list[MenuAction]) -> list[MenuAction]:
    """The PKCS#12 imports say why they cannot run (empty slot, blank device)."""
    result = []
    for entry in entries:
        if entry.id == "plugin:pkcs12.import":
            entry = dataclasses.replace(entry, disabled=pkcs12_refused, shortcut="Ctrl+Shift+I")
        elif entry.id == "plugin:pkcs12.transient-import":
            entry = dataclasses.replace(entry, disabled=uninitialised_refused)
        result.append(entry)
    return result


def load_plugin_registry() -> PluginRegistry | None:
    """The plug-in registry (built-ins and installed), or ``None`` if it cannot load."""
    try:
        from keymanager.workflows.plugins import load_registry

        return load_registry()
    except Exception as error:  # a broken plug-in system must not stop the app
        logger.warning("plug-ins could not be loaded: %s", error)
        return None


def _plugin_job(action: Action) -> JobRun:
    def run(context: JobContext, node: OutlineNode) -> object:
        from keymanager.workflows.plugins import ActionContext
        from keymanager.workflows.plugins import NodeKind as PluginKind

        return action.run(
            ActionContext(
                hsm=context.hsm,
                interaction=context.interaction,
                node_kind=PluginKind(node.kind.value),
                node=node_payload(node),
            )
        )

    return run


def plugin_actions(registry: PluginRegistry | None) -> list[MenuAction]:
    """The plug-ins' actions as menu entries (their node kinds mapped onto the outline's)."""
    if registry is None:
        return []
    entries = []
    for action in registry.actions():
        kinds = frozenset(
            NodeKind(kind.value)
            for kind in action.node_kinds
            if kind.value in {k.value for k in NodeKind}
        )
        if not kinds:
            continue
        entries.append(
            MenuAction(
                f"plugin:{action.id}",
                action.label,
                kinds,
                job=_plugin_job(action),
                needs_card=True,
                changes_card=True,
                description=action.description,
                menu=MENU_KEYS,
                group="import",
            )
        )
    return entries
