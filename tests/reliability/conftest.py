"""Fixtures of the reliability tests: the shared GUI window on the demo card.

The GUI tests here (``test_*_gui.py``) use the same demo card and main window as
``tests/gui`` (``tests/support/gui_window.py``); Qt is loaded only by those tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.support.gui_window import (  # noqa: F401  (fixtures used by name)
    automatic_gc_back_after_gui_tests,
    demo_card,
    demo_state,
    window,
)
