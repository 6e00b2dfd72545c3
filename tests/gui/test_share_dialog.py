"""The share input dialog: custodians hand over shares by file, n-of-m and PaperKey.

The shares go through the real workflow (:func:`keymanager.workflows.shares.collect_dkek`)
on the window's worker thread, asked through :class:`GuiInteraction`; the published
real-device share file is decrypted once (about 3 s of key derivation).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox

from keymanager.dkek.dkek import Dkek, format_kcv, share_fingerprint
from keymanager.dkek.nofm import (
    PasswordShare,
    format_prime,
    format_share_id,
    format_share_value,
    generate_password,
    parse_prime,
    parse_share_id,
    parse_share_value,
    recover_password,
    split_password,
)
from keymanager.dkek.paperkey import ALPHABET, encode_paperkey
from keymanager.gui.gui_interaction import PromptKind, PromptRequest
from keymanager.gui.shares import (
    MATCH_MARK,
    MISMATCH_MARK,
    ShareDialog,
    ShareSession,
    check_line_as_typed,
)
from keymanager.workflows.interaction import NofMShareInput, ShareRequest
from keymanager.workflows.shares import collect_dkek

OTHER_SHARE = hashlib.sha256(b"custodian two of the share dialog test").digest()


def _typo(line: str, position: int) -> str:
    """``line`` with the character at ``position`` replaced by another PaperKey symbol."""
    wrong = ALPHABET[(ALPHABET.index(line[position]) + 1) % len(ALPHABET)]
    return line[:position] + wrong + line[position + 1 :]


def _collect(window, count: int, card_kcv: bytes | None, results: list[Any]) -> None:
    """Run the share collection as a job of the window; results and error messages land
    in ``results`` (the window shows errors the way it shows every job's)."""

    def run(context: Any) -> str:
        dkek = collect_dkek(context.interaction, count, domain=0, card_kcv=card_kcv)
        try:
            return format_kcv(dkek.kcv())
        finally:
            dkek.clear()

    window.message_shown.connect(results.append)
    assert window.submit("Collecting shares", run, on_result=results.append)


def _share_dialog(qtbot, window) -> ShareDialog:
    found: list[ShareDialog] = []

    def look() -> bool:
        dialog = window.findChild(ShareDialog, "shareDialog")
        if dialog is not None and dialog.isVisible() and dialog.pending is not None:
            found.append(dialog)
            return True
        return False

    qtbot.waitUntil(look, timeout=10_000)
    return found[0]


def test_file_share_decrypts_in_the_background_while_the_next_custodian_types(
    qtbot, window, vectors, tmp_path: Path
) -> None:
    vector = vectors["share_file"]
    share_file = tmp_path / "custodian-1.pbe"
    share_file.write_bytes(base64.b64decode(vector["pbe_base64"]))
    first = bytes.fromhex(vector["share_hex"])
    expected = Dkek.from_shares([first, OTHER_SHARE])
    card_kcv = expected.kcv()
    results: list[Any] = []
    _collect(window, 2, card_kcv, results)
    dialog = _share_dialog(qtbot, window)
    assert dialog.heading.text() == "Key domain 0: DKEK share 1 of 2"
    assert dialog.card_kcv_label.text() == format_kcv(card_kcv)

    # custodian 1: the file is dropped on the dialog, the password typed
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    dialog.drop_file(share_file)
    assert dialog.tabs.currentWidget() is dialog.file_tab
    assert not dialog.hand_over_button.isEnabled()  # no password yet
    dialog.file_tab.password.setText(vector["password_ascii"])
    assert dialog.hand_over_button.isEnabled()
    assert dialog.hand_over()
    assert dialog.file_tab.password.text() == ""  # the secret left the field

    # the key derivation runs on the worker: its progress shows, the GUI goes on,
    # and custodian 2 types the PaperKey meanwhile; it is queued
    qtbot.waitUntil(lambda: dialog.progress.isVisible() and dialog.progress.value() > 0)
    assert dialog.heading.text() == "Key domain 0: DKEK share 2 of 2"
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    for edit, line in zip(
        dialog.paperkey_tab.lines, encode_paperkey(OTHER_SHARE).lines, strict=True
    ):
        edit.setText(line)
    assert dialog.paperkey_tab.fingerprint == encode_paperkey(OTHER_SHARE).fingerprint
    assert dialog.hand_over()
    assert len(dialog.queue) == 1 and dialog.progress.isVisible()

    # the first share is accepted, the queued one answers the next question at once
    qtbot.waitUntil(lambda: dialog.final is not None, timeout=30_000)
    items = [dialog.accepted_list.item(i).text() for i in range(dialog.accepted_list.count())]
    assert items == [
        f"Share 1 of 2 \u00b7 share file custodian-1.pbe \u00b7 fingerprint "
        f"{format_kcv(share_fingerprint(first))} \u00b7 accepted",
        f"Share 2 of 2 \u00b7 PaperKey \u00b7 fingerprint "
        f"{format_kcv(share_fingerprint(OTHER_SHARE))} \u00b7 accepted",
    ]
    assert dialog.running_kcv_label.text().startswith(format_kcv(card_kcv))
    assert dialog.kcv_mark.text() == MATCH_MARK and dialog.kcv_matches is True
    assert dialog.continue_button.text() == "Continue"
    dialog.continue_button.click()
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results == [format_kcv(card_kcv)]
    assert window.findChild(ShareDialog, "shareDialog") is None or not dialog.isVisible()


def test_paperkey_typo_is_marked_as_typed_and_a_kcv_mismatch_stops(qtbot, window) -> None:
    first = hashlib.sha256(b"paperkey custodian one").digest()
    wrong_second = hashlib.sha256(b"a share of another device").digest()
    right_second = hashlib.sha256(b"paperkey custodian two").digest()
    card_kcv = Dkek.from_shares([first, right_second]).kcv()
    results: list[Any] = []
    _collect(window, 2, card_kcv, results)
    dialog = _share_dialog(qtbot, window)
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    tab = dialog.paperkey_tab
    lines = encode_paperkey(first).lines
    # line 1 typed with a mistake in its second group: marked as soon as the group is
    # complete, before the line is
    typo_line = _typo(lines[0], lines[0].index(" ") + 1 + 6 + 1 + 2)
    partial = typo_line[: typo_line.index(" ") + 1 + 13]  # "1: " + two groups
    tab.lines[0].setText(partial)
    assert tab.bad_groups == {1: (2,)}
    assert "group 2" in tab.status.text()
    assert "text-decoration: underline" in tab.marks[0].text()
    assert not dialog.hand_over_button.isEnabled()
    tab.lines[0].setText(typo_line)
    assert tab.bad_groups == {1: (2,)}
    tab.lines[0].setText(lines[0])  # corrected
    assert tab.bad_groups == {}
    for edit, line in zip(tab.lines[1:], lines[1:], strict=True):
        edit.setText(line)
    assert tab.fingerprint == encode_paperkey(first).fingerprint
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.running_kcv is not None, timeout=10_000)
    assert "1 more share" in dialog.kcv_mark.text()
    assert dialog.kcv_matches is None
    # the second custodian brings a share of another device
    for edit, line in zip(tab.lines, encode_paperkey(wrong_second).lines, strict=True):
        edit.setText(line)
    assert dialog.hand_over()
    qtbot.waitUntil(lambda: dialog.final is not None, timeout=10_000)
    assert dialog.kcv_mark.text() == MISMATCH_MARK and dialog.kcv_matches is False
    assert dialog.continue_button.text().startswith("Stop")
    assert "another DKEK" in dialog.problem_label.text()
    dialog.continue_button.click()
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    # the window shows the workflow's message: nothing was imported
    assert window.last_message is results[0]
    assert "DkekKcvMismatch" in results[0].details
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and "nothing was imported" in box.informativeText()
    assert format_kcv(card_kcv) in box.informativeText()
    box.close()


