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


def test_a_secret_asked_again_says_why_in_the_same_dialog(qtbot) -> None:
    first = PinDialog(SecretRequest(SecretKind.SO_PIN, "initialising the device", tries_left=15))
    qtbot.addWidget(first)
    assert not first.retry_label.isVisibleTo(first)
    assert first.heading.text() == "Enter the SO-PIN for initialising the device."
    again = PinDialog(
        SecretRequest(
            SecretKind.SO_PIN,
            "initialising the device",
            tries_left=14,
            retry_reason="The SO-PIN entered was wrong.",
        )
    )
    qtbot.addWidget(again)
    assert again.retry_label.isVisibleTo(again)
    assert again.retry_label.text() == "The SO-PIN entered was wrong."
    assert again.tries_label.text() == "14 tries left."
    assert again.entry.text() == ""  # typed afresh; nothing else of the plan is asked


def test_the_prompts_of_the_pin_workflows_read_as_sentences(qtbot) -> None:
    """What the workflows ask is read after "for": no "for from now on" or "for of"."""
    from keymanager.card.hsm import SmartCardHsm
    from keymanager.card.hsm_types import DEFAULT_SO_PIN
    from keymanager.card.transport import LocalTransport
    from keymanager.simulator import SmartCardHsmSimulator
    from keymanager.workflows.device import DkekScheme, InitPlan, initialize_device
    from keymanager.workflows.pins import change_pin, change_so_pin
    from tests.support.recording import RecordingInteraction

    simulator = SmartCardHsmSimulator(seed=b"prompts")
    hsm = SmartCardHsm.open(LocalTransport(simulator))
    script = RecordingInteraction()
    script.answer("secret", DEFAULT_SO_PIN.hex()).answer("secret", "0011223344556677")
    script.answer("secret", "648219").answer("confirm", True)
    initialize_device(hsm, script, InitPlan(DkekScheme.NO_DKEK, change_so_pin=True))
    change_pin(hsm, script.answer("secret", "648219").answer("secret", "1234567"))
    change_so_pin(
        hsm, script.answer("secret", "0011223344556677").answer("secret", DEFAULT_SO_PIN.hex())
    )
    headings = []
    for request in script.requests:
        dialog = PinDialog(request)
        qtbot.addWidget(dialog)
        headings.append(dialog.heading.text())
    assert headings == [
        "Enter the SO-PIN for initialising the device.",
        "Enter the new SO-PIN for the initialised device.",
        "Enter the new user PIN for the initialised device.",
        "Enter the user PIN for changing the user PIN.",
        "Enter the new user PIN.",
        "Enter the SO-PIN for changing the SO-PIN.",
        "Enter the new SO-PIN.",
    ]
