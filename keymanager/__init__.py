"""keymanager: a desktop key manager for SmartCard-HSM class devices.

Layers, each importable without the ones above it: :mod:`keymanager.dkek` (host
cryptography and file formats) → :mod:`keymanager.card` → :mod:`keymanager.simulator`
→ :mod:`keymanager.workflows` → :mod:`keymanager.gui` and :mod:`keymanager.cli`.

Importing the package costs next to nothing: every ``keymanager-cli`` command starts
with it.  ``__version__`` is looked up on first use, from the installed distribution's
``METADATA`` (read directly: :mod:`importlib.metadata` alone takes about 20 ms to
import, as long as ``keymanager-cli --version`` otherwise needs).
"""

from __future__ import annotations

import os
import sys

_DISTRIBUTION = "keymanager"
_UNKNOWN_VERSION = "0.0.0+unknown"  # running from a source tree that was not installed
_found_version: str | None = None


def _metadata_version(directory: str) -> str | None:
    """The ``Version:`` of the first ``keymanager-*.dist-info`` in ``directory``."""
    try:
        names = sorted(os.listdir(directory or "."))
    except OSError:
        return None
    for name in names:
        if not (name.startswith(f"{_DISTRIBUTION}-") and name.endswith(".dist-info")):
            continue
        try:
            with open(os.path.join(directory, name, "METADATA"), encoding="utf-8") as metadata:
                for line in metadata:
                    if line.startswith("Version:"):
                        return line.removeprefix("Version:").strip()
                    if not line.strip():  # the headers end at the first empty line
                        break
        except OSError:
            continue
    return None


def _installed_version() -> str:
    """The installed distribution's version, found on ``sys.path`` as importlib does."""
    for directory in sys.path:
        found = _metadata_version(directory)
        if found is not None:
            return found
    # Not on the path as a plain directory (e.g. a zip or a frozen application):
    # importlib.metadata knows the other finders.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_DISTRIBUTION)
    except PackageNotFoundError:
        return _UNKNOWN_VERSION


def __getattr__(name: str) -> str:
    """``__version__``, computed on first use."""
    global _found_version
    if name == "__version__":
        if _found_version is None:
            _found_version = _installed_version()
        return _found_version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
