"""What the window remembers between runs: geometry, last folders, the chosen reader.

Kept with ``QSettings`` in an INI file, ``$XDG_CONFIG_HOME/keymanager/keymanager.ini``
(``~/.config/…`` by default).  It holds no secret: no PIN, share, password or key
material, only window geometry, folder paths, a reader name and whether sessions run
on secure messaging.

Secure messaging (Card ▸ Use secure messaging, :data:`SECURE_MESSAGING`): until the
user chooses in the menu, the app follows ``KEYMANAGER_SECURE_MESSAGING`` (on unless
it says ``off``); the choice made in the menu is kept and wins over the variable.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from keymanager.card.secure_messaging import SecureMessagingMode, mode_from_environment

logger = logging.getLogger(__name__)

GEOMETRY = "window/geometry"
STATE = "window/state"
READER = "cards/reader"
SECURE_MESSAGING = "cards/secure_messaging"
"""``true``/``false``: the user's choice in Card ▸ Use secure messaging (unset: none)."""
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


def saved_secure_messaging() -> bool | None:
    """The choice made in Card ▸ Use secure messaging (``None``: never made)."""
    value = open_settings().value(SECURE_MESSAGING)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "on", "yes")


def secure_messaging_on() -> bool:
    """Whether the app's sessions open a secure channel where the card offers one.

    The user's choice if there is one, else ``KEYMANAGER_SECURE_MESSAGING`` (on unless
    it says ``off``; a value it does not take counts as on, with a warning in the log).
    """
    saved = saved_secure_messaging()
    if saved is not None:
        return saved
    try:
        return mode_from_environment() is SecureMessagingMode.AUTO
    except ValueError as error:
        logger.warning("%s; secure messaging stays on", error)
        return True


def save_secure_messaging(on: bool) -> None:
    """Keep the user's choice (it wins over the environment from now on)."""
    save_value(SECURE_MESSAGING, "true" if on else "false")
