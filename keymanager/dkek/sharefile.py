"""Password-protected DKEK share files (``.pbe``), as written by Smart Card Shell and sc-hsm-tool.

A share file is always 64 bytes:

======  ======  ===============================================================
offset  length  content
======  ======  ===============================================================
0       8       ASCII ``Salted__``
8       8       random salt
16      48      AES-256-CBC of (32-byte share || 16 bytes of 0x10)
======  ======  ===============================================================

Key and IV come from :func:`~keymanager.dkek.kdf.evp_bytes_to_key_md5` with 10,000,000
rounds.  The sixteen 0x10 bytes are PKCS#7 padding of the block-aligned share; a
wrong password shows up as a padding mismatch (:class:`WrongPassword`), exactly the
check Smart Card Shell makes.

Typed passwords are encoded as UTF-8 (identical to the raw bytes sc-hsm-tool uses
for ASCII passwords; how Smart Card Shell encodes non-ASCII characters is not
known).  n-of-m shares use a binary 8-byte password (:mod:`keymanager.dkek.nofm`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keymanager.dkek.dkek import SHARE_LENGTH
from keymanager.dkek.errors import InvalidShare, NotAShareFile, WeakPassword, WrongPassword
from keymanager.dkek.fileio import write_private_file
from keymanager.dkek.kdf import (
    SHARE_FILE_ROUNDS,
    Backend,
    CancelFlag,
    ProgressCallback,
    evp_bytes_to_key_md5,
)
from keymanager.dkek.secret import wipe

SHARE_FILE_LENGTH = 64
SHARE_FILE_MAGIC = b"Salted__"
SALT_LENGTH = 8
MINIMUM_PASSWORD_LENGTH = 6
"""sc-hsm-tool's minimum for an interactively typed password."""

_PADDING = bytes([0x10]) * 16


def encode_password(password: str) -> bytes:
    """Turn a typed password into the bytes the key derivation uses (UTF-8)."""
    return password.encode("utf-8")


def check_new_password(password: bytes | bytearray) -> None:
    """Refuse passwords too weak for a new share file (:class:`WeakPassword`)."""
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise WeakPassword(
            f"a share-file password needs at least {MINIMUM_PASSWORD_LENGTH} characters"
        )


def check_share_file(data: bytes) -> None:
    """Raise :class:`NotAShareFile` unless ``data`` has the shape of a share file."""
    if len(data) < SHARE_FILE_LENGTH:
        raise NotAShareFile(
            f"not a DKEK share file: {len(data)} bytes, a share file has exactly "
            f"{SHARE_FILE_LENGTH} (truncated?)"
        )
    if len(data) > SHARE_FILE_LENGTH:
        raise NotAShareFile(
            f"not a DKEK share file: {len(data)} bytes, a share file has exactly "
            f"{SHARE_FILE_LENGTH} (extra data appended?)"
        )
    if data[: len(SHARE_FILE_MAGIC)] != SHARE_FILE_MAGIC:
        raise NotAShareFile("not a DKEK share file: it does not start with 'Salted__'")


def encrypt_share(
    share: bytes | bytearray,
    password: bytes | bytearray,
    *,
    salt: bytes | None = None,
    rounds: int = SHARE_FILE_ROUNDS,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    backend: Backend = "auto",
) -> bytes:
    """Encrypt a 32-byte DKEK share into the 64-byte share-file format.

    :param salt: 8 bytes; random when omitted.
    :param rounds: only tests change this; real share files use 10,000,000.
    """
    if len(share) != SHARE_LENGTH:
        raise InvalidShare(f"a DKEK share must be {SHARE_LENGTH} bytes, not {len(share)}")
    if salt is None:
        salt = os.urandom(SALT_LENGTH)
    if len(salt) != SALT_LENGTH:
        raise ValueError(f"the salt must be {SALT_LENGTH} bytes")
    key, iv = evp_bytes_to_key_md5(
        password, salt, rounds=rounds, progress=progress, cancel=cancel, backend=backend
    )
    plaintext = bytearray(share)
    plaintext += _PADDING
    try:
        encryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(iv))).encryptor()
        ciphertext = encryptor.update(bytes(plaintext)) + encryptor.finalize()
    finally:
        wipe(key, iv, plaintext)
    return SHARE_FILE_MAGIC + salt + ciphertext


def decrypt_share(
    data: bytes,
    password: bytes | bytearray,
    *,
    rounds: int = SHARE_FILE_ROUNDS,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    backend: Backend = "auto",
) -> bytearray:
    """Decrypt a share file and return the 32-byte share (wipe it when done).

    :raises NotAShareFile: the data is not 64 bytes starting with ``Salted__``.
    :raises WrongPassword: the padding check failed, so the password is wrong.
    :raises DerivationCancelled: ``cancel`` was set during the key derivation.
    """
    check_share_file(data)
    salt = data[8:16]
    key, iv = evp_bytes_to_key_md5(
        password, salt, rounds=rounds, progress=progress, cancel=cancel, backend=backend
    )
    try:
        decryptor = Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(iv))).decryptor()
        plaintext = bytearray(decryptor.update(data[16:]) + decryptor.finalize())
    finally:
        wipe(key, iv)
    try:
        if plaintext[SHARE_LENGTH:] != _PADDING:
            raise WrongPassword("the share file did not decrypt: wrong password?")
        return bytearray(plaintext[:SHARE_LENGTH])
    finally:
        wipe(plaintext)


def read_share_file(path: str | os.PathLike[str]) -> bytes:
    """Read a share file's bytes, checking its shape (not its password)."""
    file_path = Path(path)
    with file_path.open("rb") as stream:
        data = stream.read(SHARE_FILE_LENGTH + 1)
    check_share_file(data)
    return data


def write_share_file(
    path: str | os.PathLike[str], encrypted_share: bytes, *, overwrite: bool = False
) -> None:
    """Write an encrypted share atomically with mode 0600 (no overwrite unless asked)."""
    check_share_file(encrypted_share)
    write_private_file(path, encrypted_share, overwrite=overwrite)
