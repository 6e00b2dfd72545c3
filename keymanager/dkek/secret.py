"""Best-effort handling of secret byte strings.

Python cannot guarantee that a secret leaves no copy in memory: immutable ``bytes``
objects are freed, not overwritten.  Secrets that this library owns are therefore
kept in ``bytearray`` buffers that are overwritten with zeros when they are no
longer needed.  This reduces, but does not remove, the window in which a secret
sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable


def wipe(*buffers: bytearray | memoryview | None) -> None:
    """Overwrite each writable buffer with zeros (``None`` entries are skipped)."""
    for buffer in buffers:
        if buffer is None:
            continue
        view = buffer if isinstance(buffer, memoryview) else memoryview(buffer)
        if view.readonly:
            continue
        view.cast("B")[:] = bytes(view.nbytes)


def xor_into(target: bytearray, values: Iterable[int]) -> None:
    """XOR a sequence of byte values into ``target`` in place."""
    for index, value in enumerate(values):
        target[index] ^= value
