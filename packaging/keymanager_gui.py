"""PyInstaller entry point of the ``keymanager`` desktop application."""

from __future__ import annotations

import sys

from keymanager.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
