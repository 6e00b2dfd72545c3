"""The ceremony as it goes: the KCVs and the list of shares handed over.

:class:`CeremonyView` shows the card's KCV for the domain beside the KCV of the shares
accepted so far, with a match / mismatch mark, and one row per share handed over:
its number, route, fingerprint and state (waiting its turn, being checked, accepted,
or refused and why).  It draws a :class:`~keymanager.gui.shares.session.CeremonyLog`
and keeps no state of its own.

When the card shows no KCV, the view says why: while shares are outstanding the
domain has no DKEK to check yet ("none yet: N share(s) outstanding"), which is not
the same as a card that hides the KCV of a complete domain until the PIN is verified.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.dkek import format_kcv
from keymanager.gui.shares.common import (
    BAD_COLOUR,
    MATCH_MARK,
    MISMATCH_MARK,
    OK_COLOUR,
    PENDING_COLOUR,
    monospace_font,
)
from keymanager.gui.shares.session import CeremonyLog, EntryState

NOT_SHOWN_BEFORE_LOGIN = "not shown by the card before the PIN is verified"


def card_kcv_text(log: CeremonyLog) -> str:
    """What the card's KCV line says (the reason when there is no KCV)."""
    if log.card_kcv is not None:
        return format_kcv(log.card_kcv)
    outstanding = log.total - log.shares_accepted
    if log.into_card:
        if outstanding > 0:
            return f"none yet: {outstanding} share(s) outstanding"
        if log.running_kcv is not None:
            return format_kcv(log.running_kcv)
    return NOT_SHOWN_BEFORE_LOGIN


class CeremonyView(QWidget):
    """The KCVs and the shares handed over so far (see the module docstring)."""

    def __init__(self, log: CeremonyLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = log
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        kcv_box = QGroupBox("Key check values")
        kcv_form = QFormLayout(kcv_box)
        mono = monospace_font()
        self.card_kcv_label = QLabel("not known")
        self.card_kcv_label.setObjectName("cardKcv")
        self.running_kcv_label = QLabel("no share accepted yet")
        self.running_kcv_label.setObjectName("runningKcv")
        for label in (self.card_kcv_label, self.running_kcv_label):
            label.setFont(mono)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kcv_mark = QLabel()
        self.kcv_mark.setObjectName("kcvMark")
        kcv_form.addRow("Card's key domain:", self.card_kcv_label)
        kcv_form.addRow("Shares so far:", self.running_kcv_label)
        kcv_form.addRow("", self.kcv_mark)
        layout.addWidget(kcv_box)
        layout.addWidget(QLabel("Shares handed over:"))
        self.entry_list = QListWidget()
        self.entry_list.setObjectName("acceptedShares")
        self.entry_list.setMaximumHeight(110)
        layout.addWidget(self.entry_list)
        self.refresh()

    def entry_texts(self) -> list[str]:
        return [self.entry_list.item(row).text() for row in range(self.entry_list.count())]

    def refresh(self) -> None:
        """Draw the log again (after each change)."""
        log = self.log
        self.entry_list.clear()
        for entry in log.entries:
            item = QListWidgetItem(entry.text())
            if entry.state is EntryState.REFUSED:
                item.setForeground(QColor(BAD_COLOUR))
            elif entry.state is EntryState.ACCEPTED:
                item.setForeground(QColor(OK_COLOUR))
            self.entry_list.addItem(item)
        if self.entry_list.count():
            self.entry_list.scrollToBottom()
        self.card_kcv_label.setText(card_kcv_text(log))
        if log.running_kcv is None:
            self.running_kcv_label.setText("no share accepted yet")
            self.kcv_mark.setText("")
            return
        self.running_kcv_label.setText(
            f"{format_kcv(log.running_kcv)}  ({log.shares_accepted} of {log.total})"
        )
        outstanding = log.total - log.shares_accepted
        if outstanding > 0:
            self.kcv_mark.setText(
                f"\u2026 {outstanding} more share(s) before the KCVs can be compared"
            )
            self.kcv_mark.setStyleSheet(f"color: {PENDING_COLOUR};")
        elif log.card_kcv is None and log.into_card:
            self.kcv_mark.setText("\u2714 the key domain is complete on the card")
            self.kcv_mark.setStyleSheet(f"color: {OK_COLOUR}; font-weight: bold;")
        elif log.card_kcv is None:
            self.kcv_mark.setText("the card does not show its KCV: it is compared after login")
            self.kcv_mark.setStyleSheet(f"color: {PENDING_COLOUR};")
        elif log.card_kcv == log.running_kcv:
            self.kcv_mark.setText(MATCH_MARK)
            self.kcv_mark.setStyleSheet(f"color: {OK_COLOUR}; font-weight: bold;")
        else:
            self.kcv_mark.setText(MISMATCH_MARK)
            self.kcv_mark.setStyleSheet(f"color: {BAD_COLOUR}; font-weight: bold;")
