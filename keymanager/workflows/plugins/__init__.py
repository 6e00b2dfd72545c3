"""Plug-ins: actions that extend what the key manager offers on the nodes of its outline.

The GUI shows the card as an outline (:mod:`keymanager.workflows.outline`: device, key
domains, keys, certificates…); each :class:`~keymanager.workflows.outline.NodeKind` has
actions (the enum is the outline's, re-exported here).  A plug-in contributes
:class:`Action` objects, each naming the :class:`NodeKind` values it applies to and a
``run(context)`` callable that drives a workflow through the context's
:class:`~keymanager.workflows.interaction.Interaction`.

:class:`PluginRegistry` collects the built-in plug-ins (registered in code, so they work
without installed package metadata) and those installed by other packages under the
Python entry-point group ``keymanager.plugins``.  An entry point may name a
:class:`Plugin` instance, a class to instantiate, or a zero-argument callable returning
one.  A plug-in that fails to load is recorded in :attr:`PluginRegistry.problems` and
skipped; it never stops the application.  Plug-ins are identified by
:attr:`Plugin.name`: an entry point naming a built-in again is not registered twice.

Built-in: :mod:`keymanager.workflows.plugins.transient_import` ("Import from PKCS#12
into a transient key domain", Smart Card Shell's ``220-importp12-plugin.js``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from keymanager.card.hsm import SmartCardHsm
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.outline import NodeKind

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "ActionContext",
    "NodeKind",
    "Plugin",
    "PluginRegistry",
    "builtin_plugins",
    "load_registry",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "keymanager.plugins"


@dataclass(frozen=True)
class ActionContext:
    """What an action runs with: the card session, the user, and the node it was invoked on.

    :param node: the node the action was invoked on: an
        :class:`~keymanager.workflows.outline.OutlineNode` (or, for scripts, a plain value
        such as a key-domain number); ``None`` for the device.
    :param options: front-end specific settings (e.g. ``journal_path`` for tests).
    """

    hsm: SmartCardHsm
    interaction: Interaction
    node_kind: NodeKind
    node: object = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One thing a plug-in offers on nodes of the given kinds.

    ``run(context)`` returns a result object the front end shows (workflow result
    dataclasses have ``summary()`` and ``to_json()``).
    """

    id: str
    label: str
    node_kinds: frozenset[NodeKind]
    run: Callable[[ActionContext], object]
    description: str = ""

    def applies_to(self, kind: NodeKind) -> bool:
        return kind in self.node_kinds


@runtime_checkable
class Plugin(Protocol):
    """A plug-in: a name and the actions it contributes."""

    name: str

    def actions(self) -> Sequence[Action]: ...


@dataclass
class PluginRegistry:
    """The plug-ins known to this process and their actions."""

    plugins: list[Plugin] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def register(self, plugin: Plugin) -> bool:
        """Add a plug-in; ``False`` if one with the same name is already there."""
        if any(existing.name == plugin.name for existing in self.plugins):
            return False
        self.plugins.append(plugin)
        return True

    def discover(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        """Load the plug-ins installed under :data:`ENTRY_POINT_GROUP`."""
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in entry_points:
            try:
                plugin = _as_plugin(entry_point.load())
            except Exception as error:  # a broken plug-in must not stop us
                self.problems.append(f"plug-in {entry_point.name!r} did not load: {error}")
                logger.warning("plug-in %s did not load: %s", entry_point.name, error)
                continue
            self.register(plugin)

    def actions(self) -> list[Action]:
        """Every action of every plug-in, in registration order."""
        return [action for plugin in self.plugins for action in plugin.actions()]

    def actions_for(self, kind: NodeKind) -> list[Action]:
        """The actions offered on nodes of ``kind``."""
        return [action for action in self.actions() if action.applies_to(kind)]

    def action(self, action_id: str) -> Action:
        """The action with ``action_id`` (:class:`KeyError` if none)."""
        for action in self.actions():
            if action.id == action_id:
                return action
        raise KeyError(action_id)


def _as_plugin(loaded: object) -> Plugin:
    candidate = loaded
    if isinstance(candidate, type) or (callable(candidate) and not isinstance(candidate, Plugin)):
        candidate = candidate()
    if not isinstance(candidate, Plugin):
        raise TypeError(f"{loaded!r} is not a key manager plug-in (needs name and actions())")
    return candidate


def builtin_plugins() -> list[Plugin]:
    """The plug-ins that ship with the key manager."""
    from keymanager.workflows.plugins.transient_import import PLUGIN

    return [PLUGIN]


def load_registry(*, discover: bool = True) -> PluginRegistry:
    """A registry with the built-in plug-ins and (``discover``) the installed ones."""
    registry = PluginRegistry()
    for plugin in builtin_plugins():
        registry.register(plugin)
    if discover:
        registry.discover()
    return registry
