"""The outline model passes Qt's model tester and shows the tree's nodes."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester

from keymanager.card.hsm import SmartCardHsm
from keymanager.card.transport import LocalTransport
from keymanager.gui.outline_model import KIND_ROLE, NODE_ID_ROLE, NODE_ROLE, OutlineModel
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.outline import NodeKind, load_certificate, read_outline


def _walk(model: OutlineModel, parent: QModelIndex) -> list[QModelIndex]:
    found = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        found.append(index)
        found += _walk(model, index)
    return found


def test_model_passes_qt_model_tester(
    qtbot, qtmodeltester, demo_card: SmartCardHsmSimulator
) -> None:
    hsm = SmartCardHsm.open(LocalTransport(demo_card))
    outline = read_outline(hsm)
    model = OutlineModel()
    # Qt's own tester watches every change made below (fatal mode would abort the run)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    model.set_outline(outline)
    qtmodeltester.check(model, force_py=False)
    node = outline.find("certificate:1")
    assert node is not None
    model.update_node(node, load_certificate(hsm, node))
    model.set_outline(read_outline(hsm))
    model.set_outline(None)
    assert model.rowCount() == 0
    model.set_outline(outline)
    qtmodeltester.check(model, force_py=True)
    del tester


def test_model_rows_match_the_tree(qtbot, demo_card: SmartCardHsmSimulator) -> None:
    outline = read_outline(SmartCardHsm.open(LocalTransport(demo_card)))
    model = OutlineModel()
    model.set_outline(outline)
    indexes = _walk(model, QModelIndex())
    assert [model.data(i, NODE_ROLE) for i in indexes] == outline.nodes()
    assert model.rowCount() == 1  # the device
    device = model.index(0, 0)
    assert model.data(device, KIND_ROLE) == "device"
    assert model.data(device, NODE_ID_ROLE) == "device"
    titles = [model.data(i, Qt.ItemDataRole.DisplayRole) for i in indexes]
    assert any(t.startswith("Key domain 0 — Production DKEK") and "KCV " in t for t in titles)
    assert any("TLS server (P-256)" in t for t in titles)
    # every kind shown has an icon
    for index in indexes:
        assert not model.data(index, Qt.ItemDataRole.DecorationRole).isNull()
    # parent() inverts index()
    for index in indexes:
        node = model.node(index)
        assert node is not None
        parent = model.parent(index)
        expected = node.parent if node.parent is not outline.root else None
        assert model.node(parent) is expected
    assert model.find("domain:1").isValid()
    assert not model.find("no such node").isValid()
    assert {model.node(i).kind for i in indexes} >= {
        NodeKind.DEVICE,
        NodeKind.USER_PIN,
        NodeKind.KEY_DOMAIN,
        NodeKind.KEY,
        NodeKind.CERTIFICATE,
        NodeKind.CA_CERTIFICATE,
        NodeKind.DATA_OBJECT,
    }
