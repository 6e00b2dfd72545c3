"""The user guide's screenshots of the auditor view and the share ceremony dialog.

``keymanager --screenshot FILE --dialog audit`` and ``--dialog share-ceremony`` render
the registered dialogs over the main window on the demo card.  These tests write
``docs/images/audit.png`` and ``docs/images/share-ceremony.png`` the same way and check
that the pictures are real (size, many colours, the texts the guide refers to are in
the dialog) and that a second render is byte-identical, so that the committed images
only change when the dialogs do.

The auditor view shows the time the audit was made ("Created (UTC)"); for the picture
it is set to a fixed instant, everything else is the real report of the demo card.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QWidget

from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.gui.app import main
from keymanager.gui.main_window import MainWindow
from keymanager.gui.screenshots import DIALOGS
from keymanager.simulator.demo import DEMO_SHARES

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
FIXED_TIME = "2026-11-27T09:30:00+00:00"


def _with_fixed_audit_time(
    build: Callable[[MainWindow], QWidget],
) -> Callable[[MainWindow], QWidget]:
    """The ``audit`` builder, with the report's creation time set to :data:`FIXED_TIME`."""
    from keymanager.gui.audit_view import AuditView

    def builder(window: MainWindow) -> QWidget:
        view = build(window)
        assert isinstance(view, AuditView)
        view.set_report(dataclasses.replace(view.report, created=FIXED_TIME))
        captured.append(view)
        return view

    captured: list[QWidget] = []
    builder.captured = captured  # type: ignore[attr-defined]
    return builder


def _texts(widget: QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QLabel))


def _render(state: Path, target: Path, dialog: str) -> bytes:
    assert main(["--demo", str(state), "--screenshot", str(target), "--dialog", dialog]) == 0
    return target.read_bytes()


def _check_image(path: Path, min_width: int, min_height: int) -> QImage:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 200_000
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() >= min_width and image.height() >= min_height
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 5) for y in range(0, image.height(), 5)
    }
    assert len(colours) > 10  # text, frames, table: not a blank canvas
    return image


@pytest.fixture
def state(demo_state: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo.json"
    copy.write_bytes(demo_state.read_bytes())
    return copy


def test_audit_screenshot(
    qtbot, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes docs/images/audit.png: the auditor view of the demo card."""
    builder = _with_fixed_audit_time(DIALOGS["audit"])
    monkeypatch.setitem(DIALOGS, "audit", builder)
    target = IMAGES / "audit.png"
    first = _render(state, target, "audit")
    _check_image(target, 700, 400)
    view = builder.captured[0]  # type: ignore[attr-defined]
    texts = _texts(view)
    assert FIXED_TIME in texts
    # the demo card's complete domain 0 shows the KCV of its two shares (computed on
    # the host here), domain 1 is still pending: what the guide's auditor section says
    table = view.model  # type: ignore[attr-defined]
    expected = format_kcv(Dkek.from_shares(DEMO_SHARES).kcv())
    assert table.cell(0, 3) == expected
    assert table.cell(1, 3).startswith("pending")
    second = _render(state, tmp_path / "audit-again.png", "audit")
    assert first == second, "the audit screenshot is not deterministic"


def test_share_ceremony_screenshot(qtbot, state: Path, tmp_path: Path) -> None:
    """Writes docs/images/share-ceremony.png: an n-of-m share file with a PaperKey."""
    target = IMAGES / "share-ceremony.png"
    first = _render(state, target, "share-ceremony")
    _check_image(target, 400, 300)
    second = _render(state, tmp_path / "share-ceremony-again.png", "share-ceremony")
    assert first == second, "the share ceremony screenshot is not deterministic"
