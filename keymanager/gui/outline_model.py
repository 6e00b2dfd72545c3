"""A thin Qt item model over the pure outline tree of :mod:`keymanager.workflows.outline`.

The tree holds everything; the model only maps it to indexes: an index's internal
pointer is the :class:`~keymanager.workflows.outline.OutlineNode` it stands for (the
model keeps the tree alive).  One column.  Roles: display = title, decoration = an icon
per node kind, tooltip = the first details, :data:`NODE_ROLE` = the node,
:data:`KIND_ROLE` = its kind, :data:`NODE_ID_ROLE` = its stable id.  A new outline
replaces the old one with a model reset; a certificate loaded later updates its node
in place (:meth:`OutlineModel.update_node`, one ``dataChanged``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

from keymanager import resources
from keymanager.card.hsm_types import PinStatus
from keymanager.workflows.outline import NodeKind, Outline, OutlineNode

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
NODE_ID_ROLE = Qt.ItemDataRole.UserRole + 3

_FALLBACK_ICONS: dict[NodeKind, QStyle.StandardPixmap] = {
    NodeKind.DEVICE: QStyle.StandardPixmap.SP_DriveHDIcon,
    NodeKind.USER_PIN: QStyle.StandardPixmap.SP_DialogApplyButton,
    NodeKind.SO_PIN: QStyle.StandardPixmap.SP_DialogResetButton,
    NodeKind.KEY_DOMAIN: QStyle.StandardPixmap.SP_DirClosedIcon,
    NodeKind.KEY_GROUP: QStyle.StandardPixmap.SP_DirOpenIcon,
    NodeKind.KEY: QStyle.StandardPixmap.SP_FileDialogDetailedView,
    NodeKind.CERTIFICATE: QStyle.StandardPixmap.SP_FileIcon,
    NodeKind.CA_GROUP: QStyle.StandardPixmap.SP_DirLinkIcon,
    NodeKind.CA_CERTIFICATE: QStyle.StandardPixmap.SP_FileLinkIcon,
    NodeKind.DATA_GROUP: QStyle.StandardPixmap.SP_DirIcon,
    NodeKind.DATA_OBJECT: QStyle.StandardPixmap.SP_FileDialogContentsView,
    NodeKind.NOTICE: QStyle.StandardPixmap.SP_MessageBoxWarning,
    NodeKind.PKA: QStyle.StandardPixmap.SP_VistaShield,
    NodeKind.CUSTODIAN_KEY: QStyle.StandardPixmap.SP_FileDialogDetailedView,
}
"""Qt's standard icons, used when a node kind's own SVG cannot be loaded."""

ICON_NAMES: dict[NodeKind, str] = {
    NodeKind.DEVICE: "device",
    NodeKind.USER_PIN: "user-pin",
    NodeKind.SO_PIN: "so-pin",
    NodeKind.KEY_DOMAIN: "key-domain",
    NodeKind.KEY_GROUP: "key-group",
    NodeKind.KEY: "key",
    NodeKind.CERTIFICATE: "certificate",
    NodeKind.CA_GROUP: "ca-group",
    NodeKind.CA_CERTIFICATE: "ca-certificate",
    NodeKind.DATA_GROUP: "data-group",
    NodeKind.DATA_OBJECT: "data-object",
    NodeKind.NOTICE: "notice",
    NodeKind.PKA: "pka",
    NodeKind.CUSTODIAN_KEY: "custodian-key",
}
"""The outline icon (``keymanager/resources/icons/outline/<name>.svg``) of each node kind."""

UNVERIFIED_PIN_ICON = "user-pin-unverified"
"""The user PIN node's icon while the PIN is not verified."""


def _resource_icon(name: str) -> QIcon | None:
    try:
        icon_path = resources.outline_icon(name)
    except (FileNotFoundError, ValueError):
        return None
    icon = QIcon(str(icon_path))
    return None if icon.pixmap(16, 16).isNull() else icon


