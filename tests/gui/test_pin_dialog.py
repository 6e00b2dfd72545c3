"""The PIN dialog: tries left, the last-try warning, validation, the secret handed over once."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from keymanager.gui.pin_dialog import PinDialog, validate_secret
from keymanager.workflows.interaction import SecretKind, SecretRequest


def _ok(dialog: PinDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_tries_left_and_last_try_warning(qtbot) -> None:
    normal = PinDialog(SecretRequest(SecretKind.USER_PIN, "verification", tries_left=3))
    qtbot.addWidget(normal)
    assert normal.tries_label.text() == "3 tries left."
    assert not normal.warning_label.isVisibleTo(normal)
    last = PinDialog(SecretRequest(SecretKind.USER_PIN, "verification", tries_left=1))
    qtbot.addWidget(last)
    assert last.tries_label.text() == "1 try left."
    assert last.warning_label.isVisibleTo(last)
    assert "blocks the user PIN" in last.warning_label.text()


def test_pin_length_is_checked(qtbot) -> None:
    dialog = PinDialog(SecretRequest(SecretKind.USER_PIN))
    qtbot.addWidget(dialog)
    assert not _ok(dialog)
    qtbot.keyClicks(dialog.entry, "12345")
    assert not _ok(dialog) and "6 to 16" in dialog.problem_label.text()
    qtbot.keyClicks(dialog.entry, "6")
    assert _ok(dialog) and dialog.problem_label.text() == ""
    dialog.accept()
    assert dialog.take_secret() == bytearray(b"123456")
    assert dialog.take_secret() is None  # handed over once
    assert dialog.entry.text() == ""


def test_so_pin_is_16_hex_digits(qtbot) -> None:
    dialog = PinDialog(SecretRequest(SecretKind.SO_PIN, tries_left=15))
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.entry, "3537 3632 3138 383")
    assert not _ok(dialog)
    qtbot.keyClicks(dialog.entry, "g")
    assert not _ok(dialog)
    dialog.entry.setText("3537:3632:3138:3830")
    assert _ok(dialog)
    assert validate_secret(SecretKind.SO_PIN, "3537363231383830") is None


def test_new_secret_must_be_entered_twice(qtbot) -> None:
    dialog = PinDialog(SecretRequest(SecretKind.NEW_USER_PIN, confirm=True))
    qtbot.addWidget(dialog)
    assert dialog.confirm_entry is not None
    dialog.entry.setText("24681357")
    dialog.confirm_entry.setText("24681358")
    assert not _ok(dialog) and dialog.problem_label.text() == "The two entries differ."
    dialog.confirm_entry.setText("24681357")
    assert _ok(dialog)


def test_cancel_gives_no_secret(qtbot) -> None:
    dialog = PinDialog(SecretRequest(SecretKind.SHARE_PASSWORD, "share 1 of 2"))
    qtbot.addWidget(dialog)
    assert "share 1 of 2" in dialog.heading.text()
    dialog.entry.setText("a password")
    dialog.reject()
    assert dialog.take_secret() is None
    assert dialog.entry.text() == ""
