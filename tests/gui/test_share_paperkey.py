"""Typing a PaperKey into the share dialog, key by key (QTest.keyClicks, offscreen).

The lines keep their width (from the font metrics), show what the checker reads (O as
0, I and L as 1, upper case), type over a selection and, on a full line, over the
character after the cursor, move on to the next line when a line is complete and
checks, and line 1 has the focus when the tab opens.
"""

from __future__ import annotations

import hashlib

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QGuiApplication, QKeySequence
from PySide6.QtTest import QTest

from keymanager.dkek.paperkey import ALPHABET, encode_paperkey
from keymanager.gui.gui_interaction import PromptKind, PromptRequest
from keymanager.gui.shares import PaperKeyTab, ShareDialog, ShareSession
from keymanager.gui.shares.paperkey_tab import PENDING_SYMBOL, SAMPLE_LINE
from keymanager.workflows.interaction import PaperKeyShareInput, ShareRequest

SHARE = hashlib.sha256(b"paperkey typed key by key").digest()


def _dialog(qtbot) -> tuple[ShareDialog, PromptRequest]:
    dialog = ShareDialog(ShareSession())
    qtbot.addWidget(dialog)
    question = PromptRequest(PromptKind.SHARE, {})
    dialog.attach(question, ShareRequest(number=1, total=1, domain=0))
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.tabs.setCurrentWidget(dialog.paperkey_tab)
    return dialog, question


def _body(line: str) -> str:
    return line.split(": ", 1)[1]


def _other_symbol(symbol: str) -> str:
    return ALPHABET[(ALPHABET.index(symbol) + 1) % len(ALPHABET)]


def test_typing_the_lines_moves_on_line_by_line_and_focuses_hand_over(qtbot) -> None:
    dialog, question = _dialog(qtbot)
    tab = dialog.paperkey_tab
    assert dialog.focusWidget() is tab.lines[0]  # line 1 when the tab opens
    lines = encode_paperkey(SHARE).lines
    for number, line in enumerate(lines, start=1):
        focused = dialog.focusWidget()
        assert focused is tab.lines[number - 1], number
        QTest.keyClicks(focused, _body(line).lower())
        assert tab.lines[number - 1].text() == _body(line)  # upper case, as read
        assert tab.checks[number - 1].ok
    assert tab.fingerprint == encode_paperkey(SHARE).fingerprint
    assert dialog.focusWidget() is dialog.hand_over_button
    QTest.keyClick(dialog.hand_over_button, Qt.Key.Key_Space)
    answer = question.result()
    assert isinstance(answer, PaperKeyShareInput)
    assert [_body(line) for line in lines] == answer.lines


def test_a_line_that_does_not_check_stays_put(qtbot) -> None:
    dialog, _question = _dialog(qtbot)
    tab = dialog.paperkey_tab
    body = _body(encode_paperkey(SHARE).lines[0])
    QTest.keyClicks(tab.lines[0], body[:-1] + _other_symbol(body[-1]))
    assert tab.bad_groups == {1: (3,)}
    assert dialog.focusWidget() is tab.lines[0]


def test_o_is_shown_as_zero_and_i_l_as_one(qtbot) -> None:
    dialog, _question = _dialog(qtbot)
    tab = dialog.paperkey_tab
    QTest.keyClicks(tab.lines[0], "oil-Oi")
    assert tab.lines[0].text() == "011-01"
    assert "011" in tab.marks[0].text()
    # a real line typed with O for every 0 (and l for every 1) checks all the same
    share = next(
        candidate
        for candidate in (hashlib.sha256(b"zero %d" % n).digest() for n in range(200))
        if "0" in _body(encode_paperkey(candidate).lines[1])
    )
    body = _body(encode_paperkey(share).lines[1])
    tab.lines[1].setFocus()
    QTest.keyClicks(tab.lines[1], body.replace("0", "O").replace("1", "l"))
    assert tab.lines[1].text() == body and tab.checks[1].ok


def test_a_selection_is_typed_over_and_a_full_line_overtypes(qtbot) -> None:
    dialog, _question = _dialog(qtbot)
    tab = dialog.paperkey_tab
    edit = tab.lines[2]
    body = _body(encode_paperkey(SHARE).lines[2])
    second_group = body.index(" ") + 1
    wrong_group = "".join(_other_symbol(symbol) for symbol in body[second_group : second_group + 6])
    typed = body[:second_group] + wrong_group + body[second_group + 6 :]
    edit.setFocus()
    QTest.keyClicks(edit, typed)
    assert tab.bad_groups == {3: (2,)}
    # select the mistyped group (as a double click would) and type it again
    edit.setSelection(second_group, 6)
    assert edit.hasSelectedText()
    QTest.keyClicks(edit, body[second_group : second_group + 6])
    assert edit.text() == body and tab.checks[2].ok
    # the line is full: a character types over the one after the cursor
    position = body.index(" ") + 1 + 6 + 1 + 2  # in group 3
    mistake = body[:position] + _other_symbol(body[position]) + body[position + 1 :]
    edit.setText(mistake)
    assert tab.bad_groups == {3: (3,)}
    edit.setCursorPosition(position)
    QTest.keyClicks(edit, body[position])
    assert edit.text() == body and tab.checks[2].ok
    assert edit.cursorPosition() == position + 1


def test_a_selection_still_cannot_be_copied(qtbot) -> None:
    dialog, _question = _dialog(qtbot)
    edit = dialog.paperkey_tab.lines[0]
    line = encode_paperkey(SHARE).lines[0]
    edit.setText(line)
    QGuiApplication.clipboard().setText("sentinel")
    edit.selectAll()
    for sequence in (QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Cut):
        for binding in QKeySequence.keyBindings(sequence):
            combination = binding[0]
            QTest.keyClick(edit, combination.key(), combination.keyboardModifiers())
    assert QGuiApplication.clipboard().text() == "sentinel"
    assert edit.text() == line


def test_the_groups_keep_their_width(qtbot) -> None:
    tab = PaperKeyTab()
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitExposed(tab)
    needed = QFontMetrics(tab.lines[0].font()).horizontalAdvance(SAMPLE_LINE)
    tab.resize(120, 200)  # far too narrow: the layout may not squeeze the lines
    qtbot.wait(10)
    for edit, mark in zip(tab.lines, tab.marks, strict=True):
        assert edit.minimumWidth() >= needed and edit.width() >= needed
        groups = QFontMetrics(mark.font()).horizontalAdvance(SAMPLE_LINE[3:])
        assert mark.width() >= groups
    # all three groups are drawn before anything is typed: nothing moves as one types
    assert tab.marks[0].text().count(PENDING_SYMBOL * 6) == 3
    QTest.keyClicks(tab.lines[0], "ABC")
    assert tab.marks[0].text().count(PENDING_SYMBOL * 6) == 2
    assert PENDING_SYMBOL * 3 in tab.marks[0].text()
