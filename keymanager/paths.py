"""Where keymanager keeps its state: journals, logs, the simulated and demo cards."""

from __future__ import annotations

import os
from pathlib import Path


def state_directory() -> Path:
    """``$XDG_STATE_HOME/keymanager`` (default ``~/.local/state/keymanager``).

    Not created here: whoever writes into it creates it with mode 0700.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "keymanager"
