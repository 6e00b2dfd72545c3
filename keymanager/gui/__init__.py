"""The PySide6 desktop application (the only package that imports Qt).

``APP_ID`` is the reverse-DNS application id: the desktop file, the AppStream metainfo,
the Flatpak app-id and :meth:`QGuiApplication.setDesktopFileName` all use it.
"""

from __future__ import annotations

APP_ID = "io.github.keymanager.KeyManager"
APP_NAME = "KeyManager"
ORGANIZATION_NAME = "keymanager"

# PySide6 6.12.0 on Python 3.11 loses a reference to None/True/False on many calls,
# which kills a long session ("bool_dealloc"); guarded here, before the first call.
from keymanager.gui import pyside_refcount  # noqa: E402

pyside_refcount.install()
