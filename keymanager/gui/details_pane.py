"""The details pane: the selected node's fields, each selectable and with a Copy button.

:class:`CopyText` puts text on the clipboard; it only ever gets public details (KCVs,
serials, fingerprints: the fields an outline node marks copyable), never a secret.
"""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from keymanager.workflows.outline import OutlineNode


class DetailsPane(QScrollArea):
    """The selected node's fields, each read-only, selectable and with a Copy button."""

    def __init__(self, copy_text: CopyText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._copy_text = copy_text
        self.node: OutlineNode | None = None
        self.fields: dict[str, QLineEdit] = {}
        self.show_node(None)

    def show_node(self, node: OutlineNode | None) -> None:
        self.node = node
        self.fields = {}
        body = QWidget()
        layout = QVBoxLayout(body)
        heading = QLabel(node.title if node is not None else "Select an item of the card.")
        heading.setObjectName("detailsHeading")
        heading.setWordWrap(True)
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        heading.setFont(font)
        layout.addWidget(heading)
        if node is not None:
            kind = QLabel(node.kind.value[0].upper() + node.kind.value[1:])
            kind.setEnabled(False)
            layout.addWidget(kind)
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
            for item in node.details:
                value = QLineEdit(item.value)
                value.setReadOnly(True)
                value.setCursorPosition(0)
                value.setObjectName(f"detail:{item.label}")
                row = QHBoxLayout()
                row.addWidget(value)
                if item.copyable:
                    button = QToolButton()
                    button.setText("Copy")
                    button.setToolTip(f"Copy the {item.label.lower()}")
                    button.clicked.connect(
                        lambda _checked=False, text=item.value: self._copy_text(text)
                    )
                    row.addWidget(button)
                form.addRow(item.label + ":", row)
                self.fields.setdefault(item.label, value)
            layout.addLayout(form)
        layout.addStretch(1)
        self.setWidget(body)


class CopyText:
    """Puts text on the clipboard (a class so tests can read what was copied)."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, text: str) -> None:
        self.last = text
        QGuiApplication.clipboard().setText(text)
