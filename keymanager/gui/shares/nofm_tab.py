"""Route 2 of the share dialog: a share file whose password is rebuilt from n-of-m
fragments.

The prime (typed once) and the ``Any N of M`` count come from the custodians' sheets,
then one ID / value row per custodian as they come, each checked as it is typed
(:mod:`keymanager.dkek.nofm`'s parsers), with the number of fragments still needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.errors import DkekError
from keymanager.dkek.nofm import (
    MAX_TOTAL,
    MIN_THRESHOLD,
    is_probable_prime,
    parse_prime,
    parse_share_id,
    parse_share_value,
)
from keymanager.gui.shares.common import BAD_COLOUR, OK_COLOUR
from keymanager.gui.shares.file_tab import FilePicker
from keymanager.workflows.interaction import NofMShareInput


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
        self.file = FilePicker("nofmFilePath")
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
