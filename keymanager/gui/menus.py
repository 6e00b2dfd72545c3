"""The menu bar, built from the actions' table, and kept in step with the selection.

Every :class:`~keymanager.gui.actions.MenuAction` that names a ``menu`` gets one
``QAction`` (:attr:`MenuBar.qactions`, by action id) with its shortcut shown; the
toolbar reuses the same ``QAction`` objects, so a shortcut is never ambiguous.
Within a menu, actions stand in their ``group`` with separators between groups;
destructive ones come last, after a separator.  :meth:`MenuBar.update` enables each
entry for the node it would act on (the selection, or the device for device-wide
actions) and puts the reason in the tooltip and the status tip when it cannot run.
A window command that is a setting (Card ▸ Use secure messaging) is a checkable entry:
its :attr:`Extra.checked` says whether it is on, and :meth:`MenuBar.update` shows that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from keymanager.gui.actions import MENU_ORDER, MenuAction
from keymanager.workflows.outline import OutlineNode


@dataclass(frozen=True)
class Extra:
    """A window command in a menu that is not a card action (Quit, About, …)."""

    id: str
    label: str
    menu: str
    run: Callable[[], object]
    shortcut: str = ""
    group: str = ""
    description: str = ""
    checked: Callable[[], bool] | None = None
    """For a setting: whether it is on (the entry is checkable; ``run`` is called after
    the user toggled it, the entry's ``isChecked()`` then says the new state)."""


def ordered(entries: Sequence[MenuAction]) -> list[list[MenuAction]]:
    """Groups in first-seen order; destructive actions as a last group of their own."""
    groups: dict[str, list[MenuAction]] = {}
    destructive = [entry for entry in entries if entry.destructive]
    for entry in entries:
        if not entry.destructive:
            groups.setdefault(entry.group, []).append(entry)
    result = list(groups.values())
    if destructive:
        result.append(destructive)
    return result


class MenuBar:
    """The window's menu bar and its ``QAction`` per menu action.

    :param target: the node an action would run on now (``None``: none it applies to).
    :param busy: whether the card's worker runs a job (card actions are disabled).
    :param run: runs the action ``id`` (the window's ``run_action``).
    """

    def __init__(
        self,
        window: QMainWindow,
        actions: Sequence[MenuAction],
        extras: Sequence[Extra],
        *,
        target: Callable[[MenuAction], OutlineNode | None],
        busy: Callable[[], bool],
        run: Callable[[str], object],
    ) -> None:
        self.window = window
        self.actions = [action for action in actions if action.menu]
        self.target = target
        self.busy = busy
        self.menus: dict[str, QMenu] = {}
        self.qactions: dict[str, QAction] = {}
        self.settings: dict[str, Callable[[], bool]] = {}
        """The checkable window commands (settings) by id, and whether each is on."""
        bar = window.menuBar()
        for name in MENU_ORDER:
            menu = bar.addMenu(f"&{name}")
            menu.setObjectName(f"menu{name.title().replace(' ', '')}")
            menu.setToolTipsVisible(True)
            self.menus[name] = menu
        for name in MENU_ORDER:
            self._fill(name, run, [extra for extra in extras if extra.menu == name])
        for name, menu in self.menus.items():
            menu.aboutToShow.connect(self.update)
            if menu.isEmpty():
                menu.menuAction().setVisible(False)
            del name

    def _fill(self, name: str, run: Callable[[str], object], extras: Sequence[Extra]) -> None:
        menu = self.menus[name]
        card_groups = ordered([action for action in self.actions if action.menu == name])
        extra_groups: dict[str, list[Extra]] = {}
        for extra in extras:
            extra_groups.setdefault(extra.group, []).append(extra)
        first = True
        before = [group for key, group in extra_groups.items() if key != "last"]
        after = extra_groups.get("last", [])
        for extra_group in before:
            if not first:
                menu.addSeparator()
            first = False
            for extra in extra_group:
                menu.addAction(self._extra_action(extra))
        for card_group in card_groups:
            if not first:
                menu.addSeparator()
            first = False
            for action in card_group:
                menu.addAction(self._card_action(action, run))
        if after:
            if not first:
                menu.addSeparator()
            for extra in after:
                menu.addAction(self._extra_action(extra))

    def _extra_action(self, extra: Extra) -> QAction:
        qaction = QAction(extra.label, self.window)
        qaction.setObjectName(extra.id)
        if extra.shortcut:
            qaction.setShortcut(QKeySequence(extra.shortcut))
        if extra.description:
            qaction.setToolTip(extra.description)
            qaction.setStatusTip(extra.description)
        if extra.checked is not None:
            qaction.setCheckable(True)
            qaction.setChecked(extra.checked())
            self.settings[extra.id] = extra.checked
        qaction.triggered.connect(lambda _checked=False, do=extra.run: do())
        self.qactions[extra.id] = qaction
        return qaction

    def _card_action(self, action: MenuAction, run: Callable[[str], object]) -> QAction:
        qaction = QAction(action.label, self.window)
        qaction.setObjectName(action.id)
        if action.shortcut:
            qaction.setShortcut(QKeySequence(action.shortcut))
        if action.description:
            qaction.setToolTip(action.description)
            qaction.setStatusTip(action.description)
        qaction.triggered.connect(lambda _checked=False, id_=action.id: run(id_))
        self.qactions[action.id] = qaction
        return qaction

    def update(self) -> None:
        """Enable each card action for the node it would act on; say why where not.

        Settings entries show whether they are on."""
        for setting_id, is_on in self.settings.items():
            self.qactions[setting_id].setChecked(is_on())
        busy = self.busy()
        for action in self.actions:
            qaction = self.qactions[action.id]
            node = self.target(action)
            if node is None:
                reason: str | None = "select an item it applies to first"
            else:
                reason = action.disabled_reason(node)
            if reason is None and action.needs_card and busy:
                reason = "the card is busy: wait or cancel first"
            qaction.setEnabled(reason is None)
            tip = f"Not possible: {reason}" if reason is not None else action.description
            qaction.setToolTip(tip)
            qaction.setStatusTip(tip)
