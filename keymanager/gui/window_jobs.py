"""The main window's jobs: submit to the current card's worker, progress, results.

:class:`JobRunning` is a part of :class:`~keymanager.gui.main_window.MainWindow`:
:meth:`~JobRunning.submit` runs a job on the current card's worker, shows its
errors, refreshes the outline after a job that changes the card; :meth:`~JobRunning.refresh`
reads the card (first, once per session, finishing what earlier sessions left:
:func:`~keymanager.gui.recovery.run_recovery`); the status bar shows progress and
Cancel while a job runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from keymanager.card.errors import (
    CardReset,
    TransportError,
)
from keymanager.gui.menus import MenuBar
from keymanager.gui.recovery import LoadedCard, run_recovery
from keymanager.gui.window_services import HostServices
from keymanager.gui.worker import (
    CardSource,
    CardWorker,
    JobContext,
    JobFunction,
    ResultCallback,
)
from keymanager.workflows.outline import (
    NodeKind,
    Outline,
    OutlineNode,
    read_outline,
)

if TYPE_CHECKING:
    pass


logger = logging.getLogger(__name__)


class JobRunning(HostServices):
    """A part of the main window (see the module docstring)."""

    sources: dict[str, CardSource]
    workers: dict[str, CardWorker]
    current_key: str | None
    recovery_notes: list[str]
    busy_label: QLabel
    cancel_action: QAction
    cancel_button: QPushButton
    progress: QProgressBar
    menu_bar: MenuBar
    _closed: bool
    _recovered: dict[str, object]
    _outline_error: Callable[[BaseException], None]
    _show_outline: Callable[[Outline], None]
    _set_reader_status: Callable[[str], None]

    @property
    def worker(self) -> CardWorker | None:
        """The worker of the current source."""
        return self.workers.get(self.current_key) if self.current_key is not None else None

    def submit(
        self,
        title: str,
        run: JobFunction,
        *,
        changes_card: bool = False,
        on_result: ResultCallback | None = None,
    ) -> bool:
        """Run a job on the current card; errors are shown; a refresh follows changes."""
        worker = self.worker
        key = self.current_key
        if worker is None or key is None:
            return False

        def done(result: object) -> None:
            if on_result is not None and key == self.current_key:
                on_result(result)
            self._report_result(title, result)
            if changes_card:
                self.refresh()
            self.job_done.emit(title, result)

        def failed(error: BaseException) -> None:
            if key == self.current_key:
                self.show_error(error, title)
            if changes_card:
                self.refresh()
            self.job_done.emit(title, error)

        worker.submit(title, run, on_result=done, on_error=failed)
        return True

    def refresh(self) -> None:
        """Read the current card again (F5); keeps the selection and expanded nodes."""
        if self._closed:
            return  # a job that ended while the window closed: nothing to show
        worker = self.worker
        key = self.current_key
        if worker is None or key is None:
            return
        self._set_reader_status(f"{self.sources[key].label}: reading the card…")

        def loaded(result: object) -> None:
            if key == self.current_key and isinstance(result, LoadedCard):
                self._show_outline(result.outline)
                self._report_recovery(result)

        def failed(error: BaseException) -> None:
            if key == self.current_key:
                self._outline_error(error)

        worker.submit("Reading the card", self._read_job(key), on_result=loaded, on_error=failed)

    def _read_job(self, key: str) -> JobFunction:
        """Read the outline; first, once per session, repair what earlier sessions left.
        An XKEK domain's details list the members of the group file used last."""
        from keymanager.gui.areas.xkek import last_group_file
        from keymanager.gui.xkek_members import add_group_members

        group_file = last_group_file()  # a setting: read here, on the GUI thread

        def run(context: JobContext) -> LoadedCard:
            loaded = LoadedCard(Outline(OutlineNode(NodeKind.DEVICE, "", "root"), ""))
            if self._recovered.get(key) is not context.hsm:
                self._recovered[key] = context.hsm
                try:
                    loaded.notes = run_recovery(context.hsm, context.interaction)
                except (TransportError, CardReset):
                    raise
                except Exception as error:
                    loaded.problem = error
            loaded.outline = read_outline(context.hsm)
            add_group_members(loaded.outline, group_file)
            return loaded

        return run

    def _report_recovery(self, loaded: LoadedCard) -> None:
        if loaded.notes:
            self.recovery_notes.extend(loaded.notes)
            self.statusBar().showMessage(" ".join(loaded.notes), 15000)
            self.refresh()
        if loaded.problem is not None:
            self.show_error(loaded.problem, "Repairing an interrupted operation")

    def cancel_job(self) -> None:
        """Cancel the current source's running job."""
        if self.worker is not None:
            self.worker.cancel()

    def _worker_busy(self, key: str, busy: bool) -> None:
        if key == self.current_key:
            self._update_busy(busy)

    def _update_busy(self, busy: bool) -> None:
        self.cancel_action.setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        self.progress.setRange(0, 0)
        self._update_card_actions(busy)
        if not busy:
            self.busy_label.setText("")

    def _update_card_actions(self, busy: bool | None = None) -> None:
        if busy is None:
            busy = self.worker is None or self.worker.busy
        del busy  # the menu bar asks the worker itself
        self.menu_bar.update()

    def _job_started(self, key: str, title: str) -> None:
        if key == self.current_key:
            self.busy_label.setText(title + "…")
            self.progress.setRange(0, 0)

    def _job_progress(self, key: str, step: str, done: int, total: int) -> None:
        if key != self.current_key:
            return
        self.busy_label.setText(step)
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))

    def _report_result(self, title: str, result: object) -> None:
        summary = getattr(result, "summary", None)
        if callable(summary):
            text = summary()
            if isinstance(text, list):
                text = " ".join(str(line) for line in text)
            self.statusBar().showMessage(str(text), 8000)
        elif not self.statusBar().currentMessage():
            # the workflow's own last message (status bar) says more than "done"
            self.statusBar().showMessage(f"{title}: done", 8000)
