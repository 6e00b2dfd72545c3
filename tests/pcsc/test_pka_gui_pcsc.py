"""Public key authentication in the desktop app through a real pcscd (issue 16's GUI part).

The cards are set up as in ``test_pka_pcsc.py``, with ``keymanager-cli`` through pcscd
(:mod:`tests.support.pka_pcsc`): three custodian cards, one after another in vpcd's
second reader (``Virtual PCD 00 01``), each with its custodian key and ``.pka`` file;
the device initialised ``--pka 3/2`` (custodians alone unlock it, no ``--pka-and-pin``)
in the first reader (``Virtual PCD 00 00``), the three files registered.

Then the main window, watching the PC/SC readers, opens on the device's reader; Card →
Authenticate custodians… has custodian 1's card in the second reader (its PIN asked)
and custodian 2's either in the same reader (``swap``: **one reader for every
custodian**; when the wizard asks for the next card the test takes card 1 out and puts
card 2 in) or from its simulated card file added in the wizard (``file``); the outline
shows "2 authenticated" and the PIN verified.  In that session the PKCS#12 wizard's transient
import runs without a PIN dialog, and the key is on the card afterwards.  Both
simulator profiles (``simulator_profile``).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from tests.support.gui_window import Seen, automatic_gc_back_after_gui_tests
from tests.support.pcscd import PcscdHarness
from tests.support.pka_pcsc import (
    CUSTODIAN_PIN,
    CUSTODIAN_READER,
    DEVICE_READER,
    PIN,
    card_in,
    make_custodian,
    pka_device,
    set_pin_variables,
)
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

__all__ = ["automatic_gc_back_after_gui_tests"]


@pytest.fixture(autouse=True)
def environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, automatic_gc_back_after_gui_tests: None
) -> Iterator[None]:
    """The CLI's PIN variables; the app's settings and journal in the test's directory."""
    set_pin_variables(monkeypatch)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield
    gc.collect()  # on the GUI thread, the workers joined (keymanager/gui/gc_guard.py)


def enter(dialog: Any, secret: str) -> None:
    dialog.entry.setText(secret)
    dialog.accept()


def answer(box: Any, text: str) -> None:
    next(button for button in box.buttons() if button.text() == text).click()


def shut_down(window: Any) -> None:
    workers = list(window.workers.values())
    window.shutdown()
    assert all(not worker.alive for worker in workers), "a worker thread was not joined"