def test_cancel_in_the_share_dialog_cancels_the_job(qtbot, window) -> None:
    results: list[Any] = []
    _collect(window, 3, None, results)
    dialog = _share_dialog(qtbot, window)
    assert dialog.card_kcv_label.text().startswith("not shown")
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results[0].title == "Cancelled"
    assert "was cancelled" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.worker.busy)


def test_nofm_tab_prime_once_then_rows_as_custodians_come(qtbot, tmp_path: Path) -> None:
    password = generate_password()
    split = split_password(password, 3, 5)
    share_file = tmp_path / "nofm.pbe"
    # only the shape of the file is checked in the dialog; its decryption is the
    # workflow's (tested with the published file above)
    share_file.write_bytes(b"Salted__" + bytes(56))
    session = ShareSession()
    dialog = ShareDialog(session)
    qtbot.addWidget(dialog)
    question = PromptRequest(PromptKind.SHARE, {})
    dialog.attach(question, ShareRequest(number=1, total=1, domain=3))
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.nofm_tab)
    tab = dialog.nofm_tab
    tab.file.edit.setText(str(share_file))
    # one digit mistyped: prime + 1 is even, so never a prime (a truncated prime can
    # itself be prime, about once in 170 random passwords)
    tab.prime.setText(format_prime(split.prime + 1))
    assert "prime" in tab.prime_status.text().lower() and "accepted" not in tab.prime_status.text()
    tab.prime.setText(format_prime(split.prime))
    assert tab.prime_status.text() == "Prime accepted."
    tab.threshold.setValue(3)
    assert tab.still_needed == 3 and tab.needed_label.text().endswith("3 more needed.")

    def fill(row_index: int, share: PasswordShare, value: str | None = None) -> None:
        row = tab.rows[row_index]
        row.share_id.setText(format_share_id(share.share_id))
        row.value.setText(value if value is not None else format_share_value(share.value))

    fill(0, split.shares[4])
    assert tab.prime.isReadOnly()  # the prime is entered once
    assert tab.still_needed == 2
    tab.add_row()
    fill(1, split.shares[4])  # the same custodian again
    assert "twice" in (tab.rows[1].problem or "")
    fill(1, split.shares[1], "zz:01")
    assert "not a hexadecimal digit" in (tab.rows[1].problem or "")
    assert "01" not in tab.rows[1].status.text().replace("row", "")  # no secret echoed
    fill(1, split.shares[1])
    assert tab.rows[1].problem is None and tab.still_needed == 1
    assert not dialog.hand_over_button.isEnabled()
    tab.add_row()
    fill(2, split.shares[2])
    assert tab.still_needed == 0 and tab.needed_label.text().startswith("3 fragment(s)")
    assert dialog.hand_over_button.isEnabled()
    assert dialog.hand_over()
    answer = question.result()
    assert isinstance(answer, NofMShareInput)
    assert answer.path == share_file and len(answer.fragments) == 3
    rebuilt = recover_password(
        parse_prime(answer.prime),
        [PasswordShare(parse_share_id(i), parse_share_value(v)) for i, v in answer.fragments],
    )
    assert rebuilt == password
    assert tab.rows[0].value.text() == "" and not tab.prime.isReadOnly()  # cleared
    qtbot.waitUntil(lambda: not dialog.isVisible())  # the last share of this request


