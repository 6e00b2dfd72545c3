"""The "Authenticate custodians" wizard: M custodian cards unlock a PKA device.

Page 1 (**Custodian cards**): the device's PKA state, how many custodians authenticate
now (the required number by default), and for each the card source holding that
custodian's card: a PC/SC reader or a simulated card file (for rehearsal).  With
**One reader for every custodian** one source serves them all and the job asks for the
next card between two custodians.  Page 2 (**Authentication**): the job's messages as
they come and the result, e.g. "2 of 2 needed authenticated: the device is unlocked".

The job runs on the device's worker thread
(:func:`keymanager.workflows.pka.authenticate_custodians`, one card session of the
device, one challenge): each custodian card is opened there, on its own transport,
by :class:`CustodianOpener`; that card's PIN is asked by the workflow through the
window's PIN dialog.  The custodian cards' transports are closed when the job ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from keymanager.card.errors import CardError, NoCard
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.card.transport import Transport
from keymanager.gui.dialogs.delegating import DelegatingInteraction
from keymanager.gui.worker import CardSource, JobContext, SimulatorSource
from keymanager.workflows.interaction import Cancelled, Interaction, MessageLevel
from keymanager.workflows.outline_pka import PkaInfo

if TYPE_CHECKING:
    from keymanager.card.pka import PkaStatus

logger = logging.getLogger(__name__)

MAX_CARD_TRIES = 5
"""How often the one-reader mode asks for the next card before it gives up."""


def result_text(status: PkaStatus, *, pin_too: bool | None = None) -> str:
    """The outcome in words: "2 of 2 needed authenticated: the device is unlocked"."""
    done = f"{min(status.authenticated, status.required)} of {status.required} needed"
    if status.unlocked:
        if pin_too:
            return f"{done} authenticated: verify the user PIN too to unlock the device"
        return f"{done} authenticated: the device is unlocked"
    more = status.required - status.authenticated
    return f"{done} authenticated: {more} more custodian(s) needed, the device stays locked"


class CustodianOpener:
    """Opens each custodian card on the worker thread; closes them all at the end.

    In the one-reader mode (``ask_between``) the card of the previous custodian is
    closed and the user is asked to put the next card in; a card that already served
    this round is refused and asked for again.
    """

    def __init__(
        self, interaction: Interaction, mode: SecureMessagingMode | None, *, ask_between: bool
    ) -> None:
        self.interaction = interaction
        self.mode = mode
        self.ask_between = ask_between
        self.opened: list[Transport] = []
        self.serials: list[str] = []

    def close_all(self) -> None:
        while self.opened:
            transport = self.opened.pop()
            try:
                transport.close()
            except Exception:  # a card already pulled: nothing to close
                logger.debug("closing a custodian card failed", exc_info=True)

    def _open(self, source: CardSource) -> tuple[SmartCardHsm, str | None]:
        transport = source.open()
        try:
            hsm = SmartCardHsm.open(transport, secure_messaging=self.mode)
            try:
                serial: str | None = hsm.serial()
            except (CardError, ValueError):
                serial = None
        except BaseException:
            transport.close()
            raise
        self.opened.append(transport)
        return hsm, serial

    def opener(self, index: int, name: str, source: CardSource) -> Callable[[], SmartCardHsm]:
        """The ``open`` of custodian ``index`` (0 first) named ``name`` in ``source``."""

        def open_card() -> SmartCardHsm:
            if not (self.ask_between and index > 0):
                hsm, serial = self._open(source)
                self.serials.append(serial or "")
                return hsm
            self.close_all()
            for _attempt in range(MAX_CARD_TRIES):
                if not self.interaction.confirm(
                    f"Take the previous custodian's card out of {source.label} and put in "
                    f"the card of {name}.  Ready?"
                ):
                    raise Cancelled(f"{name}'s card was not put in")
                try:
                    hsm, serial = self._open(source)
                except NoCard:
                    self.interaction.warn(f"There is no card in {source.label} yet.")
                    continue
                if serial is not None and serial in self.serials:
                    self.close_all()
                    self.interaction.warn(
                        f"That is the card {serial}, which authenticated already in this "
                        f"round: put in the card of {name}."
                    )
                    continue
                self.serials.append(serial or "")
                return hsm
            raise Cancelled(f"{name}'s card was not found in {source.label}")

        return open_card


class WizardMessages(QObject):
    """The job's messages, delivered (queued) on the GUI thread."""

    message = Signal(str)
    failed = Signal(object)
    """The exception the job ended with (the window's error dialog shows it too)."""


class MessagesToWizard(DelegatingInteraction):
    """Passes everything on to the window's interaction; copies messages to the wizard."""

    def __init__(self, inner: Interaction, sink: WizardMessages) -> None:
        super().__init__(inner)
        self.sink = sink

    def message(self, level: MessageLevel, text: str) -> None:
        self.sink.message.emit(text)
        super().message(level, text)


