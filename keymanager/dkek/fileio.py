"""Atomic, private file writes for share files and key backups.

A file is written to a temporary file in the target's directory with mode 0600,
flushed to disk, and renamed over the target, so that a crash leaves either the old
file or the complete new one, never a torn file, and no other user can read it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600


def write_private_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True
) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600.

    :param overwrite: when False, refuse (``FileExistsError``) to replace an existing file.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} already exists")
    directory = target.parent if str(target.parent) else Path(".")
    descriptor, temporary_name = tempfile.mkstemp(
        prefix=f".{target.name[:40]}.", suffix=".tmp", dir=directory
    )
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if not overwrite and target.exists():
            raise FileExistsError(f"{target} already exists")
        os.replace(temporary_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where possible
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)
