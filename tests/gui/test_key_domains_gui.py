"""Key domains and sealed keys in the desktop app, on a copy of the demo card.

Rename a domain, "Find key domains…" on the keys keymanager has no record of, the
share import refused (greyed, with the reason) on a transient-import domain that
holds keys, "Back up…" greyed on a sealed key, and the "The card must never export
this key" box of the generate and restore dialogs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QInputDialog

from keymanager.card.domain_registry import DomainPurpose
from keymanager.card.seal import is_sealed
from keymanager.dkek.paperkey import encode_paperkey
from keymanager.gui.actions import BACKUP_SEALED_REASON, IMPORT_TRANSIENT_REASON
from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.dialogs.rename_domain import RenameDomainDialog
from keymanager.gui.dialogs.restore_key import SEAL_TEXT, RestoreKeyDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import ShareDialog
from keymanager.gui.worker import JobContext
from keymanager.simulator.demo import DEMO_KEYS, DEMO_PIN, DEMO_SHARES
from keymanager.workflows.key_domains import record
from keymanager.workflows.keys import backup_key
from keymanager.workflows.outline import UNRECORDED_GROUP_ID, NodeKind
from tests.support.gui_window import Seen


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


def on_card(qtbot: Any, window: Any, run: Any, *, refresh: bool = False) -> Any:
    """Run ``run(context)`` on the window's worker (PIN verified first); its result."""
    results: list[object] = []

    def job(context: JobContext) -> object:
        context.hsm.verify_pin(DEMO_PIN.encode())
        return run(context)

    signal = window.outline_loaded if refresh else window.job_done
    with qtbot.waitSignal(signal, timeout=15_000):
        window.submit("Test setup", job, on_result=results.append, changes_card=refresh)
    assert results, "the job failed"
    return results[0]


def pin(seen: Seen) -> None:
    dialog = seen.next(PinDialog)
    dialog.entry.setText(DEMO_PIN)
    dialog.accept()


def menu_entry(window: Any, node_id: str, action_id: str) -> Any:
    menu = window.build_context_menu(window.model.outline.find(node_id))
    return next(a for a in menu.actions() if a.objectName() == action_id)


