"""Error messages of the desktop app say what to do, naming what is in the way."""

from __future__ import annotations

import subprocess

from keymanager.card.errors import ApduError, CardInUse, MalformedResponse
from keymanager.gui.messages import describe_error


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
