"""The main window's card sources: the reader chooser, one worker per source, hot-plug.

:class:`CardSources` is a part of :class:`~keymanager.gui.main_window.MainWindow`:
the simulated card and each PC/SC reader the watcher sees are sources in the reader
bar; choosing one starts (once) its :class:`~keymanager.gui.worker.CardWorker` and
reads its card; a reader that appears or goes, or a card inserted or pulled, updates
the list and the outline.  The reader chosen in the last run is chosen again when it
appears (unless the user chose another meanwhile).

Every worker opens its sessions in the mode of the setting Card ▸ Use secure messaging
(:attr:`CardSources.secure_messaging_on`, read once from
:func:`keymanager.gui.settings.secure_messaging_on` when the menus are built);
:meth:`CardSources.set_secure_messaging` keeps a new choice, has every worker open a
new session in the new mode, and reads the card again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QLabel

from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.gui import settings
from keymanager.gui.details_pane import DetailsPane
from keymanager.gui.gui_interaction import GuiInteraction, PromptBroker
from keymanager.gui.readers import ReaderSnapshot
from keymanager.gui.window_jobs import JobRunning
from keymanager.gui.worker import (
    CardSource,
    CardWorker,
    PcscSource,
)

if TYPE_CHECKING:
    from keymanager.gui.areas.ceremony_record import CeremonyArea


logger = logging.getLogger(__name__)


class CardSources(JobRunning):
    """A part of the main window (see the module docstring)."""

    broker: PromptBroker
    details: DetailsPane
    reader_combo: QComboBox
    reader_status: QLabel
    reader_snapshot: ReaderSnapshot
    preferred_reader: str
    secure_messaging_on: bool
    """Whether sessions run on secure messaging where the card offers it (the menu's
    check mark; set from the settings by ``window_layout.build_menus``)."""
    _clear_outline: Callable[[str], None]
    ceremony: CeremonyArea

    def add_source(self, source: CardSource) -> None:
        """Offer ``source`` in the reader bar."""
        if source.key in self.sources:
            return
        self.sources[source.key] = source
        self.reader_combo.addItem(source.label, source.key)

    def remove_source(self, key: str) -> None:
        """Withdraw a source (its reader was unplugged); stops its worker."""
        self.sources.pop(key, None)
        index = self.reader_combo.findData(key)
        if index >= 0:
            self.reader_combo.removeItem(index)
        worker = self.workers.pop(key, None)
        if worker is not None:
            worker.stop()
        if key == self.current_key:
            self.current_key = None
            self.model.set_outline(None)
            self.details.show_node(None)
            self._update_busy(False)
            if self.sources:
                self.select_source(next(iter(self.sources)))

    def _worker_for(self, key: str) -> CardWorker:
        worker = self.workers.get(key)
        if worker is None:
            broker = self.broker
            worker = CardWorker(
                self.sources[key],
                interaction_factory=lambda cancel, report: GuiInteraction(broker, cancel, report),
                secure_messaging=self._secure_messaging_mode(),
                parent=self,
            )
            worker.job_scope = self.ceremony.job_scope  # the ceremony record, while one runs
            worker.busy_changed.connect(lambda busy, k=key: self._worker_busy(k, busy))
            worker.job_started.connect(lambda _id, title, k=key: self._job_started(k, title))
            worker.job_progress.connect(
                lambda _id, step, done, total, k=key: self._job_progress(k, step, done, total)
            )
            self.workers[key] = worker
        return worker

    def _secure_messaging_mode(self) -> SecureMessagingMode:
        return SecureMessagingMode.AUTO if self.secure_messaging_on else SecureMessagingMode.OFF

    def set_secure_messaging(self, on: bool) -> None:
        """Card ▸ Use secure messaging: keep the choice, re-open the sessions, read again.

        Every worker drops its session before its next job and opens a new one in the
        new mode (a verified PIN has to be verified again); the outline says which
        mode the card runs in once it is read.
        """
        settings.save_secure_messaging(on)
        self.secure_messaging_on = on
        mode = self._secure_messaging_mode()
        changed = [worker.set_secure_messaging(mode) for worker in self.workers.values()]
        self.menu_bar.update()
        if any(changed):
            state = "on" if on else "off"
            self.statusBar().showMessage(
                f"Secure messaging {state}: the card's session is opened again "
                "(a verified PIN has to be verified again)",
                8000,
            )
            self.refresh()

    def select_source(self, key: str) -> None:
        """Show the card of source ``key`` (reading it)."""
        if key not in self.sources:
            raise KeyError(key)
        self.current_key = key
        index = self.reader_combo.findData(key)
        if index >= 0 and self.reader_combo.currentIndex() != index:
            self.reader_combo.setCurrentIndex(index)
        self.model.set_outline(None)
        self.details.show_node(None)
        worker = self._worker_for(key)
        self._update_busy(worker.busy)
        self.refresh()

    def _combo_activated(self, index: int) -> None:
        key = self.reader_combo.itemData(index)
        if isinstance(key, str) and key != self.current_key:
            self.preferred_reader = ""  # the user chose: no switching to the saved reader
            self.select_source(key)

    def _readers_changed(self, snapshot: ReaderSnapshot) -> None:
        previous = {r.name: r for r in self.reader_snapshot.readers}
        self.reader_snapshot = snapshot
        present = {f"pcsc:{r.name}": r for r in snapshot.readers}
        for key in [k for k, s in self.sources.items() if isinstance(s, PcscSource)]:
            if key not in present:
                self.remove_source(key)
        for key, reader in present.items():
            self.add_source(PcscSource(reader.name))
            old = previous.get(reader.name)
            if key == self.current_key and (old is None or old.has_card != reader.has_card):
                if reader.has_card:
                    self.refresh()
                else:
                    self._clear_outline(f"No card in {reader.name}: insert one.")
        preferred = present.get(self.preferred_reader)
        if (
            preferred is not None
            and preferred.has_card
            and self.current_key != self.preferred_reader
        ):
            self.select_source(self.preferred_reader)  # the reader chosen in the last run
            self.preferred_reader = ""
        if self.current_key is None and self.sources:
            self.select_source(next(iter(self.sources)))
        self._set_reader_status(self._reader_text())

    def _reader_text(self) -> str:
        outline = self.model.outline
        if outline is not None:
            return f"{outline.reader}: {outline.device.title}"
        if self.reader_snapshot.problem:
            return self.reader_snapshot.problem
        return self.reader_status.text()

    def _set_reader_status(self, text: str) -> None:
        self.reader_status.setText(text)
