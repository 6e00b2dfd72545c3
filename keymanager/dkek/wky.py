"""The key backup container (``.wky``): sc-hsm-tool ``--wrap-key`` output and Key Manager backups.

Layout (DER)::

    30 len                       SEQUENCE
       04 len <key blob>         OCTET STRING: the card's WRAP output, verbatim
       <PRKD TLV>                optional: the key's PKCS#15 description (30, A0 or A8 …)
       <certificate TLV>         optional: X.509 (30 …) or the CV request (67 …)

Reading follows sc-hsm-tool's ``--unwrap-key`` so that every file it accepts is
accepted here:

* the second and third elements are taken **by position**, whatever their tags, as
  raw TLVs (tag, length and value), ready to be written back to the card unchanged;
  one exception: a second element with tag 67 and no third element is taken as the
  certificate, because a CV request is never a PRKD (sc-hsm-tool, which writes the
  certificate right after the blob when a key has no PRKD, would misfile it); a
  CV request followed by a third element is refused for the same reason;
* BER long-form lengths that are not minimal are accepted;
* bytes after the outer SEQUENCE are ignored (sc-hsm-tool reads the file into a
  fixed buffer and never looks past the SEQUENCE's elements either).

What cannot be a backup is refused with a :class:`BackupFileError` that says why: not
a SEQUENCE, a first element that is not a primitive OCTET STRING, an empty blob, a
truncated TLV, a length overflow, or more than three elements.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from keymanager.dkek.errors import BackupFileError
from keymanager.dkek.fileio import write_private_file
from keymanager.dkek.tlv import TlvError, encode_tlv, format_tag, iter_tlvs, read_tlv

SEQUENCE_TAG = b"\x30"
OCTET_STRING_TAG = b"\x04"
CV_REQUEST_TAG = b"\x67"
"""Tag of an authenticated CV request (what a key's certificate file holds after key generation)."""

_MAX_ELEMENTS = 3


def _check_single_tlv(data: bytes, what: str) -> None:
    try:
        element = read_tlv(data, 0)
    except TlvError as exc:
        raise BackupFileError(f"the {what} is not a well-formed TLV: {exc}") from None
    if element.next_offset != len(data):
        raise BackupFileError(
            f"the {what} has {len(data) - element.next_offset} bytes after its TLV"
        )


@dataclass(frozen=True)
class KeyBackup:
    """The contents of a key backup: the wrapped key blob and, optionally, the key's
    PRKD and certificate, each as one complete raw TLV.

    :raises BackupFileError: the blob is empty, the PRKD or certificate is not exactly
        one TLV, the PRKD is a CV request (tag 67), or an X.509 certificate is given
        without a PRKD (readers would take it for the PRKD).
    """

    blob: bytes
    prkd: bytes | None = None
    certificate: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blob", bytes(self.blob))
        if not self.blob:
            raise BackupFileError("a key backup needs a key blob; it is empty")
        if self.prkd is not None:
            object.__setattr__(self, "prkd", bytes(self.prkd))
            _check_single_tlv(self.prkd, "private key description (PRKD)")
            if self.prkd.startswith(CV_REQUEST_TAG):
                raise BackupFileError(
                    "a CV request (tag 67) cannot be the PRKD: it belongs in the certificate slot"
                )
        if self.certificate is not None:
            object.__setattr__(self, "certificate", bytes(self.certificate))
            _check_single_tlv(self.certificate, "certificate")
            if self.prkd is None and not self.certificate.startswith(CV_REQUEST_TAG):
                raise BackupFileError(
                    "a certificate cannot be stored without a PRKD: readers such as "
                    "sc-hsm-tool would take it for the PRKD"
                )

    @property
    def has_cv_request(self) -> bool:
        """Whether the certificate slot holds a CV request (tag 67) rather than X.509."""
        return self.certificate is not None and self.certificate.startswith(CV_REQUEST_TAG)

    def to_der(self) -> bytes:
        """Encode the container as sc-hsm-tool writes it (minimal DER lengths)."""
        content = encode_tlv(OCTET_STRING_TAG, self.blob)
        if self.prkd is not None:
            content += self.prkd
        if self.certificate is not None:
            content += self.certificate
        return encode_tlv(SEQUENCE_TAG, content)


def parse_backup(data: bytes | bytearray) -> KeyBackup:
    """Read a key backup container (see the module description for what is tolerated).

    :raises BackupFileError: the data is not a key backup; the message says why.
    """
    raw = bytes(data)
    if not raw:
        raise BackupFileError("the key backup is empty")
    try:
        outer = read_tlv(raw, 0)
    except TlvError as exc:
        raise BackupFileError(f"the key backup is damaged: {exc}") from None
    if outer.tag != SEQUENCE_TAG:
        raise BackupFileError(
            "not a key backup: it does not start with a SEQUENCE (tag 30) but with tag "
            f"{format_tag(outer.tag)}"
        )
    content = outer.value
    try:
        elements = list(iter_tlvs(content))
    except TlvError as exc:
        raise BackupFileError(f"the key backup's contents are damaged: {exc}") from None
    if not elements:
        raise BackupFileError("the key backup's SEQUENCE is empty: it holds no key blob")
    if len(elements) > _MAX_ELEMENTS:
        raise BackupFileError(
            f"the key backup holds {len(elements)} elements; a backup has at most "
            f"{_MAX_ELEMENTS} (key blob, PRKD, certificate)"
        )
    first = elements[0]
    if first.tag != OCTET_STRING_TAG:
        raise BackupFileError(
            "the first element of the key backup is not an OCTET STRING (tag 04) holding "
            f"the key blob, but tag {format_tag(first.tag)}"
        )
    if not first.value:
        raise BackupFileError("the key backup's key blob is empty")
    raw_elements: list[bytes] = []
    start = first.next_offset
    for element in elements[1:]:
        raw_elements.append(content[start : element.next_offset])
        start = element.next_offset
    prkd: bytes | None = None
    certificate: bytes | None = None
    if len(raw_elements) == 1 and raw_elements[0].startswith(CV_REQUEST_TAG):
        certificate = raw_elements[0]
    elif raw_elements:
        prkd = raw_elements[0]
        certificate = raw_elements[1] if len(raw_elements) > 1 else None
    return KeyBackup(blob=first.value, prkd=prkd, certificate=certificate)


def read_backup_file(path: str | os.PathLike[str]) -> KeyBackup:
    """Read and parse a key backup file.

    :raises BackupFileError: the file is not a key backup.
    :raises OSError: the file cannot be read.
    """
    return parse_backup(Path(path).read_bytes())


def write_backup_file(
    path: str | os.PathLike[str], backup: KeyBackup, *, overwrite: bool = True
) -> None:
    """Write a key backup atomically with mode 0600.

    The data goes to a temporary file in the target's directory, is flushed to disk
    and renamed over the target, so a crash leaves the old file or the new one.

    :param overwrite: when False, refuse (``FileExistsError``) to replace a file.
    """
    write_private_file(path, backup.to_der(), overwrite=overwrite)
