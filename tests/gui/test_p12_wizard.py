"""The PKCS#12 import wizard on the demo card: classic (shares) and transient imports.

The wizard is opened from the outline's context-menu entries of the PKCS#12 plug-in,
the import runs on the window's worker, shares and PIN go through the real dialogs,
and the imported key appears in the outline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.gui.p12_wizard import (
    CLASSIC_ACTION,
    TRANSIENT,
    TRANSIENT_ACTION,
    Pkcs12Wizard,
    install_pkcs12_wizard,
)
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import MATCH_MARK, ShareDialog
from keymanager.simulator.demo import DEMO_PIN, DEMO_SHARES
from keymanager.workflows.import_p12 import Pkcs12ImportResult
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

DEMO_KCV = format_kcv(Dkek.from_shares(DEMO_SHARES).kcv())


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "state" / "pkcs12-journal.json"


def _open_wizard(qtbot, window, action_id: str, node_id: str, journal: Path) -> Pkcs12Wizard:
    assert install_pkcs12_wizard(window, journal_path=journal) == 2
    node = window.model.outline.find(node_id)
    menu = window.build_context_menu(node)
    entry = next(a for a in menu.actions() if a.objectName() == action_id)
    assert entry.isEnabled()
    entry.trigger()
    wizard = window.findChild(Pkcs12Wizard, "pkcs12Wizard")
    assert wizard is not None and wizard.isVisible()
    return wizard


def _open_file(qtbot, wizard: Pkcs12Wizard, path: Path, password: str) -> None:
    page = wizard.file_page
    page.path.setText(str(path))
    page.password.setText(password)
    wizard.next()


def _pin(qtbot, window, dialogs: list[object]) -> None:
    qtbot.waitUntil(lambda: any(isinstance(d, PinDialog) for d in dialogs), timeout=10_000)
    pin = next(d for d in dialogs if isinstance(d, PinDialog))
    pin.entry.setText(DEMO_PIN)
    pin.accept()


def _outline_titles(window) -> list[str]:
    return [node.title for node in window.model.outline.nodes()]


def test_classic_import_with_shares_into_domain_0(qtbot, window, journal, tmp_path) -> None:
    p12 = tmp_path / "server.p12"
    write_p12(p12, host_key("p256"), common_name="Wizard test key", with_chain=True)
    dialogs: list[object] = []
    window.broker.dialog_opened.connect(dialogs.append)
    wizard = _open_wizard(qtbot, window, CLASSIC_ACTION, "domain:0", journal)
    assert wizard.currentId() == Pkcs12Wizard.FILE

    # a wrong password: the page says so and stays
    errors: list[str] = []
    wizard.error_shown.connect(errors.append)
    _open_file(qtbot, wizard, p12, "not the password")
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "password is wrong" in wizard.file_page.status.text()
    assert wizard.currentId() == Pkcs12Wizard.FILE
    _open_file(qtbot, wizard, p12, P12_PASSWORD)
    qtbot.waitUntil(lambda: wizard.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
    assert wizard.file_page.password.text() == ""

    entries = wizard.entries_page
    texts = [entries.list.item(i).text() for i in range(entries.list.count())]
    assert texts[0].startswith("Key: Wizard test key\n    EC secp256r1 private key")
    assert sum(t.startswith("Certificate: ") for t in texts) == 2  # the chain
    assert entries.chosen() == ["key:1", "ca:1", "ca:2"]
    wizard.next()

    assert wizard.currentId() == Pkcs12Wizard.TARGET
    target = wizard.target_page.target()
    assert target is not None and target.value == 0 and target.kcv == DEMO_KCV
    assert wizard.target_page.shares.value() == 2
    disabled = [t for t in wizard.target_page.targets if t.disabled]
    assert any(t.value == 1 and "waits for 1 of 2" in (t.disabled or "") for t in disabled)
    # "the card must never export this key": a choice on the classic path
    seal = wizard.target_page.seal_box
    assert seal.isEnabled() and not seal.isChecked()
    seal.setChecked(True)
    wizard.next()
    assert "Each key is sealed" in wizard.confirm_page.text.text()
    assert "key domain 0" in wizard.confirm_page.text.text()
    assert "1 key(s) and 2 CA certificate(s) from server.p12" in wizard.confirm_page.text.text()
    wizard.next()  # Import: the job starts
    assert wizard.currentId() == Pkcs12Wizard.PROGRESS

    # the custodians hand over their PaperKeys; the KCVs match; Continue
    qtbot.waitUntil(lambda: any(isinstance(d, ShareDialog) for d in dialogs), timeout=10_000)
    shares = next(d for d in dialogs if isinstance(d, ShareDialog))
    assert shares.card_kcv_label.text() == DEMO_KCV
    shares.tabs.setCurrentWidget(shares.paperkey_tab)
    for share in DEMO_SHARES:
        qtbot.waitUntil(lambda: shares.can_hand_over, timeout=10_000)
        for edit, line in zip(shares.paperkey_tab.lines, encode_paperkey(share).lines, strict=True):
            edit.setText(line)
        assert shares.hand_over()
    qtbot.waitUntil(lambda: shares.final is not None, timeout=10_000)
    assert shares.kcv_mark.text() == MATCH_MARK
    shares.continue_button.click()
    _pin(qtbot, window, dialogs)

    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        qtbot.waitUntil(lambda: wizard.progress_page.done, timeout=20_000)
    result = wizard.result_
    assert isinstance(result, Pkcs12ImportResult) and result.ok
    assert [key.sealed for key in result.keys] == [True]
    page = wizard.progress_page
    assert page.bar.value() == page.bar.maximum() == 1
    log = [page.log.item(i).text() for i in range(page.log.count())]
    assert any("Wizard test key: imported as key" in line for line in log)
    assert page.results.item(0, 0).text() == "Wizard test key"
    assert page.results.item(0, 2).text() == "ECDSA-SHA256 test signature verified"
    assert page.results.rowCount() == 3
    # the new key (and the chain) appear in the outline
    titles = _outline_titles(window)
    assert any(t.startswith("Wizard test key") and t.endswith(", sealed") for t in titles)
    assert any("Test Intermediate CA" in title for title in titles)
    imported = next(n for n in window.model.outline.nodes() if n.title.startswith("Wizard test"))
    assert imported.parent is window.model.outline.find("domain:0")  # recorded there
    assert not journal.exists()  # nothing pending
    wizard.close()


def test_transient_import_from_the_device_node(qtbot, window, journal, tmp_path) -> None:
    p12 = tmp_path / "signer.p12"
    write_p12(p12, host_key("rsa1024"), common_name="Transient RSA key")
    dialogs: list[object] = []
    window.broker.dialog_opened.connect(dialogs.append)
    wizard = _open_wizard(qtbot, window, TRANSIENT_ACTION, "device", journal)
    _open_file(qtbot, wizard, p12, P12_PASSWORD)
    qtbot.waitUntil(lambda: wizard.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
    wizard.next()
    target = wizard.target_page.target()
    assert target is not None and target.value == TRANSIENT
    assert not wizard.target_page.shares.isEnabled()
    # a transient import always seals: the box is ticked and cannot be unticked
    seal = wizard.target_page.seal_box
    assert seal.isChecked() and not seal.isEnabled()
    assert "always seals" in wizard.target_page.seal_note.text()
    wizard.next()
    assert "transient key domain" in wizard.confirm_page.text.text()
    wizard.next()
    _pin(qtbot, window, dialogs)
    qtbot.waitUntil(lambda: wizard.progress_page.done, timeout=20_000)
    result = wizard.result_
    assert isinstance(result, Pkcs12ImportResult) and result.ok
    assert result.transient and result.kek_deleted
    assert wizard.progress_page.results.item(0, 2).text() == (
        "RSA-PSS-SHA256 test signature verified"
    )
    assert "sealed: the card refuses to export it" in wizard.progress_page.status.text()
    qtbot.waitUntil(
        lambda: any(t.startswith("Transient RSA key") for t in _outline_titles(window)),
        timeout=20_000,
    )
    assert not any(isinstance(d, ShareDialog) for d in dialogs)  # no shares asked
    wizard.close()


def test_unsupported_keys_are_greyed_with_the_reason(qtbot, window, journal, tmp_path) -> None:
    p12 = tmp_path / "ed25519.p12"
    write_p12(p12, host_key("ed25519"), common_name="Edwards key", with_chain=True)
    wizard = _open_wizard(qtbot, window, CLASSIC_ACTION, "domain:0", journal)
    _open_file(qtbot, wizard, p12, P12_PASSWORD)
    qtbot.waitUntil(lambda: wizard.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
    entries = wizard.entries_page
    key_item = entries.item("key:1")
    assert not key_item.flags()  # greyed: not enabled, not checkable
    assert "not importable" in key_item.text() and "Ed25519" in key_item.text()
    assert key_item.toolTip()
    assert entries.chosen() == ["ca:1", "ca:2"]  # the chain can still go in
    assert "1 key(s) the card cannot hold" in entries.summary.text()
    wizard.close()


def test_an_import_error_shows_its_message(qtbot, window, journal, tmp_path) -> None:
    """The PIN dialog cancelled: the job ends, the wizard and the window say so."""
    p12 = tmp_path / "key.p12"
    write_p12(p12, host_key("p256"), common_name="Never imported")
    dialogs: list[object] = []
    window.broker.dialog_opened.connect(dialogs.append)
    wizard = _open_wizard(qtbot, window, TRANSIENT_ACTION, "device", journal)
    _open_file(qtbot, wizard, p12, P12_PASSWORD)
    qtbot.waitUntil(lambda: wizard.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
    wizard.next()
    wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: any(isinstance(d, PinDialog) for d in dialogs), timeout=10_000)
    next(d for d in dialogs if isinstance(d, PinDialog)).reject()
    qtbot.waitUntil(lambda: wizard.progress_page.done, timeout=10_000)
    assert wizard.progress_page.status.text().startswith("Cancelled")
    assert not any(t.startswith("Never imported") for t in _outline_titles(window))
    wizard.close()


def test_write_docs_screenshot(qtbot, demo_state: Path, tmp_path: Path) -> None:
    """``keymanager --screenshot docs/images/pkcs12-wizard.png --dialog pkcs12``."""
    from PySide6.QtGui import QImage

    from keymanager.gui.app import main

    target = Path(__file__).resolve().parents[2] / "docs" / "images" / "pkcs12-wizard.png"
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    assert main(["--demo", str(state), "--screenshot", str(target), "--dialog", "pkcs12"]) == 0
    image = QImage(str(target))
    assert not image.isNull() and image.width() >= 600 and image.height() >= 400
    assert target.stat().st_size < 150_000
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 5) for y in range(0, image.height(), 5)
    }
    assert len(colours) > 10
