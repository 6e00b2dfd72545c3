"""The dialogs of the Ceremony menu: the key ceremony record (issue 18).

Not the share ceremony (:mod:`keymanager.gui.dialogs.ceremony`, a new DKEK share):
these dialogs start and close the *record* of a key ceremony
(:mod:`keymanager.workflows.ceremony_record`) and show what a check of it found.

* :class:`StartCeremonyDialog`: the title, the participants and their roles (a small
  table), rehearsal (only on a simulated card; a real ceremony refuses simulated
  cards, so there it must be ticked) and where the record file goes.
* :class:`ActingParticipantDialog`: who acts now (named in every entry).
* :class:`CloseCeremonyDialog`: the key on the current card that signs the record's
  head, and who signs (the user PIN is asked by the workflow).
* :class:`RecordVerificationDialog`: the verdict of ``verify_record`` and the report.

Custodian rotation's dialog is :mod:`.share_rotation`; the witness's sign-off,
:mod:`.ceremony_witness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.shares.common import BAD_COLOUR
from keymanager.workflows.ceremony_record import ROLES, Participant, Verification

GOOD_COLOUR = "#1b7f3b"


def wrapped_note(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def ok_cancel_buttons(dialog: QDialog, ok_text: str) -> tuple[QDialogButtonBox, QPushButton]:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box, ok


# --- start ------------------------------------------------------------------------------


class StartCeremonyDialog(QDialog):
    """Title, participants with roles, rehearsal, record file (see the module docstring).

    :param simulated: whether the window's card is simulated (``None``: no card).
    """

    def __init__(
        self,
        card: str,
        simulated: bool | None,
        default_record: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start a key ceremony")
        self.setObjectName("startCeremonyDialog")
        self.setMinimumWidth(560)
        self.simulated = simulated
        layout = QVBoxLayout(self)
        where = "no card" if simulated is None else card
        layout.addWidget(
            wrapped_note(
                "Every card-changing step from now until the ceremony is closed goes into a "
                f"hash-chained record, with who acted and what changed. Card: {where}."
            )
        )
        form = QFormLayout()
        self.title_edit = QLineEdit()
        self.title_edit.setObjectName("ceremonyTitle")
        self.title_edit.setPlaceholderText("e.g. Root key ceremony 2026")
        form.addRow("Title:", self.title_edit)
        layout.addLayout(form)
        layout.addWidget(QLabel("Participants:"))
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("ceremonyParticipants")
        self.table.setHorizontalHeaderLabels(["Name", "Role"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMinimumHeight(150)
        self.table.itemChanged.connect(self._validate)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        add = QPushButton("Add participant")
        add.clicked.connect(lambda: self.add_participant("", "custodian"))
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)
        self.rehearsal_box = QCheckBox("Rehearsal (simulated cards only; the record says so)")
        self.rehearsal_box.setObjectName("ceremonyRehearsal")
        self.rehearsal_box.setEnabled(simulated is True)
        self.rehearsal_box.setChecked(simulated is True)
        if simulated is not True:
            self.rehearsal_box.setToolTip("A rehearsal runs on a simulated card only")
        self.rehearsal_box.toggled.connect(self._validate)
        layout.addWidget(self.rehearsal_box)
        file_row = QHBoxLayout()
        self.record_edit = QLineEdit(str(default_record))
        self.record_edit.setObjectName("ceremonyRecordFile")
        self.record_edit.textChanged.connect(self._validate)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row.addWidget(self.record_edit, 1)
        file_row.addWidget(browse)
        file_form = QFormLayout()
        file_form.addRow("Record file:", file_row)
        layout.addLayout(file_form)
        self.problem_label = wrapped_note("", "ceremonyProblem")
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = ok_cancel_buttons(self, "Start ceremony")
        layout.addWidget(box)
        self.title_edit.textChanged.connect(self._validate)
        self.add_participant("", "security officer")
        self.add_participant("", "custodian")
        self.add_participant("", "witness")
        self._validate()

    def add_participant(self, name: str, role: str) -> None:
        """Add a row (tests and the Add button)."""
        from PySide6.QtWidgets import QTableWidgetItem

        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(name))
        roles = QComboBox()
        roles.addItems(list(ROLES))
        roles.setCurrentText(role)
        roles.currentTextChanged.connect(self._validate)
        self.table.setCellWidget(row, 1, roles)
        self._validate()

    def set_participants(self, people: Sequence[tuple[str, str]]) -> None:
        """Replace the rows with ``(name, role)`` pairs."""
        self.table.setRowCount(0)
        for name, role in people:
            self.add_participant(name, role)

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            self.table.removeRow(row)
        self._validate()

    def _browse(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Ceremony record", self.record_edit.text(), "Ceremony records (*.jsonl)"
        )
        if path:
            self.record_edit.setText(path)

    def title(self) -> str:
        return self.title_edit.text().strip()

    def participants(self) -> list[Participant]:
        """The rows with a name (role from the row's list)."""
        people = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            name = " ".join((item.text() if item is not None else "").split())
            roles = self.table.cellWidget(row, 1)
            if name and isinstance(roles, QComboBox):
                people.append(Participant(name, roles.currentText()))
        return people

    def rehearsal(self) -> bool:
        return self.rehearsal_box.isChecked()

    def record_path(self) -> Path:
        return Path(self.record_edit.text().strip()).expanduser()

    def problem(self) -> str | None:
        """Why the ceremony cannot start as filled in (``None``: it can)."""
        if not self.title():
            return "Give the ceremony a title."
        people = self.participants()
        if not people:
            return "Name at least one participant."
        names = [person.name.casefold() for person in people]
        if len(set(names)) != len(names):
            return "Each participant needs a name of their own."
        if self.simulated is True and not self.rehearsal():
            return (
                "A real ceremony takes no simulated card: tick Rehearsal, or choose a real "
                "card first."
            )
        if not self.record_edit.text().strip():
            return "Choose where the record file goes."
        path = self.record_path()
        if path.exists():
            return f"{path.name} exists: a new ceremony needs a new record file."
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)

    def accept(self) -> None:
        if self.problem() is None:
            super().accept()


