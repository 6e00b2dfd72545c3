"""The key ceremony record in the desktop app (issue 18), driven as users do it.

A rehearsal on a simulated card (both simulator profiles): Ceremony → Start ceremony…
names an officer, two custodians and a witness; the officer initialises the card with
2 DKEK shares (the witness types their name in the sign-off dialog), Alice and Bob,
each acting in turn (Ceremony → Acting participant…), create a share file and import
it, the officer imports a PKCS#12 file (the wizard; both shares handed over), backs up
the key and closes the ceremony with it.  Verify record… says "record intact", Print
report… writes the PDF, and the record names who acted in each step and the witness.
A real ceremony refuses the simulated card; custodian rotation runs without a card and
is recorded.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtWidgets import QFileDialog, QMessageBox

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import InitParams
from keymanager.card.transport import LocalTransport
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.sharefile import decrypt_share, read_share_file
from keymanager.gui.areas.ceremony_record import CeremonyCardRefused
from keymanager.gui.dialogs.ceremony import Route, ShareCeremonyDialog
from keymanager.gui.dialogs.ceremony_record import (
    ActingParticipantDialog,
    CloseCeremonyDialog,
    RecordVerificationDialog,
    StartCeremonyDialog,
)
from keymanager.gui.dialogs.ceremony_witness import WitnessDialog
from keymanager.gui.dialogs.init_device import InitDeviceDialog
from keymanager.gui.dialogs.share_rotation import RotateShareDialog
from keymanager.gui.messages import ErrorDialog
from keymanager.gui.p12_wizard import CLASSIC_ACTION, Pkcs12Wizard
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.shares import ShareDialog
from keymanager.gui.worker import SimulatorSource
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.ceremony_record import Participant, read_lines
from keymanager.workflows.device import DkekScheme
from keymanager.workflows.interaction import SecretKind
from keymanager.workflows.outline import NodeKind
from tests.support.gui_window import Seen
from tests.workflows.p12_support import P12_PASSWORD, host_key, write_p12

PROFILES = ("genuine", "pico")
SO_PIN = bytes.fromhex("3537363231383830")
PIN = "648219"
PASSWORDS = {"Alice": "alice's long share passphrase", "Bob": "bob's long share passphrase"}
PEOPLE = (("Olga", "security officer"), ("Alice", "custodian"), ("Bob", "custodian"),
          ("Wanda", "witness"))  # fmt: skip


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def windows() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for main in made:
        workers = list(main.workers.values())
        main.shutdown()
        assert all(not worker.alive for worker in workers)
        assert all(not thread.is_alive() for thread in main.ceremony.card_free.threads)
    gc.collect()


def make_window(qtbot: Any, card: SmartCardHsmSimulator, windows: list[Any]) -> Any:
    from keymanager.gui.main_window import MainWindow

    main = MainWindow([SimulatorSource(card, "Simulated card")], watch_readers=False)
    qtbot.addWidget(main)
    with qtbot.waitSignal(main.outline_loaded, timeout=20_000):
        main.show()
    windows.append(main)
    return main


def simulated_card(path: Path, profile: str) -> SmartCardHsmSimulator:
    card = SmartCardHsmSimulator(path, seed=f"ceremony gui {profile}".encode(), profile=profile)
    SmartCardHsm.open(LocalTransport(card)).initialize(InitParams(PIN, SO_PIN))
    return card


def enter(dialog: PinDialog, secret: str) -> None:
    dialog.entry.setText(secret)
    confirm = getattr(dialog, "confirm_entry", None)
    if confirm is not None:
        confirm.setText(secret)
    dialog.accept()


class Answers:
    """Answers the dialogs a job opens until it is done (see :meth:`until`)."""

    def __init__(self, qtbot: Any, window: Any) -> None:
        self.qtbot = qtbot
        self.window = window
        self.seen = Seen(qtbot, window)
        self.finished: list[str] = []
        self.results: list[QMessageBox] = []
        self.witness_prompts: list[str] = []
        window.job_done.connect(lambda title, _result: self.finished.append(title))

    def until(
        self,
        done: Callable[[], bool],
        *,
        shares: tuple[tuple[Path, str], ...] = (),
        new_password: str = "",
        witness: str = "Wanda",
    ) -> None:
        kinds = (WitnessDialog, PinDialog, ErrorDialog, QMessageBox, ShareDialog)
        pending_shares = list(shares)
        while True:
            found: list[Any] = []

            def ready() -> bool:
                for dialog in self.seen.items:
                    if isinstance(dialog, kinds) and id(dialog) not in self.seen.used:
                        self.seen.used.add(id(dialog))
                        found.append(dialog)
                        return True
                return done()

            self.qtbot.waitUntil(ready, timeout=60_000)
            if not found:
                return
            dialog = found[0]
            if isinstance(dialog, ErrorDialog):
                pytest.fail(f"{dialog.message.title}: {dialog.message.what_to_do}")
            elif isinstance(dialog, WitnessDialog):
                self.witness_prompts.append(dialog.prompt_label.text())
                dialog.name_edit.setText(witness)
                dialog.ok_button.click()
            elif isinstance(dialog, PinDialog):
                kind = dialog.request.kind
                if kind is SecretKind.NEW_SHARE_PASSWORD:
                    enter(dialog, new_password)
                else:
                    enter(dialog, SO_PIN.hex() if kind is SecretKind.SO_PIN else PIN)
            elif isinstance(dialog, ShareDialog):
                self._hand_over(dialog, pending_shares)
            elif dialog.objectName() == "resultDialog":
                self.results.append(dialog)
                dialog.accept()
            else:
                yes = [b for b in dialog.buttons() if b.text() in ("Yes, erase", "Yes")]
                (yes or dialog.buttons())[0].click()

    def _hand_over(self, dialog: ShareDialog, pending: list[tuple[Path, str]]) -> None:
        while pending:
            path, password = pending.pop(0)
            self.qtbot.waitUntil(lambda: dialog.can_hand_over, timeout=20_000)
            dialog.tabs.setCurrentWidget(dialog.file_tab)
            dialog.file_tab.set_path(path)
            dialog.file_tab.password.setText(password)
            assert dialog.hand_over()
        request = dialog.request
        if request is not None and request.reports_outcome:
            self.qtbot.waitUntil(lambda: dialog.final is not None, timeout=30_000)
            dialog.continue_button.click()

    def job(self, title: str) -> Callable[[], bool]:
        """Done once the job ``title`` ended and the card was read again."""
        count = self.finished.count(title)

        def done() -> bool:
            worker = self.window.worker
            return self.finished.count(title) > count and worker is not None and not worker.busy

        return done


def menu(window: Any, action_id: str) -> None:
    entry = window.menu_bar.qactions[action_id]
    assert entry.isEnabled(), entry.toolTip()
    entry.trigger()


def act_as(answers: Answers, name: str) -> None:
    menu(answers.window, "ceremony-actor")
    dialog = answers.seen.next(ActingParticipantDialog)
    dialog.select(name)
    dialog.ok_button.click()
    assert answers.window.ceremony.running.actor == name
    assert f"acting: {name}" in answers.window.windowTitle()
    assert f"acting: {name}" in answers.window.ceremony.status_label.text()


def start_rehearsal(answers: Answers, record: Path) -> None:
    window = answers.window
    menu(window, "ceremony-start")
    dialog = answers.seen.next(StartCeremonyDialog)
    assert dialog.rehearsal_box.isEnabled() and dialog.rehearsal_box.isChecked()
    dialog.title_edit.setText("Root key ceremony")
    dialog.set_participants(PEOPLE)
    dialog.record_edit.setText(str(record))
    dialog.rehearsal_box.setChecked(False)  # a real ceremony refuses a simulated card
    assert not dialog.ok_button.isEnabled() and "simulated" in dialog.problem_label.text()
    dialog.rehearsal_box.setChecked(True)
    assert dialog.ok_button.isEnabled(), dialog.problem_label.text()
    dialog.ok_button.click()
    answers.qtbot.waitUntil(lambda: window.ceremony.running is not None, timeout=20_000)
    assert "Rehearsal: Root key ceremony — acting: Olga" in window.windowTitle()


def entries(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_lines(record)]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_full_ceremony_in_the_desktop_app(
    qtbot: Any, windows: list[Any], tmp_path: Path, profile: str
) -> None:
    window = make_window(qtbot, simulated_card(tmp_path / "card.json", profile), windows)
    answers = Answers(qtbot, window)
    record = tmp_path / "record.jsonl"
    start_rehearsal(answers, record)

    # the officer initialises the card with 2 DKEK shares; the witness signs off
    assert window.run_action("init-device")
    init = answers.seen.next(InitDeviceDialog)
    init.select_scheme(DkekScheme.DKEK_SHARES)
    init.shares_spin.setValue(2)
    init.ok_button.click()
    answers.until(answers.job("Initialising the device"))
    assert len(answers.witness_prompts) == 1 and "Wanda" in answers.witness_prompts[0]
    domain = window.model.outline.find("domain:0")
    assert "waiting for 2 of 2" in domain.title

    # each custodian, acting in turn, creates a share file and imports it
    for custodian in ("Alice", "Bob"):
        act_as(answers, custodian)
        window.share_action.trigger()
        plan = answers.seen.next(ShareCeremonyDialog)
        plan.select_route(Route.PASSWORD_FILE)
        plan.file_edit.setText(str(tmp_path / f"{custodian}.pbe"))
        plan.ok_button.click()
        answers.until(answers.job("Creating a DKEK share"), new_password=PASSWORDS[custodian])
        assert (tmp_path / f"{custodian}.pbe").exists()
    for custodian in ("Alice", "Bob"):
        act_as(answers, custodian)
        share = ((tmp_path / f"{custodian}.pbe", PASSWORDS[custodian]),)
        assert window.run_action("import-shares", window.model.outline.find("domain:0"))
        answers.until(answers.job("Import DKEK shares"), shares=share)
    custodian_shares = [
        bytes(decrypt_share(read_share_file(tmp_path / f"{who}.pbe"), PASSWORDS[who].encode()))
        for who in ("Alice", "Bob")
    ]
    kcv = format_kcv(Dkek.from_shares(custodian_shares).kcv())
    assert window.model.outline.find("domain:0").detail("KCV") == kcv
    assert "waiting" not in window.model.outline.find("domain:0").title

    # the officer imports a PKCS#12 file into domain 0 (both shares handed over)
    act_as(answers, "Olga")
    p12 = tmp_path / "server.p12"
    write_p12(p12, host_key("p256"), common_name="Ceremony server key")
    node = window.model.outline.find("domain:0")
    entry = next(
        a for a in window.build_context_menu(node).actions() if a.objectName() == CLASSIC_ACTION
    )
    entry.trigger()
    wizard = window.findChild(Pkcs12Wizard, "pkcs12Wizard")
    wizard.file_page.path.setText(str(p12))
    wizard.file_page.password.setText(P12_PASSWORD)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == Pkcs12Wizard.ENTRIES, timeout=10_000)
    wizard.next()  # the target: domain 0
    wizard.next()  # confirm
    wizard.next()  # import
    shares = tuple((tmp_path / f"{who}.pbe", PASSWORDS[who]) for who in ("Alice", "Bob"))
    answers.until(lambda: wizard.progress_page.done, shares=shares)
    assert wizard.result_ is not None and wizard.result_.ok
    wizard.close()
    qtbot.waitUntil(lambda: not window.worker.busy, timeout=20_000)
    window.refresh()
    qtbot.waitUntil(
        lambda: any(
            n.title.startswith("Ceremony server key") for n in window.model.outline.nodes()
        ),
        timeout=20_000,
    )
    key = next(
        n for n in window.model.outline.nodes(NodeKind.KEY) if n.title.startswith("Ceremony server")
    )

    # a backup of the key
    backup = tmp_path / "server.wky"
    qtbot.waitUntil(lambda: not window.worker.busy, timeout=20_000)
    assert window.run_action("backup-key", key), window.statusBar().currentMessage()
    files = answers.seen.next(QFileDialog)
    files.selectFile(str(backup))
    files.accept()
    answers.until(answers.job("Backing up a key"))
    assert backup.exists()

    # close with the card key; the officer signs
    menu(window, "ceremony-close")
    close = answers.seen.next(CloseCeremonyDialog)
    close.select_key(key.data.key_reference)
    assert close.signer() == "Olga"
    close.ok_button.click()
    answers.until(lambda: window.ceremony.running is None)
    answers.until(lambda: bool(answers.results) and "closed" in answers.results[-1].text())
    assert "record intact" in answers.results[-1].informativeText()
    assert "Ceremony:" not in window.windowTitle() and "Rehearsal:" not in window.windowTitle()
    assert not window.menu_bar.qactions["ceremony-close"].isEnabled()

    # Verify record… (no card needed) and Print report…
    menu(window, "ceremony-verify")
    picker = answers.seen.next(QFileDialog)
    picker.selectFile(str(record))
    picker.accept()
    verification = answers.seen.next(RecordVerificationDialog)
    assert verification.verdict.text().startswith("record intact")
    assert "Root key ceremony" in verification.report.toPlainText()
    verification.reject()
    pdf = tmp_path / "record.pdf"
    menu(window, "ceremony-report")
    saver = answers.seen.next(QFileDialog)
    saver.selectFile(str(pdf))
    saver.accept()
    report = answers.seen.next(QMessageBox)
    assert "Ceremony report written" in report.text()
    assert (
        PdfReader(str(pdf)).pages
        and "Root key ceremony" in PdfReader(str(pdf)).pages[0].extract_text()
    )

    # the record: who acted in each step, and the witness
    lines = entries(record)
    steps = [
        (e["workflow"], e["actor"], e.get("witness"), e["result"])
        for e in lines
        if e.get("type") == "step"
    ]
    done = [
        (workflow, actor, witness) for workflow, actor, witness, result in steps if result == "done"
    ]
    assert ("initialise", "Olga", "Wanda") in done
    assert ("create share", "Alice", "Wanda") in done and ("create share", "Bob", "Wanda") in done
    assert ("import shares", "Alice", "Wanda") in done and ("import shares", "Bob", "Wanda") in done
    assert ("PKCS#12 import", "Olga", "Wanda") in done
    assert ("back up key", "Olga", None) in done
    assert lines[0]["rehearsal"] is True and lines[0]["devices"]
    assert lines[-1]["type"] == "close" and lines[-1]["signature"]["signer"] == "Olga"
    text = record.read_text()
    for secret in (PIN, SO_PIN.hex(), *PASSWORDS.values(), P12_PASSWORD):
        assert secret not in text


def test_a_real_ceremony_refuses_the_simulated_card(
    qtbot: Any, windows: list[Any], tmp_path: Path
) -> None:
    """A real ceremony (its record started without a card, as Start ceremony… does with
    no card) refuses a job on a simulated card before it starts; reading the card still
    works.  Both simulator profiles are the same here: the refusal comes first."""
    window = make_window(qtbot, simulated_card(tmp_path / "card.json", "genuine"), windows)
    record = tmp_path / "real.jsonl"
    window.ceremony._open_record(record, "Real ceremony", [Participant("Olga", "operator")],
                                 False, [])  # fmt: skip
    assert window.ceremony.running is not None and not window.ceremony.running.rehearsal
    assert "Ceremony: Real ceremony — acting: Olga" in window.windowTitle()
    touched: list[bool] = []
    with qtbot.waitSignal(window.job_done, timeout=10_000) as done:
        window.submit("Test probe", lambda context: touched.append(True))
    assert isinstance(done.args[1], CeremonyCardRefused) and not touched
    assert "simulated card" in str(done.args[1]) and "nothing was changed" in str(done.args[1])
    with qtbot.waitSignal(window.outline_loaded, timeout=10_000):
        window.refresh()
    assert [e["type"] for e in entries(record)] == ["start"]


def test_custodian_rotation_needs_no_card_and_is_recorded(
    qtbot: Any, windows: list[Any], tmp_path: Path
) -> None:
    """Ceremony → Rotate custodian share…: the old password opens the file, the
    custodian types the new one twice; the share's fingerprint stays, the old password
    no longer opens it, and the running ceremony records the rotation under Alice."""
    from keymanager.dkek.dkek import format_kcv, share_fingerprint
    from keymanager.dkek.sharefile import (
        WrongPassword,
        decrypt_share,
        encrypt_share,
        read_share_file,
        write_share_file,
    )

    window = make_window(qtbot, simulated_card(tmp_path / "card.json", "genuine"), windows)
    answers = Answers(qtbot, window)
    start_rehearsal(answers, tmp_path / "record.jsonl")
    act_as(answers, "Alice")
    share = bytes(range(32))
    share_file = tmp_path / "alice.pbe"
    write_share_file(share_file, encrypt_share(share, PASSWORDS["Alice"].encode()))
    menu(window, "ceremony-rotate")
    dialog = answers.seen.next(RotateShareDialog)
    assert not dialog.ok_button.isEnabled()  # no file yet
    dialog.file_tab.set_path(share_file)
    dialog.file_tab.password.setText(PASSWORDS["Alice"])
    assert dialog.ok_button.isEnabled(), dialog.problem_label.text()
    dialog.ok_button.click()
    answers.until(lambda: bool(answers.results), new_password="alice's new passphrase")
    fingerprint = format_kcv(share_fingerprint(share))
    assert f"Share fingerprint (unchanged): {fingerprint}" in answers.results[-1].informativeText()
    data = read_share_file(share_file)
    assert bytes(decrypt_share(data, b"alice's new passphrase")) == share
    with pytest.raises(WrongPassword):  # the old password no longer opens it
        decrypt_share(data, PASSWORDS["Alice"].encode())
    [rotation] = [e for e in entries(tmp_path / "record.jsonl") if e.get("type") == "step"]
    assert rotation["workflow"] == "share rotation" and rotation["actor"] == "Alice"
    assert rotation["result"] == "done"
    assert "alice's" not in (tmp_path / "record.jsonl").read_text()
