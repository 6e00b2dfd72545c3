"""Key-domain groups (XKEK, issue 17) in the desktop app, as a user meets them.

Two simulated devices A and B (their own PINs) are sources of one window on A.  Through
the Key domains and shares menu A creates a group (A is its signer), admits itself and B
(B chosen in the dialog's card chooser; B's PIN asked for B) and derives its KEK with B;
a key generated in A's XKEK domain (the Generate key dialog offers the domain) is then
copied to B through the key's context action "Copy key to another device of the
group…".  The result names the KCV, the key's reference on B and the verified test
signature; B's outline shows the key under its XKEK domain ("XKEK domain, group
<16 hex>…, KCV …"), and a signature made on B with it verifies on the host under the
public key A holds.  Both simulator profiles.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from PySide6.QtWidgets import QMessageBox

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitParams
from keymanager.card.keystore import KeyStore
from keymanager.card.transport import LocalTransport
from keymanager.gui.areas.xkek import remember_group_file
from keymanager.gui.dialogs.generate_key import GenerateKeyDialog
from keymanager.gui.dialogs.xkek import (
    AdmitDeviceDialog,
    CopyKeyDialog,
    CreateGroupDialog,
    DeriveKekDialog,
)
from keymanager.gui.dialogs.xkek_parts import THIS_CARD
from keymanager.gui.gui_interaction import ChoiceDialog
from keymanager.gui.messages import ErrorDialog
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.worker import SimulatorSource
from keymanager.gui.xkek_members import MEMBERS_UNKNOWN, add_group_members
from keymanager.gui.xkek_samples import make_group_file
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.outline import (
    EXPORTABLE_XKEK_TEXT,
    Detail,
    NodeKind,
    Outline,
    OutlineNode,
)
from keymanager.workflows.xkek_group import GroupFile
from tests.support.gui_window import Seen

PROFILES = ("genuine", "pico")
SO_PIN = bytes.fromhex("3537363231383830")
PIN_A = "246810"
PIN_B = "135790"
ECDSA_ON_HASH = 0x70


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def open_session(card: SmartCardHsmSimulator) -> SmartCardHsm:
    return SmartCardHsm.open(LocalTransport(card))


def device(path: Path, profile: str, name: str, pin: str) -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(path, seed=f"xkek gui {name} {profile}".encode(), profile=profile)
    open_session(card).initialize(InitParams(pin, SO_PIN, key_domains=3))
    return card


@pytest.fixture
def windows() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for main in made:
        workers = list(main.workers.values())
        main.shutdown()
        assert all(not worker.alive for worker in workers)
    gc.collect()


def make_window(qtbot: Any, sources: list[SimulatorSource]) -> Any:
    from keymanager.gui.main_window import MainWindow

    main = MainWindow(sources, watch_readers=False)
    qtbot.addWidget(main)
    with qtbot.waitSignal(main.outline_loaded, timeout=20_000):
        main.show()
    return main


def finish(seen: Seen, pins: list[str]) -> QMessageBox:
    """Answer the job's PIN dialogs (B's PIN where the purpose names Device B, else A's)
    until its result box comes; ``pins`` gets which PIN each dialog was given."""
    while True:
        shown = seen.next(PinDialog, QMessageBox, ErrorDialog, timeout=30_000)
        if isinstance(shown, ErrorDialog):
            pytest.fail(f"the job failed: {shown.message.title}: {shown.message.what_to_do}")
        if isinstance(shown, PinDialog):
            pin = PIN_B if "Device B" in shown.request.purpose else PIN_A
            pins.append(pin)
            shown.entry.setText(pin)
            shown.accept()
            continue
        if shown.objectName() == "resultDialog":
            return shown
        pytest.fail(f"unexpected message: {shown.text()} {shown.informativeText()}")


def xkek_domain(outline_device: OutlineNode) -> OutlineNode:
    found = [
        node
        for node in outline_device.walk()
        if node.kind is NodeKind.KEY_DOMAIN and node.detail("Type") == "XKEK"
    ]
    assert len(found) == 1, [node.title for node in outline_device.walk()]
    return found[0]


@pytest.mark.parametrize("profile", PROFILES)
def test_group_admit_derive_and_copy_a_key_to_the_other_device(
    qtbot, windows, tmp_path: Path, profile: str
) -> None:
    card_a = device(tmp_path / "a.json", profile, "a", PIN_A)
    card_b = device(tmp_path / "b.json", profile, "b", PIN_B)
    source_a = SimulatorSource(card_a, "Device A")
    source_b = SimulatorSource(card_b, "Device B")
    window = make_window(qtbot, [source_a, source_b])
    windows.append(window)
    seen = Seen(qtbot, window)
    pins: list[str] = []
    group_path = tmp_path / "GROUP.json"
    serial_a, serial_b = card_a.serial, card_b.serial

    # create the group: A is the signer
    assert window.run_action("xkek-create-group")
    create = seen.next(CreateGroupDialog)
    assert not create.ok_button.isEnabled()  # no file chosen yet
    create.group_field.set_path(group_path)
    assert create.ok_button.isEnabled(), create.problem_label.text()
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        create.ok_button.click()
        result = finish(seen, pins)
    assert pins == [PIN_A]
    group = json.loads(group_path.read_text())
    uid = group["uid"]
    assert f"Key-domain group {uid[:16].upper()}…" in result.informativeText()
    assert group["signer"]["serial"] == serial_a and group["members"] == []
    result.close()

    # admit A itself, then B (B's PIN asked for B)
    for member, expected in ((THIS_CARD, []), (source_b.key, [PIN_B])):
        pins.clear()
        assert window.run_action("xkek-admit")
        admit = seen.next(AdmitDeviceDialog)
        assert admit.group_field.path() == group_path  # the group file used last
        assert "members:" in admit.group_field.summary_label.text()
        assert [admit.member_field.combo.itemData(i) for i in range(2)] == [
            THIS_CARD,
            source_b.key,  # never A's own source a second time
        ]
        admit.member_field.choose(member)
        with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
            admit.ok_button.click()
            result = finish(seen, pins)
        assert pins == expected
        assert "is a member of the group: XKEK key domain" in result.informativeText()
        result.close()
    members = json.loads(group_path.read_text())["members"]
    assert [m["serial"] for m in members] == [serial_a, serial_b]

    # the outline of A: the XKEK domain, no KEK yet
    domain = xkek_domain(window.model.outline.device)
    assert f"XKEK domain, group {uid[:16].upper()}…" in domain.title
    assert "KEK not derived yet" in domain.title
    assert domain.detail("Group UID") == uid.upper()
    # its members, from the group file used last
    assert domain.detail("Members") == "2 in the group file, this device among them"
    exchange_a, exchange_b = (m["exchange_key_ref"] for m in members)
    assert (
        domain.detail("Member 1")
        == f"{serial_a}, key domain 0, exchange key {exchange_a} (this device)"
    )
    assert domain.detail("Member 2") == f"{serial_b}, key domain 0, exchange key {exchange_b}"
    assert domain.detail("Group file") == str(group_path)
    offered = [action.id for action in window.context_actions(domain)]
    assert "xkek-derive" in offered
    assert "copy-kcv" not in offered  # nothing to copy before a KEK is derived

    # derive on A with B's exchange key
    pins.clear()
    window.select_node(domain.node_id)
    assert window.run_action("xkek-derive")
    derive = seen.next(DeriveKekDialog)
    assert derive.peer_combo.findData(serial_b) >= 0 and derive.peer_combo.findData(serial_a) < 0
    derive.peer_combo.setCurrentIndex(derive.peer_combo.findData(serial_b))
    assert derive.ok_button.isEnabled(), derive.problem_label.text()
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        derive.ok_button.click()
        result = finish(seen, pins)
    assert pins == []  # A's PIN verified in this session already
    text = result.informativeText()
    assert f"with the exchange key of device {serial_b}: KCV " in text
    kcv = text.split("KCV ", 1)[1].split(".", 1)[0]
    result.close()
    domain = xkek_domain(window.model.outline.device)
    assert f"KCV {kcv}" in domain.title
    assert domain.detail("KCV") == kcv

    # generate a key in the XKEK domain through the Generate key dialog
    slot = int(domain.detail("Number") or "0")
    assert window.run_action("generate-key")
    generate = seen.next(GenerateKeyDialog)
    generate.label_edit.setText("group signing key")
    generate.select_algorithm("ec:secp256r1")
    index = generate.domain_combo.findData(slot)
    assert index >= 0 and "XKEK, group" in generate.domain_combo.itemText(index)
    generate.domain_combo.setCurrentIndex(index)
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        generate.ok_button.click()
    key = next(
        node
        for node in window.model.outline.nodes(NodeKind.KEY)
        if "group signing key" in node.title
    )
    assert key.parent is not None and key.parent.node_id == domain.node_id
    assert key.detail("Export") == EXPORTABLE_XKEK_TEXT  # the group's KEK, no DKEK
    key_a = key.data

    # the exchange key stays: greyed with the reason
    exchange = next(node for node in key.parent.children if "XKEK exchange key" in node.title)
    entry = next(
        a
        for a in window.build_context_menu(exchange).actions()
        if a.objectName() == "xkek-copy-key"
    )
    assert not entry.isEnabled() and "exchange key" in entry.toolTip()

    # copy the key to B through its context menu
    pins.clear()
    entry = next(
        a for a in window.build_context_menu(key).actions() if a.objectName() == "xkek-copy-key"
    )
    assert entry.isEnabled()
    entry.trigger()
    copy = seen.next(CopyKeyDialog)
    assert copy.group_field.path() == group_path
    assert [
        copy.target_field.combo.itemData(i) for i in range(copy.target_field.combo.count())
    ] == [source_b.key]
    copy.target_field.choose(source_b.key)
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        copy.ok_button.click()
        result = finish(seen, pins)
    assert pins == [PIN_B]  # asked for B only: A's session is verified
    text = result.informativeText()
    assert f"is copied to device {serial_b}: it is key " in text
    assert f"KCV {kcv}" in text
    assert "verified" in text
    target_reference = int(text.split("it is key ", 1)[1].split(" ", 1)[0])
    result.close()

    # B's outline: the key under its XKEK domain of the same group and KCV
    with qtbot.waitSignal(window.outline_loaded, timeout=30_000):
        window.select_source(source_b.key)
    outline_b = window.model.outline
    assert outline_b.device.detail("Serial") == serial_b
    domain_b = xkek_domain(outline_b.device)
    assert f"XKEK domain, group {uid[:16].upper()}…" in domain_b.title
    assert domain_b.detail("Member 2") == (
        f"{serial_b}, key domain 0, exchange key {exchange_b} (this device)"
    )
    copied = [child for child in domain_b.children if "group signing key" in child.title]
    assert len(copied) == 1 and copied[0].data.key_reference == target_reference

    # a signature made on B verifies under the public key A holds
    public_key = KeyStore(open_session(card_a)).load_certificate(key_a).public_key
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    hsm_b = open_session(card_b)
    hsm_b.verify_pin(PIN_B)
    message = b"signed on device B with the key made on device A"
    signature = hsm_b.sign(target_reference, ECDSA_ON_HASH, hashlib.sha256(message).digest())
    public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_the_dialogs_say_why_they_cannot_run_yet(qtbot, window, tmp_path: Path) -> None:
    seen = Seen(qtbot, window)
    # the demo card holds no XKEK domain: Derive group KEK… is greyed with the reason
    window.menu_bar.update()
    derive = window.menu_bar.qactions["xkek-derive"]
    assert not derive.isEnabled() and "holds no XKEK key domain" in derive.toolTip()
    assert window.run_action("xkek-derive") is False
    # a group file that exists already is not overwritten
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    assert window.run_action("xkek-create-group")
    create = seen.next(CreateGroupDialog)
    create.group_field.set_path(taken)
    assert not create.ok_button.isEnabled()
    assert "exists already" in create.problem_label.text()
    create.group_field.set_path(tmp_path / "missing-folder" / "GROUP.json")
    assert "does not exist" in create.problem_label.text()
    create.reject()
    # a file that is no group file: the summary says so and OK stays disabled
    assert window.run_action("xkek-admit")
    admit = seen.next(AdmitDeviceDialog)
    admit.group_field.set_path(taken)
    assert admit.group_field.summary_label.text().startswith("Not usable: ")
    assert not admit.ok_button.isEnabled()
    # a simulated card file added in the chooser is offered and chosen
    other = tmp_path / "other.json"
    device(other, "genuine", "other", PIN_B)
    added = admit.member_field.add_simulated_card(other)
    assert admit.member_source() is added and added.label == "Simulated card other.json"
    admit.reject()


def _outline_with_xkek_domain(uid: str, serial: str) -> Outline:
    root = OutlineNode(NodeKind.DEVICE, "", "root")
    device_node = root.add(
        OutlineNode(NodeKind.DEVICE, "device", "device", (Detail("Serial", serial),))
    )
    device_node.add(
        OutlineNode(
            NodeKind.KEY_DOMAIN,
            "Key domain 0 — XKEK domain",
            "domain:0",
            (Detail("Type", "XKEK"), Detail("Group UID", uid), Detail("KCV", "0011")),
        )
    )
    return Outline(root, "reader")


def test_members_need_the_group_file_of_the_domains_group(tmp_path: Path) -> None:
    path = make_group_file(tmp_path / "GROUP.json")
    group = GroupFile.load(path)
    first = group.members[0].serial
    # no group file known, or one of another group: the line says how to list them
    for known in (None, path):
        outline = _outline_with_xkek_domain("AB" * 64, first)
        add_group_members(outline, known)
        domain = outline.nodes(NodeKind.KEY_DOMAIN)[0]
        assert domain.detail("Members") == MEMBERS_UNKNOWN
        assert domain.detail("Member 1") is None
    # the group file of the domain's group: each member, this device named
    outline = _outline_with_xkek_domain(group.uid.hex().upper(), first)
    add_group_members(outline, path)
    domain = outline.nodes(NodeKind.KEY_DOMAIN)[0]
    labels = [item.label for item in domain.details]
    assert labels[:4] == ["Type", "Group UID", "KCV", "Members"]  # after the KCV
    assert (domain.detail("Member 1") or "").endswith("(this device)")
    assert not (domain.detail("Member 2") or "").endswith("(this device)")
    assert domain.detail("Group signer") == group.signer.serial


def group_of_two(tmp_path: Path, profile: str) -> tuple[SimulatorSource, Path]:
    """Devices A (the signer) and B, both admitted (one PIN for both); A's source."""
    from keymanager.workflows.interaction import ScriptedInteraction
    from keymanager.workflows.xkek import admit_member, create_group

    card_a = device(tmp_path / "a.json", profile, "a", PIN_A)
    card_b = device(tmp_path / "b.json", profile, "b", PIN_A)
    path = tmp_path / "GROUP.json"
    hsm_a, hsm_b = open_session(card_a), open_session(card_b)
    interaction = ScriptedInteraction()
    for _ in range(4):
        interaction.answer("secret", PIN_A.encode())
    create_group(hsm_a, interaction, path)
    admit_member(hsm_a, hsm_a, interaction, path)
    admit_member(hsm_a, hsm_b, interaction, path)
    return SimulatorSource(card_a, "Device A"), path


