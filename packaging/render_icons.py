"""Render the application icon's PNG sizes from its SVG (run after editing the SVG).

    python packaging/render_icons.py [--output DIR]

writes ``DIR/hicolor/NxN/apps/io.github.keymanager.KeyManager.png`` for every size of
:data:`keymanager.resources.APP_ICON_SIZES`; DIR defaults to
``keymanager/resources/icons`` (the committed PNGs are source assets, so installing
keymanager needs no SVG renderer).  With ``--ico`` and ``--icns`` it also writes the
Windows and macOS icon files PyInstaller uses.  Uses PySide6's QSvgRenderer offscreen.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from keymanager.resources import APP_ICON_SIZES, APP_ID, app_icon_svg

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "keymanager" / "resources" / "icons"


def render(svg: Path, output: Path, sizes: Sequence[int] = APP_ICON_SIZES) -> list[Path]:
    """Render ``svg`` to one PNG per size below ``output``; returns the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        target = output / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise OSError(f"could not write {target}")
        written.append(target)
    return written


def write_ico(pngs: Sequence[Path], target: Path) -> Path:
    """A Windows ``.ico`` holding the PNGs (PNG-compressed entries, Vista and later)."""
    images = [(png.read_bytes(), int(png.parent.parent.name.split("x")[0])) for png in pngs]
    images = [(data, size) for data, size in images if size <= 256]
    header = (0).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += len(images).to_bytes(2, "little")
    directory = b""
    offset = 6 + 16 * len(images)
    body = b""
    for data, size in images:
        side = 0 if size == 256 else size
        directory += bytes([side, side, 0, 0]) + (1).to_bytes(2, "little")
        directory += (32).to_bytes(2, "little") + len(data).to_bytes(4, "little")
        directory += (offset + len(body)).to_bytes(4, "little")
        body += data
    target.write_bytes(header + directory + body)
    return target


def write_icns(pngs: Sequence[Path], target: Path) -> Path:
    """A macOS ``.icns`` holding the PNGs of the sizes the format has PNG types for."""
    types = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08"}
    chunks = b""
    for png in pngs:
        size = int(png.parent.parent.name.split("x")[0])
        if size in types:
            data = png.read_bytes()
            chunks += types[size] + (len(data) + 8).to_bytes(4, "big") + data
    target.write_bytes(b"icns" + (len(chunks) + 8).to_bytes(4, "big") + chunks)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--ico", action="store_true", help="also write the Windows .ico")
    parser.add_argument("--icns", action="store_true", help="also write the macOS .icns")
    arguments = parser.parse_args(argv)
    pngs = render(app_icon_svg(), arguments.output)
    if arguments.ico:
        pngs.append(write_ico(pngs, arguments.output / f"{APP_ID}.ico"))
    if arguments.icns:
        pngs.append(
            write_icns(pngs[:-1] if arguments.ico else pngs, arguments.output / f"{APP_ID}.icns")
        )
    for written in pngs:
        print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
