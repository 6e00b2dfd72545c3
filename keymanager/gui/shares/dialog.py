"""The share input dialog: custodians hand over DKEK shares by file, n-of-m or PaperKey.

One :class:`ShareDialog` serves a whole collection of shares (one
:class:`~keymanager.gui.shares.session.ShareSession` per job): it stays open while the
workflow on the worker thread reads a share (seconds of key derivation, shown in its
progress bar), and the next custodian can already type; what they hand over is queued
until the workflow asks for the next share.  One tab per route
(:mod:`~keymanager.gui.shares.file_tab`, :mod:`~keymanager.gui.shares.nofm_tab`,
:mod:`~keymanager.gui.shares.paperkey_tab`).

Shares are numbered as the key domain counts them: importing into a domain of three
shares that holds one already asks for "share 2 of 3".  The ceremony shows as it goes
(:mod:`~keymanager.gui.shares.progress`): each share handed over with its route,
fingerprint and state, and the KCV of the shares so far beside the card's.  At the
end a summary page (:mod:`~keymanager.gui.shares.summary`) can be printed or saved
as PDF; a workflow that assembles the DKEK on the host waits there for "Continue"
(or, on a KCV mismatch, "Stop", which ends it before anything is imported), while a
card import goes on and the page only waits to be closed.

The dialog answers through :class:`~keymanager.gui.shares.common.Answer` objects (the
:class:`~keymanager.gui.gui_interaction.PromptRequest` of the worker's question).
Secrets (passwords, fragments, PaperKey lines) are cleared from the fields as soon as
they are handed over and never logged.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.dkek import format_kcv
from keymanager.gui.shares.common import BAD_COLOUR, Answer, describe_input, wipe_input
from keymanager.gui.shares.file_tab import FileShareTab
from keymanager.gui.shares.nofm_tab import NofMTab
from keymanager.gui.shares.paperkey_tab import PaperKeyTab
from keymanager.gui.shares.progress import CeremonyView
from keymanager.gui.shares.session import EntryState, ShareSession
from keymanager.gui.shares.summary import SummaryPage
from keymanager.workflows.errors import DkekKcvMismatch
from keymanager.workflows.interaction import (
    Cancelled,
    ShareInput,
    ShareOutcome,
    ShareRequest,
    ShareRoute,
)


class ShareDialog(QDialog):
    """Collects the DKEK shares of one workflow (see the module docstring)."""

    handed_over = Signal(int)
    """Emitted with the share's number once a share is handed over."""
    outcome_shown = Signal(object)

    def __init__(self, session: ShareSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.log = session.log
        session.dialog = self
        self.setObjectName("shareDialog")
        self.setWindowTitle("DKEK shares")
        self.setAcceptDrops(True)
        self.setMinimumWidth(680)
        self.request: ShareRequest | None = None
        self.pending: Answer | None = None
        self.final: Answer | None = None
        self.final_outcome: ShareOutcome | None = None
        self.finished_into_card = False
        """A card import's last share is on the card: the summary waits to be closed."""
        self.queue: list[ShareInput] = []
        self.in_flight = 0
        self._closing = False

        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setObjectName("shareHeading")
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.heading.setFont(font)
        layout.addWidget(self.heading)

        self.ceremony = CeremonyView(self.log)
        layout.addWidget(self.ceremony)
        self.card_kcv_label = self.ceremony.card_kcv_label
        self.running_kcv_label = self.ceremony.running_kcv_label
        self.kcv_mark = self.ceremony.kcv_mark
        self.accepted_list: QListWidget = self.ceremony.entry_list

        self.tabs = QTabWidget()
        self.tabs.setObjectName("shareRoutes")
        self.file_tab = FileShareTab()
        self.nofm_tab = NofMTab()
        self.paperkey_tab = PaperKeyTab()
        self._tab_of: dict[ShareRoute, QWidget] = {
            ShareRoute.FILE: self.file_tab,
            ShareRoute.N_OF_M: self.nofm_tab,
            ShareRoute.PAPERKEY: self.paperkey_tab,
        }
        self.tabs.addTab(self.file_tab, "Share file")
        self.tabs.addTab(self.nofm_tab, "n-of-m")
        self.tabs.addTab(self.paperkey_tab, "PaperKey")
        for tab in (self.file_tab, self.nofm_tab, self.paperkey_tab):
            tab.changed.connect(self._update)
        self.paperkey_tab.lines_done.connect(self._focus_hand_over)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.summary = SummaryPage(self.log)
        self.pages = QStackedWidget()
        self.pages.setObjectName("sharePages")
        self.pages.addWidget(self.tabs)
        self.pages.addWidget(self.summary)
        layout.addWidget(self.pages, 1)

        self.problem_label = QLabel()
        self.problem_label.setObjectName("shareProblem")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self.progress = QProgressBar()
        self.progress.setObjectName("shareProgress")
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("shareProgressLabel")
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.hand_over_button = QPushButton("Hand over share")
        self.hand_over_button.setObjectName("handOver")
        self.hand_over_button.setDefault(True)
        self.hand_over_button.clicked.connect(self.hand_over)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("continueButton")
        self.continue_button.setVisible(False)
        self.continue_button.clicked.connect(self._continue)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.reject)
        for button in (self.hand_over_button, self.continue_button, self.cancel_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        if self.log.entries:  # a dialog opened again within the same job
            self.ceremony.refresh()
        self._update()

    # -- driven by the worker's questions (GUI thread) -----------------------------------

    def attach(self, answer: Answer, request: ShareRequest) -> None:
        """The workflow asks for a share: answer at once from the queue, or wait."""
        self.set_request(request)
        self.in_flight = 0
        self._hide_progress()
        if self.queue:
            self._give(answer, self.queue.pop(0))
        else:
            self.pending = answer
        self._update()

    def set_request(self, request: ShareRequest) -> None:
        """Show what is asked for (also without a question to answer, e.g. a screenshot)."""
        first = self.request is None
        self.request = request
        self.log.note_request(request)
        if first:
            allowed = {self._tab_of[route] for route in request.routes}
            for index in range(self.tabs.count()):
                self.tabs.setTabEnabled(index, self.tabs.widget(index) in allowed)
            if self.tabs.currentWidget() not in allowed:
                self.tabs.setCurrentWidget(self._tab_of[request.routes[0]])
        self.ceremony.refresh()
        self._update()

    @staticmethod
    def _reports(request: ShareRequest) -> bool:
        return request.reports_outcome or request.into_card

    def _give(self, answer: Answer, share_input: ShareInput) -> None:
        self.in_flight = 1
        request = self.request
        entry = self.log.waiting()
        reports = request is not None and self._reports(request)
        if entry is not None:
            entry.state = EntryState.CHECKING if reports else EntryState.HANDED_OVER
        answer.reply(share_input)
        self.ceremony.refresh()
        last = request is not None and self.accepted_count + 1 >= request.last_number
        if request is not None and not reports and last:
            # a workflow that reports nothing back: the last share ends the dialog
            QTimer.singleShot(0, self._close_normally)

    def hand_over(self) -> bool:
        """Take what the current tab holds as the next share; ``False`` if not possible."""
        if not self.can_hand_over or self._current_problem() is not None:
            return False
        tab = self.tabs.currentWidget()
        share_input: ShareInput
        if tab is self.file_tab:
            share_input = self.file_tab.take_input()
        elif tab is self.nofm_tab:
            share_input = self.nofm_tab.take_input()
        else:
            share_input = self.paperkey_tab.take_input()
        number = self.next_position
        self.log.hand_over(number, share_input.route, describe_input(share_input), datetime.now())
        if self.pending is not None:
            answer, self.pending = self.pending, None
            self._give(answer, share_input)
        else:
            self.queue.append(share_input)
        self.ceremony.refresh()
        self.handed_over.emit(number)
        self._update()
        return True

    def report_outcome(self, outcome: ShareOutcome) -> None:
        """The workflow read a share: list its fingerprint, update the running KCV."""
        self.in_flight = 0
        self.request = outcome.request
        self._hide_progress()
        self.log.record(outcome, datetime.now())
        self.ceremony.refresh()
        self.summary.refresh()
        self.outcome_shown.emit(outcome)
        if outcome.request.into_card and outcome.complete and not self.queue:
            self._show_summary_of_card_import()
        self._update()

    def _show_summary_of_card_import(self) -> None:
        self.finished_into_card = True
        self.pages.setCurrentWidget(self.summary)
        self.hand_over_button.setVisible(False)
        self.cancel_button.setVisible(False)
        self.continue_button.setText("Close")
        self.continue_button.setVisible(True)
        self.continue_button.setDefault(True)
        self.problem_label.setText(
            "The shares are on the card.  Print or save the summary for the ceremony's "
            "records, then close."
        )

    def show_final(self, answer: Answer, outcome: ShareOutcome) -> None:
        """Every share is in: show the summary and the KCVs, wait for Continue / Stop."""
        self.report_outcome(outcome)
        self.final = answer
        self.final_outcome = outcome
        self.pages.setCurrentWidget(self.summary)
        self.hand_over_button.setVisible(False)
        self.continue_button.setVisible(True)
        card_kcv = outcome.request.card_kcv
        mismatch = card_kcv is not None and outcome.running_kcv != card_kcv
        self.continue_button.setText("Stop: nothing is imported" if mismatch else "Continue")
        self.continue_button.setDefault(True)
        self.problem_label.setText(
            "The shares give another DKEK than the card's key domain holds: a share is "
            "wrong, missing or from another device.  Stop, and check the shares."
            if mismatch
            else "All shares are in.  Compare the KCVs, then continue."
        )
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};" if mismatch else "")
        self._update()

    def show_progress(self, step: str, done: int, total: int) -> None:
        """Progress of the key derivation (or another long step) of the share in flight."""
        self.progress.setVisible(True)
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(step)

    # -- state ------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.request.total if self.request is not None else 0

    @property
    def accepted_count(self) -> int:
        """Shares accepted (or already on the card) so far."""
        return self.log.shares_accepted

    @property
    def running_kcv(self) -> bytes | None:
        return self.log.running_kcv

    @property
    def kcv_matches(self) -> bool | None:
        """``True``/``False`` once every share is in and the card shows its KCV, else ``None``."""
        return self.log.kcv_matches

    @property
    def next_position(self) -> int:
        """The number of the share being typed now (as the domain counts them)."""
        return self.accepted_count + self.in_flight + len(self.queue) + 1

    @property
    def can_hand_over(self) -> bool:
        request = self.request
        if self.final is not None or self.finished_into_card or request is None or self.queue:
            return False
        return self.pending is not None or (
            self.accepted_count + self.in_flight < request.last_number
        )

    def _current_problem(self) -> str | None:
        tab = self.tabs.currentWidget()
        if tab is self.file_tab:
            return self.file_tab.problem()
        if tab is self.nofm_tab:
            return self.nofm_tab.problem()
        return self.paperkey_tab.problem()

    def _update(self) -> None:
        request = self.request
        domain = ""
        if request is not None and request.domain is not None:
            domain = f"Key domain {request.domain}: "
        if request is not None and self.final is None and not self.finished_into_card:
            position = min(self.next_position, request.last_number)
            self.heading.setText(f"{domain}DKEK share {position} of {request.total}")
        elif request is not None:
            self.heading.setText(f"{domain}all {self.accepted_count} of {request.total} shares in")
        problem = self._current_problem()
        if self.final is None and not self.finished_into_card:
            # each tab shows what is wrong with its own entry; here only the state
            if not self.can_hand_over and request is not None:
                self.problem_label.setText("Waiting for the share being checked…")
            elif problem is None:
                self.problem_label.setText("Ready: hand the share over.")
            else:
                self.problem_label.setText("")
            self.problem_label.setStyleSheet("")
        self.hand_over_button.setEnabled(self.can_hand_over and problem is None)

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.paperkey_tab:
            self.paperkey_tab.focus_first_open_line()
        self._update()

    def _focus_hand_over(self) -> None:
        if self.hand_over_button.isEnabled():
            self.hand_over_button.setFocus()

    def _hide_progress(self) -> None:
        self.progress.setVisible(False)
        self.progress_label.setText("")

    # -- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if not urls or not urls[0].isLocalFile():
            event.ignore()
            return
        self.drop_file(Path(urls[0].toLocalFile()))
        event.acceptProposedAction()

    def drop_file(self, path: Path) -> None:
        """A file dropped on the dialog: the n-of-m tab takes it when it is current."""
        if self.tabs.currentWidget() is self.nofm_tab:
            self.nofm_tab.file.edit.setText(str(path))
        else:
            self.tabs.setCurrentWidget(self.file_tab)
            self.file_tab.set_path(path)
            self.file_tab.password.setFocus()

    # -- closing ----------------------------------------------------------------------

    def _continue(self) -> None:
        final, outcome = self.final, self.final_outcome
        self.final = None
        if final is not None and outcome is not None:
            request = outcome.request
            card_kcv = request.card_kcv
            if card_kcv is not None and outcome.running_kcv != card_kcv:
                final.fail(
                    DkekKcvMismatch(
                        request.domain if request.domain is not None else 0,
                        format_kcv(outcome.running_kcv or b""),
                        format_kcv(card_kcv),
                    )
                )
            else:
                final.reply(None)
        self._close_normally()

    def _close_normally(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._forget()
        super().accept()

    def accept(self) -> None:
        """Enter in a field hands over the share; the dialog closes by itself."""
        if self.final is not None or self.finished_into_card:
            self._continue()
        else:
            self.hand_over()

    def reject(self) -> None:
        """Cancel: the whole collection stops (the derivation in progress too)."""
        if self._closing:
            return
        self._closing = True
        if not self.finished_into_card:
            self.session.cancel.set()
        for answer in (self.pending, self.final):
            if answer is not None:
                answer.fail(Cancelled("the share entry was cancelled"))
        self.pending = self.final = None
        self._forget()
        super().reject()

    def _forget(self) -> None:
        for share_input in self.queue:
            wipe_input(share_input)
        self.queue.clear()
        self.file_tab.clear()
        self.nofm_tab.clear()
        self.paperkey_tab.clear()
        if self.session.dialog is self:
            self.session.dialog = None
