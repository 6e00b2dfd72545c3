"""The PKCS#12 wizard's last pages: the target key domain, the confirmation, the import.

The target is a key domain holding a complete DKEK (its shares are asked) or a new
transient key domain (:data:`~keymanager.gui.p12.job.TRANSIENT`); the progress page
shows per-key progress and then each key's test-signature result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from keymanager.card.hsm_types import KeyDomainSlot
from keymanager.dkek.dkek import format_kcv
from keymanager.gui.dialogs.parts import SEAL_TEXT, SEAL_TIP
from keymanager.gui.p12.job import TRANSIENT
from keymanager.workflows.import_p12 import Pkcs12ImportResult
from keymanager.workflows.outline import NodeKind

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.p12_wizard import Pkcs12Wizard


@dataclass(frozen=True)
class Target:
    """One target the wizard offers: a key domain or a new transient one."""

    value: int
    label: str
    disabled: str | None = None
    shares: int = 1
    kcv: str = ""


def targets_of(window: MainWindow) -> list[Target]:
    """The key domains of the window's outline as targets, and the transient option."""
    outline = window.model.outline
    targets: list[Target] = []
    empty_slot = False
    if outline is not None:
        for node in outline.nodes():
            if node.kind is not NodeKind.KEY_DOMAIN or not isinstance(node.data, KeyDomainSlot):
                continue
            slot = node.data
            status = slot.status
            label = f"Key domain {slot.number}"
            if status is None:
                empty_slot = True
                targets.append(Target(slot.number, label + ": empty", "it holds no DKEK"))
            elif status.uid:
                targets.append(Target(slot.number, label + ": XKEK", "it is an XKEK domain"))
            elif status.shares_outstanding:
                targets.append(
                    Target(
                        slot.number,
                        label + ": DKEK (incomplete)",
                        f"it waits for {status.shares_outstanding} of {status.shares_total} "
                        "share(s)",
                    )
                )
            else:
                kcv = format_kcv(status.kcv) if status.kcv else "hidden until login"
                targets.append(
                    Target(
                        slot.number,
                        f"{label}: DKEK of {status.shares_total} share(s), KCV {kcv}",
                        shares=max(1, status.shares_total),
                        kcv=kcv,
                    )
                )
    targets.append(
        Target(
            TRANSIENT,
            "A new transient key domain (no shares; each key sealed: the card refuses to "
            "export it)",
            None if empty_slot else "the card has no empty key-domain slot",
        )
    )
    return targets


