"""Which widgets of a shown dialog are squashed below the height they need.

A label, line edit, combo box, button, spin box or checkbox drawn lower than its
minimum size hint (for a word-wrapped label: lower than its height for the width it
got) is clipped on screen: its text cut at the top and bottom, a field reduced to a
few pixels.  :func:`cramped_widgets` names each such widget of a dialog; the catalog
tests (offscreen, ``tests/gui/test_dialog_catalog_layout.py``, and in a real X11
window, ``tests/gui_xcb``) expect none.

The editors Qt puts inside a spin box or an editable combo box are left out: they are
drawn a few pixels lower than their own hint by design, inside their frame.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

CHECKED_KINDS = (QLabel, QLineEdit, QComboBox, QPushButton, QAbstractSpinBox, QCheckBox)
INNER_EDITOR_OWNERS = (QAbstractSpinBox, QComboBox)


def needed_height(widget: QWidget) -> int:
    """The height ``widget`` needs: its height for its width if it wraps, else its minimum hint."""
    if widget.hasHeightForWidth():
        return int(widget.heightForWidth(widget.width()))
    return int(widget.minimumSizeHint().height())


def _describe(widget: QWidget) -> str:
    name = widget.objectName()
    if not name and isinstance(widget, (QLabel, QPushButton, QCheckBox, QLineEdit)):
        name = repr(widget.text()[:40])
    return f"{type(widget).__name__} {name or '(unnamed)'}"


def cramped_widgets(dialog: QWidget) -> list[str]:
    """Each visible checked widget of ``dialog`` lower than it needs: "kind name: 6 < 22 px"."""
    found: list[str] = []
    for widget in dialog.findChildren(QWidget):
        if not isinstance(widget, CHECKED_KINDS) or not widget.isVisibleTo(dialog):
            continue
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(), INNER_EDITOR_OWNERS):
            continue
        needed = needed_height(widget)
        if widget.height() < needed:
            found.append(f"{_describe(widget)}: {widget.height()} < {needed} px")
    return found
