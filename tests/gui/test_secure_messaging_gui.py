"""Secure messaging in the desktop app: the setting, the menu toggle, the outline, errors.

Card ▸ Use secure messaging follows ``KEYMANAGER_SECURE_MESSAGING`` until the user
chooses; the choice is kept in the settings file and wins over the variable.  Toggling
it has the worker open a new session in the other mode (the outline's "Secure
messaging" detail and the session of the next job say which).  A card without secure
messaging shows "unavailable (…)" and is used in the clear; a broken channel is an
error with its own headline, after which the next refresh opens a new channel; the
diagnosis, which opens a session of its own, leaves a working session behind.

The module runs under both simulator profiles (a small card is built for each).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import DEFAULT_SO_PIN, InitParams
from keymanager.card.secure_messaging import (
    MODE_VARIABLE,
    SecureMessagingMode,
    SecureMessagingStatus,
)
from keymanager.card.transport import LocalTransport
from keymanager.gui import settings
from keymanager.gui.main_window import MainWindow
from keymanager.gui.messages import UserMessage
from keymanager.gui.pin_dialog import PinDialog
from keymanager.gui.worker import JobContext, SimulatorSource
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.hostile import HostileCard
from keymanager.workflows.secure_messaging import BROKEN_HEADLINE
from tests.support.gui_window import Seen
from tests.support.profiles import simulator_profile

__all__ = ["simulator_profile"]  # autouse, module-scoped: both profiles

PIN = "648219"
ACTIVE = "active: PINs and shares cross the reader encrypted"
OFF = "off (turned off): PINs and shares cross the reader in the clear"


@pytest.fixture(scope="module")
def profile_card(tmp_path_factory: pytest.TempPathFactory, simulator_profile: str) -> Path:
    """A card of this module's profile, initialised with one DKEK share imported (the
    demo card needs a token label, which the Pico profile does not store)."""
    path = tmp_path_factory.mktemp(f"card-{simulator_profile}") / "card.json"
    simulator = SmartCardHsmSimulator(path, seed=b"secure messaging in the app")
    hsm = SmartCardHsm.open(LocalTransport(simulator), secure_messaging=SecureMessagingMode.OFF)
    hsm.initialize(InitParams(user_pin=PIN, so_pin=DEFAULT_SO_PIN, dkek_shares=1))
    hsm.import_dkek_share(bytes(range(32)), 0)
    return path


@pytest.fixture
def card(profile_card: Path, tmp_path: Path) -> HostileCard:
    """A fresh copy of the card, behind a hostile wrapper without rules."""
    copy = tmp_path / "card.json"
    shutil.copyfile(profile_card, copy)
    return HostileCard(SmartCardHsmSimulator(copy))


@pytest.fixture
def open_window(qtbot: Any, card: HostileCard) -> Iterator[Any]:
    """Opens main windows on ``card`` (outline loaded); every one is shut down after."""
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(
            [SimulatorSource(card, "Simulated card")],  # type: ignore[arg-type]
            watch_readers=False,
        )
        qtbot.addWidget(window)
        windows.append(window)
        with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
            window.show()
        return window

    yield make
    for window in windows:
        workers = list(window.workers.values())
        window.shutdown()
        assert all(not worker.alive for worker in workers)


def detail(window: MainWindow) -> str | None:
    outline = window.model.outline
    return None if outline is None else outline.device.detail("Secure messaging")


def session_status(qtbot: Any, window: MainWindow) -> SecureMessagingStatus:
    """What the session of the worker's next job runs on."""
    seen: list[SecureMessagingStatus] = []

    def run(context: JobContext) -> SecureMessagingStatus:
        return context.hsm.secure_messaging.status

    assert window.worker is not None
    window.worker.submit("status", run, on_result=lambda status: seen.append(status))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: bool(seen), timeout=15_000)
    return seen[0]


def toggle(qtbot: Any, window: MainWindow) -> None:
    """Card ▸ Use secure messaging, and wait for the outline read in the new session."""
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        window.menu_bar.qactions["secure-messaging"].trigger()


