"""Error messages of the desktop app say what to do, naming what is in the way."""

from __future__ import annotations

import subprocess

from keymanager.card.errors import CardInUse
from keymanager.gui.messages import describe_error


def test_card_in_use_names_a_running_scdaemon_and_stops_nothing(
    fake_scdaemon: subprocess.Popen[bytes],
) -> None:
    message = describe_error(CardInUse("the card in Virtual PCD 00 00 is in use"))
    assert message.title == "Another program is using the card"
    assert f"scdaemon (process {fake_scdaemon.pid}" in message.what_to_do
    assert "gpgconf --kill scdaemon" in message.what_to_do
    assert fake_scdaemon.poll() is None  # named, never stopped
