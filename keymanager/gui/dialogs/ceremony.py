"""The share ceremony: the plan of a new DKEK share, and the sheets it hands out.

:class:`ShareCeremonyDialog` collects a
:class:`~keymanager.workflows.ceremony.ShareCreationPlan`: a share file protected by a
password (typed twice by the custodian, asked by the workflow) or by a random password
split n-of-m, and/or a PaperKey; optional PDFs of the PaperKey and of each fragment
(written by :mod:`keymanager.workflows.printable`, mode 0600).

The sheets the ceremony hands out (hand-over screen, print, print preview, PDF) are
in :mod:`.sheets` (re-exported here), their printed layout in :mod:`.printing`.
A share-file password too short for the policy is refused in the password dialog as
it is typed (:class:`~keymanager.gui.dialogs.sheets.SharePasswordDialog`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.dkek.nofm import MAX_TOTAL, MIN_THRESHOLD, MIN_TOTAL
from keymanager.gui.dialogs.files import file_dialog
from keymanager.gui.dialogs.sheets import (
    PRINT_WARNING,
    SecretSheetDialog,
    SharePasswordDialog,
    SheetDialogFactory,
    SheetInteraction,
)
from keymanager.workflows.ceremony import FileProtection, ShareCreationPlan


class Route:
    """The three choices of the ceremony dialog."""

    PASSWORD_FILE = "file-password"  # noqa: S105 - a name, not a password
    N_OF_M_FILE = "file-n-of-m"
    PAPERKEY = "paperkey"


class ShareCeremonyDialog(QDialog):
    """Collects the :class:`ShareCreationPlan` of a new DKEK share."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a DKEK share")
        self.setObjectName("shareCeremonyDialog")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A new random DKEK share for one custodian.  Every form is read back "
            "before the ceremony is called done; the share fingerprint tells the "
            "shares apart later."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.route_combo = QComboBox()
        self.route_combo.setObjectName("route")
        self.route_combo.addItem("Share file protected by a password", Route.PASSWORD_FILE)
        self.route_combo.addItem(
            "Share file, random password split n-of-m among custodians", Route.N_OF_M_FILE
        )
        self.route_combo.addItem("PaperKey only (four lines to write down)", Route.PAPERKEY)
        form.addRow("Save as:", self.route_combo)
        self.file_edit = QLineEdit()
        self.file_edit.setObjectName("shareFile")
        self.file_edit.setPlaceholderText("custodian-1.pbe")
        self.file_button = QPushButton("Browse…")
        self.file_button.clicked.connect(self._browse_file)
        form.addRow("Share file:", _row(self.file_edit, self.file_button))
        self.threshold_spin = QSpinBox()
        self.threshold_spin.setObjectName("threshold")
        self.threshold_spin.setRange(MIN_THRESHOLD, MAX_TOTAL)
        self.threshold_spin.setValue(2)
        self.total_spin = QSpinBox()
        self.total_spin.setObjectName("total")
        self.total_spin.setRange(MIN_TOTAL, MAX_TOTAL)
        self.total_spin.setValue(3)
        form.addRow("Fragments:", _row(self.threshold_spin, QLabel("needed of"), self.total_spin))
        self.show_fragments = QCheckBox("Show each fragment on screen, one custodian at a time")
        self.show_fragments.setChecked(True)
        form.addRow("", self.show_fragments)
        self.fragments_edit = QLineEdit()
        self.fragments_edit.setObjectName("fragmentsDir")
        self.fragments_edit.setPlaceholderText("optional: a folder for fragment-I-of-N.pdf")
        self.fragments_button = QPushButton("Browse…")
        self.fragments_button.clicked.connect(self._browse_fragments)
        form.addRow("Fragment PDFs:", _row(self.fragments_edit, self.fragments_button))
        self.paperkey_box = QCheckBox("Also as a PaperKey")
        self.paperkey_box.setObjectName("paperkey")
        form.addRow("", self.paperkey_box)
        self.show_paperkey = QCheckBox("Show the PaperKey on screen (with print and PDF export)")
        self.show_paperkey.setChecked(True)
        form.addRow("", self.show_paperkey)
        self.paperkey_pdf_edit = QLineEdit()
        self.paperkey_pdf_edit.setObjectName("paperkeyPdf")
        self.paperkey_pdf_edit.setPlaceholderText("optional: paperkey.pdf")
        self.paperkey_pdf_button = QPushButton("Browse…")
        self.paperkey_pdf_button.clicked.connect(self._browse_paperkey_pdf)
        form.addRow("PaperKey PDF:", _row(self.paperkey_pdf_edit, self.paperkey_pdf_button))
        self.card_random = QCheckBox("Random bytes from the card (else from this computer)")
        self.card_random.setObjectName("cardRandom")
        self.card_random.setChecked(True)
        form.addRow("", self.card_random)
        layout.addLayout(form)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("problem")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button: QPushButton = self.buttons.addButton(
            "Create share", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (
            self.route_combo.currentIndexChanged,
            self.file_edit.textChanged,
            self.threshold_spin.valueChanged,
            self.total_spin.valueChanged,
            self.show_fragments.toggled,
            self.fragments_edit.textChanged,
            self.paperkey_box.toggled,
            self.show_paperkey.toggled,
            self.paperkey_pdf_edit.textChanged,
        ):
            signal.connect(self._validate)
        self._validate()

    @property
    def route(self) -> str:
        return str(self.route_combo.currentData())

    def select_route(self, route: str) -> None:
        self.route_combo.setCurrentIndex(self.route_combo.findData(route))

    def plan(self) -> ShareCreationPlan:
        """The plan as chosen.  :raises ValueError: an incomplete or inconsistent choice."""
        route = self.route
        paperkey = route == Route.PAPERKEY or self.paperkey_box.isChecked()
        share_file: Path | None = None
        if route != Route.PAPERKEY:
            text = self.file_edit.text().strip()
            if not text:
                raise ValueError("choose the share file to write")
            share_file = Path(text).expanduser()
        fragments = self.fragments_edit.text().strip()
        paperkey_pdf = self.paperkey_pdf_edit.text().strip()
        return ShareCreationPlan(
            share_file=share_file,
            protection=FileProtection.N_OF_M
            if route == Route.N_OF_M_FILE
            else FileProtection.PASSWORD,
            threshold=self.threshold_spin.value(),
            total=self.total_spin.value(),
            paperkey=paperkey,
            paperkey_pdf=Path(paperkey_pdf).expanduser() if paperkey and paperkey_pdf else None,
            show_paperkey=self.show_paperkey.isChecked(),
            show_fragments=self.show_fragments.isChecked(),
            fragment_pdf_dir=Path(fragments).expanduser()
            if route == Route.N_OF_M_FILE and fragments
            else None,
        )

    def _validate(self) -> None:
        route = self.route
        file_route = route != Route.PAPERKEY
        n_of_m = route == Route.N_OF_M_FILE
        file_widgets: tuple[QWidget, ...] = (self.file_edit, self.file_button)
        for widget in file_widgets:
            widget.setEnabled(file_route)
        n_of_m_widgets: tuple[QWidget, ...] = (
            self.threshold_spin,
            self.total_spin,
            self.show_fragments,
            self.fragments_edit,
            self.fragments_button,
        )
        for widget in n_of_m_widgets:
            widget.setEnabled(n_of_m)
        self.paperkey_box.setEnabled(file_route)
        paperkey = not file_route or self.paperkey_box.isChecked()
        paperkey_widgets: tuple[QWidget, ...] = (
            self.show_paperkey,
            self.paperkey_pdf_edit,
            self.paperkey_pdf_button,
        )
        for widget in paperkey_widgets:
            widget.setEnabled(paperkey)
        try:
            self.plan()
        except ValueError as error:
            text = str(error)
            self.problem_label.setText(text[0].upper() + text[1:] + ".")
            self.ok_button.setEnabled(False)
        else:
            self.problem_label.setText("")
            self.ok_button.setEnabled(True)

    def accept(self) -> None:
        if self.ok_button.isEnabled():
            super().accept()

    def _browse_file(self) -> None:
        file_dialog(
            self,
            "Share file",
            lambda path: self.file_edit.setText(str(path)),
            save=True,
            name_filter="DKEK share files (*.pbe)",
            default_suffix="pbe",
        )

    def _browse_fragments(self) -> None:
        file_dialog(
            self,
            "Folder for the fragment PDFs",
            lambda path: self.fragments_edit.setText(str(path)),
            save=False,
            directory=True,
        )

    def _browse_paperkey_pdf(self) -> None:
        file_dialog(
            self,
            "PaperKey PDF",
            lambda path: self.paperkey_pdf_edit.setText(str(path)),
            save=True,
            name_filter="PDF (*.pdf)",
            default_suffix="pdf",
        )


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return row


__all__ = [
    "PRINT_WARNING",
    "Route",
    "SecretSheetDialog",
    "ShareCeremonyDialog",
    "SharePasswordDialog",
    "SheetDialogFactory",
    "SheetInteraction",
]
