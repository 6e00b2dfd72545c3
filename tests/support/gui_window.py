"""Shared GUI test fixtures and helpers: the demo card, a main window on it, dialogs seen.

Conftests import the fixtures from here (``tests/gui/conftest.py``,
``tests/reliability/conftest.py``), so every GUI test builds its window the same way.
Nothing here imports Qt at import time: the window is built inside its fixture, after
the conftest has set ``QT_QPA_PLATFORM``.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keymanager.simulator import SmartCardHsmSimulator
from keymanager.simulator.demo import build_demo_card


@pytest.fixture(scope="session")
def automatic_gc_back_after_gui_tests() -> Iterator[None]:
    """The window turns automatic collection off (it collects on the GUI thread only);
    give the later, Qt-free tests of the session their automatic collection back."""
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
def window(
    qtbot: Any, demo_card: SmartCardHsmSimulator, automatic_gc_back_after_gui_tests: None
) -> Iterator[Any]:
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
    gc.collect()


class Seen:
    """Every dialog the window (or its broker) opened, handed out one at a time."""

    def __init__(self, qtbot: Any, window: Any) -> None:
        self.qtbot = qtbot
        self.items: list[object] = []
        self.used: set[int] = set()
        window.dialog_opened.connect(self.items.append)
        window.broker.dialog_opened.connect(self.items.append)

    def next(self, *kinds: type, timeout: int = 15_000) -> Any:
        """The next dialog of one of ``kinds`` not handed out yet (waits for it)."""
        found: list[object] = []

        def look() -> bool:
            for dialog in self.items:
                if isinstance(dialog, kinds) and id(dialog) not in self.used:
                    self.used.add(id(dialog))
                    found.append(dialog)
                    return True
            return False

        self.qtbot.waitUntil(look, timeout=timeout)
        return found[0]

    def count(self, kind: type) -> int:
        return sum(isinstance(dialog, kind) for dialog in self.items)
