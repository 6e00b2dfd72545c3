"""OpenSSL's own EVP_BytesToKey, reached through ctypes: the reference for our KDF.

sc-hsm-tool derives share-file keys with this very routine, so tests compare our
implementation with it and ``benchmarks/kdf.py`` times both in one process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libcrypto() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto")
    if name is None:
        raise RuntimeError("the system libcrypto (OpenSSL) was not found")
    library = ctypes.CDLL(name)
    library.EVP_md5.restype = ctypes.c_void_p
    library.EVP_aes_256_cbc.restype = ctypes.c_void_p
    library.EVP_BytesToKey.restype = ctypes.c_int
    library.EVP_BytesToKey.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
    ]
    return library


def openssl_version() -> str:
    """The version string of the libcrypto in use."""
    library = _libcrypto()
    library.OpenSSL_version.restype = ctypes.c_char_p
    library.OpenSSL_version.argtypes = [ctypes.c_int]
    return bytes(library.OpenSSL_version(0)).decode()


def openssl_evp_bytes_to_key(password: bytes, salt: bytes, rounds: int) -> tuple[bytes, bytes]:
    """(key, iv) for AES-256-CBC from OpenSSL's EVP_BytesToKey with MD5."""
    library = _libcrypto()
    key = ctypes.create_string_buffer(32)
    iv = ctypes.create_string_buffer(16)
    length = library.EVP_BytesToKey(
        library.EVP_aes_256_cbc(), library.EVP_md5(), salt, password, len(password), rounds, key, iv
    )
    if length != 32:
        raise RuntimeError("EVP_BytesToKey failed")
    return key.raw, iv.raw
