"""GUI test fixtures: offscreen Qt, the demo card (built once), a main window on it.

QT_QPA_PLATFORM is set before anything imports Qt, so the tests run without a display
(``--onscreen`` is not offered: set QT_QPA_PLATFORM yourself to watch them).  The
fixtures themselves live in ``tests/support/gui_window.py`` (shared with the GUI tests
of ``tests/reliability``).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc
from collections.abc import Iterator

import pytest

from tests.support.gui_window import (  # noqa: F401  (fixtures used by name)
    automatic_gc_back_after_gui_tests,
    demo_card,
    demo_state,
    window,
)


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """The app collects garbage on the GUI thread only (keymanager/gui/gc_guard.py);
    tests do the same after each test, with the worker threads already joined."""
    request.getfixturevalue("automatic_gc_back_after_gui_tests")
    yield
    gc.collect()