# --- acting participant -------------------------------------------------------------------


class ActingParticipantDialog(QDialog):
    """Who acts now: each entry of the record names them."""

    def __init__(
        self, participants: Sequence[Participant], current: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Acting participant")
        self.setObjectName("actingParticipantDialog")
        self.people = list(participants)
        layout = QVBoxLayout(self)
        layout.addWidget(
            wrapped_note(
                "Who operates the tool now? The record names them in every step from now on."
            )
        )
        self.list = QListWidget()
        self.list.setObjectName("ceremonyActors")
        for person in self.people:
            self.list.addItem(f"{person.name} ({person.role})")
        names = [person.name for person in self.people]
        self.list.setCurrentRow(names.index(current) if current in names else 0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(self.list)
        box, self.ok_button = ok_cancel_buttons(self, "Acts now")
        layout.addWidget(box)

    def select(self, name: str) -> None:
        self.list.setCurrentRow([person.name for person in self.people].index(name))

    def chosen(self) -> str:
        return self.people[max(self.list.currentRow(), 0)].name


# --- close --------------------------------------------------------------------------------


class CloseCeremonyDialog(QDialog):
    """The card key that signs the record's head, and who signs.

    :param keys: ``(key reference, description)`` of the card's RSA and EC keys.
    """

    def __init__(
        self,
        record: Path,
        card: str,
        keys: Sequence[tuple[int, str]],
        participants: Sequence[Participant],
        signer: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Close the ceremony")
        self.setObjectName("closeCeremonyDialog")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.addWidget(
            wrapped_note(
                f"The record {record.name} is closed with a signature over its head made by a "
                f"key on {card}; its certificate (or public key) goes into the record. No step "
                "can be added afterwards. The user PIN is asked next."
            )
        )
        form = QFormLayout()
        self.key_combo = QComboBox()
        self.key_combo.setObjectName("ceremonySigningKey")
        for reference, text in keys:
            self.key_combo.addItem(text, reference)
        form.addRow("Signing key:", self.key_combo)
        self.signer_combo = QComboBox()
        self.signer_combo.setObjectName("ceremonySigner")
        for person in participants:
            self.signer_combo.addItem(f"{person.name} ({person.role})", person.name)
        names = [person.name for person in participants]
        if signer in names:
            self.signer_combo.setCurrentIndex(names.index(signer))
        form.addRow("Signed by:", self.signer_combo)
        layout.addLayout(form)
        self.problem_label = wrapped_note(
            "" if keys else "This card holds no RSA or EC key: generate or import one first.",
            "ceremonyProblem",
        )
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = ok_cancel_buttons(self, "Sign and close")
        self.ok_button.setEnabled(bool(keys))
        layout.addWidget(box)

    def select_key(self, reference: int) -> None:
        self.key_combo.setCurrentIndex(self.key_combo.findData(reference))

    def key_reference(self) -> int:
        return int(self.key_combo.currentData())

    def signer(self) -> str:
        return str(self.signer_combo.currentData())


# --- verify -------------------------------------------------------------------------------


class RecordVerificationDialog(QDialog):
    """What the check of a record found, over the report of its steps."""

    def __init__(
        self, record: Path, verification: Verification, report: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Ceremony record {record.name}")
        self.setObjectName("recordVerificationDialog")
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        self.verdict = wrapped_note(verification.text(), "recordVerdict")
        bold = QFont(self.verdict.font())
        bold.setBold(True)
        self.verdict.setFont(bold)
        colour = GOOD_COLOUR if verification.valid else BAD_COLOUR
        self.verdict.setStyleSheet(f"color: {colour};")
        layout.addWidget(self.verdict)
        layout.addWidget(wrapped_note(f"Checked without a card: {record}"))
        self.report = QPlainTextEdit(report)
        self.report.setObjectName("recordReport")
        self.report.setReadOnly(True)
        self.report.setFont(QFont("monospace"))
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.report, 1)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)


__all__ = [
    "ActingParticipantDialog",
    "CloseCeremonyDialog",
    "RecordVerificationDialog",
    "StartCeremonyDialog",
]
