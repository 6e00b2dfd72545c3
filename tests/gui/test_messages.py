"""Error messages of the desktop app say what to do, naming what is in the way.

Card status words appear only under Details (never in the headline or the main text),
a message says at most once that nothing was changed, and window titles follow one
scheme (see :mod:`keymanager.gui.messages`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
from collections.abc import Callable

import pytest

import keymanager.card
import keymanager.card.errors as card_errors
import keymanager.card.secure_messaging as secure_messaging
import keymanager.workflows
import keymanager.workflows.errors as workflow_errors
from keymanager.card.errors import ApduError, CardInUse, MalformedResponse
from keymanager.card.seal import SealNotEnforced
from keymanager.dkek.errors import DkekError, KcvMismatch, PaperKeyGroupError
from keymanager.gui.messages import ErrorDialog, UserMessage, describe_error, plain_text
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled
from keymanager.workflows.xkek_group import GroupFileDamaged, GroupFileForeign, GroupFileUnusable


def test_card_in_use_names_a_running_scdaemon_and_stops_nothing(
    fake_scdaemon: subprocess.Popen[bytes],
) -> None:
    message = describe_error(CardInUse("the card in Virtual PCD 00 00 is in use"))
    assert message.title == "Another program is using the card"
    assert f"scdaemon (process {fake_scdaemon.pid}" in message.what_to_do
    assert "gpgconf --kill scdaemon" in message.what_to_do
    assert fake_scdaemon.poll() is None  # named, never stopped


def test_an_unreadable_answer_is_not_called_a_refusal() -> None:
    message = describe_error(MalformedResponse("READ BINARY: a TLV length runs past the data"))
    assert message.title == "The card gave an unreadable answer"
    assert "Refresh" in message.what_to_do
    refused = describe_error(ApduError(0x6F00, "READ BINARY"))
    assert refused.title == "The card refused the command"


# --- status words only under Details; "nothing was changed" at most once ---------------

_STATUS_WORD_OF = {cls: sw for sw, cls in card_errors._SW_CLASSES.items()}
_HEX_WORD = re.compile(r"\b(?:SW ?)?[0-9A-F]{4}\b")
_TEXT = "the card refuses it (SW 6A89): delete those keys first; nothing was changed"


def _typed_errors() -> list[type[Exception]]:
    """Every error class of the card layer, the workflows and the DKEK library."""
    for package in (keymanager.card, keymanager.workflows):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)

    def below(root: type[Exception]) -> list[type[Exception]]:
        found = []
        for cls in root.__subclasses__():
            found += [cls, *below(cls)]
        return found

    roots: list[type[Exception]] = [card_errors.CardError, WorkflowError, DkekError]
    found = {cls for root in roots for cls in [root, *below(root)]}
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


_MADE_BY_HAND: dict[type[Exception], Callable[[], Exception]] = {
    workflow_errors.DkekKcvMismatch: lambda: workflow_errors.DkekKcvMismatch(
        1, "0102030405060708", "1112131415161718"
    ),
    workflow_errors.WrongPinEntered: lambda: workflow_errors.WrongPinEntered(
        "wrong SO-PIN: 14 tries left (SW 63CE); nothing was changed", 14
    ),
    workflow_errors.PinBlockedNow: lambda: workflow_errors.PinBlockedNow(
        "wrong user PIN: it is blocked now (SW 63C0); nothing was changed", 0
    ),
    workflow_errors.CustodianPinWrong: lambda: workflow_errors.CustodianPinWrong(
        "wrong user PIN for the custodian card custodian 1: 2 tries left (SW 63C2); nothing "
        "was changed on the device; no custodian authenticated in this session",
        2,
    ),
    secure_messaging.ChannelEndedByCard: lambda: secure_messaging.ChannelEndedByCard(
        "VERIFY: the card ended secure messaging (SW 6988); the command was not carried out",
        0x6988,
    ),
    secure_messaging.UnprotectedRefusal: lambda: secure_messaging.UnprotectedRefusal(
        "VERIFY: the card refused the command without secure messaging (SW 6A82)", 0x6A82
    ),
    SealNotEnforced: lambda: SealNotEnforced(7),
    KcvMismatch: lambda: KcvMismatch(bytes(8), bytes(range(8))),
    PaperKeyGroupError: lambda: PaperKeyGroupError(2, 3, "a typo"),
    **{
        group_error: (lambda group_error=group_error: group_error("GROUP.json is damaged"))
        for group_error in (GroupFileUnusable, GroupFileDamaged, GroupFileForeign)
    },
}


def _raised_with_a_status_word(cls: type[Exception]) -> tuple[Exception, str | None]:
    """An instance as the layers below make it, and the status word its text holds."""
    if issubclass(cls, card_errors.ApduError):
        sw = 0x63C2 if cls is card_errors.WrongPin else _STATUS_WORD_OF.get(cls, 0x6F12)
        return cls(sw, "CHANGE PIN"), f"{sw:04X}"
    if cls in _MADE_BY_HAND:
        error = _MADE_BY_HAND[cls]()
        return error, next(
            (sw for sw in ("63CE", "63C0", "6988", "6A82") if sw in str(error)), None
        )
    if cls.__init__ is not BaseException.__init__ and "args" not in str(
        inspect.signature(cls.__init__)
    ):
        pytest.fail(f"{cls.__qualname__} takes other arguments: add it to _MADE_BY_HAND")
    if issubclass(cls, card_errors.CardError):
        return cls(f"UNWRAP KEY: {_TEXT}"), "6A89"
    return cls(_TEXT), "6A89"


@pytest.mark.parametrize("cls", _typed_errors(), ids=lambda cls: cls.__name__)
def test_status_words_only_under_details(cls: type[Exception]) -> None:
    error, status_word = _raised_with_a_status_word(cls)
    message = describe_error(error, "Changing the PIN")
    main = f"{message.text}\n{message.what_to_do}"
    assert _HEX_WORD.search(message.title) is None, message.title  # a headline in words
    assert "SW " not in main and "SW " not in message.title
    if status_word is not None:
        assert status_word not in message.title and status_word not in main, main
        assert status_word in message.details
    assert message.full_text.lower().count("nothing was changed") <= 1, message.full_text
    assert "nothing else was changed" not in message.full_text.lower()
    assert message.window_title == "Changing the PIN failed"


def test_a_cancel_says_once_that_nothing_was_changed() -> None:
    message = describe_error(Cancelled("not confirmed; nothing was changed"), "Deleting a key")
    assert message.full_text.lower().count("nothing") == 1
    assert message.window_title == "Deleting a key cancelled"
    plain = describe_error(Cancelled("the secret was not entered"), "Deleting a key")
    assert "Nothing else was done." in plain.what_to_do


def test_plain_text_takes_out_status_words_and_their_brackets() -> None:
    assert plain_text("wrong PIN, 2 tries left (SW 63C2)") == "wrong PIN, 2 tries left"
    assert (
        plain_text("sealed: the card refuses (SW 6985: its list lacks WRAP); nothing")
        == "sealed: the card refuses (its list lacks WRAP); nothing"
    )
    assert plain_text("no applet (SELECT answered 6A82)") == "no applet"
    assert plain_text("the file 2F03 is missing") == "the file 2F03 is missing"  # a file id


def test_wrong_pins_are_named_in_the_headline() -> None:
    so = describe_error(card_errors.WrongPin(0x63C1, "CHANGE SO-PIN"), "Changing the SO-PIN")
    assert so.title == "Wrong SO-PIN" and "blocks it" in so.what_to_do
    assert "1 try left" in so.text and "CHANGE SO-PIN" not in so.text
    entered = describe_error(
        workflow_errors.WrongPinEntered("wrong user PIN: 2 tries left; nothing was changed", 2)
    )
    assert entered.title == "Wrong PIN" and entered.window_title == "KeyManager — error"


def test_the_error_dialog_follows_the_title_scheme(qtbot) -> None:
    message = describe_error(card_errors.SecurityStatusNotSatisfied(0x6982, "SIGN"), "Signing")
    dialog = ErrorDialog(message)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Signing failed"
    assert dialog.text() == "Not logged in"
    assert "6982" not in dialog.informativeText() and "6982" in dialog.detailedText()
    made = UserMessage("Headline", "text", "", "details")
    assert made.window_title == "KeyManager — error"
