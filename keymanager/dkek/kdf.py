"""The share-file key derivation: OpenSSL's ``EVP_BytesToKey`` with MD5.

Smart Card Shell and ``sc-hsm-tool`` derive the AES-256 key and IV of a DKEK share
file with ``EVP_BytesToKey(AES-256-CBC, MD5, salt, password, count=10,000,000)``:

* ``D_1 = MD5^count(password || salt)``, ``D_j = MD5^count(D_(j-1) || password || salt)``,
  where ``MD5^count`` applies MD5 once to its input and then ``count - 1`` more times to
  the 16-byte digest;
* key = ``D_1 || D_2``, IV = ``D_3``.

That is 30 million MD5 applications per share file, the slowest step a custodian
waits for.  Three back ends compute the repeated hashing:

``"c"``
    the optional C extension :mod:`keymanager.dkek._md5chain` (one MD5 compression
    per round, GIL released), built when the package is installed with a compiler;
``"python"``
    a CPython loop over the fastest MD5 constructor available (the built-in ``_md5``
    module, else :func:`hashlib.md5`).

``"auto"`` picks the C extension when it is importable.  All back ends produce the
same bytes; ``benchmarks/kdf.py`` measures them against OpenSSL's own routine.
The derivation reports progress and can be cancelled between chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal, Protocol

from keymanager.dkek.errors import DerivationCancelled
from keymanager.dkek.secret import wipe

try:  # the optional C accelerator
    from keymanager.dkek import _md5chain
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _md5chain = None  # type: ignore[assignment]

try:  # CPython's own MD5 is faster than OpenSSL's through hashlib for tiny inputs
    from _md5 import md5 as _fast_md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    _fast_md5 = hashlib.md5

SHARE_FILE_ROUNDS = 10_000_000
"""The iteration count used by Smart Card Shell and sc-hsm-tool (fixed by the format)."""

_MD5_LENGTH = 16
_CHUNK_ROUNDS = 250_000

Backend = Literal["auto", "c", "python"]
ProgressCallback = Callable[[int, int], None]
"""Called with (MD5 rounds done, MD5 rounds in total)."""


class CancelFlag(Protocol):
    """Anything with ``is_set()``, such as :class:`threading.Event`."""

    def is_set(self) -> bool:
        """Return True once the caller wants the derivation to stop."""
        ...


def accelerated() -> bool:
    """Whether the C accelerator is available in this installation."""
    return _md5chain is not None


def _resolve_backend(backend: Backend) -> Callable[[bytes, int], bytes]:
    if backend == "c" or (backend == "auto" and _md5chain is not None):
        if _md5chain is None:
            raise RuntimeError("the C accelerator keymanager.dkek._md5chain is not built")
        return _md5chain.iterate
    return _iterate_python


def _iterate_python(digest: bytes, count: int) -> bytes:
    md5 = _fast_md5
    for _ in range(count):
        digest = md5(digest).digest()
    return digest


def evp_bytes_to_key_md5(
    password: bytes | bytearray,
    salt: bytes,
    *,
    key_length: int = 32,
    iv_length: int = 16,
    rounds: int = SHARE_FILE_ROUNDS,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    backend: Backend = "auto",
) -> tuple[bytearray, bytearray]:
    """Derive ``(key, iv)`` exactly as OpenSSL's ``EVP_BytesToKey`` with MD5 does.

    :param password: the password bytes (binary for n-of-m shares).
    :param salt: the 8-byte salt from the share file.
    :param rounds: MD5 applications per 16-byte block (10,000,000 for share files).
    :param progress: called now and then with (rounds done, rounds in total).
    :param cancel: checked between chunks; when set, :class:`DerivationCancelled` is raised.
    :param backend: ``"auto"``, ``"c"`` or ``"python"``.
    :returns: two ``bytearray`` buffers the caller should :func:`~keymanager.dkek.secret.wipe`.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    iterate = _resolve_backend(backend)
    blocks = -(-(key_length + iv_length) // _MD5_LENGTH)
    total_rounds = blocks * rounds
    done_rounds = 0
    material = bytearray()
    previous = b""
    try:
        for _ in range(blocks):
            seed = bytearray(previous)
            seed += password
            seed += salt
            digest = hashlib.md5(seed).digest()  # noqa: S324 - fixed by the file format
            wipe(seed)
            done_rounds += 1
            remaining = rounds - 1
            while remaining > 0:
                if cancel is not None and cancel.is_set():
                    raise DerivationCancelled("the share key derivation was cancelled")
                step = min(remaining, _CHUNK_ROUNDS)
                digest = iterate(digest, step)
                remaining -= step
                done_rounds += step
                if progress is not None:
                    progress(done_rounds, total_rounds)
            material += digest
            previous = digest
        if progress is not None and rounds == 1:
            progress(done_rounds, total_rounds)
        key = bytearray(material[:key_length])
        iv = bytearray(material[key_length : key_length + iv_length])
        return key, iv
    finally:
        wipe(material)
