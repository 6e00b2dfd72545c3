"""What an area module needs from the window that shows its actions.

Each area (device, keys, key domains and shares, PINs, audit, …) pairs its dialogs
with the workflow calls and gives its actions as a table of
:class:`~keymanager.gui.actions.MenuAction` (``actions(host) -> list[MenuAction]``).
The main window implements :class:`AreaHost`; an area never reaches into the window's
widgets, so a test can drive an area through any object with these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QDialog, QWidget

from keymanager.gui.gui_interaction import PromptBroker
from keymanager.gui.worker import CardSource, JobFunction, ResultCallback
from keymanager.workflows.outline import Outline


class AreaHost(Protocol):
    """The window's services for area modules."""

    @property
    def broker(self) -> PromptBroker:
        """Where jobs' questions are shown (the sheets of a share ceremony, too)."""
        ...

    def submit(
        self,
        title: str,
        run: JobFunction,
        *,
        changes_card: bool = False,
        on_result: ResultCallback | None = None,
    ) -> bool:
        """Run ``run(context)`` on the card's worker; errors are shown; refresh after changes."""
        ...

    def open_dialog(self, dialog: QDialog, on_accept: Callable[[], None]) -> QDialog:
        """Open ``dialog`` window-modal (deleted on close); ``on_accept`` runs on OK."""
        ...

    def open_file_dialog(
        self,
        title: str,
        on_chosen: Callable[[Path], object],
        *,
        save: bool,
        name_filter: str = "",
        default_name: str = "",
        default_suffix: str = "",
        setting: str = "",
    ) -> None:
        """Ask for a file; ``setting`` names the remembered folder (e.g. ``"backups"``)."""
        ...

    def select_next(self, node_id: str) -> None:
        """Select the node ``node_id`` (e.g. ``"key:3"``) once the outline is read again."""
        ...

    def show_result(self, title: str, lines: Sequence[str]) -> object:
        """Tell the user what a workflow did (an information box)."""
        ...

    def announce_dialog(self, widget: QWidget) -> None:
        """Tell the window's listeners (tests, screenshots) a dialog was opened."""
        ...

    def show_status(self, text: str) -> None:
        """A short message in the status bar."""
        ...

    def current_outline(self) -> Outline | None:
        """The outline of the current card (``None`` before it was read)."""
        ...

    def card_name(self) -> str:
        """The current card in words (label, serial, reader) for confirmations."""
        ...

    def dialog_parent(self) -> QWidget:
        """The widget dialogs are opened on."""
        ...

    def card_sources(self) -> tuple[dict[str, CardSource], str | None]:
        """Every card source the window offers (by key) and the current card's key.

        For actions that open a second card alongside the current one (the custodian
        cards of public key authentication)."""
        ...
