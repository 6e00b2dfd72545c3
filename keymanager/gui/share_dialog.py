"""The share input dialog: custodians hand over DKEK shares by file, n-of-m or PaperKey.

One :class:`ShareDialog` serves a whole collection of shares (one
:class:`ShareSession` per job): it stays open while the workflow on the worker thread
decrypts a share (seconds of key derivation, shown in its progress bar), and the next
custodian can already type; what they hand over is queued until the workflow asks for
the next share.  Three tabs, one per route:

* **Share file**: a ``.pbe`` file (picker, or dropped on the dialog) and its password;
* **n-of-m**: the share file, the prime (typed once) and the ``Any N of M`` count from
  the custodians' sheets, then one ID / value row per custodian as they come, each
  checked as it is typed (:mod:`keymanager.dkek.nofm`'s parsers), with the number of
  fragments still needed;
* **PaperKey**: four lines; every group of six characters is checked as soon as it is
  complete (:func:`keymanager.dkek.paperkey.check_paperkey_line`) and a mistyped group
  is marked in red at once.

When the workflow reports each share (:meth:`Interaction.share_checked`), the dialog
lists its fingerprint and shows the KCV of the DKEK assembled so far beside the card's
KCV for the domain, with a match / mismatch mark; after the last share it waits for
"Continue" (or, on a mismatch, "Stop", which ends the workflow before anything is
imported).  The dialog answers through :class:`Answer` objects (the
:class:`~keymanager.gui.gui_interaction.PromptRequest` of the worker's question).
Secrets (passwords, fragments, PaperKey lines) are cleared from the fields as soon as
they are handed over and never logged.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.errors import DkekError
from keymanager.dkek.nofm import (
    MAX_TOTAL,
    MIN_THRESHOLD,
    is_probable_prime,
    parse_prime,
    parse_share_id,
    parse_share_value,
)
from keymanager.dkek.paperkey import (
    ALPHABET,
    DATA_PER_GROUP,
    GROUP_LENGTH,
    GROUPS_PER_LINE,
    LINE_LENGTH,
    LINES,
    check_paperkey_line,
    check_symbol,
    decode_paperkey,
    format_share_fingerprint,
)
from keymanager.dkek.sharefile import read_share_file
from keymanager.workflows.errors import DkekKcvMismatch
from keymanager.workflows.interaction import (
    Cancelled,
    FileShareInput,
    NofMShareInput,
    PaperKeyShareInput,
    ShareInput,
    ShareOutcome,
    ShareRequest,
    ShareRoute,
)

OK_COLOUR = "#1b7f3b"
BAD_COLOUR = "#b00020"
PENDING_COLOUR = "#777777"
MATCH_MARK = "\u2714 matches the card"
MISMATCH_MARK = "\u2718 differs from the card"


class Answer(Protocol):
    """What the dialog answers a worker's question with (a ``PromptRequest``)."""

    def reply(self, value: object) -> None: ...

    def fail(self, error: BaseException) -> None: ...

    @property
    def answered(self) -> bool: ...


@dataclass(eq=False)
class ShareSession:
    """One collection of shares (one job): its dialog and the job's cancel flag.

    Used on the GUI thread only, except that the worker hands it around.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    dialog: ShareDialog | None = None


def _wipe_input(share_input: ShareInput) -> None:
    if isinstance(share_input, FileShareInput):
        share_input.password[:] = bytes(len(share_input.password))
    elif isinstance(share_input, NofMShareInput):
        share_input.fragments.clear()
    else:
        share_input.lines.clear()


def _describe_input(share_input: ShareInput) -> str:
    if isinstance(share_input, FileShareInput):
        return f"share file {share_input.path.name}"
    if isinstance(share_input, NofMShareInput):
        return f"share file {share_input.path.name}, {len(share_input.fragments)} fragments"
    return "PaperKey"


class SecretLineEdit(QLineEdit):
    """A line edit for a secret that must stay readable while typed (a PaperKey line).

    The text cannot leave through the clipboard: nothing can be selected (so neither
    the copy and cut shortcuts nor X11's selection clipboard have anything to take),
    the copy and cut shortcuts are swallowed, and there is no context menu.  Fields
    that need not be read back use an echo mode other than ``Normal``, where Qt itself
    refuses to copy.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.selectionChanged.connect(self._drop_selection)

    def _drop_selection(self) -> None:
        if self.hasSelectedText():
            self.deselect()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy) or event.matches(
            QKeySequence.StandardKey.Cut
        ):
            event.accept()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        event.accept()


