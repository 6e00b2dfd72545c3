"""Every catalog dialog, shown, gives each label, field and button the height it needs.

The key-domain group dialogs were once resized before they were shown: Qt kept that
size, whose height ignored how many lines the word-wrapped note needs, and in a real
window the note was cut off at the top and bottom and the group-file field squashed to
a few pixels.  This test shows each dialog of the catalog on the demo card's window and
asks :func:`tests.support.dialog_layout.cramped_widgets` for widgets lower than their
minimum size hint (a wrapped label: lower than its height for its width).  The same
check runs in a real X11 window in ``tests/gui_xcb``.

The offscreen screen is 800x800: Qt limits a dialog that sizes itself to two thirds
of the screen, which clips the tallest ones here and not on a real screen of 1024 lines
or more.  Such a dialog (one its code did not resize) gets the height it asks for
before the check; a dialog its code resized is checked as it stands.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from keymanager.gui.dialog_catalog import CATALOG
from tests.support.dialog_layout import cramped_widgets

SETTLE_ROUNDS = 5


def _give_the_height_a_real_screen_would(dialog: QWidget) -> None:
    layout = dialog.layout()
    if dialog.testAttribute(Qt.WidgetAttribute.WA_Resized) or layout is None:
        return
    wanted = (
        layout.totalHeightForWidth(dialog.width())
        if layout.hasHeightForWidth()
        else dialog.sizeHint().height()
    )
    if dialog.height() < wanted:
        dialog.resize(dialog.width(), wanted)


@pytest.mark.parametrize("name", CATALOG.names())
def test_no_widget_is_squashed(name: str, window: Any) -> None:
    dialog = CATALOG.build(name, window)  # a child of the window (some delete on close)
    dialog.show()
    for _ in range(SETTLE_ROUNDS):
        QApplication.processEvents()
    _give_the_height_a_real_screen_would(dialog)
    for _ in range(SETTLE_ROUNDS):
        QApplication.processEvents()
    squashed = cramped_widgets(dialog)
    dialog.close()
    dialog.deleteLater()
    assert squashed == [], f"{name}: squashed widgets"
