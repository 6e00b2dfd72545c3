"""The Device Key Encryption Key (DKEK) as assembled on the host.

A DKEK starts as 32 zero bytes; every 32-byte share is XORed into it, so the order of
the shares does not matter.  From the DKEK three values are derived exactly as the
SmartCard-HSM and Smart Card Shell derive them:

* the key check value, ``KCV = SHA-256(DKEK)[0:8]``, safe to show and compare;
* ``Kenc = SHA-256(DKEK || 00000001)``, the AES-256 key that encrypts key blobs;
* ``Kmac = SHA-256(DKEK || 00000002)``, the AES-256 CMAC key that authenticates them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from types import TracebackType

from keymanager.dkek.errors import InvalidShare
from keymanager.dkek.secret import wipe, xor_into

DKEK_LENGTH = 32
SHARE_LENGTH = 32
KCV_LENGTH = 8

_KENC_LABEL = bytes.fromhex("00000001")
_KMAC_LABEL = bytes.fromhex("00000002")


def kcv_of(value: bytes | bytearray) -> bytes:
    """Return the 8-byte key check value of a 32-byte DKEK (or share)."""
    return hashlib.sha256(value).digest()[:KCV_LENGTH]


def share_fingerprint(share: bytes | bytearray) -> bytes:
    """Return the fingerprint a custodian uses to recognise a share.

    It is the KCV that a DKEK made of this share alone would have, so it is what
    ``keymanager-cli share inspect`` prints and what a one-share key domain shows.
    """
    _check_share(share)
    return kcv_of(share)


def format_kcv(kcv: bytes) -> str:
    """Format a KCV (or share fingerprint) the way OpenSC prints it: 16 upper-case hex digits."""
    return kcv.hex().upper()


def _check_share(share: bytes | bytearray) -> None:
    if len(share) != SHARE_LENGTH:
        raise InvalidShare(f"a DKEK share must be {SHARE_LENGTH} bytes, not {len(share)}")


class Dkek:
    """A DKEK being assembled from shares on the host.

    Use it as a context manager (or call :meth:`clear`) so that the secret is
    overwritten when the work is done::

        with Dkek() as dkek:
            dkek.import_share(share)
            blob = encode_key(dkek, private_key)
    """

    __slots__ = ("_shares_imported", "_value")

    def __init__(self) -> None:
        self._value = bytearray(DKEK_LENGTH)
        self._shares_imported = 0

    @classmethod
    def from_shares(cls, shares: Iterable[bytes | bytearray]) -> Dkek:
        """Assemble a DKEK from all of its shares."""
        dkek = cls()
        for share in shares:
            dkek.import_share(share)
        return dkek

    @classmethod
    def from_value(cls, value: bytes | bytearray) -> Dkek:
        """Wrap an already assembled 32-byte DKEK value (e.g. a published test vector)."""
        if len(value) != DKEK_LENGTH:
            raise InvalidShare(f"a DKEK must be {DKEK_LENGTH} bytes, not {len(value)}")
        dkek = cls()
        dkek._value[:] = value
        dkek._shares_imported = 1
        return dkek

    def import_share(self, share: bytes | bytearray) -> None:
        """XOR one 32-byte share into the DKEK."""
        _check_share(share)
        xor_into(self._value, share)
        self._shares_imported += 1

    @property
    def shares_imported(self) -> int:
        """How many shares were XORed in so far."""
        return self._shares_imported

    def kcv(self) -> bytes:
        """The key check value, SHA-256(DKEK)[0:8]."""
        return kcv_of(self._value)

    def kenc(self) -> bytes:
        """The blob encryption key, SHA-256(DKEK || 00000001)."""
        return hashlib.sha256(self._value + _KENC_LABEL).digest()

    def kmac(self) -> bytes:
        """The blob authentication key, SHA-256(DKEK || 00000002)."""
        return hashlib.sha256(self._value + _KMAC_LABEL).digest()

    def value(self) -> bytes:
        """A copy of the raw 32-byte DKEK (for the simulator and tests; handle with care)."""
        return bytes(self._value)

    def clear(self) -> None:
        """Overwrite the DKEK with zeros and forget how many shares it held."""
        wipe(self._value)
        self._shares_imported = 0

    def __enter__(self) -> Dkek:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.clear()

    def __repr__(self) -> str:
        return f"Dkek(shares_imported={self._shares_imported}, kcv={format_kcv(self.kcv())})"
