"""What the outline's context menu and toolbar offer: built-in actions and plug-ins'.

A :class:`MenuAction` names the node kinds it applies to and either a *job* (run on
the card's worker thread with the node, refreshing the outline afterwards when it
changes the card) or a *GUI* callback (copying, refreshing, opening a dialog whose
answer then starts a job).  :func:`builtin_actions` gives Refresh, Verify PIN… and
Copy KCV / Copy details; :func:`card_actions` the workflows (keys, PINs, key domains,
share ceremonies, initialisation, audit); :func:`plugin_actions` wraps every action of
:mod:`keymanager.workflows.plugins` whose node kind the outline has.

Which node offers what:

=================  =============================================================
device             Generate key…, Restore key…, Create DKEK share…, Audit…,
                   Create key domain…, Initialise device…
user PIN           Change PIN…, Unblock PIN…, Unblock and set a new PIN…
SO-PIN             Change SO-PIN…
key domain         Create key domain… (empty slot), Import DKEK shares… (waiting;
                   disabled for a transient import that holds keys), Rename key
                   domain…, Clear KEK…, Delete key domain… (not empty)
Keys group         Generate key…, Restore key…
Domain not recorded  Find key domains… (also on each key in it)
key                Back up… (disabled for a sealed key), Delete…
=================  =============================================================

An action that applies to a node but cannot run there says why: ``disabled`` gives the
reason, the context menu shows the entry greyed with the reason as its tooltip, and
:meth:`MainWindow.run_action` refuses it with the reason in the status bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keymanager.card.hsm_types import KeyDomainSlot
from keymanager.card.keystore import CaCertificateInfo, DataObjectInfo, KeyInfo
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import (
    KCV_HIDDEN,
    KCV_PENDING,
    SEALED_TEXT,
    NodeKind,
    OutlineNode,
    is_transient_with_keys,
    is_unrecorded,
)

if TYPE_CHECKING:
    from keymanager.workflows.plugins import Action, PluginRegistry

logger = logging.getLogger(__name__)

ALL_KINDS = frozenset(NodeKind)

MENU_FILE = "File"
MENU_CARD = "Card"
MENU_KEYS = "Keys"
MENU_DOMAINS = "Key domains and shares"
MENU_VIEW = "View"
MENU_HELP = "Help"
MENU_ORDER = (MENU_FILE, MENU_CARD, MENU_KEYS, MENU_DOMAINS, MENU_VIEW, MENU_HELP)
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
    """Whether a key-domain node shows a KCV that can be copied."""
    kcv = node.detail("KCV")
    return kcv is not None and kcv not in (KCV_HIDDEN, KCV_PENDING)


def _verify_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import verify_pin

    return verify_pin(context.hsm, context.interaction)


def builtin_actions(
    *,
    refresh: GuiRun,
    copy_text: Callable[[str], None],
) -> list[MenuAction]:
    """Refresh, Verify PIN…, Copy KCV and Copy details."""

    def copy_kcv(node: OutlineNode) -> None:
        copy_text(node.detail("KCV") or "")

    def copy_details(node: OutlineNode) -> None:
        copy_text("\n".join(f"{d.label}: {d.value}" for d in node.details if d.copyable))

    return [
        MenuAction("refresh", "Refresh", ALL_KINDS, gui=refresh),
        MenuAction(
            "verify-pin",
            "Verify PIN…",
            frozenset({NodeKind.DEVICE, NodeKind.USER_PIN}),
            job=_verify_pin,
            needs_card=True,
            changes_card=True,
            description="Log in with the user PIN (shows hidden KCVs, allows changes)",
        ),
        MenuAction(
            "copy-kcv",
            "Copy KCV",
            frozenset({NodeKind.KEY_DOMAIN}),
            gui=copy_kcv,
            available=has_kcv,
        ),
        MenuAction("copy-details", "Copy details", ALL_KINDS, gui=copy_details),
    ]


# --- the workflows' actions ------------------------------------------------------------


class DialogHost(Protocol):
    """What opens the dialogs of the actions that ask before they start a job."""

    def generate_key(self, node: OutlineNode) -> None: ...
    def restore_key(self, node: OutlineNode) -> None: ...
    def backup_key(self, node: OutlineNode) -> None: ...
    def delete_key(self, node: OutlineNode) -> None: ...
    def initialise_device(self, node: OutlineNode) -> None: ...
    def create_share(self, node: OutlineNode) -> None: ...
    def show_audit(self, node: OutlineNode) -> None: ...
    def rename_domain(self, node: OutlineNode) -> None: ...


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


def _change_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import change_pin

    return change_pin(context.hsm, context.interaction)


def _unblock_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import unblock_pin

    return unblock_pin(context.hsm, context.interaction, set_new=False)


def _unblock_and_set_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import unblock_pin

    return unblock_pin(context.hsm, context.interaction, set_new=True)


def _change_so_pin(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.pins import change_so_pin

    return change_so_pin(context.hsm, context.interaction)


def _import_shares(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.ceremony import import_shares

    slot = domain_slot(node)
    assert slot is not None
    return import_shares(context.hsm, context.interaction, slot.number)


def _create_domain(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import create_key_domain

    slot = domain_slot(node)
    shares = context.interaction.ask_number(
        "How many DKEK shares will the new key domain have?", minimum=1, maximum=255, default=2
    )
    return create_key_domain(
        context.hsm, context.interaction, shares, slot.number if slot is not None else None
    )


def _clear_kek(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import clear_kek

    slot = domain_slot(node)
    assert slot is not None
    return clear_kek(context.hsm, context.interaction, slot.number)


def _find_key_domains(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.key_domains import find_key_domains

    return find_key_domains(context.hsm, context.interaction, keys=unrecorded_keys(node))


def _delete_domain(context: JobContext, node: OutlineNode) -> object:
    from keymanager.workflows.device import delete_key_domain

    slot = domain_slot(node)
    assert slot is not None
    return delete_key_domain(context.hsm, context.interaction, slot.number)


def card_actions(host: DialogHost) -> list[MenuAction]:
    """The workflows' actions (see the module docstring for which node offers what)."""
    device = frozenset({NodeKind.DEVICE})
    keys = frozenset({NodeKind.DEVICE, NodeKind.KEY_GROUP})
    key = frozenset({NodeKind.KEY})
    pin = frozenset({NodeKind.USER_PIN})
    domain = frozenset({NodeKind.KEY_DOMAIN})

    def dialog(
        id_: str,
        label: str,
        kinds: frozenset[NodeKind],
        run: GuiRun,
        description: str,
        available: Callable[[OutlineNode], bool] | None = None,
        disabled: Callable[[OutlineNode], str | None] | None = None,
    ) -> MenuAction:
        return MenuAction(
            id_,
            label,
            kinds,
            gui=run,
            needs_card=True,
            available=available,
            description=description,
            disabled=disabled,
        )

    def job(
        id_: str,
        label: str,
        kinds: frozenset[NodeKind],
        run: JobRun,
        description: str,
        available: Callable[[OutlineNode], bool] | None = None,
        disabled: Callable[[OutlineNode], str | None] | None = None,
    ) -> MenuAction:
        return MenuAction(
            id_,
            label,
            kinds,
            job=run,
            needs_card=True,
            changes_card=True,
            available=available,
            description=description,
            disabled=disabled,
        )

    return [
        dialog("generate-key", "Generate key…", keys, host.generate_key, "A new key on the card"),
        dialog("restore-key", "Restore key…", keys, host.restore_key, "A key from a .wky backup"),
        dialog(
            "backup-key",
            "Back up…",
            key,
            host.backup_key,
            "Save the key wrapped under its key domain's DKEK (.wky)",
            is_key,
            backup_refused,
        ),
        dialog(
            "delete-key",
            "Delete…",
            key,
            host.delete_key,
            "Delete the key with its certificate (confirm with its label)",
            is_key,
        ),
        job("change-pin", "Change PIN…", pin, _change_pin, "Change the user PIN"),
        job("unblock-pin", "Unblock PIN…", pin, _unblock_pin, "Reset the tries with the SO-PIN"),
        job(
            "unblock-set-pin",
            "Unblock and set a new PIN…",
            pin,
            _unblock_and_set_pin,
            "Reset the tries and set a new user PIN with the SO-PIN",
        ),
        job(
            "change-so-pin",
            "Change SO-PIN…",
            frozenset({NodeKind.SO_PIN}),
            _change_so_pin,
            "Change the SO-PIN (16 hex digits)",
        ),
        job(
            "import-shares",
            "Import DKEK shares…",
            domain,
            _import_shares,
            "Custodians enter their shares into this key domain",
            is_waiting_domain,
            share_import_refused,
        ),
        dialog(
            "rename-domain",
            "Rename key domain…",
            domain,
            host.rename_domain,
            "Give the key domain a label (kept in keymanager's registry on the card)",
            is_used_domain,
        ),
        job(
            "find-key-domains",
            "Find key domains…",
            frozenset({NodeKind.KEY_GROUP, NodeKind.KEY}),
            _find_key_domains,
            "Wrap each key (user PIN), match the KCV and record its key domain on the card; "
            "the wrapped keys are dropped at once",
            is_unrecorded,
        ),
        job(
            "create-domain",
            "Create key domain…",
            device | domain,
            _create_domain,
            "A DKEK key domain of n shares (in this slot, or the first empty one)",
            lambda node: node.kind is NodeKind.DEVICE or is_empty_domain(node),
        ),
        job(
            "clear-kek",
            "Clear KEK…",
            domain,
            _clear_kek,
            "Delete the domain's DKEK: every share is outstanding again",
            is_used_domain,
        ),
        job(
            "delete-domain",
            "Delete key domain…",
            domain,
            _delete_domain,
            "Free the slot (refused while keys belong to the domain)",
            is_used_domain,
        ),
        dialog(
            "create-share",
            "Create DKEK share…",
            device,
            host.create_share,
            "A share ceremony: a share file (password or n-of-m) and/or a PaperKey",
        ),
        dialog(
            "audit",
            "Audit…",
            device,
            host.show_audit,
            "Key domains with KCV, share and key counts; export CSV or PDF, print",
        ),
        dialog(
            "init-device",
            "Initialise device…",
            device,
            host.initialise_device,
            "ERASE the device and set it up again (needs the SO-PIN)",
        ),
    ]


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
            )
        )
    return entries
