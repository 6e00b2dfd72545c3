"""The "Initialise device" dialog: the initialisation plan, with the card named.

It collects an :class:`~keymanager.workflows.device.InitPlan` (scheme, shares or key
domains, retry counter, PIN options, label, and the custodian keys of public key
authentication: none, or N total / M required, whether the PIN is needed as well
(option ``0x0010``) and whether registered keys may be replaced (``0x0008``)).  The
secrets (SO-PIN, new user PIN) and the destructive confirmation - which names the
card's serial and reader - are asked by
:func:`~keymanager.workflows.device.initialize_device` itself, on the worker thread.
The plan is taken once: the workflow checks the SO-PIN first and asks a wrong one
again in the PIN dialog (with the tries left), so this dialog is never filled in twice.

Standalone: ``InitDeviceDialog("the SmartCard-HSM (serial UTSIM0001) in Reader 0")``.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.hsm_types import MAX_PUBLIC_KEYS
from keymanager.workflows.device import DkekScheme, InitPlan


class InitDeviceDialog(QDialog):
    """Collects an :class:`InitPlan` for the card named ``card``."""

    def __init__(self, card: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card = card
        self.setWindowTitle("Initialise device")
        self.setObjectName("initDeviceDialog")
        layout = QVBoxLayout(self)
        self.warning = QLabel(
            f"Initialising ERASES every key, certificate and key domain on {card}. "
            "The SO-PIN is asked first and checked at once (a wrong one is asked again, "
            "these choices kept); nothing is erased until you confirm once more."
        )
        self.warning.setObjectName("eraseWarning")
        self.warning.setWordWrap(True)
        font = self.warning.font()
        font.setBold(True)
        self.warning.setFont(font)
        layout.addWidget(self.warning)
        form = QFormLayout()
        self.scheme_combo = QComboBox()
        self.scheme_combo.setObjectName("scheme")
        for scheme in DkekScheme:
            self.scheme_combo.addItem(scheme.value[0].upper() + scheme.value[1:], scheme)
        self.scheme_combo.setCurrentIndex(self.scheme_combo.findData(DkekScheme.DKEK_SHARES))
        form.addRow("Key management:", self.scheme_combo)
        self.shares_spin = QSpinBox()
        self.shares_spin.setObjectName("shares")
        self.shares_spin.setRange(1, 255)
        self.shares_spin.setValue(2)
        form.addRow("DKEK shares:", self.shares_spin)
        self.domains_spin = QSpinBox()
        self.domains_spin.setObjectName("keyDomains")
        self.domains_spin.setRange(1, 255)
        self.domains_spin.setValue(4)
        form.addRow("Key-domain slots:", self.domains_spin)
        self.retry_spin = QSpinBox()
        self.retry_spin.setObjectName("retryCounter")
        self.retry_spin.setRange(1, 10)
        self.retry_spin.setValue(3)
        form.addRow("PIN tries:", self.retry_spin)
        self.random_pin = QCheckBox("Generate a random user PIN (shown once)")
        self.transport_pin = QCheckBox("Transport PIN (must be changed before first use)")
        self.reset_retry = QCheckBox("The SO-PIN may reset the user PIN")
        self.reset_retry.setChecked(True)
        self.unblock_only = QCheckBox("… but only unblock it, never set a new one")
        self.change_so_pin = QCheckBox("Set a new SO-PIN")
        for box in (
            self.random_pin,
            self.transport_pin,
            self.reset_retry,
            self.unblock_only,
            self.change_so_pin,
        ):
            form.addRow("", box)
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("deviceLabel")
        self.label_edit.setPlaceholderText("optional, e.g. Issuing CA 2027")
        form.addRow("Label:", self.label_edit)
        layout.addLayout(form)
        layout.addWidget(self._pka_group())
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = self.buttons.addButton(
            "Initialise…", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.ok_button.setObjectName("initialiseButton")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (
            self.scheme_combo.currentIndexChanged,
            self.reset_retry.toggled,
            self.unblock_only.toggled,
            self.label_edit.textChanged,
            self.pka_combo.currentIndexChanged,
            self.pka_total.valueChanged,
            self.pka_required.valueChanged,
            self.pka_and_pin.toggled,
            self.pka_replaceable.toggled,
        ):
            signal.connect(self._validate)
        self._validate()

    def _pka_group(self) -> QGroupBox:
        group = QGroupBox("Custodian keys (public key authentication)")
        group.setObjectName("pkaGroup")
        form = QFormLayout(group)
        self.pka_combo = QComboBox()
        self.pka_combo.setObjectName("pkaMode")
        self.pka_combo.addItem("None", False)
        self.pka_combo.addItem("M of N custodian keys unlock the device", True)
        form.addRow("Custodians:", self.pka_combo)
        self.pka_total = QSpinBox()
        self.pka_total.setObjectName("pkaTotal")
        self.pka_total.setRange(1, MAX_PUBLIC_KEYS)
        self.pka_total.setValue(3)
        form.addRow("Keys in total (N):", self.pka_total)
        self.pka_required = QSpinBox()
        self.pka_required.setObjectName("pkaRequired")
        self.pka_required.setRange(1, 3)
        self.pka_required.setValue(2)
        form.addRow("Keys required (M):", self.pka_required)
        self.pka_total.valueChanged.connect(self.pka_required.setMaximum)
        self.pka_and_pin = QCheckBox("PIN and custodians both required")
        self.pka_and_pin.setObjectName("pkaAndPin")
        self.pka_and_pin.setToolTip(
            "Option 0x0010: M custodians must authenticate and the user PIN be verified; "
            "unticked, M custodians alone unlock the device"
        )
        self.pka_replaceable = QCheckBox("Registered keys may be replaced")
        self.pka_replaceable.setObjectName("pkaReplaceable")
        self.pka_replaceable.setToolTip(
            "Option 0x0008: a custodian key in a slot can be replaced by another later"
        )
        form.addRow("", self.pka_and_pin)
        form.addRow("", self.pka_replaceable)
        self.pka_note = QLabel(
            "Each custodian then creates a key on their own SmartCard-HSM (Card → Create "
            "custodian key…) and hands over its .pka file; register the files with Card → "
            "Register custodian key…"
        )
        self.pka_note.setWordWrap(True)
        form.addRow(self.pka_note)
        return group

    def pka_chosen(self) -> bool:
        """Whether the plan has custodian keys."""
        return bool(self.pka_combo.currentData())

    def select_scheme(self, scheme: DkekScheme) -> None:
        self.scheme_combo.setCurrentIndex(self.scheme_combo.findData(scheme))

    def plan(self) -> InitPlan:
        """The plan as chosen.  :raises ValueError: an inconsistent choice."""
        scheme = self.scheme_combo.currentData()
        assert isinstance(scheme, DkekScheme)
        pka = self.pka_chosen()
        return InitPlan(
            scheme=scheme,
            shares=self.shares_spin.value(),
            key_domains=self.domains_spin.value(),
            retry_counter=self.retry_spin.value(),
            random_pin=self.random_pin.isChecked(),
            transport_pin=self.transport_pin.isChecked(),
            reset_retry_counter=self.reset_retry.isChecked(),
            unblock_only=self.unblock_only.isChecked(),
            label=self.label_edit.text().strip() or None,
            change_so_pin=self.change_so_pin.isChecked(),
            public_key_auth=((self.pka_total.value(), self.pka_required.value()) if pka else None),
            pka_and_pin=pka and self.pka_and_pin.isChecked(),
            pka_replaceable=pka and self.pka_replaceable.isChecked(),
        )

    def _validate(self) -> None:
        scheme = self.scheme_combo.currentData()
        self.shares_spin.setEnabled(scheme is DkekScheme.DKEK_SHARES)
        self.domains_spin.setEnabled(scheme is DkekScheme.KEY_DOMAINS)
        self.unblock_only.setEnabled(self.reset_retry.isChecked())
        chosen = self.pka_chosen()
        for widget in (self.pka_total, self.pka_required, self.pka_and_pin, self.pka_replaceable):
            widget.setEnabled(chosen)
        try:
            self.plan()
        except ValueError as error:
            self.problem_label.setText(str(error)[0].upper() + str(error)[1:] + ".")
            self.ok_button.setEnabled(False)
        else:
            self.problem_label.setText("")
            self.ok_button.setEnabled(True)

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()
