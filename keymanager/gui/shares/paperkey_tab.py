"""Route 3 of the share dialog: the four lines of a PaperKey, checked as they are typed.

* every group of six characters is checked as soon as it is complete
  (:func:`~keymanager.dkek.paperkey_check.check_line_as_typed`) and a mistyped
  group is marked in red at once;
* the line shows what the checker reads: upper case, ``O`` as ``0``, ``I`` and ``L``
  as ``1`` (the alphabet has none of these letters);
* the fields and the marks beside them are as wide as a whole line in the monospace
  font (from its metrics), so the groups keep their place and never shrink, and the
  marks show all three groups, the ones not yet typed as dots;
* a selection is typed over; on a complete line a character types over the one after
  the cursor (so a mistyped group can be corrected in place);
* when a line is complete and checks, the cursor moves on to the next line (after the
  last, :attr:`PaperKeyTab.lines_done` is emitted); line 1 has the focus when the tab
  opens.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QFontMetrics, QKeyEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from keymanager.dkek.errors import DkekError
from keymanager.dkek.paperkey import (
    GROUP_LENGTH,
    GROUPS_PER_LINE,
    LINES,
    decode_paperkey,
    format_share_fingerprint,
)
from keymanager.dkek.paperkey_check import (
    PAPERKEY_CHARACTERS,
    LineCheck,
    body_start,
    check_line_as_typed,
    read_as_typed,
)
from keymanager.gui.shares.common import (
    BAD_COLOUR,
    OK_COLOUR,
    PENDING_COLOUR,
    SecretLineEdit,
    monospace_font,
)
from keymanager.workflows.interaction import PaperKeyShareInput

SAMPLE_LINE = "4: " + " ".join(["0" * GROUP_LENGTH] * GROUPS_PER_LINE)
"""A line as wide as any PaperKey line, for the fields' widths."""
PENDING_SYMBOL = "\u00b7"
"""Stands for a character not typed yet in the marks."""


