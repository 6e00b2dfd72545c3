"""The GUI thread's side of a workflow's questions: requests, their dialogs, the broker.

A question from a worker is a :class:`PromptRequest` of a :class:`PromptKind`; the
:class:`PromptBroker` (a QObject on the GUI thread) opens the dialog a
:class:`DialogFactory` makes for it and hands the answer back to the waiting worker.
:class:`~keymanager.gui.gui_interaction.GuiInteraction`, the workflows' ``Interaction``,
asks through it; the whole design is described in :mod:`keymanager.gui.gui_interaction`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import ShareDialog, ShareSession
from keymanager.workflows.interaction import (
    Cancelled,
    Choice,
    MessageLevel,
    SecretRequest,
    ShareOutcome,
    ShareRequest,
)

WAIT_SLICE = 0.05
"""Seconds between two looks at the cancel flag while the worker waits for an answer."""


class PromptKind(enum.Enum):
    """The kinds of question a workflow asks."""

    SECRET = enum.auto()
    CONFIRM = enum.auto()
    MESSAGE = enum.auto()
    SHOW_SECRET = enum.auto()
    SHOW_SHEET = enum.auto()
    """A printable sheet (needs a factory that can show it: the ceremony's)."""
    NUMBER = enum.auto()
    CHOICE = enum.auto()
    CHOICES = enum.auto()
    TEXT = enum.auto()
    SHARE = enum.auto()
    SHARE_DONE = enum.auto()


@dataclass(eq=False)
class PromptRequest:
    """One question in flight from a worker to the GUI, and its answer."""

    kind: PromptKind
    payload: dict[str, Any]
    _done: threading.Event = field(default_factory=threading.Event)
    _value: object = None
    _error: BaseException | None = None
    withdrawn: bool = False

    def reply(self, value: object) -> None:
        """Answer (GUI thread)."""
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        """Answer with an error, e.g. :class:`Cancelled` (GUI thread)."""
        if not self._done.is_set():
            self._error = error
            self._done.set()

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    def result(self) -> object:
        if self._error is not None:
            raise self._error
        return self._value

    def wait(self, cancel: threading.Event | None) -> object:
        """Block (worker thread) until answered; :class:`Cancelled` when ``cancel`` is set."""
        while not self._done.wait(WAIT_SLICE):
            if cancel is not None and cancel.is_set():
                self.withdrawn = True
                raise Cancelled("cancelled while waiting for an answer")
        return self.result()


Opener = Callable[[PromptRequest, QWidget | None], QDialog]


def _message_box(
    parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str
) -> QMessageBox:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box


class ChoiceDialog(QDialog):
    """Pick one (or several) of a list; disabled choices are greyed, with the reason."""

    def __init__(
        self,
        prompt: str,
        choices: Sequence[Choice[Any]],
        *,
        multiple: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("KeyManager — choose")
        self.setObjectName("choiceDialog")
        self.choices = list(choices)
        self.multiple = multiple
        layout = QVBoxLayout(self)
        label = QLabel(prompt)
        label.setWordWrap(True)
        layout.addWidget(label)
        self.list = QListWidget()
        for choice in self.choices:
            text = choice.label + (f": {choice.detail}" if choice.detail else "")
            if choice.disabled:
                text += f" (not possible: {choice.disabled})"
            item = QListWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            if multiple:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setCheckState(Qt.CheckState.Unchecked)
            if choice.disabled:
                flags = Qt.ItemFlag.NoItemFlags
                item.setToolTip(choice.disabled)
            item.setFlags(flags)
            self.list.addItem(item)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for row, choice in enumerate(self.choices):
            if not choice.disabled:
                self.list.setCurrentRow(row)
                break

    def select(self, label: str) -> None:
        """Pick (or, with ``multiple``, tick) the choice called ``label``."""
        for row, choice in enumerate(self.choices):
            if choice.label == label and not choice.disabled:
                item = self.list.item(row)
                if self.multiple:
                    item.setCheckState(Qt.CheckState.Checked)
                self.list.setCurrentRow(row)
                return
        raise KeyError(label)

    def values(self) -> list[object]:
        """The values picked."""
        if self.multiple:
            return [
                choice.value
                for row, choice in enumerate(self.choices)
                if self.list.item(row).checkState() == Qt.CheckState.Checked
            ]
        row = self.list.currentRow()
        if row < 0 or self.choices[row].disabled:
            return []
        return [self.choices[row].value]


class DialogFactory:
    """Makes the dialog for each kind of question and reads its answer."""

    def open(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        """A dialog for ``request``, already wired to answer it when it finishes."""
        maker = getattr(self, f"_open_{request.kind.name.lower()}")
        dialog = cast(QDialog, maker(request, parent))
        if not dialog.isVisible():  # the share dialog stays open across questions
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
        return dialog

    @staticmethod
    def _share_dialog(request: PromptRequest, parent: QWidget | None) -> ShareDialog:
        session = cast(ShareSession, request.payload["session"])
        dialog = session.dialog
        if dialog is None:
            dialog = ShareDialog(session, parent)
        return dialog

    def _open_share(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        dialog = self._share_dialog(request, parent)
        dialog.attach(request, cast(ShareRequest, request.payload["request"]))
        return dialog

    def _open_share_done(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        dialog = self._share_dialog(request, parent)
        if dialog.request is None:
            dialog.set_request(cast(ShareOutcome, request.payload["outcome"]).request)
        dialog.show_final(request, cast(ShareOutcome, request.payload["outcome"]))
        return dialog

    def _open_secret(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        dialog = PinDialog(cast(SecretRequest, request.payload["request"]), parent)

        def finished(code: int) -> None:
            secret = dialog.take_secret()
            if code == QDialog.DialogCode.Accepted and secret is not None:
                request.reply(secret)
            else:
                request.fail(Cancelled("the secret was not entered"))

        dialog.finished.connect(finished)
        return dialog

    def _open_confirm(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        destructive = bool(request.payload["destructive"])
        box = _message_box(
            parent,
            QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question,
            "KeyManager — confirm",
            str(request.payload["message"]),
        )
        yes = box.addButton(
            "Yes, erase" if destructive else "Yes", QMessageBox.ButtonRole.AcceptRole
        )
        no = box.addButton("No", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(no)
        box.setEscapeButton(no)
        box.finished.connect(lambda _code: request.reply(box.clickedButton() is yes))
        return box

    def _open_message(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        level = cast(MessageLevel, request.payload["level"])
        box = _message_box(
            parent,
            QMessageBox.Icon.Warning
            if level is MessageLevel.WARNING
            else QMessageBox.Icon.Information,
            "KeyManager — warning" if level is MessageLevel.WARNING else "KeyManager — information",
            str(request.payload["text"]),
        )
        box.addButton(QMessageBox.StandardButton.Ok)
        box.finished.connect(lambda _code: request.reply(None))
        return box

    def _open_show_secret(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        # A plain dialog, not a QMessageBox: a message box copies its whole text on
        # Ctrl+C on some platforms, and this text is a secret shown once.
        dialog = QDialog(parent)
        dialog.setWindowTitle(str(request.payload["title"]))
        dialog.setObjectName("showSecretDialog")
        layout = QVBoxLayout(dialog)
        note = QLabel("Write this down now; it is shown only once and never saved.")
        note.setWordWrap(True)
        layout.addWidget(note)
        secret = QLabel(str(request.payload["text"]))
        secret.setObjectName("secret")
        secret.setTextFormat(Qt.TextFormat.PlainText)
        secret.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        secret.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        secret.setFont(QFont("monospace"))
        layout.addWidget(secret)
        buttons = QDialogButtonBox()
        buttons.addButton("I have written it down", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(dialog.accept)
        layout.addWidget(buttons)
        dialog.finished.connect(lambda _code: request.reply(None))
        return dialog

    def _input(self, request: PromptRequest, parent: QWidget | None) -> QInputDialog:
        dialog = QInputDialog(parent)
        dialog.setWindowTitle("KeyManager — question")
        dialog.setLabelText(str(request.payload["prompt"]))
        return dialog

    def _open_number(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        dialog = self._input(request, parent)
        dialog.setInputMode(QInputDialog.InputMode.IntInput)
        dialog.setIntRange(int(request.payload["minimum"]), int(request.payload["maximum"]))
        default = request.payload.get("default")
        dialog.setIntValue(int(default) if default is not None else int(request.payload["minimum"]))

        def finished(code: int) -> None:
            if code == QDialog.DialogCode.Accepted:
                request.reply(dialog.intValue())
            else:
                request.fail(Cancelled("no number was entered"))

        dialog.finished.connect(finished)
        return dialog

    def _open_text(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        dialog = self._input(request, parent)
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setTextValue(str(request.payload.get("default", "")))

        def finished(code: int) -> None:
            if code == QDialog.DialogCode.Accepted:
                request.reply(dialog.textValue())
            else:
                request.fail(Cancelled("no text was entered"))

        dialog.finished.connect(finished)
        return dialog

    def _open_choice(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        return self._choice_dialog(request, parent, multiple=False)

    def _open_choices(self, request: PromptRequest, parent: QWidget | None) -> QDialog:
        return self._choice_dialog(request, parent, multiple=True)

    def _choice_dialog(
        self, request: PromptRequest, parent: QWidget | None, *, multiple: bool
    ) -> QDialog:
        dialog = ChoiceDialog(
            str(request.payload["prompt"]),
            cast(Sequence[Choice[Any]], request.payload["choices"]),
            multiple=multiple,
            parent=parent,
        )

        def finished(code: int) -> None:
            values = dialog.values()
            if code != QDialog.DialogCode.Accepted or (not multiple and not values):
                request.fail(Cancelled("nothing was chosen"))
            else:
                request.reply(values if multiple else values[0])

        dialog.finished.connect(finished)
        return dialog


class PromptBroker(QObject):
    """Shows the dialogs workers ask for, on the GUI thread (see the module docstring)."""

    requested = Signal(object)
    dialog_opened = Signal(object)
    """Emitted with each dialog once it is open (tests wait for it)."""
    info_message = Signal(str)
    """Informational messages of workflows: shown in the status bar, nobody waits."""
    share_progress = Signal(object, str, int, int)
    share_outcome = Signal(object, object)

    def __init__(
        self,
        parent_widget: QWidget | None = None,
        factory: DialogFactory | None = None,
    ) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.factory = factory or DialogFactory()
        self.open_dialogs: dict[PromptRequest, QDialog] = {}
        self.requested.connect(self._show)
        self.share_progress.connect(self._share_progress)
        self.share_outcome.connect(self._share_outcome)

    def ask(self, request: PromptRequest, cancel: threading.Event | None = None) -> object:
        """Show the dialog for ``request`` and return its answer (any thread)."""
        if QThread.currentThread() is self.thread():
            loop = QEventLoop()
            self._show(request)
            dialog = self.open_dialogs.get(request)
            if dialog is not None and not request.answered:
                dialog.finished.connect(loop.quit)
                loop.exec()
            return request.result()
        self.requested.emit(request)
        try:
            return request.wait(cancel)
        except Cancelled:
            self.requested.emit(request)  # withdrawn: the GUI thread closes its dialog
            raise

    @Slot(object)
    def _show(self, request: PromptRequest) -> None:
        if request.withdrawn:
            dialog = self.open_dialogs.pop(request, None)
            if dialog is not None:
                dialog.reject()
            return
        if request.answered:
            return
        dialog = self.factory.open(request, self.parent_widget)
        self.open_dialogs[request] = dialog
        dialog.finished.connect(lambda _code: self.open_dialogs.pop(request, None))
        if not dialog.isVisible():
            dialog.open()
        self.dialog_opened.emit(dialog)

    @Slot(object, str, int, int)
    def _share_progress(self, session: ShareSession, step: str, done: int, total: int) -> None:
        if session.dialog is not None:
            session.dialog.show_progress(step, done, total)

    @Slot(object, object)
    def _share_outcome(self, session: ShareSession, outcome: ShareOutcome) -> None:
        if session.dialog is not None:
            session.dialog.report_outcome(outcome)

    def close_all(self) -> None:
        """Cancel every open question (at shutdown)."""
        for request, dialog in list(self.open_dialogs.items()):
            request.fail(Cancelled("the application is closing"))
            dialog.reject()
        self.open_dialogs.clear()