def test_line_check_while_typing() -> None:
    line = encode_paperkey(OTHER_SHARE).lines[2]
    body = line.split(": ", 1)[1]
    assert check_line_as_typed(3, "").bad_groups == ()
    assert check_line_as_typed(3, body[:4]).problem is None
    assert check_line_as_typed(3, body).ok
    assert check_line_as_typed(3, line.lower()).ok
    assert check_line_as_typed(3, body.replace(" ", "")).ok
    assert check_line_as_typed(3, _typo(body, 0)[:6]).bad_groups == (1,)
    assert check_line_as_typed(3, body[:7] + "U").bad_groups == (2,)  # U is no symbol
    assert "numbered 2" in (check_line_as_typed(3, "2: " + body).problem or "")
    assert "characters" in (check_line_as_typed(3, body + "0").problem or "")
    # a group moved to another line fails there (each position has its own check)
    assert check_line_as_typed(4, body).bad_groups == (1, 2, 3)


def test_write_docs_screenshot(qtbot, demo_state: Path, tmp_path: Path) -> None:
    """``keymanager --screenshot docs/images/share-dialog.png --dialog share``."""
    from PySide6.QtGui import QImage

    from keymanager.gui.app import main

    target = Path(__file__).resolve().parents[2] / "docs" / "images" / "share-dialog.png"
    state = tmp_path / "demo.json"
    state.write_bytes(demo_state.read_bytes())
    assert main(["--demo", str(state), "--screenshot", str(target), "--dialog", "share"]) == 0
    image = QImage(str(target))
    assert not image.isNull() and image.width() >= 500 and image.height() >= 400
    assert target.stat().st_size < 150_000
    # the mistyped group is drawn in the error colour
    red = {
        (x, y)
        for x in range(image.width())
        for y in range(0, image.height(), 2)
        if image.pixelColor(x, y).name() == "#b00020"
    }
    assert red
