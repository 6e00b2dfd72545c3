"""What the outline's context menu and toolbar offer: built-in actions and plug-ins'.

A :class:`MenuAction` names the node kinds it applies to and either a *job* (run on
the card's worker thread with the node, refreshing the outline afterwards when it
changes the card) or a *GUI* callback (copying, refreshing).  :func:`builtin_actions`
gives Refresh, Verify PIN… and Copy KCV / Copy details; :func:`plugin_actions` wraps
every action of :mod:`keymanager.workflows.plugins` whose node kind the outline has.
Later issues add their dialogs' actions to the same list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keymanager.card.hsm_types import KeyDomainSlot
from keymanager.card.keystore import CaCertificateInfo, DataObjectInfo, KeyInfo
from keymanager.gui.worker import JobContext
from keymanager.workflows.outline import KCV_HIDDEN, KCV_PENDING, NodeKind, OutlineNode

if TYPE_CHECKING:
    from keymanager.workflows.plugins import Action, PluginRegistry

logger = logging.getLogger(__name__)

ALL_KINDS = frozenset(NodeKind)
JobRun = Callable[[JobContext, OutlineNode], object]
GuiRun = Callable[[OutlineNode], None]


@dataclass(frozen=True)
class MenuAction:
    """One entry of a node's context menu.

    :param needs_card: runs a card job: disabled while the worker is busy.
    :param changes_card: the outline is read again after the job (success or not).
    :param available: further condition on the node (e.g. the KCV is known).
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

    def applies_to(self, node: OutlineNode) -> bool:
        if node.kind not in self.kinds:
            return False
        return self.available is None or self.available(node)


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
