"""The custodian-key dialogs of public key authentication: register a ``.pka``, create a key.

:class:`RegisterCustodianDialog` shows what a ``.pka`` file holds (the custodian key's
CHR, the custodian device's serial, its layout, whether its chain and signature check
on this computer) and asks where it goes: the next free slot, or a registered slot to
replace (offered only where the card allows replacing).  :class:`CreateCustodianKeyDialog`
asks the label and curve of a new custodian key on the selected card; where its
``.pka`` file goes is asked next in a file dialog.  Nothing here talks to a card.

Standalone: ``RegisterCustodianDialog(path, info)``, ``CreateCustodianKeyDialog("…")``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.pka_file import PkaFile, PkaFileError
from keymanager.workflows.outline_pka import PkaInfo

CUSTODIAN_CURVES = ("brainpoolP256r1", "secp256r1")
"""The curves a custodian key may use (the card checks ECDSA-SHA256 over 256 bits)."""
NEXT_FREE = -1


def describe_pka_file(path: Path) -> tuple[PkaFile | None, list[tuple[str, str]], str | None]:
    """Read ``path`` as a ``.pka`` file: the file, its facts, and why it is unusable."""
    try:
        pka = PkaFile.parse(path.read_bytes())
    except OSError as error:
        return None, [], f"the file cannot be read: {error.strerror or error}"
    except PkaFileError as error:
        return None, [], f"not a usable .pka file: {error}"
    facts = [
        ("Custodian key (CHR)", pka.chr),
        ("Custodian device", pka.device_serial),
        ("Layout", "old (sc-hsm-tool before 0.22)" if pka.old_format else "new"),
    ]
    try:
        pka.check()
    except PkaFileError as error:
        return pka, facts, f"the file does not check: {error}"
    facts.append(("Check", "chain and device signature verify"))
    return pka, facts, None


class RegisterCustodianDialog(QDialog):
    """Which custodian key goes into which slot of the device's PKA table."""

    def __init__(
        self,
        path: Path,
        info: PkaInfo | None,
        *,
        card: str = "the device",
        slot: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = path
        self.info = info
        self.setObjectName("registerCustodianDialog")
        self.setWindowTitle("Register custodian key")
        layout = QVBoxLayout(self)
        heading = QLabel(f"Register the custodian key of {path.name} on {card}.")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        self.pka, facts, self.problem = describe_pka_file(path)
        form = QFormLayout()
        form.addRow("File:", QLabel(str(path)))
        for label, value in facts:
            field = QLabel(value)
            field.setObjectName(label.split(" ")[0].lower() + "Fact")
            form.addRow(f"{label}:", field)
        if info is not None:
            form.addRow("Device now:", QLabel(info.status.text))
        self.slot_combo = QComboBox()
        self.slot_combo.setObjectName("slot")
        self._fill_slots(info)
        if slot is not None:
            index = self.slot_combo.findData(slot)
            if index >= 0:
                self.slot_combo.setCurrentIndex(index)
        form.addRow("Slot:", self.slot_combo)
        layout.addLayout(form)
        self.problem_label = QLabel(f"Not possible: {self.problem}" if self.problem else "")
        self.problem_label.setObjectName("problem")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = buttons.addButton(
            "Register", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.ok_button.setObjectName("registerButton")
        self.ok_button.setEnabled(self.problem is None and self.slot_combo.count() > 0)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _fill_slots(self, info: PkaInfo | None) -> None:
        if info is None or info.free_slots:
            self.slot_combo.addItem("The next free slot", NEXT_FREE)
        if info is None or info.replaceable is False:
            return
        for key in info.registered:
            self.slot_combo.addItem(f"Replace slot {key.slot} ({key.chr})", key.slot)

    def replace_slot(self) -> int | None:
        """The slot to replace (``None``: the next free one)."""
        slot = self.slot_combo.currentData()
        return None if slot is None or slot == NEXT_FREE else int(slot)

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()


class CreateCustodianKeyDialog(QDialog):
    """The label and curve of a new custodian key on the card named ``card``."""

    def __init__(self, card: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("createCustodianKeyDialog")
        self.setWindowTitle("Create custodian key")
        layout = QVBoxLayout(self)
        note = QLabel(
            f"Create a key for public key authentication on {card}, acting as a "
            "custodian's card.  The card's user PIN is asked next; then where to save the "
            ".pka file that the device to protect registers (Card → Register custodian "
            "key… there).  The key never leaves this card."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        form = QFormLayout()
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("custodianLabel")
        self.label_edit.setPlaceholderText("e.g. Custodian Alice")
        form.addRow("Label:", self.label_edit)
        self.curve_combo = QComboBox()
        self.curve_combo.setObjectName("curve")
        for curve in CUSTODIAN_CURVES:
            self.curve_combo.addItem(curve, curve)
        form.addRow("Curve:", self.curve_combo)
        layout.addLayout(form)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = buttons.addButton(
            "Create…", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.ok_button.setObjectName("createButton")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.label_edit.textChanged.connect(self._validate)
        self._validate()

    def label(self) -> str:
        return self.label_edit.text().strip()

    def curve(self) -> str:
        return str(self.curve_combo.currentData())

    def default_file_name(self) -> str:
        """A file name for the ``.pka`` file from the label."""
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.label()) or "custodian"
        return f"{stem.strip('-') or 'custodian'}.pka"

    def _validate(self) -> None:
        label = self.label()
        if not label:
            problem = "Enter a label: it names the key on the custodian's card."
        elif len(label.encode()) > 64 or any(ord(c) < 32 for c in label):
            problem = "The label is at most 64 bytes, without control characters."
        else:
            problem = ""
        self.problem_label.setText(problem)
        self.ok_button.setEnabled(not problem)

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()