@dataclass(frozen=True)
class CustodianChoice:
    """Who authenticates, on which card source."""

    name: str
    source: CardSource


def run_authentication(
    context: JobContext,
    choices: Sequence[CustodianChoice],
    *,
    one_reader: bool,
    sink: WizardMessages | None = None,
) -> object:
    """The job: open each custodian card in turn and authenticate it on the device."""
    from keymanager.workflows.pka import CustodianCard, authenticate_custodians

    interaction: Interaction = context.interaction
    if sink is not None:
        interaction = MessagesToWizard(interaction, sink)
    opener = CustodianOpener(interaction, context.hsm.secure_messaging.mode, ask_between=one_reader)
    cards = [
        CustodianCard(choice.name, opener.opener(index, choice.name, choice.source))
        for index, choice in enumerate(choices)
    ]
    try:
        return authenticate_custodians(context.hsm, interaction, cards)
    except BaseException as error:
        if sink is not None:
            sink.failed.emit(error)
        raise
    finally:
        opener.close_all()


class SourcesPage(QWizardPage):
    """Which card source holds each custodian's card."""

    def __init__(self, wizard: AuthenticateWizard) -> None:
        super().__init__(wizard)
        self.owner = wizard
        self.setTitle("Custodian cards")
        info = wizard.info
        self.setSubTitle(
            f"The device: {info.status.text}.  Choose the reader holding each custodian's "
            "card; each card's PIN is asked when its turn comes."
        )
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.count = QSpinBox()
        self.count.setObjectName("custodianCount")
        needed = max(1, info.status.required - info.status.authenticated)
        self.count.setRange(1, max(needed, len(info.registered)))
        self.count.setValue(needed)
        form.addRow("Custodians now:", self.count)
        self.one_reader = QCheckBox("One reader for every custodian: ask for the next card")
        self.one_reader.setObjectName("oneReader")
        form.addRow("", self.one_reader)
        layout.addLayout(form)
        self.rows = QFormLayout()
        layout.addLayout(self.rows)
        self.combos: list[QComboBox] = []
        self.add_file = QPushButton("Add a simulated card file…")
        self.add_file.setObjectName("addSimulatedCard")
        self.add_file.setToolTip("A simulated custodian card (keymanager's simulator state)")
        self.add_file.clicked.connect(self._choose_file)
        layout.addWidget(self.add_file)
        registered = ", ".join(f"slot {key.slot}: {key.chr}" for key in info.registered)
        keys = QLabel(f"Registered custodian keys: {registered or 'none'}")
        keys.setWordWrap(True)
        layout.addWidget(keys)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("sourcesProblem")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.problem_label)
        self.count.valueChanged.connect(self._rebuild)
        self.one_reader.toggled.connect(self._rebuild)
        self.completeChanged.connect(self._show_problem)
        self._rebuild()

    def _rebuild(self) -> None:
        previous = [combo.currentData() for combo in self.combos]
        while self.rows.rowCount():
            self.rows.removeRow(0)
        self.combos = []
        rows = 1 if self.one_reader.isChecked() else self.count.value()
        for index in range(rows):
            combo = QComboBox()
            combo.setObjectName(f"custodianSource{index + 1}")
            for key, source in self.owner.sources.items():
                combo.addItem(source.label, key)
            if index < len(previous) and previous[index] is not None:
                combo.setCurrentIndex(max(0, combo.findData(previous[index])))
            elif combo.count() > index:
                combo.setCurrentIndex(index)
            label = "Reader for all:" if self.one_reader.isChecked() else f"Custodian {index + 1}:"
            self.rows.addRow(label, combo)
            combo.currentIndexChanged.connect(self.completeChanged)
            self.combos.append(combo)
        self.completeChanged.emit()

    def _choose_file(self) -> None:
        dialog = QFileDialog(self, "Simulated custodian card")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter("Simulator state (*.json);;All files (*)")
        dialog.fileSelected.connect(lambda name: self.add_simulated_card(Path(name)))
        dialog.setObjectName("simulatedCardFileDialog")
        dialog.open()
        self.owner.announce(dialog)

    def add_simulated_card(self, path: Path) -> None:
        """Offer the simulated card kept in ``path`` as a source, and choose it for the
        first custodian whose source repeats an earlier custodian's (else the first)."""
        from keymanager.simulator import SmartCardHsmSimulator

        source = SimulatorSource(SmartCardHsmSimulator(path), f"Simulated card {path.name}")
        self.owner.sources[source.key] = source
        self._rebuild()
        combo = next((c for c in self.combos if c.findData(source.key) >= 0), None)
        repeated = [
            c
            for index, c in enumerate(self.combos)
            if c.currentData() in {earlier.currentData() for earlier in self.combos[:index]}
        ]
        target = repeated[0] if repeated else combo
        if target is not None:
            target.setCurrentIndex(target.findData(source.key))

    def used_elsewhere(self, combo: QComboBox) -> set[object]:
        return {other.currentData() for other in self.combos if other is not combo}

    def choices(self) -> list[CustodianChoice]:
        sources = self.owner.sources
        keys = [combo.currentData() for combo in self.combos]
        if self.one_reader.isChecked():
            keys = keys[:1] * self.count.value()
        return [
            CustodianChoice(f"custodian {index + 1} ({sources[str(key)].label})", sources[str(key)])
            for index, key in enumerate(keys)
        ]

    def problem(self) -> str | None:
        keys = [combo.currentData() for combo in self.combos]
        if not keys or any(key is None for key in keys):
            return "no card source for a custodian: plug in a reader or add a simulated card"
        if self.owner.device_key in keys:
            return "the device itself cannot act as its own custodian"
        if not self.one_reader.isChecked() and len(set(keys)) < len(keys):
            return "two custodians on one reader: tick “One reader for every custodian”"
        return None

    def _show_problem(self) -> None:
        problem = self.problem()
        self.problem_label.setText(f"Not possible: {problem}" if problem else "")

    def isComplete(self) -> bool:
        return self.problem() is None


