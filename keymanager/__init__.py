"""keymanager: a desktop key manager for SmartCard-HSM class devices.

Layers, each importable without the ones above it: :mod:`keymanager.dkek` (host
cryptography and file formats) → :mod:`keymanager.card` → :mod:`keymanager.simulator`
→ :mod:`keymanager.workflows` → :mod:`keymanager.gui` and :mod:`keymanager.cli`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("keymanager")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
