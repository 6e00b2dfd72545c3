"""Package data: the application icon, outline icons, the desktop file and the metainfo.

Everything here is reachable through :mod:`importlib.resources` from an installed wheel
(and from a PyInstaller bundle, which collects the package data).  The module is Qt-free:
it hands out file paths; :mod:`keymanager.gui` turns them into icons.

Layout::

    icons/hicolor/scalable/apps/io.github.keymanager.KeyManager.svg   the app icon
    icons/hicolor/NxN/apps/io.github.keymanager.KeyManager.png        N in APP_ICON_SIZES
    icons/outline/<name>.svg                                          outline node icons
    io.github.keymanager.KeyManager.desktop                           the desktop entry
    io.github.keymanager.KeyManager.metainfo.xml                      AppStream metainfo

The PNGs are rendered from the SVG by ``packaging/render_icons.py`` and committed as
source assets, so installing needs no renderer.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

APP_ID = "io.github.keymanager.KeyManager"
"""The reverse-DNS application id (the same as :data:`keymanager.gui.APP_ID`)."""

APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
"""The pixel sizes of the committed PNG application icons."""

DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def root() -> Traversable:
    """The resources directory as :mod:`importlib.resources` sees it."""
    return resources.files(__name__)


def path(*parts: str) -> Path:
    """A real file-system path of a resource (extracted once if the package is zipped).

    :raises FileNotFoundError: there is no such resource.
    """
    resource = root().joinpath(*parts)
    if not resource.is_file():
        raise FileNotFoundError(f"keymanager resource {'/'.join(parts)!r} is missing")
    if isinstance(resource, Path):
        return resource
    return _extracted.enter_context(resources.as_file(resource))


def app_icon_svg() -> Path:
    """The scalable application icon."""
    return path("icons", "hicolor", "scalable", "apps", f"{APP_ID}.svg")


def app_icon_png(size: int) -> Path:
    """The PNG application icon of ``size`` x ``size`` pixels (a size of :data:`APP_ICON_SIZES`)."""
    if size not in APP_ICON_SIZES:
        raise ValueError(f"no {size}x{size} icon; sizes: {APP_ICON_SIZES}")
    return path("icons", "hicolor", f"{size}x{size}", "apps", f"{APP_ID}.png")


def app_icon_files() -> list[Path]:
    """Every application icon file, the SVG first (for ``QIcon.addFile``)."""
    return [app_icon_svg(), *(app_icon_png(size) for size in APP_ICON_SIZES)]


OUTLINE_ICONS = (
    "device",
    "user-pin",
    "user-pin-unverified",
    "so-pin",
    "key-domain",
    "key-group",
    "key",
    "certificate",
    "ca-group",
    "ca-certificate",
    "data-group",
    "data-object",
    "notice",
    "pka",
    "custodian-key",
)
"""The names of the outline node icons (``icons/outline/<name>.svg``)."""


def outline_icon(name: str) -> Path:
    """The SVG icon ``name`` (one of :data:`OUTLINE_ICONS`) for the card outline."""
    if name not in OUTLINE_ICONS:
        raise ValueError(f"no outline icon {name!r}")
    return path("icons", "outline", f"{name}.svg")


def desktop_file() -> Path:
    """The desktop entry (install it to ``share/applications``)."""
    return path(DESKTOP_FILE)


def metainfo_file() -> Path:
    """The AppStream metainfo (install it to ``share/metainfo``)."""
    return path(METAINFO_FILE)