def delete_through_the_window(
    qtbot: Any, window: Any, seen: Seen, *, take_off: bool | None
) -> tuple[str, list[str]]:
    """Delete key domain… on the XKEK domain; ``take_off``: the group-file answer
    (``None``: no such question expected).  The confirmation's text and the messages."""
    domain = xkek_domain(window.model.outline.device)
    window.select_node(domain.node_id)
    assert window.run_action("delete-domain")
    if take_off is not None:
        question = seen.next(ChoiceDialog)
        labels = [choice.label for choice in question.choices]
        assert labels == [
            "Take this device off the group file (GROUP.json)",
            "Leave the group file as it is",
        ]
        question.select(labels[0] if take_off else labels[1])
        question.accept()
    confirm = seen.next(QMessageBox)
    confirmation = confirm.text()
    yes = next(b for b in confirm.buttons() if b.text() == "Yes, erase")
    messages: list[str] = []  # what the workflow says (the status bar shows it)
    window.broker.info_message.connect(messages.append)
    loaded: list[object] = []
    window.outline_loaded.connect(loaded.append)
    yes.click()

    def pin_asked_or_done() -> bool:
        for shown in seen.items:
            if isinstance(shown, ErrorDialog):
                pytest.fail(f"the job failed: {shown.message.title}: {shown.message.what_to_do}")
            if isinstance(shown, PinDialog | ChoiceDialog) and id(shown) not in seen.used:
                return True
        return bool(loaded)

    while not loaded:
        qtbot.waitUntil(pin_asked_or_done, timeout=30_000)
        if not loaded:
            pin = seen.next(PinDialog)
            pin.entry.setText(PIN_A)
            pin.accept()
    return confirmation, messages


