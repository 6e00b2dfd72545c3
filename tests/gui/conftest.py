"""GUI test fixtures: offscreen Qt, the demo card (built once), a main window on it.

QT_QPA_PLATFORM is set before anything imports Qt, so the tests run without a display
(``--onscreen`` is not offered: set QT_QPA_PLATFORM yourself to watch them).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import build_demo_card


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread() -> Iterator[None]:
    """The app collects garbage on the GUI thread only (keymanager/gui/gc_guard.py);
    tests do the same after each test, with the worker threads already joined."""
    yield
    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def automatic_gc_back_after_gui_tests() -> Iterator[None]:
    """Give the later, Qt-free tests their automatic collection back."""
    yield
    gc.collect()
    gc.enable()


@pytest.fixture(scope="session")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo card's state file, built once per test session (never changed)."""
    path = tmp_path_factory.mktemp("demo") / "demo-card.json"
    build_demo_card(path)
    return path


@pytest.fixture
def demo_card(demo_state: Path, tmp_path: Path) -> SmartCardHsmSimulator:
    """A fresh copy of the demo card for one test (changes stay in the test)."""
    copy = tmp_path / "demo-card.json"
    shutil.copyfile(demo_state, copy)
    return SmartCardHsmSimulator(copy)


@pytest.fixture
def window(qtbot, demo_card: SmartCardHsmSimulator) -> Iterator[object]:
    """A main window on the demo card, its outline loaded; workers joined afterwards."""
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.worker import SimulatorSource

    main = MainWindow([SimulatorSource(demo_card, "Simulated card (demo)")], watch_readers=False)
    qtbot.addWidget(main)
    with qtbot.waitSignal(main.outline_loaded, timeout=20_000):
        main.show()
    yield main
    workers = list(main.workers.values())
    main.shutdown()
    assert all(not worker.alive for worker in workers), "a worker thread was not joined"
