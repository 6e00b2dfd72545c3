"""A PKCS#12 file holding several private keys, as Windows or Java keystores write them.

:mod:`cryptography` serialises one key per file, so :func:`merge_pkcs12` writes the
authenticated safes of several files made with the same password (each a shrouded key
bag in plain SafeContents and its certificates in encrypted SafeContents) into one PFX
and gives it a fresh SHA-256 MAC (RFC 7292 B.2).
"""

from __future__ import annotations

import hashlib
import hmac

from keymanager.dkek.tlv import encode_tlv, iter_tlvs, read_tlv
from tests.reliability._p12_support import pkcs12_mac_key

_DATA_OID = bytes.fromhex("2a864886f70d010701")
_SHA256_OID = bytes.fromhex("608648016503040201")


def _content_infos(pfx: bytes) -> list[bytes]:
    """The ContentInfos of one PFX's authenticated safe (DER, as written)."""
    _version, auth_safe, *_mac = iter_tlvs(read_tlv(pfx, 0, der=True).value, der=True)
    _type, explicit = iter_tlvs(auth_safe.value, der=True)
    octets = read_tlv(explicit.value, 0, der=True)
    sequence = read_tlv(octets.value, 0, der=True)
    return [encode_tlv(info.tag, info.value) for info in iter_tlvs(sequence.value, der=True)]


def merge_pkcs12(files: list[bytes], password: str, *, salt: bytes = b"merged-salt-1") -> bytes:
    """One PFX holding the contents of every file in ``files`` (all with ``password``)."""
    authenticated_safe = encode_tlv(0x30, b"".join(b"".join(_content_infos(f)) for f in files))
    iterations = 2048
    mac = hmac.new(
        pkcs12_mac_key(password.encode(), salt, iterations), authenticated_safe, hashlib.sha256
    ).digest()
    algorithm = encode_tlv(0x30, encode_tlv(0x06, _SHA256_OID) + encode_tlv(0x05, b""))
    digest_info = encode_tlv(0x30, algorithm + encode_tlv(0x04, mac))
    mac_data = encode_tlv(
        0x30, digest_info + encode_tlv(0x04, salt) + encode_tlv(0x02, iterations.to_bytes(2, "big"))
    )
    content_info = encode_tlv(
        0x30,
        encode_tlv(0x06, _DATA_OID) + encode_tlv(0xA0, encode_tlv(0x04, authenticated_safe)),
    )
    return encode_tlv(0x30, encode_tlv(0x02, b"\x03") + content_info + mac_data)
