"""Public key authentication in the desktop app (issue 16), as a user meets it.

The initialise dialog's custodian keys reach the card (the outline shows the PKA node);
a custodian's ``.pka`` file made by the workflow is registered through Card → Register
custodian key… (which slot, which custodian); the Authenticate custodians wizard has two
simulated custodian cards (their own sources, their own PINs) unlock a 2-of-3 device,
and a PKCS#12 import then runs in that session without the PIN being asked.  Both
simulator profiles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitOptions, InitParams
from keymanager.card.transport import LocalTransport
from keymanager.gui.dialogs.custodians import CreateCustodianKeyDialog, RegisterCustodianDialog
from keymanager.gui.dialogs.init_device import InitDeviceDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.pka_wizard import AuthenticateWizard
from keymanager.gui.worker import JobContext, SimulatorSource
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import DEMO_SO_PIN
from keymanager.workflows.device import DkekScheme
from keymanager.workflows.interaction import ScriptedInteraction
from keymanager.workflows.outline import NodeKind
from keymanager.workflows.pka import register_custodian
from keymanager.workflows.plugins.transient_import import ImportJournal, transient_import
from tests.support.custodians import make_custodian
from tests.support.gui_window import Seen
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

PROFILES = ("genuine", "pico")
SO_PIN = bytes.fromhex("3537363231383830")
DEVICE_PIN = "246810"


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def enter(dialog: PinDialog, secret: str) -> None:
    dialog.entry.setText(secret)
    confirm = getattr(dialog, "confirm_entry", None)
    if confirm is not None:
        confirm.setText(secret)
    dialog.accept()


def open_session(card: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(card))


def pka_device(path: Path, profile: str, *, replaceable: bool = False) -> SmartCardHsmSimulator:
    """A device initialised 2 of 3 (custodians alone unlock it) with two key-domain slots."""
    card = SmartCardHsmSimulator(path, seed=b"pka device " + profile.encode(), profile=profile)
    options = InitOptions.RESET_RETRY_COUNTER
    if replaceable:
        options |= InitOptions.REPLACE_PKA_KEYS
    open_session(card).initialize(
        InitParams(DEVICE_PIN, SO_PIN, options=options, public_key_auth=(3, 2), key_domains=2)
    )
    return card


def make_window(qtbot: Any, sources: list[SimulatorSource]) -> Any:
    from keymanager.gui.main_window import MainWindow

    main = MainWindow(sources, watch_readers=False)
    qtbot.addWidget(main)
    with qtbot.waitSignal(main.outline_loaded, timeout=20_000):
        main.show()
    return main


@pytest.fixture
def windows() -> Iterator[list[Any]]:
    """Windows to shut down (workers joined) after the test."""
    made: list[Any] = []
    yield made
    for main in made:
        workers = list(main.workers.values())
        main.shutdown()
        assert all(not worker.alive for worker in workers)
    gc.collect()


def test_the_init_dialogs_custodian_keys_reach_the_card(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    assert window.model.outline.find("pka") is None  # the demo card has no PKA
    assert window.run_action("init-device")
    dialog = seen.next(InitDeviceDialog)
    assert not dialog.pka_total.isEnabled()  # "None" chosen
    assert dialog.plan().public_key_auth is None
    dialog.select_scheme(DkekScheme.KEY_DOMAINS)
    dialog.pka_combo.setCurrentIndex(dialog.pka_combo.findData(True))
    assert dialog.pka_total.isEnabled() and dialog.pka_and_pin.isEnabled()
    dialog.pka_total.setValue(3)
    dialog.pka_required.setValue(5)  # more than N: held at N
    assert dialog.pka_required.value() == 3
    dialog.pka_required.setValue(2)
    dialog.pka_and_pin.setChecked(True)
    dialog.pka_replaceable.setChecked(True)
    plan = dialog.plan()
    assert plan.public_key_auth == (3, 2)
    assert plan.options & InitOptions.REQUIRE_PKA_AND_PIN
    assert plan.options & InitOptions.REPLACE_PKA_KEYS
    dialog.ok_button.click()
    enter(seen.next(PinDialog), DEMO_SO_PIN.hex())
    enter(seen.next(PinDialog), "135790")
    confirm = seen.next(QMessageBox)
    yes = next(b for b in confirm.buttons() if b.text() == "Yes, erase")
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        yes.click()
    node = window.model.outline.find("pka")
    assert node is not None and node.kind is NodeKind.PKA
    assert node.title == (
        "Public key authentication: 0 of 3 keys registered, 0 authenticated (2 needed)"
    )
    assert node.detail("Unlocks with") == "2 custodians and the user PIN"
    assert node.detail("Registered keys") == "may be replaced"
    assert [child.title for child in node.children] == [f"Slot {n}: empty" for n in range(3)]
    # nothing registered: the wizard says why it cannot run yet
    entry = next(
        a for a in window.build_context_menu(node).actions() if a.objectName() == "pka-authenticate"
    )
    assert not entry.isEnabled() and "register the custodians" in entry.toolTip()


@pytest.mark.parametrize("profile", PROFILES)
def test_register_a_custodian_key_and_see_it_in_the_outline(
    qtbot, windows, tmp_path: Path, profile: str
) -> None:
    device = pka_device(tmp_path / "device.json", profile)
    first = make_custodian(tmp_path, 1, profile=profile, in_file=True)
    window = make_window(qtbot, [SimulatorSource(device, "Device")])
    windows.append(window)
    seen = Seen(qtbot, window)
    node = window.model.outline.find("pka")
    assert node.title.startswith("Public key authentication: 0 of 3 keys registered")
    assert node.detail("Registered keys") == "fixed"
    window.select_node("pka")
    assert window.run_action("pka-register")
    chooser = seen.next(QFileDialog)
    chooser.selectFile(str(first.pka))
    chooser.accept()
    dialog = seen.next(RegisterCustodianDialog)
    assert dialog.findChild(object, "custodianFact").text() == first.chr
    assert dialog.replace_slot() is None  # the card keeps its keys: only the next free slot
    assert dialog.slot_combo.count() == 1
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        dialog.ok_button.click()
    result = seen.next(QMessageBox)
    serial = open_session(first.card).serial()
    assert f"Custodian key {first.chr} of the custodian device {serial}" in result.informativeText()
    assert "registered in slot 0" in result.informativeText()
    node = window.model.outline.find("pka")
    assert node.title == (
        "Public key authentication: 1 of 3 keys registered, 0 authenticated (2 needed)"
    )
    assert window.model.outline.find("pka:0").title == f"Slot 0: {first.chr}, not authenticated"
    assert window.selected_node() is node
    # a slot that holds a key cannot be replaced on this card: greyed, with the reason
    slot = window.model.outline.find("pka:0")
    entry = next(
        a for a in window.build_context_menu(slot).actions() if a.objectName() == "pka-register"
    )
    assert not entry.isEnabled() and "registered keys may be replaced" in entry.toolTip()


@pytest.mark.parametrize("profile", PROFILES)
def test_two_custodian_cards_unlock_a_2_of_3_device_then_a_pkcs12_import_runs(
    qtbot, windows, tmp_path: Path, profile: str
) -> None:
    device = pka_device(tmp_path / "device.json", profile)
    custodians = [
        make_custodian(tmp_path, number, profile=profile, in_file=True) for number in (1, 2, 3)
    ]
    for each in custodians:
        register_custodian(open_session(device), ScriptedInteraction(), each.pka)
    window = make_window(
        qtbot,
        [
            SimulatorSource(device, "Device"),
            SimulatorSource(custodians[0].card, "Custodian card 1"),
            SimulatorSource(custodians[1].card, "Custodian card 2"),
        ],
    )
    windows.append(window)
    seen = Seen(qtbot, window)
    node = window.model.outline.find("pka")
    assert node.title == (
        "Public key authentication: 3 of 3 keys registered, 0 authenticated (2 needed)"
    )
    assert window.run_action("pka-authenticate")
    wizard = seen.next(AuthenticateWizard)
    page = wizard.sources_page
    assert page.count.value() == 2
    labels = [page.combos[0].itemText(i) for i in range(page.combos[0].count())]
    assert labels == ["Custodian card 1", "Custodian card 2"]  # never the device itself
    page.combos[0].setCurrentIndex(0)
    page.combos[1].setCurrentIndex(0)
    assert not page.isComplete() and "One reader for every custodian" in page.problem()
    page.combos[1].setCurrentIndex(1)
    assert page.isComplete()
    wizard.next()
    first = seen.next(PinDialog)
    assert "Custodian card 1" in first.request.purpose
    enter(first, custodians[0].pin)
    second = seen.next(PinDialog)
    assert "Custodian card 2" in second.request.purpose
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        enter(second, custodians[1].pin)
    qtbot.waitUntil(lambda: wizard.result_page.done, timeout=10_000)
    text = wizard.result_page.status.text()
    assert text == "2 of 2 needed authenticated: the device is unlocked"
    log = [wizard.result_page.log.item(i).text() for i in range(wizard.result_page.log.count())]
    assert any(custodians[0].chr in line for line in log)
    node = window.model.outline.find("pka")
    assert node.title == (
        "Public key authentication: 3 of 3 keys registered, 2 authenticated (2 needed)"
    )
    states = [child.title.rsplit(", ", 1)[1] for child in node.children]
    assert states == ["authenticated", "authenticated", "not authenticated"]
    assert window.model.outline.find("pin").detail("State") == "verified"

    # a PKCS#12 import in that session: the PIN is not asked (the script has no PIN)
    p12 = tmp_path / "in.p12"
    write_p12(p12, host_key("p256"), common_name="after PKA")
    answers = ScriptedInteraction()
    answers.answer("secret", P12_PASSWORD.encode()).answer("choices", "all")
    answers.answer("confirm", False)
    journal = ImportJournal(tmp_path / "journal.json")
    results: list[object] = []

    def run(context: JobContext) -> object:
        return transient_import(context.hsm, answers, path=p12, journal=journal, offer_more=False)

    pins_before = seen.count(PinDialog)
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        window.submit("Import", run, on_result=results.append, changes_card=True)
    assert results and results[0].ok, results
    assert seen.count(PinDialog) == pins_before
    keys = [key.title for key in window.model.outline.nodes(NodeKind.KEY)]
    assert any("after PKA" in title for title in keys)


def test_create_a_custodian_key_on_the_selected_card(qtbot, windows, tmp_path: Path) -> None:
    card = SmartCardHsmSimulator(tmp_path / "custodian.json", seed=b"gui custodian")
    open_session(card).initialize(InitParams("123456", SO_PIN))
    window = make_window(qtbot, [SimulatorSource(card, "Custodian card")])
    windows.append(window)
    seen = Seen(qtbot, window)
    assert window.model.outline.find("pka") is None
    assert window.run_action("pka-create-key")
    dialog = seen.next(CreateCustodianKeyDialog)
    assert not dialog.ok_button.isEnabled()  # no label yet
    dialog.label_edit.setText("Custodian Bob")
    dialog.curve_combo.setCurrentIndex(dialog.curve_combo.findData("secp256r1"))
    dialog.ok_button.click()
    chooser = seen.next(QFileDialog)
    out = tmp_path / "bob.pka"
    chooser.selectFile(str(out))
    chooser.accept()
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        enter(seen.next(PinDialog), "123456")
    result = seen.next(QMessageBox)
    assert "Custodian Bob" in result.informativeText() and str(out) in result.informativeText()
    from keymanager.card.pka_file import PkaFile

    pka = PkaFile.parse(out.read_bytes())
    pka.check()
    assert pka.device_serial == open_session(card).serial()
    assert pka.chr in result.informativeText()


class SwappingReader(SimulatorSource):
    """One reader whose card the test swaps: ``card`` is what is in it now."""

    def __init__(self, cards: list[SmartCardHsmSimulator]) -> None:
        super().__init__(cards[0], "One reader")
        self.cards = cards
        self.card = 0

    @property
    def key(self) -> str:
        return "test:one-reader"

    def open(self) -> Any:
        return LocalTransport(self.cards[self.card], name="One reader")


def answer(box: QMessageBox, text: str) -> None:
    next(button for button in box.buttons() if button.text() == text).click()


def test_one_reader_serves_every_custodian_and_asks_for_the_next_card(
    qtbot, windows, tmp_path: Path
) -> None:
    device = pka_device(tmp_path / "device.json", "genuine")
    custodians = [
        make_custodian(tmp_path, number, profile="genuine", in_file=True) for number in (1, 2)
    ]
    for each in custodians:
        register_custodian(open_session(device), ScriptedInteraction(), each.pka)
    reader = SwappingReader([each.card for each in custodians])
    window = make_window(qtbot, [SimulatorSource(device, "Device"), reader])
    windows.append(window)
    seen = Seen(qtbot, window)
    assert window.run_action("pka-authenticate")
    wizard = seen.next(AuthenticateWizard)
    wizard.sources_page.one_reader.setChecked(True)
    assert len(wizard.sources_page.combos) == 1 and wizard.sources_page.isComplete()
    wizard.next()
    enter(seen.next(PinDialog), custodians[0].pin)
    ask = seen.next(QMessageBox)
    assert "put in the card of custodian 2" in ask.text()
    answer(ask, "Yes")  # still the first card in the reader: refused, asked again
    warning = seen.next(QMessageBox)
    assert "authenticated already in this round" in warning.text()
    answer(warning, "OK")
    ask = seen.next(QMessageBox)
    reader.card = 1
    answer(ask, "Yes")
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        enter(seen.next(PinDialog), custodians[1].pin)
    qtbot.waitUntil(lambda: wizard.result_page.done, timeout=10_000)
    assert wizard.result_page.status.text() == "2 of 2 needed authenticated: the device is unlocked"
    assert "2 authenticated (2 needed)" in window.model.outline.find("pka").title