def test_rename_a_key_domain(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    entry = menu_entry(window, "domain:0", "rename-domain")
    assert entry.isEnabled()
    assert "rename-domain" not in [
        a.id for a in window.context_actions(window.model.outline.find("domain:2"))
    ]  # an empty slot has nothing to label
    entry.trigger()
    dialog = seen.next(RenameDomainDialog)
    dialog.label_edit.setText("x" * 65)
    assert not dialog.ok_button.isEnabled() and "64 bytes" in dialog.problem_label.text()
    dialog.label_edit.setText("  Production 2027 ")
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        pin(seen)
    node = window.model.outline.find("domain:0")
    assert node.title.startswith("Key domain 0 — Production 2027")
    assert node.detail("Label") == "Production 2027"
    assert window.selected_node() is node


def test_transient_domain_with_keys_takes_no_shares_and_sealed_keys_no_backup(
    qtbot, window
) -> None:
    seen = Seen(qtbot, window)
    sealed_demo = next(i for i, demo in enumerate(DEMO_KEYS, 1) if demo.allowed_algorithms)

    def transient(context: JobContext) -> None:
        # what a transient import leaves: a domain whose every share is outstanding,
        # recorded as a transient import, holding a sealed key
        context.hsm.create_dkek_domain(2, 1)
        key = window.model.outline.find(f"key:{sealed_demo}").data

        def change(registry: Any) -> None:
            registry.record_domain(2, DomainPurpose.TRANSIENT, "transient import")
            registry.record_key(sealed_demo, key.id, 2, sealed=True)

        record(context.hsm, change)

    on_card(qtbot, window, transient, refresh=True)
    domain = window.model.outline.find("domain:2")
    assert "transient import of" in domain.title and "KEK deleted: 1 key, sealed" in domain.title
    entry = menu_entry(window, "domain:2", "import-shares")
    assert not entry.isEnabled() and IMPORT_TRANSIENT_REASON in entry.toolTip()
    assert not window.run_action("import-shares", domain)
    assert IMPORT_TRANSIENT_REASON in window.statusBar().currentMessage()
    assert seen.count(PinDialog) == 0  # nothing started
    # a domain waiting for its custodians still takes shares
    assert menu_entry(window, "domain:1", "import-shares").isEnabled()

    key = window.model.outline.find(f"key:{sealed_demo}")
    assert key.parent is domain and key.title.endswith(", sealed")
    backup = menu_entry(window, key.node_id, "backup-key")
    assert not backup.isEnabled() and backup.toolTip() == f"Not possible: {BACKUP_SEALED_REASON}"
    assert BACKUP_SEALED_REASON == "sealed: the card refuses to export it"
    assert not window.run_action("backup-key", key)
    assert seen.count(QFileDialog) == 0
    window.select_node(key.node_id)
    assert window.details.fields["Export"].text() == BACKUP_SEALED_REASON


def test_find_key_domains_on_the_keys_without_record(qtbot, window) -> None:
    on_card(qtbot, window, lambda c: record(c.hsm, lambda r: r.keys.clear()), refresh=True)
    group = window.model.outline.find(UNRECORDED_GROUP_ID)
    assert group is not None and group.title == f"Domain not recorded ({len(DEMO_KEYS)})"
    assert "find-key-domains" in [a.id for a in window.context_actions(group)]
    key = window.model.outline.find("key:1")
    assert "find-key-domains" in [a.id for a in window.context_actions(key)]
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        assert window.run_action("find-key-domains", group)  # the PIN is verified already
    outline = window.model.outline
    for number, demo in enumerate(DEMO_KEYS, 1):
        node = outline.find(f"key:{number}")
        if is_sealed(demo.allowed_algorithms or None):  # no WRAP: the card refuses to wrap
            assert node.title.endswith(", sealed") and node.parent.node_id == UNRECORDED_GROUP_ID
            assert "find-key-domains" not in [a.id for a in window.context_actions(node)]
        else:
            assert node.parent is outline.find("domain:0")
            assert node.detail("Key domain") == "0 (probed)"
            assert node.title.endswith(", exportable")
    group = outline.find(UNRECORDED_GROUP_ID)
    assert group is None or "find-key-domains" not in [a.id for a in window.context_actions(group)]


def test_generate_a_sealed_key(qtbot, window) -> None:
    seen = Seen(qtbot, window)
    window.generate_action.trigger()
    dialog = seen.next(GenerateKeyDialog)
    assert dialog.seal_box.text() == SEAL_TEXT and not dialog.seal_box.isChecked()
    dialog.label_edit.setText("Sealed GUI key")
    dialog.select_algorithm("ec:secp256r1")
    dialog.domain_combo.setCurrentIndex(dialog.domain_combo.findData(0))
    dialog.seal_box.setChecked(True)
    assert dialog.choices().seal
    dialog.ok_button.click()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        pin(seen)
    key = window.selected_node()
    assert key.kind is NodeKind.KEY and key.title.startswith("Sealed GUI key")
    assert key.title.endswith(", sealed") and key.parent is window.model.outline.find("domain:0")
    assert key.detail("Key domain") == "0 (recorded by keymanager)"
    assert not menu_entry(window, key.node_id, "backup-key").isEnabled()


def test_restore_sealed_asks_the_shares(qtbot, window, tmp_path: Path) -> None:
    seen = Seen(qtbot, window)
    exportable = next(i for i, demo in enumerate(DEMO_KEYS, 1) if not demo.allowed_algorithms)
    path = tmp_path / "backup.wky"
    on_card(qtbot, window, lambda c: backup_key(c.hsm, c.interaction, exportable, path))
    assert window.run_action("restore-key", window.model.outline.find("keys"))
    dialog = seen.next(QFileDialog)
    dialog.selectFile(str(path))
    dialog.accept()
    restore = seen.next(RestoreKeyDialog)
    assert restore.seal_box.text() == SEAL_TEXT
    restore.seal_box.setChecked(True)
    restore.ok_button.click()
    number = seen.next(QInputDialog)  # how many shares make up the DKEK
    number.setIntValue(len(DEMO_SHARES))
    number.accept()
    shares = seen.next(ShareDialog)
    shares.tabs.setCurrentWidget(shares.paperkey_tab)
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        for share in DEMO_SHARES:
            qtbot.waitUntil(lambda: shares.can_hand_over, timeout=10_000)
            for edit, line in zip(
                shares.paperkey_tab.lines, encode_paperkey(share).lines, strict=True
            ):
                edit.setText(line)
            assert shares.hand_over()
        qtbot.waitUntil(lambda: shares.final is not None, timeout=10_000)
        shares.continue_button.click()  # the shares' KCV matches the card's
    restored = window.selected_node()
    assert restored.kind is NodeKind.KEY and restored.node_id != f"key:{exportable}"
    assert restored.title.endswith(", sealed")
    assert restored.detail("Export") == BACKUP_SEALED_REASON
