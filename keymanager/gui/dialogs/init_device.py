"""The "Initialise device" dialog: the initialisation plan, with the card named.

It collects an :class:`~keymanager.workflows.device.InitPlan` (scheme, shares or key
domains, retry counter, PIN options, label).  The secrets (SO-PIN, new user PIN) and
the destructive confirmation - which names the card's serial and reader - are asked
by :func:`~keymanager.workflows.device.initialize_device` itself, on the worker thread.
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
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

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
        ):
            signal.connect(self._validate)
        self._validate()

    def select_scheme(self, scheme: DkekScheme) -> None:
        self.scheme_combo.setCurrentIndex(self.scheme_combo.findData(scheme))

    def plan(self) -> InitPlan:
        """The plan as chosen.  :raises ValueError: an inconsistent choice."""
        scheme = self.scheme_combo.currentData()
        assert isinstance(scheme, DkekScheme)
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
        )

    def _validate(self) -> None:
        scheme = self.scheme_combo.currentData()
        self.shares_spin.setEnabled(scheme is DkekScheme.DKEK_SHARES)
        self.domains_spin.setEnabled(scheme is DkekScheme.KEY_DOMAINS)
        self.unblock_only.setEnabled(self.reset_retry.isChecked())
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
