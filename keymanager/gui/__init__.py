"""The PySide6 desktop application (the only package that imports Qt).

``APP_ID`` is the reverse-DNS application id: the desktop file, the AppStream metainfo,
the Flatpak app-id and :meth:`QGuiApplication.setDesktopFileName` all use it.
"""

from __future__ import annotations

APP_ID = "io.github.keymanager.KeyManager"
APP_NAME = "KeyManager"
ORGANIZATION_NAME = "keymanager"