class PaperKeyLineEdit(SecretLineEdit):
    """One PaperKey line: shows what the checker reads, types over on a full line."""

    def __init__(self, line_number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line_number = line_number
        self.setObjectName(f"paperkeyLine{line_number}")
        self.setFont(monospace_font())
        self.setPlaceholderText("ABCDE9 FGHJK2 MNPQR7")
        metrics = QFontMetrics(self.font())
        # the text, the frame and Qt's text margins (about two characters)
        self.setMinimumWidth(metrics.horizontalAdvance(SAMPLE_LINE + "00"))
        self.textChanged.connect(self._show_as_read)

    def focusInEvent(self, event: QFocusEvent) -> None:
        """Coming in by Tab (or as the window opens), the cursor goes to the end of the
        line instead of selecting it all: a key typed next must not wipe the line."""
        super().focusInEvent(event)
        if event.reason() != Qt.FocusReason.MouseFocusReason and self.hasSelectedText():
            self.end(False)

    def _show_as_read(self, text: str) -> None:
        read = read_as_typed(text)
        if read != text:  # same length: the cursor stays where it is
            position = self.cursorPosition()
            self.setText(read)
            self.setCursorPosition(position)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        typed = event.text()
        if (
            len(typed) == 1
            and typed.upper() in PAPERKEY_CHARACTERS
            and not self.hasSelectedText()
            and not event.modifiers()
            & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
            and check_line_as_typed(self.line_number, self.text()).complete
            and self._overtype(typed)
        ):
            event.accept()
            return
        super().keyPressEvent(event)

    def _overtype(self, typed: str) -> bool:
        """Type ``typed`` over the next character after the cursor (not a separator)."""
        text = self.text()
        position = max(self.cursorPosition(), body_start(self.line_number, text))
        while position < len(text) and text[position].upper() not in PAPERKEY_CHARACTERS:
            position += 1
        if position >= len(text):
            return False
        self.setSelection(position, 1)
        self.insert(read_as_typed(typed))
        return True


class PaperKeyTab(QWidget):
    """Route 3: the four lines of a PaperKey, checked group by group as they are typed."""

    changed = Signal()
    lines_done = Signal()
    """The last line was typed complete and every line checks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Type the four lines of the PaperKey sheet.  Spaces, hyphens and the line "
            "numbers may be left out; a mistyped group turns red as soon as it is "
            "complete.  O is read as 0, I and L as 1."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        grid = QGridLayout()
        mono = monospace_font()
        mark_width = QFontMetrics(mono).horizontalAdvance(SAMPLE_LINE[3:] + " \u2714 ")
        self.lines: list[PaperKeyLineEdit] = []
        self.marks: list[QLabel] = []
        self.checks: list[LineCheck] = []
        for number in range(1, LINES + 1):
            edit = PaperKeyLineEdit(number)
            edit.textChanged.connect(self._check)
            edit.textEdited.connect(lambda _text, line=number: self._advance(line))
            mark = QLabel()
            mark.setObjectName(f"paperkeyMark{number}")
            mark.setFont(mono)
            mark.setTextFormat(Qt.TextFormat.RichText)
            mark.setMinimumWidth(mark_width)
            grid.addWidget(QLabel(f"{number}:"), number - 1, 0)
            grid.addWidget(edit, number - 1, 1)
            grid.addWidget(mark, number - 1, 2)
            self.lines.append(edit)
            self.marks.append(mark)
            self.checks.append(check_line_as_typed(number, ""))
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.status = QLabel()
        self.status.setObjectName("paperkeyStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.fingerprint = ""
        self._problem: str | None = "Type the four lines."
        self._check()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.focus_first_open_line()

    def focus_first_open_line(self) -> None:
        """Put the cursor in the first line that is not complete (line 1 when empty)."""
        for edit, check in zip(self.lines, self.checks, strict=True):
            if not check.ok:
                edit.setFocus(Qt.FocusReason.OtherFocusReason)
                return

    def _advance(self, line_number: int) -> None:
        """A line typed complete and correct: on to the next one (typing only)."""
        self._check()  # textEdited comes before textChanged: check the new text first
        edit = self.lines[line_number - 1]
        check = self.checks[line_number - 1]
        if not check.ok or edit.cursorPosition() != len(edit.text()):
            return
        if line_number < LINES:
            following = self.lines[line_number]
            following.setFocus(Qt.FocusReason.TabFocusReason)
            following.end(False)
        elif self._problem is None:
            self.lines_done.emit()

    @staticmethod
    def _mark_html(check: LineCheck) -> str:
        parts = []
        for index in range(1, GROUPS_PER_LINE + 1):
            group = check.groups[index - 1] if index <= len(check.groups) else ""
            if index in check.bad_groups:
                colour, style = BAD_COLOUR, "text-decoration: underline; font-weight: bold;"
            elif len(group) == GROUP_LENGTH:
                colour, style = OK_COLOUR, ""
            else:
                colour, style = PENDING_COLOUR, ""
            safe = group[:GROUP_LENGTH].replace("&", "&amp;").replace("<", "&lt;")
            padding = PENDING_SYMBOL * (GROUP_LENGTH - len(group[:GROUP_LENGTH]))
            parts.append(
                f'<span style="color: {colour}; {style}">{safe}</span>'
                f'<span style="color: {PENDING_COLOUR};">{padding}</span>'
            )
        marks = "&nbsp;".join(parts)
        if check.ok:
            marks += f'&nbsp;<span style="color: {OK_COLOUR};">\u2714</span>'
        return marks

    def _check(self) -> None:
        self.checks = [
            check_line_as_typed(number, edit.text())
            for number, edit in enumerate(self.lines, start=1)
        ]
        problems: list[str] = []
        for number, (check, edit, mark) in enumerate(
            zip(self.checks, self.lines, self.marks, strict=True), start=1
        ):
            mark.setText(self._mark_html(check))
            edit.setStyleSheet(f"border: 2px solid {BAD_COLOUR};" if check.problem else "")
            if check.problem:
                problems.append(f"Line {number}: {check.problem}.")
        self.fingerprint = ""
        self._problem = None
        if problems:
            self._problem = " ".join(problems)
        elif not all(check.complete for check in self.checks):
            typed = sum(check.complete for check in self.checks)
            self._problem = f"{typed} of {LINES} lines complete."
        else:
            try:
                share = decode_paperkey([edit.text() for edit in self.lines])
            except DkekError as error:
                self._problem = str(error)
            else:
                self.fingerprint = format_share_fingerprint(share)
        if self._problem is None:
            self.status.setText(
                f"All groups check out.  Share fingerprint {self.fingerprint}: compare it "
                "with the one printed on the sheet."
            )
            self.status.setStyleSheet(f"color: {OK_COLOUR};")
        else:
            self.status.setText(self._problem)
            self.status.setStyleSheet(f"color: {BAD_COLOUR};" if problems else "")
        self.changed.emit()

    @property
    def bad_groups(self) -> dict[int, tuple[int, ...]]:
        """Line number → its mistyped groups (lines without any are left out)."""
        return {
            number: check.bad_groups
            for number, check in enumerate(self.checks, start=1)
            if check.bad_groups
        }

    def problem(self) -> str | None:
        return self._problem

    def take_input(self) -> PaperKeyShareInput:
        share_input = PaperKeyShareInput([edit.text() for edit in self.lines])
        self.clear()
        return share_input

    def clear(self) -> None:
        for edit in self.lines:
            edit.clear()