class ResultPage(QWizardPage):
    """The job's messages and the outcome."""

    def __init__(self, wizard: AuthenticateWizard) -> None:
        super().__init__(wizard)
        self.setTitle("Authentication")
        layout = QVBoxLayout(self)
        self.log = QListWidget()
        self.log.setObjectName("authenticationLog")
        layout.addWidget(self.log)
        self.status = QLabel("Authenticating… (each custodian card's PIN is asked in turn)")
        self.status.setObjectName("authenticationResult")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.done = False

    def add_message(self, text: str) -> None:
        self.log.addItem(text)

    def show_outcome(self, text: str) -> None:
        self.status.setText(text)
        self.done = True
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.done


class AuthenticateWizard(QWizard):
    """Authenticate custodians on the device (see the module docstring).

    :param sources: the card sources to offer (the window's readers and simulated cards).
    :param device_key: the device's own source (never offered as a custodian's).
    :param submit: queues the job on the device's worker (``AreaHost.submit``-like).
    """

    finished_authentication = Signal(object)
    """The :class:`~keymanager.card.pka.PkaStatus`, or the exception the job ended with."""

    def __init__(
        self,
        info: PkaInfo,
        sources: dict[str, CardSource],
        *,
        device_key: str | None,
        submit: Callable[..., object] | None = None,
        announce: Callable[[QWidget], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.info = info
        self.sources = {key: s for key, s in sources.items() if key != device_key}
        self.device_key = device_key
        self.submit = submit
        self._announce = announce
        self.result_: object = None
        self.setObjectName("authenticateCustodiansWizard")
        self.setWindowTitle("Authenticate custodians")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.resize(620, 440)
        self.sources_page = SourcesPage(self)
        self.result_page = ResultPage(self)
        self.setButtonText(QWizard.WizardButton.NextButton, "Authenticate")
        self.setPage(0, self.sources_page)
        self.setPage(1, self.result_page)
        self.messages = WizardMessages(self)
        self.messages.message.connect(self.result_page.add_message)
        self.messages.failed.connect(self.failed)
        self.currentIdChanged.connect(self._page_changed)

    def announce(self, widget: QWidget) -> None:
        if self._announce is not None:
            self._announce(widget)

    def _page_changed(self, page_id: int) -> None:
        if page_id == 1:
            self.start()

    def start(self) -> None:
        """Queue the authentication on the device's worker."""
        choices = self.sources_page.choices()
        one_reader = self.sources_page.one_reader.isChecked()
        sink = self.messages
        if self.submit is None:
            self.result_page.show_outcome("No card is open.")
            return

        def run(context: JobContext) -> object:
            return run_authentication(context, choices, one_reader=one_reader, sink=sink)

        self.submit(
            "Authenticating custodians", run, changes_card=True, on_result=self.authenticated
        )

    def authenticated(self, result: object) -> None:
        from keymanager.card.pka import PkaStatus

        self.result_ = result
        if isinstance(result, PkaStatus):
            self.result_page.show_outcome(result_text(result, pin_too=self.info.pin_too))
        else:
            self.result_page.show_outcome("Finished.")
        self.finished_authentication.emit(result)

    def failed(self, error: object) -> None:
        self.result_ = error
        self.result_page.show_outcome(f"Stopped: {error}")
        self.finished_authentication.emit(error)