def test_the_setting_follows_the_environment_until_chosen_and_is_kept(
    qtbot: Any, open_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    window = open_window()
    entry = window.menu_bar.qactions["secure-messaging"]
    assert entry.isCheckable() and entry.isChecked()
    assert entry in window.menu_bar.menus["Card"].actions()
    assert settings.saved_secure_messaging() is None
    assert detail(window) == ACTIVE
    assert window.details.fields["Secure messaging"].text() == ACTIVE  # the details pane
    assert session_status(qtbot, window) is SecureMessagingStatus.ACTIVE

    toggle(qtbot, window)  # off: the session is opened again in the clear
    assert not entry.isChecked()
    assert settings.saved_secure_messaging() is False
    assert "secure_messaging=false" in settings.settings_path().read_text()
    assert detail(window) == OFF
    assert session_status(qtbot, window) is SecureMessagingStatus.OFF
    window.close()

    again = open_window()  # the choice wins over the variable
    assert not again.menu_bar.qactions["secure-messaging"].isChecked()
    assert detail(again) == OFF
    toggle(qtbot, again)
    assert detail(again) == ACTIVE
    assert session_status(qtbot, again) is SecureMessagingStatus.ACTIVE
    again.close()

    monkeypatch.setenv(MODE_VARIABLE, "off")
    third = open_window()
    assert third.menu_bar.qactions["secure-messaging"].isChecked()
    assert detail(third) == ACTIVE


def test_turning_it_on_opens_a_new_session(
    qtbot: Any, open_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE_VARIABLE, "off")
    window = open_window()
    assert not window.menu_bar.qactions["secure-messaging"].isChecked()
    assert detail(window) == OFF
    seen = Seen(qtbot, window)
    assert window.run_action("verify-pin")
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        dialog = seen.next(PinDialog)
        dialog.entry.setText(PIN)
        dialog.accept()
    assert window.model.outline.find("pin").detail("State") == "verified"
    toggle(qtbot, window)
    assert detail(window) == ACTIVE
    assert "opened again" in window.statusBar().currentMessage()
    # a new session: the PIN verified in the old one is not verified in it
    assert window.model.outline.find("pin").detail("State") == "not verified"


def test_a_card_without_secure_messaging_shows_why_and_is_used(
    qtbot: Any, open_window: Any, card: HostileCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    card.set_rules("ins:22@sw:6D00")
    window = open_window()
    text = detail(window)
    assert text is not None and text.startswith("unavailable (the card does not support")
    assert window.details.fields["Secure messaging"].text() == text
    assert session_status(qtbot, window) is SecureMessagingStatus.UNAVAILABLE
    assert window.model.outline.find("domain:0") is not None  # read in the clear
    assert window.last_message is None


def test_a_broken_channel_is_explained_and_the_next_read_works(
    qtbot: Any, open_window: Any, card: HostileCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    window = open_window()
    messages: list[UserMessage] = []
    window.message_shown.connect(messages.append)
    card.set_rules("ins:58@flip:3")  # ENUMERATE OBJECTS' protected answer altered
    with qtbot.waitSignal(window.outline_failed, timeout=15_000):
        window.refresh()
    (message,) = messages
    assert message.title == BROKEN_HEADLINE
    assert "may or may not have carried out" in message.what_to_do
    assert "Refresh (F5)" in message.what_to_do
    assert "something between the host and the card" in message.what_to_do
    card.clear()
    with qtbot.waitSignal(window.outline_loaded, timeout=15_000):
        window.refresh()
    assert detail(window) == ACTIVE


def test_diagnose_reports_secure_messaging_and_leaves_a_working_session(
    qtbot: Any,
    open_window: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="keymanager")
    monkeypatch.setenv(MODE_VARIABLE, "auto")
    window = open_window()
    seen = Seen(qtbot, window)
    failed: list[object] = []
    window.outline_failed.connect(failed.append)
    with qtbot.waitSignal(window.outline_loaded, timeout=20_000):
        assert window.run_action("diagnose")
    box = seen.next(QMessageBox)
    assert f"Secure messaging: {ACTIVE}" in box.informativeText().splitlines()
    box.close()
    assert not failed and window.last_message is None
    assert detail(window) == ACTIVE
    assert session_status(qtbot, window) is SecureMessagingStatus.ACTIVE
    # the diagnosis's own session ended the worker's channel: the worker opened a new
    # session rather than send into the ended channel (and have the card refuse it)
    assert "ended secure messaging" not in caplog.text
