"""The PIN dialog: user PIN, SO-PIN (16 hex digits) or a password, with tries left.

Shows the card's remaining tries and, before the last one, a warning that a wrong
entry blocks the PIN.  A secret asked again because the card refused the previous entry
says so at the top (:attr:`~keymanager.workflows.interaction.SecretRequest.retry_reason`),
in this same dialog: there is no separate warning box to click away first.

OK is enabled only for a well-formed entry (6 to 16 bytes for a PIN, 16 hex digits for
an SO-PIN, the same twice when a new secret is confirmed).  The entry fields
are cleared when the dialog closes; :meth:`PinDialog.take_secret` hands the secret over
once as a ``bytearray`` the caller wipes.
"""

from __future__ import annotations

import string

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.hsm_types import PIN_MAX_LENGTH, PIN_MIN_LENGTH
from keymanager.workflows.interaction import SecretKind, SecretRequest

PIN_KINDS = (SecretKind.USER_PIN, SecretKind.NEW_USER_PIN)
SO_PIN_KINDS = (SecretKind.SO_PIN, SecretKind.NEW_SO_PIN)
LAST_TRY_WARNING = "This is the last try: a wrong entry blocks the {name}."
ALERT_STYLE = "color: #b00020; font-weight: bold;"


def validate_secret(kind: SecretKind, text: str) -> str | None:
    """Why ``text`` is not acceptable as ``kind`` (``None``: it is)."""
    if kind in PIN_KINDS:
        length = len(text.encode("utf-8"))
        if not PIN_MIN_LENGTH <= length <= PIN_MAX_LENGTH:
            return f"The PIN has {PIN_MIN_LENGTH} to {PIN_MAX_LENGTH} characters."
        return None
    if kind in SO_PIN_KINDS:
        digits = "".join(ch for ch in text if ch not in ": ")
        if len(digits) != 16 or any(ch not in string.hexdigits for ch in digits):
            return "The SO-PIN is 16 hexadecimal digits (0-9, A-F)."
        return None
    return None if text else "Enter the password."


class PinDialog(QDialog):
    """Asks for one secret (see the module docstring)."""

    def __init__(self, request: SecretRequest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request = request
        name = request.kind.value
        self.setWindowTitle(name[0].upper() + name[1:])
        self.setObjectName("pinDialog")
        layout = QVBoxLayout(self)
        heading = f"Enter the {name}"
        if request.purpose:
            heading += f" for {request.purpose}"
        self.heading = QLabel(heading + ".")
        self.heading.setWordWrap(True)
        self.retry_label = QLabel(request.retry_reason)
        self.retry_label.setObjectName("retryReason")
        self.retry_label.setWordWrap(True)
        self.retry_label.setStyleSheet(ALERT_STYLE)
        self.retry_label.setVisible(bool(request.retry_reason))
        layout.addWidget(self.retry_label)
        layout.addWidget(self.heading)

        form = QFormLayout()
        self.entry = QLineEdit()
        self.entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.entry.setObjectName("secretEntry")
        if request.kind in SO_PIN_KINDS:
            self.entry.setPlaceholderText("16 hex digits")
            self.entry.setMaxLength(23)
        elif request.kind in PIN_KINDS:
            self.entry.setMaxLength(PIN_MAX_LENGTH)
        form.addRow(name[0].upper() + name[1:] + ":", self.entry)
        self.confirm_entry: QLineEdit | None = None
        if request.confirm:
            self.confirm_entry = QLineEdit()
            self.confirm_entry.setEchoMode(QLineEdit.EchoMode.Password)
            self.confirm_entry.setObjectName("confirmEntry")
            form.addRow("Again:", self.confirm_entry)
            self.confirm_entry.textChanged.connect(self._check)
        layout.addLayout(form)

        self.tries_label = QLabel()
        self.tries_label.setObjectName("triesLabel")
        self.warning_label = QLabel()
        self.warning_label.setObjectName("lastTryWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet(ALERT_STYLE)
        tries = request.tries_left
        if tries is not None:
            self.tries_label.setText(f"{tries} {'try' if tries == 1 else 'tries'} left.")
            layout.addWidget(self.tries_label)
        self.warning_label.setText(LAST_TRY_WARNING.format(name=name))
        self.warning_label.setVisible(tries == 1)
        layout.addWidget(self.warning_label)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("problemLabel")
        layout.addWidget(self.problem_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.entry.textChanged.connect(self._check)
        self._secret: bytearray | None = None
        self._check()
        self.entry.setFocus()

    @property
    def last_try(self) -> bool:
        """Whether the dialog warns that this is the last try."""
        return self.request.tries_left == 1

    def problem(self) -> str | None:
        """Why the current entry cannot be accepted (``None``: it can)."""
        text = self.entry.text()
        problem = validate_secret(self.request.kind, text)
        if problem is None and self.confirm_entry is not None and self.confirm_entry.text() != text:
            problem = "The two entries differ."
        return problem

    def _check(self) -> None:
        problem = self.problem()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(problem is None)
        typed = bool(self.entry.text())
        self.problem_label.setText(problem if problem and typed else "")

    def accept(self) -> None:
        if self.problem() is not None:
            return
        self._secret = bytearray(self.entry.text().encode("utf-8"))
        self._clear()
        super().accept()

    def reject(self) -> None:
        self._clear()
        super().reject()

    def _clear(self) -> None:
        self.entry.clear()
        if self.confirm_entry is not None:
            self.confirm_entry.clear()

    def take_secret(self) -> bytearray | None:
        """The accepted secret, once (``None`` if cancelled or already taken)."""
        secret, self._secret = self._secret, None
        return secret