def icon_for(kind: NodeKind, *, verified: bool = True) -> QIcon:
    """The icon of a node kind: its SVG from the package resources, else a standard icon.

    ``verified=False`` gives the user PIN's "not verified" variant.
    """
    name = UNVERIFIED_PIN_ICON if kind is NodeKind.USER_PIN and not verified else ICON_NAMES[kind]
    icon = _resource_icon(name)
    if icon is not None:
        return icon
    pixmap = _FALLBACK_ICONS[kind]
    if kind is NodeKind.USER_PIN and not verified:
        pixmap = QStyle.StandardPixmap.SP_FileDialogInfoView
    return QApplication.style().standardIcon(pixmap)


AnyIndex = QModelIndex | QPersistentModelIndex


def _verified(node: OutlineNode) -> bool:
    return isinstance(node.data, PinStatus) and node.data.verified


class OutlineModel(QAbstractItemModel):
    """The card outline as a one-column tree model (empty until :meth:`set_outline`)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._outline: Outline | None = None
        self._icons: dict[tuple[NodeKind, bool], QIcon] = {}

    # --- content -------------------------------------------------------------------

    @property
    def outline(self) -> Outline | None:
        return self._outline

    def set_outline(self, outline: Outline | None) -> None:
        """Show ``outline`` (``None``: nothing) in place of the current one."""
        self.beginResetModel()
        self._outline = outline
        self.endResetModel()

    def _root(self) -> OutlineNode | None:
        return None if self._outline is None else self._outline.root

    def node(self, index: AnyIndex) -> OutlineNode | None:
        """The node behind ``index`` (``None`` for the invisible root)."""
        if not index.isValid():
            return None
        node = index.internalPointer()
        return node if isinstance(node, OutlineNode) else None

    def index_of(self, node: OutlineNode) -> QModelIndex:
        """The index of a node of the current outline."""
        if node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def find(self, node_id: str) -> QModelIndex:
        """The index of the node with ``node_id`` (invalid if there is none)."""
        if self._outline is None:
            return QModelIndex()
        node = self._outline.find(node_id)
        return QModelIndex() if node is None or node.parent is None else self.index_of(node)

    def update_node(self, node: OutlineNode, fresh: OutlineNode) -> None:
        """Copy ``fresh``'s title and details onto ``node`` and tell the views."""
        if self._outline is None or self._outline.root.find(node.node_id) is not node:
            return  # the outline was replaced meanwhile
        node.update_from(fresh)
        index = self.index_of(node)
        self.dataChanged.emit(index, index)

    def _icon(self, kind: NodeKind, *, verified: bool = True) -> QIcon:
        key = (kind, verified)
        icon = self._icons.get(key)
        if icon is None:
            icon = icon_for(kind, verified=verified)
            self._icons[key] = icon
        return icon

    # --- QAbstractItemModel --------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column != 0 or row < 0:
            return QModelIndex()
        parent_node = self.node(parent) if parent.isValid() else self._root()
        if parent_node is None or row >= len(parent_node.children):
            return QModelIndex()
        return self.createIndex(row, 0, parent_node.children[row])

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        node = self.node(index)
        if node is None or node.parent is None or node.parent is self._root():
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.column() > 0:
            return 0
        node = self.node(parent) if parent.isValid() else self._root()
        return 0 if node is None else len(node.children)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return node.title
        if role == Qt.ItemDataRole.DecorationRole:
            if node.kind is NodeKind.USER_PIN and not _verified(node):
                return self._icon(NodeKind.USER_PIN, verified=False)
            return self._icon(node.kind)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{item.label}: {item.value}" for item in node.details[:4]]
            return "\n".join(lines) or node.title
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{node.kind.value}: {node.title}"
        if role == NODE_ROLE:
            return node
        if role == KIND_ROLE:
            return node.kind.value
        if role == NODE_ID_ROLE:
            return node.node_id
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if (
            section == 0
            and orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
        ):
            return "Card"
        return None