class TargetPage(QWizardPage):
    """Where the keys go: a complete DKEK domain (shares asked) or a transient domain."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Target key domain")
        self.setSubTitle(
            "Keys imported under a DKEK domain can be backed up with its shares; a "
            "transient domain's KEK is deleted after the import."
        )
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("p12Targets")
        self.list.currentRowChanged.connect(self._changed)
        layout.addWidget(self.list)
        form = QFormLayout()
        self.shares = QSpinBox()
        self.shares.setObjectName("p12Shares")
        self.shares.setRange(1, 255)
        form.addRow("DKEK shares to enter:", self.shares)
        layout.addLayout(form)
        self.seal_box = QCheckBox(SEAL_TEXT)
        self.seal_box.setObjectName("p12Seal")
        self.seal_box.setToolTip(SEAL_TIP)
        layout.addWidget(self.seal_box)
        self.seal_note = QLabel()
        self.seal_note.setObjectName("p12SealNote")
        self.seal_note.setWordWrap(True)
        layout.addWidget(self.seal_note)
        self._classic_seal = False
        self.seal_box.toggled.connect(self._seal_toggled)
        self.targets: list[Target] = []

    def initializePage(self) -> None:
        self.targets = targets_of(self.owner.main_window)
        self.list.clear()
        for target in self.targets:
            text = target.label + (f" - not possible: {target.disabled}" if target.disabled else "")
            item = QListWidgetItem(text)
            if target.disabled:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
        self.select(self.owner.initial_target)

    def select(self, value: int) -> bool:
        for row, target in enumerate(self.targets):
            if target.value == value and target.disabled is None:
                self.list.setCurrentRow(row)
                return True
        for row, target in enumerate(self.targets):
            if target.disabled is None:
                self.list.setCurrentRow(row)
                break
        return False

    def target(self) -> Target | None:
        row = self.list.currentRow()
        if row < 0 or self.targets[row].disabled:
            return None
        return self.targets[row]

    def _changed(self, _row: int) -> None:
        target = self.target()
        self.shares.setEnabled(target is not None and target.value != TRANSIENT)
        if target is not None and target.value != TRANSIENT:
            self.shares.setValue(target.shares)
        transient = target is not None and target.value == TRANSIENT
        self.seal_box.blockSignals(True)
        self.seal_box.setChecked(True if transient else self._classic_seal)
        self.seal_box.blockSignals(False)
        self.seal_box.setEnabled(not transient)
        self.seal_note.setText(
            "A transient import always seals its keys: the card refuses to export them."
            if transient
            else ""
        )
        self.completeChanged.emit()

    def _seal_toggled(self, checked: bool) -> None:
        if self.seal_box.isEnabled():
            self._classic_seal = checked

    def seal(self) -> bool:
        """Whether the keys are sealed (always, on the transient path)."""
        target = self.target()
        return target is not None and (target.value == TRANSIENT or self.seal_box.isChecked())

    def isComplete(self) -> bool:
        return self.target() is not None


class ConfirmPage(QWizardPage):
    """What will happen, before anything does."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Confirm")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Import")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setObjectName("p12Confirm")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.text.setText(self.owner.plan_text())


class ProgressPage(QWizardPage):
    """The import: per-key progress, then each key's test-signature result."""

    def __init__(self, wizard: Pkcs12Wizard) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle("Importing")
        layout = QVBoxLayout(self)
        self.status = QLabel("Starting…")
        self.status.setObjectName("p12ImportStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.bar = QProgressBar()
        self.bar.setObjectName("p12KeyProgress")
        layout.addWidget(self.bar)
        self.log = QListWidget()
        self.log.setObjectName("p12Log")
        layout.addWidget(self.log, 1)
        self.results = QTableWidget(0, 3)
        self.results.setObjectName("p12Results")
        self.results.setHorizontalHeaderLabels(["Entry", "On the card", "Test signature"])
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setVisible(False)
        layout.addWidget(self.results, 1)
        self.done = False

    def initializePage(self) -> None:
        keys = self.owner.key_count()
        self.bar.setRange(0, max(keys, 1))
        self.bar.setValue(0)
        self.bar.setFormat("%v of %m key(s)")
        self.owner.start_import()

    def add_message(self, text: str) -> None:
        self.log.addItem(text)
        if ": imported as key " in text:
            self.bar.setValue(min(self.bar.value() + 1, self.bar.maximum()))

    def show_result(self, result: Pkcs12ImportResult) -> None:
        self.done = True
        self.bar.setValue(self.bar.maximum())
        rows: list[tuple[str, str, str]] = []
        for key in result.keys:
            where = f"key {key.key_reference}, ID {key.key_id}" if key.key_reference else "-"
            rows.append((key.label, where, key.proof if key.ok else f"FAILED: {key.error}"))
        for ca in result.ca_certificates:
            where = f"CA certificate {ca.number}" if ca.number is not None else (ca.skipped or "-")
            rows.append((ca.label, where, ca.error or "-"))
        self.results.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.results.setItem(row, column, QTableWidgetItem(value))
        self.results.resizeColumnsToContents()
        self.results.setVisible(True)
        self.status.setText(
            (
                "Done: every chosen entry is on the card and proven."
                if result.ok
                else "Done, with problems: see below."
            )
            + "\n"
            + "\n".join(line for line in result.summary() if "transient KEK" in line)
        )
        self.completeChanged.emit()

    def show_error(self, text: str) -> None:
        self.done = True
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.done
