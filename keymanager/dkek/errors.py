"""Exception types of :mod:`keymanager.dkek`.

Every error the host-side DKEK library raises derives from :class:`DkekError`, so a
caller can catch the family, and each concrete class names one specific problem so
that the user can be told exactly what is wrong.  Messages never contain secrets
(shares, passwords, DKEKs or key components).
"""

from __future__ import annotations


class DkekError(Exception):
    """Base class of all errors raised by :mod:`keymanager.dkek`."""


class InvalidShare(DkekError):
    """A DKEK share is not 32 bytes long."""


class DerivationCancelled(DkekError):
    """The share-file key derivation was cancelled by the caller."""


# --- share files (.pbe) -------------------------------------------------------------


class ShareFileError(DkekError):
    """A password-protected DKEK share file could not be read or written."""


class NotAShareFile(ShareFileError):
    """The data is not a DKEK share file (wrong size or no ``Salted__`` magic)."""


class WrongPassword(ShareFileError):
    """The share file did not decrypt: the password is wrong (or the file is damaged)."""


class WeakPassword(ShareFileError):
    """The password is refused for a new share file (too short or empty)."""


# --- key blobs ----------------------------------------------------------------------


class KeyBlobError(DkekError):
    """A wrapped key blob could not be encoded or decoded."""


class MalformedKeyBlob(KeyBlobError):
    """The blob's structure is broken (truncated, bad lengths, bad padding)."""


class KcvMismatch(KeyBlobError):
    """The blob was wrapped under another DKEK than the one given."""

    def __init__(self, expected: bytes, found: bytes) -> None:
        self.expected = bytes(expected)
        self.found = bytes(found)
        super().__init__(
            f"the key blob was wrapped under a DKEK with KCV {found.hex().upper()}, "
            f"not under this DKEK (KCV {expected.hex().upper()})"
        )


class MacMismatch(KeyBlobError):
    """The blob's AES-CMAC does not verify: it was altered or damaged."""


class UnsupportedKey(KeyBlobError):
    """The key cannot be held by a SmartCard-HSM (type, size or curve); the message says why."""


# --- n-of-m password shares ---------------------------------------------------------


class PasswordShareError(DkekError):
    """An n-of-m password share (Shamir fragment) is invalid."""


class MalformedShareEntry(PasswordShareError):
    """A prime, share ID or share value is not in the expected notation."""


class InvalidPrime(PasswordShareError):
    """The prime given for an n-of-m split is not a (suitable) prime."""


class DuplicateShareId(PasswordShareError):
    """Two entered password shares carry the same ID."""


class NotEnoughShares(PasswordShareError):
    """Fewer password shares were entered than the reconstruction needs."""


class InvalidSplitParameters(PasswordShareError):
    """The threshold or total number of password shares is out of range."""


# --- PaperKey -----------------------------------------------------------------------


class PaperKeyError(DkekError):
    """A PaperKey could not be read."""


class PaperKeyFormatError(PaperKeyError):
    """A PaperKey line is missing, extra, or not laid out as printed."""


class PaperKeyGroupError(PaperKeyError):
    """One group of a PaperKey fails its check character: that group is mistyped.

    ``line`` and ``group`` are 1-based, as printed on the sheet.
    """

    def __init__(self, line: int, group: int, detail: str = "") -> None:
        self.line = line
        self.group = group
        message = f"line {line}, group {group} is mistyped"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class PaperKeyChecksumError(PaperKeyError):
    """All groups look right but the whole-share checksum fails (several typos)."""


# --- key backups (.wky) -------------------------------------------------------------


class BackupFileError(DkekError):
    """A key backup container (``.wky``) is malformed."""