@pytest.mark.parametrize("profile", PROFILES)
def test_delete_an_xkek_domain_takes_the_device_off_the_group_file(
    qtbot, windows, tmp_path: Path, profile: str
) -> None:
    source_a, path = group_of_two(tmp_path, profile)
    serial_a = source_a.simulator.serial
    remember_group_file(path)  # the group file used last: the window offers to update it
    window = make_window(qtbot, [source_a])
    windows.append(window)
    seen = Seen(qtbot, window)
    domain = xkek_domain(window.model.outline.device)
    exchange = next(child for child in domain.children if "XKEK exchange key" in child.title)
    exchange_ref = exchange.data.key_reference
    assert "delete-domain" in [action.id for action in window.context_actions(domain)]

    confirmation, messages = delete_through_the_window(qtbot, window, seen, take_off=True)
    assert f"its exchange key (key {exchange_ref}) is deleted first" in confirmation
    assert f"Device {serial_a} is taken off {path}" in confirmation
    assert any(f"taken off {path}" in text for text in messages), messages

    # the card: the slot is empty, the exchange key gone; the group file lists B only
    hsm_a = open_session(source_a.simulator)
    assert hsm_a.key_domain_status(int(domain.detail("Number") or "0")) is None
    assert exchange_ref not in [key.key_reference for key in KeyStore(hsm_a).list_keys()]
    members = [m.serial for m in GroupFile.load(path).members]
    assert serial_a not in members and len(members) == 1
    outline = window.model.outline
    assert not [n for n in outline.nodes(NodeKind.KEY_DOMAIN) if n.detail("Type") == "XKEK"]


@pytest.mark.parametrize("profile", PROFILES)
def test_delete_an_xkek_domain_without_its_group_file(
    qtbot, windows, tmp_path: Path, profile: str
) -> None:
    source_a, path = group_of_two(tmp_path, profile)
    before = path.read_bytes()
    window = make_window(qtbot, [source_a])  # no group file used in this window yet
    windows.append(window)
    seen = Seen(qtbot, window)
    domain = xkek_domain(window.model.outline.device)
    assert domain.detail("Members") == MEMBERS_UNKNOWN
    confirmation, _messages = delete_through_the_window(qtbot, window, seen, take_off=None)
    assert "is deleted first" in confirmation and "taken off" not in confirmation
    assert not [
        n for n in window.model.outline.nodes(NodeKind.KEY_DOMAIN) if n.detail("Type") == "XKEK"
    ]
    assert path.read_bytes() == before  # the group file is not touched
