"""The desktop app on a hostile card: it stays alive, tells the user, and recovers.

The main window opens on the demo card wrapped in a
:class:`~keymanager.simulator.hostile.HostileCard` (through the ordinary
``SimulatorSource`` → ``LocalTransport`` → session path).  For a few representative
malformations (the PIN status, SELECT, the key listing's ENUMERATE and PRKD reads, a
certificate read) the window must show an error state or an error message, no
exception may reach ``sys.excepthook`` / ``threading.excepthook`` (pytest-qt also fails
the test on an exception in a Qt slot), and once the card behaves again a refresh shows
the keys.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import copy
import gc
import sys
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox

from keymanager.simulator.demo import DEMO_KEYS
from keymanager.simulator.hostile import HostileCard
from keymanager.workflows.outline import NodeKind
from tests.reliability._hostile_support import base_card, outline_reports_problem
from tests.support.figures import tally

GUI_LABEL = "Desktop app: window alive, error shown, works again after refresh"

TIMEOUT_MS = 20_000


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread() -> Iterator[None]:
    """As tests/gui/conftest.py: collect on the GUI thread after each test."""
    yield
    gc.collect()


@pytest.fixture(scope="module", autouse=True)
def automatic_gc_back_afterwards() -> Iterator[None]:
    """The window turns automatic collection off; give it back to later tests."""
    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def uncaught(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Exceptions that reach the process-wide hooks (the window chains to these)."""
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda _kind, error, _trace: seen.append(error))
    monkeypatch.setattr(
        threading,
        "excepthook",
        lambda args: seen.append(args.exc_value) if args.exc_value is not None else None,
    )
    return seen


def _open(qtbot, hostile: HostileCard, signal: str):
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.worker import SimulatorSource

    window = MainWindow(
        [SimulatorSource(hostile, "Hostile simulated card")],  # type: ignore[arg-type]
        watch_readers=False,
    )
    qtbot.addWidget(window)
    with qtbot.waitSignal(getattr(window, signal), timeout=TIMEOUT_MS) as caught:
        window.show()
    return window, caught


def _close(window) -> None:
    workers = list(window.workers.values())
    window.shutdown()
    assert all(not worker.alive for worker in workers), "a worker thread was not joined"


def _recovers(qtbot, window, hostile: HostileCard) -> None:
    """Card behaves again → refresh → the keys are listed, nothing reported as broken."""
    for box in window.findChildren(QMessageBox, "errorDialog"):
        box.close()
    hostile.enabled = False
    with qtbot.waitSignal(window.outline_loaded, timeout=TIMEOUT_MS):
        window.refresh()
    outline = window.model.outline
    assert outline is not None and not outline_reports_problem(outline)
    labels = [node.title for node in outline.nodes(NodeKind.KEY)]
    assert all(any(title.startswith(key.label) for title in labels) for key in DEMO_KEYS)


@pytest.mark.parametrize(
    ("spec", "title"),
    [
        ("ins:20,p1p2:0081@sw:1234", "The card refused the command"),
        ("ins:20,p1p2:0081@cut:1", "The card gave an unreadable answer"),
        ("ins:A4@tlv:tag-only", "The card gave an unreadable answer"),
        ("ins:20@loop:61", "The card gave an unreadable answer"),
    ],
    ids=["status-word-1234", "status-without-sw", "select-without-version", "61xx-loop"],
)
def test_unreadable_card_state_shows_an_error_and_recovers(
    qtbot, uncaught: list[BaseException], spec: str, title: str
) -> None:
    hostile = HostileCard(copy.deepcopy(base_card()), spec)
    window, caught = _open(qtbot, hostile, "outline_failed")
    error = caught.args[0]
    from keymanager.card.errors import CardError

    assert isinstance(error, CardError), repr(error)
    assert window.model.outline is None  # the outline shows the error state
    assert window.last_message is not None and window.last_message.title == title
    assert title in window.reader_status.text()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorDialog") is not None)
    box = window.findChild(QMessageBox, "errorDialog")
    assert box.isVisible() and type(error).__name__ in box.detailedText()
    assert window.isVisible()
    _recovers(qtbot, window, hostile)
    assert uncaught == []
    _close(window)
    tally("hostile", GUI_LABEL, 1)


@pytest.mark.parametrize(
    ("spec", "notice"),
    [
        ("ins:58@garbage:7", "notice:keys"),  # ENUMERATE with an odd length
        ("ins:58@sw:6F00", "notice:keys"),
        ("ins:B1,p1p2:C402@tlv:overrun", None),  # a PRKD whose TLV runs past its end
        ("ins:B1,p1p2:C402@wrong:x509", None),  # a certificate where a PRKD belongs
    ],
    ids=["enumerate-odd", "enumerate-6f00", "prkd-overrun", "prkd-is-a-certificate"],
)
def test_broken_listing_is_shown_in_the_outline_and_recovers(
    qtbot, uncaught: list[BaseException], spec: str, notice: str | None
) -> None:
    hostile = HostileCard(copy.deepcopy(base_card()), spec)
    window, caught = _open(qtbot, hostile, "outline_loaded")
    outline = caught.args[0]
    assert outline_reports_problem(outline)
    if notice is not None:
        node = outline.find(notice)
        assert node is not None and "could not be read" in node.title
    else:
        key = outline.find("key:2")
        assert key is not None and "unreadable" in (key.detail("Problem") or "")
        window.select_node("key:2")
        assert "unreadable" in window.details.fields["Problem"].text()
    assert window.findChild(QMessageBox, "errorDialog") is None  # shown in place, no dialog
    _recovers(qtbot, window, hostile)
    assert uncaught == []
    _close(window)
    tally("hostile", GUI_LABEL, 1)


@pytest.mark.parametrize(
    "spec", ["ins:B1,p1p2:CE03@tlv:4g", "ins:B1,p1p2:CE03@garbage:64", "ins:B1,p1p2:CE03@sw:6F00"]
)
def test_broken_certificate_read_is_reported_and_recovers(
    qtbot, uncaught: list[BaseException], spec: str
) -> None:
    hostile = HostileCard(copy.deepcopy(base_card()), spec)
    window, _caught = _open(qtbot, hostile, "outline_loaded")
    node = window.select_node("certificate:3")
    assert node is not None and node.pending
    if spec.endswith("sw:6F00"):  # the read fails: the status bar and the node say so
        qtbot.waitUntil(
            lambda: "could not be read" in window.statusBar().currentMessage(), timeout=TIMEOUT_MS
        )
        qtbot.waitUntil(
            lambda: "could not be read" in window.details.fields["Issuer"].text(),
            timeout=TIMEOUT_MS,
        )
        assert "retry" in window.details.fields["Issuer"].text()
        assert node.pending  # selecting it again retries
    else:  # the file is read but unreadable: the node says why
        qtbot.waitUntil(lambda: not node.pending, timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: "Problem" in window.details.fields)
        assert "unreadable" in node.title
        assert "Issuer" not in window.details.fields  # no "loading…" for ever
    assert window.isVisible() and window.findChild(QMessageBox, "errorDialog") is None
    hostile.enabled = False
    with qtbot.waitSignal(window.outline_loaded, timeout=TIMEOUT_MS):
        window.refresh()
    fresh = window.select_node("certificate:3")
    assert fresh is not None
    qtbot.waitUntil(lambda: not fresh.pending, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Issuer" in window.details.fields)
    assert window.details.fields["Issuer"].text() == "CN=KeyManager Demo Root CA,O=KeyManager Demo"
    assert uncaught == []
    _close(window)
    tally("hostile", GUI_LABEL, 1)
