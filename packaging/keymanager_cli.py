"""PyInstaller entry point of ``keymanager-cli``."""

from __future__ import annotations

import sys

from keymanager.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