def _share_file_problem(text: str) -> str | None:
    """Why ``text`` does not name a share file (``None``: it does)."""
    if not text.strip():
        return "Choose the share file (.pbe) or drop it here."
    path = Path(text.strip())
    if not path.is_file():
        return f"There is no file {path.name}."
    try:
        read_share_file(path)
    except OSError as error:
        return f"{path.name} cannot be read: {error.strerror or error}"
    except DkekError as error:
        return f"{path.name}: {error}"
    return None


class _FilePicker(QWidget):
    """A path field with a Browse… button (share files)."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        self.edit.setPlaceholderText("share file (.pbe): choose or drop it here")
        self.edit.textChanged.connect(self.changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "DKEK share file", "", "DKEK share files (*.pbe);;All files (*)"
        )
        if path:
            self.edit.setText(path)

    @property
    def path(self) -> Path:
        return Path(self.edit.text().strip())

    def problem(self) -> str | None:
        return _share_file_problem(self.edit.text())


class FileShareTab(QWidget):
    """Route 1: a share file and its password."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.file = _FilePicker("shareFilePath")
        self.file.changed.connect(self.changed)
        form.addRow("Share file:", self.file)
        self.password = QLineEdit()
        self.password.setObjectName("sharePassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.textChanged.connect(self.changed)
        form.addRow("Password:", self.password)
        hint = QLabel(
            "The password is checked while the share is decrypted (a few seconds); the "
            "next custodian can already type meanwhile."
        )
        hint.setWordWrap(True)
        hint.setEnabled(False)
        form.addRow(hint)
        self.status = QLabel()
        self.status.setObjectName("shareFileStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.changed.connect(self._show_problem)

    def _show_problem(self) -> None:
        problem = self.file.problem() if self.file.edit.text().strip() else None
        self.status.setText(problem or "")
        self.status.setStyleSheet(f"color: {BAD_COLOUR};")

    def set_path(self, path: Path) -> None:
        self.file.edit.setText(str(path))

    def problem(self) -> str | None:
        problem = self.file.problem()
        if problem is None and not self.password.text():
            problem = "Enter the share file's password."
        return problem

    def take_input(self) -> FileShareInput:
        share_input = FileShareInput(self.file.path, bytearray(self.password.text().encode()))
        self.clear()
        return share_input

    def clear(self) -> None:
        self.password.clear()
        self.file.edit.clear()


@dataclass
class FragmentRow:
    """One custodian's n-of-m fragment row: its fields and what the check found."""

    share_id: QLineEdit
    value: QLineEdit
    status: QLabel
    problem: str | None = None

    @property
    def empty(self) -> bool:
        return not self.share_id.text().strip() and not self.value.text().strip()


class NofMTab(QWidget):
    """Route 2: a share file whose password is rebuilt from n-of-m fragments."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.file = _FilePicker("nofmFilePath")
        self.file.changed.connect(self._check)
        form.addRow("Share file:", self.file)
        self.file_status = QLabel()
        self.file_status.setStyleSheet(f"color: {BAD_COLOUR};")
        form.addRow("", self.file_status)
        self.prime = QLineEdit()
        self.prime.setObjectName("nofmPrime")
        self.prime.setPlaceholderText("Prime as printed, e.g. c3:1f:…")
        self.prime.textChanged.connect(self._check)
        form.addRow("Prime:", self.prime)
        self.threshold = QSpinBox()
        self.threshold.setObjectName("nofmThreshold")
        self.threshold.setRange(MIN_THRESHOLD, MAX_TOTAL)
        self.threshold.setPrefix("Any ")
        self.threshold.setSuffix(" fragments rebuild the password")
        self.threshold.valueChanged.connect(self._check)
        form.addRow("Needed:", self.threshold)
        self.prime_status = QLabel()
        self.prime_status.setObjectName("nofmPrimeStatus")
        form.addRow("", self.prime_status)
        layout.addLayout(form)

        self.rows_box = QGroupBox("Custodians' fragments (one row per custodian)")
        self.grid = QGridLayout(self.rows_box)
        self.grid.addWidget(QLabel("Share ID"), 0, 0)
        self.grid.addWidget(QLabel("Share value"), 0, 1)
        self.rows: list[FragmentRow] = []
        layout.addWidget(self.rows_box)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add custodian")
        self.add_button.setObjectName("nofmAddRow")
        self.add_button.clicked.connect(self.add_row)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.needed_label = QLabel()
        self.needed_label.setObjectName("nofmNeeded")
        layout.addWidget(self.needed_label)
        layout.addStretch(1)
        self._prime_value: int | None = None
        self.add_row()

    # -- rows --------------------------------------------------------------------------

    def add_row(self) -> FragmentRow:
        """Add an empty ID / value row for the next custodian (the prime stays fixed)."""
        number = len(self.rows) + 1
        share_id = QLineEdit()
        share_id.setObjectName(f"nofmId{number}")
        share_id.setMaximumWidth(80)
        value = QLineEdit()
        value.setObjectName(f"nofmValue{number}")
        value.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        value.setPlaceholderText("value as printed, e.g. 1a:2b:…")
        status = QLabel()
        row = FragmentRow(share_id, value, status)
        self.grid.addWidget(share_id, number, 0)
        self.grid.addWidget(value, number, 1)
        self.grid.addWidget(status, number, 2)
        share_id.textChanged.connect(self._check)
        value.textChanged.connect(self._check)
        self.rows.append(row)
        self._check()
        share_id.setFocus()
        return row

    # -- checks ------------------------------------------------------------------------

    def _check_prime(self) -> str | None:
        text = self.prime.text()
        self._prime_value = None
        if not text.strip():
            return "Type the prime from the custodians' sheets."
        try:
            prime = parse_prime(text)
        except DkekError as error:
            return str(error)
        if prime < 2 or not is_probable_prime(prime):
            return "This is not a prime: compare it with the sheet."
        self._prime_value = prime
        return None

    def _check_row(self, row: FragmentRow, seen: set[int]) -> str | None:
        try:
            share_id = parse_share_id(row.share_id.text())
        except DkekError as error:
            return str(error)
        if share_id in seen:
            return f"share ID {share_id} is entered twice"
        seen.add(share_id)
        try:
            value = parse_share_value(row.value.text())
        except DkekError as error:
            return str(error)
        if self._prime_value is not None and value >= self._prime_value:
            return "the value is not below the prime: it is mistyped, or the prime is"
        return None

    def _check(self) -> None:
        typed_file = bool(self.file.edit.text().strip())
        self.file_status.setText((self.file.problem() or "") if typed_file else "")
        prime_problem = self._check_prime()
        self.prime_status.setText(prime_problem or "Prime accepted.")
        colour = BAD_COLOUR if prime_problem and self.prime.text() else OK_COLOUR
        self.prime_status.setStyleSheet(f"color: {colour};")
        # the prime is entered once: it is fixed as soon as a custodian has typed a row
        self.prime.setReadOnly(any(not row.empty for row in self.rows))
        seen: set[int] = set()
        for row in self.rows:
            row.problem = None if row.empty else self._check_row(row, seen)
            if row.empty:
                row.status.setText("")
            elif row.problem:
                row.status.setText("\u2718 " + row.problem)
                row.status.setStyleSheet(f"color: {BAD_COLOUR};")
            else:
                row.status.setText("\u2714")
                row.status.setStyleSheet(f"color: {OK_COLOUR};")
        self.needed_label.setText(self.needed_text())
        self.add_button.setEnabled(all(not row.empty for row in self.rows))
        self.changed.emit()

    @property
    def valid_rows(self) -> list[FragmentRow]:
        return [row for row in self.rows if not row.empty and row.problem is None]

    @property
    def still_needed(self) -> int:
        """How many more valid fragments are needed."""
        return max(0, self.threshold.value() - len(self.valid_rows))

    def needed_text(self) -> str:
        needed = self.still_needed
        have = len(self.valid_rows)
        if needed == 0:
            return f"{have} fragment(s) entered: enough to rebuild the password."
        return f"{have} fragment(s) entered; {needed} more needed."

    def problem(self) -> str | None:
        problem = self.file.problem()
        if problem:
            return problem
        if self._prime_value is None:
            return self._check_prime()
        bad = [row for row in self.rows if not row.empty and row.problem]
        if bad:
            return f"Fragment row {self.rows.index(bad[0]) + 1}: {bad[0].problem}"
        if self.still_needed:
            return self.needed_text()
        return None

    def take_input(self) -> NofMShareInput:
        share_input = NofMShareInput(
            self.file.path,
            self.prime.text().strip(),
            [(row.share_id.text().strip(), row.value.text().strip()) for row in self.valid_rows],
        )
        self.clear()
        return share_input

    def clear(self) -> None:
        for row in self.rows:
            for widget in (row.share_id, row.value, row.status):
                self.grid.removeWidget(widget)
                widget.deleteLater()
        self.rows = []
        self.prime.setReadOnly(False)
        self.prime.clear()
        self.file.edit.clear()
        self.add_row()


# --- PaperKey -------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-]+")
_NUMBER_WITH_MARK = re.compile(r"^\s*([0-9]{1,2})\s*[:.]")
_NUMBER_WITH_SPACE = re.compile(r"^\s*([0-9]{1,2})\s+")
_PAPERKEY_CHARACTERS = frozenset(ALPHABET + "OIL")


def _filler_group(position: int) -> str:
    """A consistent group for ``position`` (0 to 11), standing in for untyped groups."""
    data = [0] * DATA_PER_GROUP
    return "0" * DATA_PER_GROUP + ALPHABET[check_symbol(position, data)]


@dataclass(frozen=True)
class LineCheck:
    """What the live check of one typed PaperKey line found.

    :param groups: the groups typed so far (upper case, separators removed).
    :param bad_groups: 1-based numbers of complete groups that fail their check (or
        incomplete ones holding a character that is not a PaperKey character).
    :param problem: a sentence for the user (``None``: nothing wrong so far).
    """

    groups: tuple[str, ...]
    bad_groups: tuple[int, ...]
    complete: bool
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.complete and not self.bad_groups and self.problem is None


def check_line_as_typed(line_number: int, text: str) -> LineCheck:
    """Check one PaperKey line while it is typed: every complete group at once.

    Groups not yet typed are stood in for by consistent filler groups, so that
    :func:`check_paperkey_line` (which wants a whole line) marks exactly the complete
    groups that are mistyped.
    """
    body = text
    mark = _NUMBER_WITH_MARK.match(text)
    if mark is None:
        spaced = _NUMBER_WITH_SPACE.match(text)
        if spaced is not None and int(spaced.group(1)) == line_number:
            rest = _SEPARATORS.sub("", text[spaced.end() :])
            if len(rest) <= LINE_LENGTH:
                mark = spaced
    if mark is not None:
        if int(mark.group(1)) != line_number:
            return LineCheck(
                (),
                (),
                False,
                f"this line is numbered {mark.group(1)}: type line {line_number} here",
            )
        body = text[mark.end() :]
    compact = _SEPARATORS.sub("", body).upper()
    groups = tuple(compact[i : i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH))
    if len(compact) > LINE_LENGTH:
        return LineCheck(
            groups,
            (),
            False,
            f"{len(compact)} characters: a line has {LINE_LENGTH} "
            f"({GROUPS_PER_LINE} groups of {GROUP_LENGTH})",
        )
    complete_groups = len(compact) // GROUP_LENGTH
    bad: list[int] = []
    if complete_groups:
        stand_in = [
            groups[index] if index < complete_groups else _filler_group(position)
            for index, position in enumerate(
                range((line_number - 1) * GROUPS_PER_LINE, line_number * GROUPS_PER_LINE)
            )
        ]
        bad = check_paperkey_line(line_number, " ".join(stand_in))
    if len(groups) > complete_groups and any(
        character not in _PAPERKEY_CHARACTERS for character in groups[-1]
    ):
        bad.append(len(groups))
    complete = len(compact) == LINE_LENGTH
    problem = None
    if bad:
        problem = "mistyped: group " + ", ".join(str(number) for number in bad)
    return LineCheck(groups, tuple(bad), complete, problem)


class PaperKeyTab(QWidget):
    """Route 3: the four lines of a PaperKey, checked group by group as they are typed."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Type the four lines of the PaperKey sheet.  Spaces, hyphens and the line "
            "numbers may be left out; a mistyped group turns red as soon as it is complete."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        grid = QGridLayout()
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.lines: list[QLineEdit] = []
        self.marks: list[QLabel] = []
        self.checks: list[LineCheck] = []
        for number in range(1, LINES + 1):
            edit = SecretLineEdit()
            edit.setObjectName(f"paperkeyLine{number}")
            edit.setFont(mono)
            edit.setPlaceholderText("ABCDE9 FGHJK2 MNPQR7")
            edit.textChanged.connect(self._check)
            mark = QLabel()
            mark.setObjectName(f"paperkeyMark{number}")
            mark.setFont(mono)
            mark.setTextFormat(Qt.TextFormat.RichText)
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

    def _mark_html(self, check: LineCheck) -> str:
        parts = []
        for index, group in enumerate(check.groups, start=1):
            if index in check.bad_groups:
                colour, style = BAD_COLOUR, "text-decoration: underline; font-weight: bold;"
            elif len(group) == GROUP_LENGTH:
                colour, style = OK_COLOUR, ""
            else:
                colour, style = PENDING_COLOUR, ""
            safe = group.replace("&", "&amp;").replace("<", "&lt;")
            parts.append(f'<span style="color: {colour}; {style}">{safe}</span>')
        marks = "&nbsp;".join(parts)
        if check.ok:
            marks += f' <span style="color: {OK_COLOUR};">\u2714</span>'
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


# --- the dialog -----------------------------------------------------------------------


class ShareDialog(QDialog):
    """Collects the DKEK shares of one workflow (see the module docstring)."""

    handed_over = Signal(int)
    """Emitted with the custodian's position once a share is handed over."""
    outcome_shown = Signal(object)

    def __init__(self, session: ShareSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        session.dialog = self
        self.setObjectName("shareDialog")
        self.setWindowTitle("DKEK shares")
        self.setAcceptDrops(True)
        self.setMinimumWidth(620)
        self.request: ShareRequest | None = None
        self.pending: Answer | None = None
        self.final: Answer | None = None
        self.final_outcome: ShareOutcome | None = None
        self.queue: list[ShareInput] = []
        self.accepted_count = 0
        self.in_flight = 0
        self.running_kcv: bytes | None = None
        self._closing = False

        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setObjectName("shareHeading")
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.heading.setFont(font)
        layout.addWidget(self.heading)

        kcv_box = QGroupBox("Key check values")
        kcv_form = QFormLayout(kcv_box)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.card_kcv_label = QLabel("not known")
        self.card_kcv_label.setObjectName("cardKcv")
        self.card_kcv_label.setFont(mono)
        self.card_kcv_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.running_kcv_label = QLabel("no share accepted yet")
        self.running_kcv_label.setObjectName("runningKcv")
        self.running_kcv_label.setFont(mono)
        self.running_kcv_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.kcv_mark = QLabel()
        self.kcv_mark.setObjectName("kcvMark")
        kcv_form.addRow("Card's key domain:", self.card_kcv_label)
        kcv_form.addRow("Shares so far:", self.running_kcv_label)
        kcv_form.addRow("", self.kcv_mark)
        layout.addWidget(kcv_box)

        self.accepted_list = QListWidget()
        self.accepted_list.setObjectName("acceptedShares")
        self.accepted_list.setMaximumHeight(90)
        layout.addWidget(QLabel("Shares handed over:"))
        layout.addWidget(self.accepted_list)

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
        self.tabs.currentChanged.connect(self._tab_changed)
        layout.addWidget(self.tabs, 1)

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
        self._update()

    # -- driven by the worker's questions (GUI thread) -----------------------------------

    def attach(self, answer: Answer, request: ShareRequest) -> None:
        """The workflow asks for a share: answer at once from the queue, or wait."""
        first = self.request is None
        self.request = request
        if first:
            self._show_request(request)
        if not request.reports_outcome:
            self.accepted_count = request.number - 1
        self.in_flight = 0
        self._hide_progress()
        if self.queue:
            self._give(answer, self.queue.pop(0))
        else:
            self.pending = answer
        self._update()

    def set_request(self, request: ShareRequest) -> None:
        """Show what is asked for without a question to answer (e.g. a screenshot)."""
        self.request = request
        self._show_request(request)
        self._update()

    def _show_request(self, request: ShareRequest) -> None:
        allowed = {self._tab_of[route] for route in request.routes}
        for index in range(self.tabs.count()):
            self.tabs.setTabEnabled(index, self.tabs.widget(index) in allowed)
        if self.tabs.currentWidget() not in allowed:
            self.tabs.setCurrentWidget(self._tab_of[request.routes[0]])
        if request.card_kcv is not None:
            self.card_kcv_label.setText(format_kcv(request.card_kcv))
        else:
            self.card_kcv_label.setText("not shown by the card (hidden until login?)")

    def _give(self, answer: Answer, share_input: ShareInput) -> None:
        self.in_flight = 1
        answer.reply(share_input)
        request = self.request
        last = request is not None and self.accepted_count + 1 >= request.total
        if request is not None and not request.reports_outcome and last:
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
        position = self.next_position
        self.accepted_list.addItem(
            f"Custodian {position}: {_describe_input(share_input)} - waiting"
        )
        if self.pending is not None:
            answer, self.pending = self.pending, None
            self._give(answer, share_input)
        else:
            self.queue.append(share_input)
        self.handed_over.emit(position)
        self._update()
        return True

    def report_outcome(self, outcome: ShareOutcome) -> None:
        """The workflow read a share: list its fingerprint, update the running KCV."""
        self.in_flight = 0
        self.request = outcome.request
        self._hide_progress()
        row = self._waiting_row()
        if outcome.accepted:
            self.accepted_count = outcome.shares_accepted
            self.running_kcv = outcome.running_kcv
            text = (
                f"Share {outcome.shares_accepted} of {outcome.request.total} accepted: "
                f"fingerprint {outcome.fingerprint}"
            )
        else:
            text = f"Share refused: {outcome.problem}"
        if row is not None:
            row.setText(text)
            if not outcome.accepted:
                row.setForeground(Qt.GlobalColor.red)
        else:
            self.accepted_list.addItem(text)
        self._show_kcv()
        self.outcome_shown.emit(outcome)
        self._update()

    def show_final(self, answer: Answer, outcome: ShareOutcome) -> None:
        """Every share is in: show the final KCV comparison and wait for Continue / Stop."""
        self.report_outcome(outcome)
        self.final = answer
        self.final_outcome = outcome
        self.tabs.setEnabled(False)
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
    def next_position(self) -> int:
        """The position of the custodian typing now (1-based)."""
        return self.accepted_count + self.in_flight + len(self.queue) + 1

    @property
    def can_hand_over(self) -> bool:
        if self.final is not None or self.request is None or self.queue:
            return False
        return self.pending is not None or self.accepted_count + self.in_flight < self.total

    def _current_problem(self) -> str | None:
        tab = self.tabs.currentWidget()
        if tab is self.file_tab:
            return self.file_tab.problem()
        if tab is self.nofm_tab:
            return self.nofm_tab.problem()
        return self.paperkey_tab.problem()

    def _waiting_row(self) -> QListWidgetItem | None:
        for index in range(self.accepted_list.count()):
            item = self.accepted_list.item(index)
            if item.text().endswith(" - waiting"):
                return item
        return None

    def _show_kcv(self) -> None:
        request = self.request
        if self.running_kcv is None or request is None:
            self.running_kcv_label.setText("no share accepted yet")
            self.kcv_mark.setText("")
            return
        self.running_kcv_label.setText(
            f"{format_kcv(self.running_kcv)}  ({self.accepted_count} of {request.total})"
        )
        if self.accepted_count < request.total:
            missing = request.total - self.accepted_count
            self.kcv_mark.setText(f"\u2026 {missing} more share(s) before the KCVs can match")
            self.kcv_mark.setStyleSheet(f"color: {PENDING_COLOUR};")
        elif request.card_kcv is None:
            self.kcv_mark.setText("the card does not show its KCV: it is compared after login")
            self.kcv_mark.setStyleSheet(f"color: {PENDING_COLOUR};")
        elif request.card_kcv == self.running_kcv:
            self.kcv_mark.setText(MATCH_MARK)
            self.kcv_mark.setStyleSheet(f"color: {OK_COLOUR}; font-weight: bold;")
        else:
            self.kcv_mark.setText(MISMATCH_MARK)
            self.kcv_mark.setStyleSheet(f"color: {BAD_COLOUR}; font-weight: bold;")

    @property
    def kcv_matches(self) -> bool | None:
        """``True``/``False`` once every share is in and the card shows its KCV, else ``None``."""
        request = self.request
        if request is None or request.card_kcv is None or self.running_kcv is None:
            return None
        if self.accepted_count < request.total:
            return None
        return request.card_kcv == self.running_kcv

    def _update(self) -> None:
        request = self.request
        if request is not None and self.final is None:
            domain = f"Key domain {request.domain}: " if request.domain is not None else ""
            position = min(self.next_position, request.total)
            self.heading.setText(f"{domain}DKEK share {position} of {request.total}")
        elif request is not None:
            self.heading.setText(f"All {request.total} share(s) handed over")
        problem = self._current_problem()
        if self.final is None:
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
        self._update()

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
        if self.final is not None:
            self._continue()
        else:
            self.hand_over()

    def reject(self) -> None:
        """Cancel: the whole collection stops (the derivation in progress too)."""
        if self._closing:
            return
        self._closing = True
        self.session.cancel.set()
        for answer in (self.pending, self.final):
            if answer is not None:
                answer.fail(Cancelled("the share entry was cancelled"))
        self.pending = self.final = None
        self._forget()
        super().reject()

    def _forget(self) -> None:
        for share_input in self.queue:
            _wipe_input(share_input)
        self.queue.clear()
        self.file_tab.clear()
        self.nofm_tab.clear()
        self.paperkey_tab.clear()
        if self.session.dialog is self:
            self.session.dialog = None