@pytest.mark.parametrize("second_card", ["swap", "file"])
def test_two_custodians_unlock_the_device_then_a_pkcs12_import_runs(
    qtbot: Any,
    pcscd: PcscdHarness,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    second_card: str,
) -> None:
    """``second_card``: ``swap`` (one reader for every custodian, card 2 put in when the
    wizard asks) or ``file`` (custodian 2's simulated card file, added in the wizard)."""
    from PySide6.QtWidgets import QMessageBox

    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.p12_wizard import TRANSIENT_ACTION, Pkcs12Wizard
    from keymanager.gui.pin_dialog import PinDialog
    from keymanager.gui.pka_wizard import AuthenticateWizard
    from keymanager.gui.worker import PcscSource
    from keymanager.workflows.import_p12 import Pkcs12ImportResult

    keys = [make_custodian(pcscd, capsys, tmp_path, number) for number in (1, 2, 3)]
    chrs = [key["chr"] for key in keys]
    status = pka_device(pcscd, capsys, tmp_path, 3)
    assert (status["registered"], status["required"], status["authenticated"]) == (3, 2, 0)
    p12 = tmp_path / "key.p12"
    write_p12(p12, host_key("p256"), common_name="pka gui pcsc key")

    with contextlib.ExitStack() as stack:
        device, _bridge = stack.enter_context(
            pcscd.inserted(card_in(tmp_path, "device"), index=DEVICE_READER)
        )
        custodians = contextlib.ExitStack()
        stack.enter_context(custodians)
        reader, _first = custodians.enter_context(
            pcscd.inserted(card_in(tmp_path, "custodian1"), index=CUSTODIAN_READER)
        )
        assert device != reader

        window = MainWindow([PcscSource(device)], watch_readers=True)
        qtbot.addWidget(window)
        stack.callback(shut_down, window)
        with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
            window.show()
        seen = Seen(qtbot, window)
        assert window.current_key == f"pcsc:{device}"
        assert window.model.outline.reader == device
        node = window.model.outline.find("pka")
        assert node.title == (
            "Public key authentication: 3 of 3 keys registered, 0 authenticated (2 needed)"
        )
        # the watcher offers the second reader too
        qtbot.waitUntil(lambda: f"pcsc:{reader}" in window.sources, timeout=10_000)
        assert window.current_key == f"pcsc:{device}"
        # its first look may read the device's card again: wait for that to finish
        qtbot.waitUntil(
            lambda: not window.worker.busy and window.model.outline is not None, timeout=20_000
        )

        assert window.run_action("pka-authenticate"), window.statusBar().currentMessage()
        wizard = seen.next(AuthenticateWizard)
        page = wizard.sources_page
        assert page.count.value() == 2
        if second_card == "swap":
            page.one_reader.setChecked(True)
            assert len(page.combos) == 1
        labels = [page.combos[0].itemText(i) for i in range(page.combos[0].count())]
        assert device not in labels  # never the device itself
        page.combos[0].setCurrentIndex(page.combos[0].findData(f"pcsc:{reader}"))
        if second_card == "file":
            page.add_simulated_card(tmp_path / "custodian2.json")
            # the file goes into the row that repeated the reader; custodian 1 keeps it
            assert page.combos[1].currentText() == "Simulated card custodian2.json"
            assert page.combos[0].currentData() == f"pcsc:{reader}"
        assert page.isComplete(), page.problem()
        wizard.next()

        first = seen.next(PinDialog)
        assert f"custodian 1 ({reader})" in first.request.purpose
        enter(first, CUSTODIAN_PIN)
        if second_card == "swap":
            ask = seen.next(QMessageBox)
            assert f"Take the previous custodian's card out of {reader}" in ask.text()
            assert "put in the card of custodian 2" in ask.text()
            custodians.close()  # card 1 out of the reader (waits until pcscd sees it gone)
            custodians.enter_context(
                pcscd.inserted(card_in(tmp_path, "custodian2"), index=CUSTODIAN_READER)
            )
            answer(ask, "Yes")
        second = seen.next(PinDialog)
        where = reader if second_card == "swap" else "Simulated card custodian2.json"
        assert f"custodian 2 ({where})" in second.request.purpose
        with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
            enter(second, CUSTODIAN_PIN)
        qtbot.waitUntil(lambda: wizard.result_page.done, timeout=10_000)
        assert wizard.result_page.status.text() == (
            "2 of 2 needed authenticated: the device is unlocked"
        )
        log = [wizard.result_page.log.item(i).text() for i in range(wizard.result_page.log.count())]
        assert any(chrs[0] in line for line in log) and any(chrs[1] in line for line in log)
        node = window.model.outline.find("pka")
        assert node.title == (
            "Public key authentication: 3 of 3 keys registered, 2 authenticated (2 needed)"
        )
        states = [child.title.rsplit(", ", 1)[1] for child in node.children]
        assert states == ["authenticated", "authenticated", "not authenticated"]
        assert window.model.outline.find("pin").detail("State") == "verified"
        wizard.close()

        # In that session: the PKCS#12 wizard's transient import, no PIN asked.
        pins_before = seen.count(PinDialog)
        menu = window.build_context_menu(window.model.outline.find("device"))
        entry = next(a for a in menu.actions() if a.objectName() == TRANSIENT_ACTION)
        assert entry.isEnabled(), entry.toolTip()
        entry.trigger()
        importer = window.findChild(Pkcs12Wizard, "pkcs12Wizard")
        assert importer is not None and importer.isVisible()
        importer.file_page.path.setText(str(p12))
        importer.file_page.password.setText(P12_PASSWORD)
        importer.next()
        qtbot.waitUntil(lambda: importer.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
        importer.next()
        importer.next()
        assert importer.currentId() == Pkcs12Wizard.CONFIRM
        importer.next()
        qtbot.waitUntil(
            lambda: importer.progress_page.done or seen.count(PinDialog) > pins_before,
            timeout=30_000,
        )
        assert seen.count(PinDialog) == pins_before, "the import asked for the PIN"
        result = importer.result_
        assert isinstance(result, Pkcs12ImportResult) and result.ok, result
        assert result.transient
        qtbot.waitUntil(
            lambda: any(
                node.title.startswith("pka gui pcsc key") for node in window.model.outline.nodes()
            ),
            timeout=20_000,
        )
        importer.close()

    # The key is on the device (read from its state file with the user PIN).
    hsm = SmartCardHsm.open(LocalTransport(card_in(tmp_path, "device")))
    hsm.verify_pin(PIN)
    assert [key.label for key in KeyStore(hsm).list_keys()] == ["pka gui pcsc key"]
