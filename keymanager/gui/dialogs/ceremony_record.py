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
* :class:`RotateShareDialog`: custodian rotation of a share file: how it opens now
  (password or n-of-m fragments, the share dialog's own tabs) and its new protection.
* :class:`WitnessDialog`: the witness types their name before a step that needs a
  witness starts (:class:`CeremonyDialogFactory` opens it for that question).
"""

from __future__ import annotations

import re
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
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.nofm import MAX_TOTAL, MIN_THRESHOLD, MIN_TOTAL
from keymanager.gui.dialogs.sheets import SheetDialogFactory
from keymanager.gui.prompt_broker import PromptRequest
from keymanager.gui.shares.common import BAD_COLOUR
from keymanager.gui.shares.file_tab import FileShareTab
from keymanager.gui.shares.nofm_tab import NofMTab
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan
from keymanager.workflows.ceremony_record import ROLES, Participant, Verification
from keymanager.workflows.interaction import Cancelled, FileShareInput, NofMShareInput

WITNESS_PROMPT_START = "Witness ("
"""How the ceremony's witness question begins (``ceremony_session._witness_sign_off``)."""
GOOD_COLOUR = "#1b7f3b"


def _note(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def _buttons(dialog: QDialog, ok_text: str) -> tuple[QDialogButtonBox, QPushButton]:
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
            _note(
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
        self.problem_label = _note("", "ceremonyProblem")
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = _buttons(self, "Start ceremony")
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
            _note("Who operates the tool now? The record names them in every step from now on.")
        )
        self.list = QListWidget()
        self.list.setObjectName("ceremonyActors")
        for person in self.people:
            self.list.addItem(f"{person.name} ({person.role})")
        names = [person.name for person in self.people]
        self.list.setCurrentRow(names.index(current) if current in names else 0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(self.list)
        box, self.ok_button = _buttons(self, "Acts now")
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
            _note(
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
        self.problem_label = _note(
            "" if keys else "This card holds no RSA or EC key: generate or import one first.",
            "ceremonyProblem",
        )
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = _buttons(self, "Sign and close")
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
        self.verdict = _note(verification.text(), "recordVerdict")
        bold = QFont(self.verdict.font())
        bold.setBold(True)
        self.verdict.setFont(bold)
        colour = GOOD_COLOUR if verification.valid else BAD_COLOUR
        self.verdict.setStyleSheet(f"color: {colour};")
        layout.addWidget(self.verdict)
        layout.addWidget(_note(f"Checked without a card: {record}"))
        self.report = QPlainTextEdit(report)
        self.report.setObjectName("recordReport")
        self.report.setReadOnly(True)
        self.report.setFont(QFont("monospace"))
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.report, 1)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)


# --- custodian rotation -----------------------------------------------------------------


class RotateShareDialog(QDialog):
    """A share file as it opens now, and how it is to be protected anew."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rotate a custodian's share")
        self.setObjectName("rotateShareDialog")
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _note(
                "The same DKEK share is protected anew in place: its fingerprint stays and "
                "nothing on a card changes. The old password or fragments no longer open it. "
                "If anything fails, the original file is put back."
            )
        )
        layout.addWidget(QLabel("How the file opens now:"))
        self.old_tabs = QTabWidget()
        self.old_tabs.setObjectName("rotateOldRoute")
        self.file_tab = FileShareTab()
        self.nofm_tab = NofMTab()
        self.old_tabs.addTab(self.file_tab, "Share file and password")
        self.old_tabs.addTab(self.nofm_tab, "n-of-m fragments")
        self.file_tab.changed.connect(self._validate)
        self.nofm_tab.changed.connect(self._validate)
        self.old_tabs.currentChanged.connect(self._validate)
        layout.addWidget(self.old_tabs)
        layout.addWidget(QLabel("New protection:"))
        self.new_password = QRadioButton(
            "A new password (the custodian types it when asked, twice)"
        )
        self.new_password.setObjectName("rotateNewPassword")
        self.new_nofm = QRadioButton("A new random password split n-of-m (new fragments)")
        self.new_nofm.setObjectName("rotateNewNofM")
        self.new_password.setChecked(True)
        layout.addWidget(self.new_password)
        layout.addWidget(self.new_nofm)
        row = QHBoxLayout()
        self.threshold_spin = QSpinBox()
        self.threshold_spin.setObjectName("rotateThreshold")
        self.threshold_spin.setRange(MIN_THRESHOLD, MAX_TOTAL)
        self.threshold_spin.setValue(2)
        self.total_spin = QSpinBox()
        self.total_spin.setObjectName("rotateTotal")
        self.total_spin.setRange(MIN_TOTAL, MAX_TOTAL)
        self.total_spin.setValue(3)
        row.addWidget(QLabel("Any"))
        row.addWidget(self.threshold_spin)
        row.addWidget(QLabel("of"))
        row.addWidget(self.total_spin)
        row.addWidget(QLabel("fragments rebuild it (each shown on its own sheet)"))
        row.addStretch(1)
        self.split_row = QWidget()
        self.split_row.setLayout(row)
        layout.addWidget(self.split_row)
        for widget in (self.new_password, self.new_nofm):
            widget.toggled.connect(self._validate)
        self.threshold_spin.valueChanged.connect(self._validate)
        self.total_spin.valueChanged.connect(self._validate)
        self.problem_label = _note("", "rotateProblem")
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = _buttons(self, "Rotate")
        layout.addWidget(box)
        self._validate()

    def old_is_nofm(self) -> bool:
        return self.old_tabs.currentWidget() is self.nofm_tab

    def share_file(self) -> Path:
        return self.nofm_tab.file.path if self.old_is_nofm() else self.file_tab.file.path

    def problem(self) -> str | None:
        tab = self.nofm_tab if self.old_is_nofm() else self.file_tab
        problem = tab.problem()
        if problem is not None:
            return problem
        if self.new_nofm.isChecked() and self.threshold_spin.value() > self.total_spin.value():
            return "The threshold cannot be above the number of fragments."
        return None

    def _validate(self) -> None:
        self.split_row.setEnabled(self.new_nofm.isChecked())
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)

    def accept(self) -> None:
        if self.problem() is None:
            super().accept()

    def take_old(self) -> FileShareInput | NofMShareInput:
        """The old route as typed (the fields are cleared: the caller wipes the input)."""
        return self.nofm_tab.take_input() if self.old_is_nofm() else self.file_tab.take_input()

    def plan(self, share_file: Path) -> ShareCreationPlan:
        """The new protection of ``share_file`` (fragments shown on sheets)."""
        n_of_m = self.new_nofm.isChecked()
        return ShareCreationPlan(
            share_file=share_file,
            protection=FileProtection.N_OF_M if n_of_m else FileProtection.PASSWORD,
            threshold=self.threshold_spin.value() if n_of_m else 2,
            total=self.total_spin.value() if n_of_m else 3,
            show_fragments=n_of_m,
            overwrite=True,
        )

    def done(self, code: int) -> None:
        if code != QDialog.DialogCode.Accepted:
            self.file_tab.clear()
            self.nofm_tab.clear()
        super().done(code)


# --- witness sign-off ----------------------------------------------------------------------

_STEP = re.compile(r"this step \((?P<step>.+)\) before it starts")
_WITNESSES = re.compile(r"^Witness \((?P<names>[^)]*)\)")


class WitnessDialog(QDialog):
    """The witness types their name to confirm they observe the step about to start."""

    def __init__(self, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Witness sign-off")
        self.setObjectName("witnessDialog")
        self.setMinimumWidth(480)
        step = _STEP.search(prompt)
        names = _WITNESSES.search(prompt)
        layout = QVBoxLayout(self)
        heading = _note(
            f"Step: {step.group('step')}" if step is not None else "A step needs a witness"
        )
        bold = QFont(heading.font())
        bold.setBold(True)
        heading.setFont(bold)
        layout.addWidget(heading)
        self.prompt_label = _note(
            "The witness confirms on screen that they observe this step before it starts: "
            "the witness types their own name below (the operator cannot click this away)."
            + (f"\nWitnesses of this ceremony: {names.group('names')}." if names else ""),
            "witnessPrompt",
        )
        layout.addWidget(self.prompt_label)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("witnessName")
        form.addRow("Witness's name:", self.name_edit)
        layout.addLayout(form)
        box, self.ok_button = _buttons(self, "I observe this step")
        box.button(QDialogButtonBox.StandardButton.Cancel).setText("Refuse")
        self.ok_button.setEnabled(False)
        self.name_edit.textChanged.connect(
            lambda text: self.ok_button.setEnabled(bool(text.strip()))
        )
        layout.addWidget(box)

    def typed(self) -> str:
        return self.name_edit.text()


class CeremonyDialogFactory(SheetDialogFactory):
    """The window's dialogs for workflow questions, with the witness's question as a
    :class:`WitnessDialog` (every other text question as before)."""

    def _open_text(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        prompt = str(request.payload.get("prompt", ""))
        if not prompt.startswith(WITNESS_PROMPT_START):
            return super()._open_text(request, parent)
        dialog = WitnessDialog(prompt, parent)

        def finished(code: int) -> None:
            if code == QDialog.DialogCode.Accepted:
                request.reply(dialog.typed())
            else:
                request.fail(Cancelled("the witness refused to confirm the step"))

        dialog.finished.connect(finished)
        return dialog


__all__ = [
    "ActingParticipantDialog",
    "CeremonyDialogFactory",
    "CloseCeremonyDialog",
    "RecordVerificationDialog",
    "RotateShareDialog",
    "StartCeremonyDialog",
    "WitnessDialog",
]
