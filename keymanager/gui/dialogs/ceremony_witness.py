"""The witness sign-off of a ceremony step (issue 18): the witness types their name.

A step that needs a witness (``@ceremony_step(..., witness=True)``) asks, through the
workflow's interaction, a text question beginning "Witness (<names>): type your name
…" (:func:`keymanager.workflows.ceremony_session._witness_sign_off`).
:class:`CeremonyDialogFactory`, the window's dialog factory, answers that question with
a :class:`WitnessDialog` (the step, the ceremony's witnesses, a field for the name,
"I observe this step" / "Refuse"); every other question as
:class:`~keymanager.gui.dialogs.sheets.SheetDialogFactory` does.
"""

from __future__ import annotations

import re

from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.dialogs.ceremony_record import ok_cancel_buttons, wrapped_note
from keymanager.gui.dialogs.sheets import SheetDialogFactory
from keymanager.gui.prompt_broker import PromptRequest
from keymanager.workflows.interaction import Cancelled

WITNESS_PROMPT_START = "Witness ("
"""How the ceremony's witness question begins (``ceremony_session._witness_sign_off``)."""


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
        heading = wrapped_note(
            f"Step: {step.group('step')}" if step is not None else "A step needs a witness"
        )
        bold = QFont(heading.font())
        bold.setBold(True)
        heading.setFont(bold)
        layout.addWidget(heading)
        self.prompt_label = wrapped_note(
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
        box, self.ok_button = ok_cancel_buttons(self, "I observe this step")
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
