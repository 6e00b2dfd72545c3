"""Custodian rotation's dialog (Ceremony → Rotate custodian share…, issue 18).

:class:`RotateShareDialog`: the share file as it opens now (its password, or its n-of-m
fragments: the share dialog's own tabs, :mod:`keymanager.gui.shares`) and its new
protection (a new password the custodian types when asked, or a new n-of-m split whose
fragments are handed out on sheets).  The workflow is
:func:`keymanager.workflows.share_rotation.rotate_share_file`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.nofm import MAX_TOTAL, MIN_THRESHOLD, MIN_TOTAL
from keymanager.gui.dialogs.ceremony_record import ok_cancel_buttons, wrapped_note
from keymanager.gui.shares.common import BAD_COLOUR
from keymanager.gui.shares.file_tab import FileShareTab
from keymanager.gui.shares.nofm_tab import NofMTab
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan
from keymanager.workflows.interaction import FileShareInput, NofMShareInput


class RotateShareDialog(QDialog):
    """A share file as it opens now, and how it is to be protected anew."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rotate a custodian's share")
        self.setObjectName("rotateShareDialog")
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        layout.addWidget(
            wrapped_note(
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
        self.problem_label = wrapped_note("", "rotateProblem")
        self.problem_label.setStyleSheet(f"color: {BAD_COLOUR};")
        layout.addWidget(self.problem_label)
        box, self.ok_button = ok_cancel_buttons(self, "Rotate")
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
