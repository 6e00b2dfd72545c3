"""What the window remembers between runs: geometry, last folders, the chosen reader.

Kept with ``QSettings`` in an INI file, ``$XDG_CONFIG_HOME/keymanager/keymanager.ini``
(``~/.config/…`` by default).  It holds no secret: no PIN, share, password or key
material, only window geometry, folder paths and a reader name.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

GEOMETRY = "window/geometry"
STATE = "window/state"
READER = "cards/reader"
FOLDER_PREFIX = "folders/"


def settings_path() -> Path:
    """The INI file (read from the environment each time, so tests can move it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "keymanager" / "keymanager.ini"


def open_settings() -> QSettings:
    """The settings store (changes are written when the object goes or on ``sync()``)."""
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


def last_folder(name: str) -> str:
    """The folder last used for ``name`` (e.g. ``"backups"``), "" if none or gone."""
    value = open_settings().value(FOLDER_PREFIX + name, "")
    folder = str(value) if value else ""
    return folder if folder and Path(folder).is_dir() else ""


def remember_folder(name: str, chosen: Path) -> None:
    """Remember the folder of ``chosen`` for the next file dialog of ``name``."""
    store = open_settings()
    store.setValue(FOLDER_PREFIX + name, str(chosen.parent if not chosen.is_dir() else chosen))
    store.sync()


def saved_bytes(key: str) -> QByteArray | None:
    """A stored ``QByteArray`` (window geometry or state), ``None`` if there is none."""
    value = open_settings().value(key)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def save_value(key: str, value: object) -> None:
    store = open_settings()
    store.setValue(key, value)
    store.sync()


def saved_reader() -> str:
    """The card source key chosen last ("" if none)."""
    value = open_settings().value(READER, "")
    return str(value) if value else ""
