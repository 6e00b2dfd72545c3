"""The "Create certificate request" dialog: subject and extensions of a PKCS#10 request.

The subject is typed field by field (CN, O, OU, …) or as one RFC 4514 string, which
then wins; key usage and extended key usage are ticked; subject alternative names are
typed one per line (``dns:host.example``, ``email:a@example.org``, ``ip:…``,
``uri:…``).  The dialog only collects :class:`~keymanager.workflows.csr.RequestContent`
(parsed by :mod:`keymanager.workflows.csr`, the same as ``keymanager-cli csr``); the card
signs the request on the worker thread.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from keymanager.card.pkcs15 import KeyKind
from keymanager.gui.dialogs.parts import add_ok_cancel, add_problem_label
from keymanager.workflows.csr import (
    EXTENDED_KEY_USAGES,
    KEY_USAGES,
    SUBJECT_FIELDS,
    RequestContent,
    parse_alternative_name,
    parse_subject,
    subject_from_fields,
)

DEFAULT_KEY_USAGE = {
    KeyKind.RSA: ("digitalSignature", "keyEncipherment"),
    KeyKind.EC: ("digitalSignature",),
}


class CsrDialog(QDialog):
    """Collects the subject and extensions of a request for key ``key_reference``.

    :param kind: the key's type, for the default key usage (``None``: digitalSignature).
    """

    def __init__(
        self,
        key_reference: int,
        label: str = "",
        kind: KeyKind | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.key_reference = key_reference
        self.setWindowTitle(f"Certificate request for key {key_reference}")
        self.setObjectName("csrDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Key {key_reference}: {label}.\nThe card signs the request with this key "
            "(the user PIN is asked); give it to your CA, then import the certificate it "
            "issues with “Import certificate…”."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        subject_box = QGroupBox("Subject")
        form = QFormLayout(subject_box)
        self.subject_edits: dict[str, QLineEdit] = {}
        for key, text, _oid in SUBJECT_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(f"subject_{key}")
            form.addRow(f"{text} ({key}):", edit)
            self.subject_edits[key] = edit
        self.subject_edits["CN"].setText(label)
        self.rfc4514_edit = QLineEdit()
        self.rfc4514_edit.setObjectName("subjectText")
        self.rfc4514_edit.setPlaceholderText("or all at once: CN=Signer,O=Example,C=DE")
        form.addRow("RFC 4514:", self.rfc4514_edit)
        layout.addWidget(subject_box)

        usage_box = QGroupBox("Key usage")
        usage_grid = QGridLayout(usage_box)
        defaults = DEFAULT_KEY_USAGE.get(kind, ()) if kind is not None else ()
        defaults = defaults or ("digitalSignature",)
        self.usage_boxes: dict[str, QCheckBox] = {}
        for index, name in enumerate(KEY_USAGES):
            box = QCheckBox(name)
            box.setObjectName(f"usage_{name}")
            box.setChecked(name in defaults)
            usage_grid.addWidget(box, index // 3, index % 3)
            self.usage_boxes[name] = box
        layout.addWidget(usage_box)

        extended_box = QGroupBox("Extended key usage")
        extended_grid = QGridLayout(extended_box)
        self.extended_boxes: dict[str, QCheckBox] = {}
        for index, name in enumerate(EXTENDED_KEY_USAGES):
            box = QCheckBox(name)
            box.setObjectName(f"eku_{name}")
            extended_grid.addWidget(box, index // 3, index % 3)
            self.extended_boxes[name] = box
        layout.addWidget(extended_box)

        names_box = QGroupBox("Subject alternative names (one per line)")
        names_layout = QVBoxLayout(names_box)
        self.names_edit = QPlainTextEdit()
        self.names_edit.setObjectName("alternativeNames")
        self.names_edit.setPlaceholderText("dns:www.example.org\nemail:admin@example.org")
        self.names_edit.setFixedHeight(70)
        names_layout.addWidget(self.names_edit)
        layout.addWidget(names_box)

        self.problem_label = add_problem_label(layout)
        self.buttons, self.ok_button = add_ok_cancel(self, layout, "Create request…")
        for edit in (*self.subject_edits.values(), self.rfc4514_edit):
            edit.textChanged.connect(self._validate)
        self.names_edit.textChanged.connect(self._validate)
        self._validate()
        # Tall enough for the wrapped intro: Qt limits a dialog sizing itself to two
        # thirds of the screen (682 lines on a 1280x1024 one), then only up to its
        # minimum size, which leaves out the intro's wrapped lines and squashes the fields.
        self.setMinimumHeight(layout.totalHeightForWidth(self.sizeHint().width()))

    def content(self) -> RequestContent:
        """The request's content.

        :raises ValueError: the subject, a name or the combination is not valid.
        """
        text = self.rfc4514_edit.text().strip()
        if text:
            subject = parse_subject(text)
        else:
            subject = subject_from_fields(
                {key: edit.text() for key, edit in self.subject_edits.items()}
            )
        lines = self.names_edit.toPlainText().replace(",", "\n").splitlines()
        names = tuple(parse_alternative_name(line) for line in lines if line.strip())
        return RequestContent(
            subject=subject,
            key_usage=frozenset(n for n, box in self.usage_boxes.items() if box.isChecked()),
            extended_key_usage=tuple(
                EXTENDED_KEY_USAGES[n] for n, box in self.extended_boxes.items() if box.isChecked()
            ),
            alternative_names=names,
        )

    def problem(self) -> str | None:
        """Why the request cannot be made yet (``None``: it can)."""
        try:
            self.content()
        except ValueError as error:
            message = str(error)
            return message[0].upper() + message[1:] + "."
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.ok_button.setEnabled(problem is None)
        has_text = bool(self.rfc4514_edit.text().strip())
        for edit in self.subject_edits.values():
            edit.setEnabled(not has_text)
