"""Entry point of the ``keymanager`` desktop application.

The main window (outline, worker thread, dialogs) is not built yet; until it is, the
command says so plainly instead of opening an empty window.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Start the desktop application."""
    print(
        "keymanager: the desktop window is not available in this version yet; "
        "use keymanager-cli (see keymanager-cli --help).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
