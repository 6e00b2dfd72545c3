"""The "Generate key" dialog: label, algorithm, key domain, allowed algorithms and seal.

It only collects the choices (:class:`KeyChoices`); the main window runs
:func:`keymanager.workflows.keys.generate_key` with them on the worker thread, which
asks for the PIN and refreshes the outline afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.parts import add_ok_cancel, add_problem_label, add_seal_box
from keymanager.workflows.keys import KeyAlgorithm

ALGORITHMS: tuple[tuple[str, str], ...] = (
    ("EC P-256 (secp256r1)", "ec:secp256r1"),
    ("EC P-384 (secp384r1)", "ec:secp384r1"),
    ("EC P-521 (secp521r1)", "ec:secp521r1"),
    ("EC brainpoolP256r1", "ec:brainpoolP256r1"),
    ("EC brainpoolP384r1", "ec:brainpoolP384r1"),
    ("EC brainpoolP512r1", "ec:brainpoolP512r1"),
    ("EC secp256k1", "ec:secp256k1"),
    ("RSA 2048", "rsa:2048"),
    ("RSA 3072", "rsa:3072"),
    ("RSA 4096", "rsa:4096"),
    ("RSA 1024 (legacy)", "rsa:1024"),
    ("AES 128", "aes:128"),
    ("AES 192", "aes:192"),
    ("AES 256", "aes:256"),
)
"""What the algorithm list offers: the label shown and ``KeyAlgorithm.parse`` text."""


@dataclass(frozen=True)
class KeyChoices:
    """What the dialog collected."""

    algorithm: KeyAlgorithm
    label: str
    domain: int | None
    allowed_algorithms: bytes | None
    seal: bool = False
    """The card must never export the key (an allowed-algorithm list without WRAP)."""


def parse_allowed(text: str) -> bytes | None:
    """Allowed algorithm ids as hex (``"21 22 70"``, ``"212270"``); empty: the card's default.

    :raises ValueError: not hex.
    """
    digits = "".join(ch for ch in text if ch not in " :,")
    if not digits:
        return None
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        raise ValueError("allowed algorithms are hex bytes, e.g. 21 22 70") from None
    return value


class GenerateKeyDialog(QDialog):
    """Collects :class:`KeyChoices`; OK only when they are valid.

    :param domains: the key domains (number, description) the key may be bound to.
    """

    def __init__(
        self,
        domains: Sequence[tuple[int, str]] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generate key")
        self.setObjectName("generateKeyDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "The card generates the key; its private part never leaves the card "
            "(except wrapped, for a backup, when it is bound to a key domain)."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("keyLabel")
        self.label_edit.setPlaceholderText("e.g. TLS server 2027")
        self.label_edit.setMaxLength(64)
        form.addRow("Label:", self.label_edit)
        self.algorithm_combo = QComboBox()
        self.algorithm_combo.setObjectName("keyAlgorithm")
        for label, text in ALGORITHMS:
            self.algorithm_combo.addItem(label, text)
        form.addRow("Algorithm:", self.algorithm_combo)
        self.domain_combo = QComboBox()
        self.domain_combo.setObjectName("keyDomain")
        self.domain_combo.addItem("none (not bound to a key domain)", None)
        for number, description in domains:
            self.domain_combo.addItem(f"Key domain {number}: {description}", number)
        form.addRow("Key domain:", self.domain_combo)
        self.allowed_edit = QLineEdit()
        self.allowed_edit.setObjectName("allowedAlgorithms")
        self.allowed_edit.setPlaceholderText("the card's default")
        self.allowed_edit.setToolTip(
            "Algorithm identifiers the key may be used with, as hex bytes (advanced)."
        )
        form.addRow("Allowed algorithms:", self.allowed_edit)
        layout.addLayout(form)
        self.seal_box = add_seal_box(layout)
        self.problem_label = add_problem_label(layout)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Generate")
        self.label_edit.textChanged.connect(self._validate)
        self.allowed_edit.textChanged.connect(self._validate)
        self.algorithm_combo.currentIndexChanged.connect(self._validate)
        self._validate()

    def select_algorithm(self, text: str) -> None:
        """Pick the algorithm whose ``parse`` text is ``text`` (``"ec:secp256r1"``)."""
        index = self.algorithm_combo.findData(text)
        if index < 0:
            raise KeyError(text)
        self.algorithm_combo.setCurrentIndex(index)

    def problem(self) -> str | None:
        """Why the choices cannot be used yet (``None``: they can)."""
        if not self.label_edit.text().strip():
            return "Give the key a label."
        try:
            parse_allowed(self.allowed_edit.text())
        except ValueError as error:
            return str(error)[0].upper() + str(error)[1:] + "."
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)

    def choices(self) -> KeyChoices:
        """The choices (call after the dialog was accepted)."""
        domain = self.domain_combo.currentData()
        return KeyChoices(
            algorithm=KeyAlgorithm.parse(str(self.algorithm_combo.currentData())),
            label=self.label_edit.text().strip(),
            domain=int(domain) if domain is not None else None,
            allowed_algorithms=parse_allowed(self.allowed_edit.text()),
            seal=self.seal_box.isChecked(),
        )
