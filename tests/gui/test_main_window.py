"""The main window on the demo card: outline, details, actions, errors, PIN flow, readers."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtWidgets import QApplication, QMessageBox

from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.gui.gui_interaction import ChoiceDialog, GuiInteraction
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.readers import ReaderSnapshot, ReaderState
from keymanager.gui.worker import JobContext
from keymanager.simulator.demo import DEMO_KEYS, DEMO_PIN, DEMO_SHARES
from keymanager.workflows.interaction import Choice, SecretKind, SecretRequest
from keymanager.workflows.outline import NodeKind

DEMO_KCV = format_kcv(Dkek.from_shares(DEMO_SHARES).kcv())


def _titles(window) -> list[str]:
    outline = window.model.outline
    return [node.title for node in outline.nodes()]


def test_window_shows_domains_keys_and_certificates(qtbot, window) -> None:
    outline = window.model.outline
    assert outline is not None
    titles = _titles(window)
    # the titles name the registry's purpose and keys when keymanager recorded them
    assert any(t.startswith("Key domain 0") and f"KCV {DEMO_KCV}" in t for t in titles)
    assert any(t.startswith("Key domain 1") and "waiting for 1 of 2 share(s)" in t for t in titles)
    assert "Key domain 2: empty" in titles
    for demo in DEMO_KEYS:
        assert any(title.startswith(demo.label) for title in titles)
    assert sum(t.startswith("Certificate: ") for t in titles) == 3
    # domains and keys are expanded at first
    assert window.tree.isExpanded(window.model.index_of(outline.find("key:1").parent))
    assert "KeyManager demo card" in window.reader_status.text()
    # details of the selected node, copyable
    window.select_node("domain:0")
    assert window.details.fields["KCV"].text() == DEMO_KCV
    assert window.details.fields["KCV"].isReadOnly()


def test_selecting_a_certificate_loads_it_in_the_background(qtbot, window) -> None:
    node = window.select_node("certificate:3")
    assert node is not None and node.pending
    qtbot.waitUntil(lambda: not node.pending, timeout=10_000)
    qtbot.waitUntil(lambda: "Issuer" in window.details.fields)
    assert window.details.fields["Issuer"].text() == "CN=KeyManager Demo Root CA,O=KeyManager Demo"
    assert window.details.fields["Public key"].text() == "EC brainpoolP256r1"


def test_context_menus_offer_the_actions_that_apply(qtbot, window) -> None:
    outline = window.model.outline
    domain0 = outline.find("domain:0")
    domain1 = outline.find("domain:1")
    key = outline.find("key:1")
    ids0 = [a.id for a in window.context_actions(domain0)]
    assert "copy-kcv" in ids0 and "refresh" in ids0
    assert "copy-kcv" not in [a.id for a in window.context_actions(domain1)]
    assert "verify-pin" not in [a.id for a in window.context_actions(key)]
    # the plug-ins' actions appear on their node kinds (the PKCS#12 import plug-in)
    device_ids = [a.id for a in window.context_actions(outline.device)]
    assert any(i.startswith("plugin:") for i in device_ids)
    assert any(i.startswith("plugin:") for i in ids0)
    menu = window.build_context_menu(domain0)
    labels = [a.text() for a in menu.actions()]
    assert "Copy KCV" in labels
    copy = next(a for a in menu.actions() if a.text() == "Copy KCV")
    copy.trigger()
    assert window.copy_text.last == DEMO_KCV
    assert QApplication.clipboard().text() == DEMO_KCV


def test_verify_pin_dialog_flow_from_a_worker_job(qtbot, window) -> None:
    dialogs: list[object] = []
    window.broker.dialog_opened.connect(dialogs.append)
    assert window.run_action("verify-pin", window.model.outline.find("pin"))
    qtbot.waitUntil(lambda: any(isinstance(d, PinDialog) for d in dialogs), timeout=10_000)
    first = dialogs[-1]
    assert isinstance(first, PinDialog)
    assert first.request.tries_left == 3 and not first.warning_label.isVisibleTo(first)
    # while the worker waits for the PIN, the GUI runs and card actions are disabled
    assert not window.verify_action.isEnabled()
    menu = window.build_context_menu(window.model.outline.find("pin"))
    verify = next(a for a in menu.actions() if a.objectName() == "verify-pin")
    assert not verify.isEnabled()
    first.entry.setText("111111")
    first.accept()
    # the workflow warns (a message box) and asks again with the card's new count
    qtbot.waitUntil(lambda: any(isinstance(d, QMessageBox) for d in dialogs), timeout=10_000)
    warning = next(d for d in dialogs if isinstance(d, QMessageBox))
    assert "2 tries left" in warning.text()
    warning.accept()
    qtbot.waitUntil(lambda: sum(isinstance(d, PinDialog) for d in dialogs) == 2, timeout=10_000)
    second = [d for d in dialogs if isinstance(d, PinDialog)][1]
    assert second.request.tries_left == 2
    with qtbot.waitSignal(window.outline_loaded, timeout=10_000):
        second.entry.setText(DEMO_PIN)
        second.accept()
    assert window.model.outline.find("pin").detail("State") == "verified"
    assert not shiboken6.isValid(second)  # the dialog and its entry field are gone


def test_card_removed_during_a_job_shows_a_message_and_the_app_recovers(
    qtbot, window, demo_card
) -> None:
    demo_card.faults.remove_at(2)
    with qtbot.waitSignal(window.message_shown, timeout=10_000) as shown:
        window.submit("Reading the key list", lambda context: read_keys(context))
    message = shown.args[0]
    assert message.title == "The card was removed"
    assert "Insert the card again" in message.what_to_do
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and box.isVisible()
    assert "CardRemoved" in box.detailedText()
    box.close()
    # still out: a refresh explains it in the reader bar, no traceback, no hang
    with qtbot.waitSignal(window.outline_failed, timeout=10_000):
        window.refresh()
    assert "removed" in window.reader_status.text().lower()
    assert window.model.outline is None
    demo_card.insert()
    with qtbot.waitSignal(window.outline_loaded, timeout=10_000):
        window.refresh_action.trigger()
    assert window.model.outline is not None


def read_keys(context: JobContext) -> object:
    from keymanager.card.keystore import KeyStore

    return KeyStore(context.hsm).list_keys()


def test_cancel_from_the_window(qtbot, window) -> None:
    started = threading.Event()

    def slow(context: JobContext) -> None:
        started.set()
        while True:
            context.check_cancelled()
            context.progress("waiting", 1, 3)
            threading.Event().wait(0.005)

    window.submit("Slow job", slow)
    assert started.wait(5)
    qtbot.waitUntil(lambda: window.cancel_action.isEnabled())
    with qtbot.waitSignal(window.message_shown, timeout=5_000) as shown:
        window.cancel_action.trigger()
    assert shown.args[0].title == "Cancelled"
    qtbot.waitUntil(lambda: not window.cancel_action.isEnabled())
    assert window.findChild(QMessageBox, "errorDialog") is None


def test_gui_interaction_choice_and_confirm_from_a_worker(qtbot, window) -> None:
    dialogs: list[object] = []
    window.broker.dialog_opened.connect(dialogs.append)
    answers: list[object] = []

    def job(context: JobContext) -> None:
        interaction = context.interaction
        assert isinstance(interaction, GuiInteraction)
        answers.append(
            interaction.ask_choice(
                "Which domain?",
                [
                    Choice(0, "Domain 0"),
                    Choice(1, "Domain 1", disabled="waiting for shares"),
                    Choice(2, "Domain 2"),
                ],
            )
        )
        answers.append(interaction.confirm("Erase everything?", destructive=True))

    with qtbot.waitSignal(
        window.worker.busy_changed, timeout=15_000, check_params_cb=lambda b: not b
    ):
        window.submit("Questions", job)
        qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=5_000)
        choice = dialogs[0]
        assert isinstance(choice, ChoiceDialog)
        try:
            choice.select("Domain 1")
            raise AssertionError("a disabled choice was selectable")
        except KeyError:
            pass
        choice.select("Domain 2")
        choice.accept()
        qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=5_000)
        confirm = dialogs[1]
        assert isinstance(confirm, QMessageBox)
        no = next(b for b in confirm.buttons() if b.text() == "No")
        no.click()
    assert answers == [2, False]


def test_gui_interaction_on_the_gui_thread(qtbot, window) -> None:
    interaction = GuiInteraction(window.broker)
    dialogs: list[object] = []

    def answer(dialog: object) -> None:
        dialogs.append(dialog)
        assert isinstance(dialog, PinDialog)
        dialog.entry.setText("0123456789abcdef")
        dialog.accept()

    window.broker.dialog_opened.connect(answer)
    secret = interaction.ask_secret(SecretRequest(SecretKind.SO_PIN, "a test", tries_left=15))
    assert secret == bytearray(b"0123456789abcdef")
    assert len(dialogs) == 1


def test_reader_bar_follows_readers_coming_and_going(qtbot, window) -> None:
    combo = window.reader_combo
    assert combo.count() == 1
    window._readers_changed(ReaderSnapshot((ReaderState("Test Reader 00", False),)))
    assert combo.count() == 2 and combo.itemText(1) == "Test Reader 00"
    # choosing a reader with no card (or no pcscd) explains it, never a dialog
    with qtbot.waitSignal(window.outline_failed, timeout=10_000):
        window.select_source("pcsc:Test Reader 00")
    assert window.reader_status.text()
    assert window.findChild(QMessageBox, "errorDialog") is None
    window._readers_changed(ReaderSnapshot(problem="The PC/SC service (pcscd) is not running"))
    assert combo.count() == 1
    assert window.current_key is not None and window.current_key.startswith("simulator:")
    qtbot.waitUntil(lambda: window.model.outline is not None, timeout=10_000)
    assert "pcsc:Test Reader 00" not in window.workers


def test_reader_watcher_reports_and_stops(qtbot) -> None:
    from keymanager.gui.readers import ReaderWatcher

    watcher = ReaderWatcher(interval=0.1)
    with qtbot.waitSignal(watcher.changed, timeout=5_000) as first:
        watcher.start()
    snapshot = first.args[0]
    assert isinstance(snapshot, ReaderSnapshot)
    assert snapshot.readers or snapshot.problem  # readers, or a plain explanation
    assert watcher.stop()


def test_outline_keeps_selection_and_expansion_on_refresh(qtbot, window) -> None:
    window.select_node("key:2")
    with qtbot.waitSignal(window.outline_loaded, timeout=10_000):
        window.refresh()
    assert window.selected_node().node_id == "key:2"
    window.select_node("data-objects")
    group = window.model.outline.find("key:2").parent.node_id
    window.tree.collapse(window.model.find(group))
    window.tree.expand(window.model.find("ca-certificates"))
    with qtbot.waitSignal(window.outline_loaded, timeout=10_000):
        window.refresh()
    assert window.selected_node().node_id == "data-objects"
    assert not window.tree.isExpanded(window.model.find(group))
    assert window.tree.isExpanded(window.model.find("ca-certificates"))
    assert window.model.outline.find("key:2").kind is NodeKind.KEY
