"""What else a key store holds besides keys: labels, certificates to export, data objects.

* :func:`rename_key` changes a key's label in its PRKD ``C4xx`` (and in a certificate
  description ``C8xx`` that points at the key's own ``CExx``, where another tool wrote
  one); everything else in the PRKD stays as it was.
* :func:`export_ca_certificate` gives a CA certificate (``CAxx``) as PEM or DER; a key's
  certificate and public key come from :func:`keymanager.workflows.keys.export_certificate`
  and :func:`~keymanager.workflows.keys.export_public_key`; :func:`write_export` writes
  any of them atomically.
* :func:`read_data_object`, :func:`export_data_object` and :func:`delete_data_object`
  work on a data object (``CDxx`` PIN-protected, ``CFxx`` public, described by ``C9xx``).
  A delete removes the description first and the file last, as keys are deleted, so an
  interruption leaves at most an undescribed file (listed, deletable again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives import serialization

from keymanager.card.domain_registry import REGISTRY_DESCRIPTION_FID, REGISTRY_FID
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import (
    CD_PREFIX,
    DCOD_PREFIX,
    EE_CERTIFICATE_PREFIX,
    PRKD_PREFIX,
    DataObjectInfo,
    KeyStore,
    fid,
)
from keymanager.card.pkcs15 import (
    MAX_LABEL_BYTES,
    Pkcs15Error,
    decode_cd,
    decode_prkd,
    encode_cd,
    encode_prkd,
)
from keymanager.dkek.fileio import write_private_file
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled, Interaction
from keymanager.workflows.keys import find_key

# --- renaming a key ----------------------------------------------------------------------


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a key label (``None``: it can)."""
    text = label.strip()
    if not text:
        return "a key needs a label"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return "a label cannot hold control characters"
    size = len(text.encode("utf-8"))
    if size > MAX_LABEL_BYTES:
        return (
            f"the label is {size} bytes long in UTF-8; the key's description holds at most "
            f"{MAX_LABEL_BYTES}"
        )
    return None


@dataclass(frozen=True)
class RenamedKey:
    """What :func:`rename_key` changed."""

    key_reference: int
    old_label: str
    label: str
    files: tuple[str, ...]
    """The files written (``C4xx``, and ``C8xx`` where one described the certificate)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "old_label": self.old_label,
            "label": self.label,
            "files": list(self.files),
        }


@ceremony_step("rename key")
def rename_key(
    hsm: SmartCardHsm, interaction: Interaction, key_reference: int, label: str
) -> RenamedKey:
    """Give key ``key_reference`` the label ``label`` (PRKD, and its certificate's CD if any).

    :raises WorkflowError: no such key, no readable description, or a label that is
        empty, holds control characters or does not fit (nothing was changed).
    """
    label = label.strip()
    problem = label_problem(label)
    if problem is not None:
        raise WorkflowError(f"{problem}; nothing was changed")
    key = find_key(hsm, key_reference)
    store = KeyStore(hsm)
    files = store.files()
    prkd_fid = fid(PRKD_PREFIX, key_reference)
    raw = files.read(prkd_fid)
    if raw is None:
        raise WorkflowError(
            f"key {key_reference} has no description (C4{key_reference:02X}), so it has no "
            "label to change; nothing was changed"
        )
    try:
        description = decode_prkd(raw)
        encoded = encode_prkd(replace(description, label=label))
    except Pkcs15Error as error:
        raise WorkflowError(
            f"the description C4{key_reference:02X} cannot be rewritten: {error}; nothing was "
            "changed"
        ) from None
    if description.label == label:
        interaction.inform(f"Key {key_reference} is already called {label!r}.")
        return RenamedKey(key_reference, label, label, ())
    own_certificate = fid(EE_CERTIFICATE_PREFIX, key_reference).to_bytes(2, "big")
    descriptions: list[tuple[int, bytes]] = []
    for number in sorted(files.numbers(CD_PREFIX)):
        cd_raw = files.read(fid(CD_PREFIX, number))
        try:
            cd = decode_cd(cd_raw) if cd_raw is not None else None
        except Pkcs15Error:
            continue
        if cd is not None and cd.path[-2:] == own_certificate:
            descriptions.append((number, encode_cd(replace(cd, label=label))))
    verify_user_pin(hsm, interaction, f"renaming the key {key.label!r}")
    files.replace(prkd_fid, encoded)
    written = [f"C4{key_reference:02X}"]
    for number, cd_encoded in descriptions:
        files.replace(fid(CD_PREFIX, number), cd_encoded)
        written.append(f"C8{number:02X}")
    interaction.inform(f"Key {key_reference} renamed from {description.label!r} to {label!r}.")
    return RenamedKey(key_reference, description.label, label, tuple(written))


# --- exporting ----------------------------------------------------------------------------


def export_ca_certificate(hsm: SmartCardHsm, number: int, *, pem: bool = True) -> bytes:
    """CA certificate ``number`` (``CAxx``) as PEM or DER.

    :raises WorkflowError: there is none, or it does not decode.
    """
    for info in KeyStore(hsm).list_ca_certificates():
        if info.number == number:
            if info.certificate is None:
                reason = "; ".join(info.problems) or "it does not decode"
                raise WorkflowError(f"CA certificate {number} cannot be exported: {reason}")
            encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
            return info.certificate.public_bytes(encoding)
    raise WorkflowError(f"there is no CA certificate {number}")


def write_export(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write an exported certificate, public key, request or data object atomically.

    Mode 0600 (a data object may be private); a crash leaves the old file or the new one.
    """
    write_private_file(path, data, overwrite=overwrite)


# --- data objects ------------------------------------------------------------------------------


def find_data_object(hsm: SmartCardHsm, file: int) -> DataObjectInfo:
    """The listed data object in file ``file`` (``CDxx``/``CFxx``) or, for a description
    whose file is unknown, with description file ``C9xx`` = ``file``.

    :raises WorkflowError: there is none.
    """
    for info in KeyStore(hsm).list_data_objects():
        if info.fid == file or (info.fid is None and fid(DCOD_PREFIX, info.number) == file):
            return info
    raise WorkflowError(f"there is no data object in file {file:04X}")


def _protected(info: DataObjectInfo) -> bool:
    return info.private or (info.fid is not None and info.fid >> 8 == 0xCD)


def read_data_object(hsm: SmartCardHsm, interaction: Interaction, file: int) -> bytes:
    """The content of data object ``file``; the user PIN is asked for a protected one.

    :raises WorkflowError: no such object, or its file is missing.
    """
    info = find_data_object(hsm, file)
    if info.fid is None:
        raise WorkflowError(f"the data object {info.label!r} has no file to read")
    if _protected(info):
        verify_user_pin(hsm, interaction, f"reading the data object {info.label!r}")
    data = KeyStore(hsm).files().read(info.fid)
    if data is None:
        raise WorkflowError(f"the data object file {info.fid:04X} ({info.label}) is missing")
    return data


def describe_bytes(data: bytes, *, width: int = 16) -> tuple[str, str | None]:
    """A hex dump of ``data`` (offset, hex, printable) and its text when it is UTF-8."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hex_part = " ".join(f"{b:02X}" for b in chunk)
        printable = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04X}  {hex_part:<{width * 3 - 1}}  {printable}")
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and any(ord(ch) < 0x20 and ch not in "\n\r\t" for ch in text):
        text = None
    return "\n".join(lines), text


@dataclass(frozen=True)
class ExportedDataObject:
    """Where :func:`export_data_object` wrote a data object."""

    file: int
    label: str
    path: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": f"{self.file:04X}",
            "label": self.label,
            "path": self.path,
            "size": self.size,
        }


def export_data_object(
    hsm: SmartCardHsm,
    interaction: Interaction,
    file: int,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = True,
) -> ExportedDataObject:
    """Write data object ``file``'s content to ``path`` (atomically, mode 0600)."""
    data = read_data_object(hsm, interaction, file)
    info = find_data_object(hsm, file)
    write_export(path, data, overwrite=overwrite)
    return ExportedDataObject(file, info.label, os.fspath(path), len(data))


@dataclass(frozen=True)
class DeletedDataObject:
    """What :func:`delete_data_object` removed."""

    label: str
    removed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "deleted": True, "removed": list(self.removed)}


@ceremony_step("delete data object", witness=True)
def delete_data_object(hsm: SmartCardHsm, interaction: Interaction, file: int) -> DeletedDataObject:
    """Delete a data object after a confirmation: its description ``C9xx``, then its file.

    keymanager's key-domain registry (``CFFE`` / ``C9FE``) is refused: without it the
    card no longer tells which key domain each key belongs to.

    :raises Cancelled: not confirmed (nothing was changed).
    """
    info = find_data_object(hsm, file)
    # a readable description, or an unreadable one (no file known): C9xx goes; an
    # undescribed file's number is not a description's
    described = info.description is not None or info.fid is None
    description_fid = fid(DCOD_PREFIX, info.number) if described else None
    if info.fid == REGISTRY_FID or description_fid == REGISTRY_DESCRIPTION_FID:
        raise WorkflowError(
            "this data object is keymanager's key-domain registry: deleting it would lose "
            "which key domain each key belongs to and the domains' labels; nothing was changed"
        )
    where = f"file {info.fid:04X}" if info.fid is not None else "no file"
    if not interaction.confirm(
        f"Delete the data object {info.label!r} ({where}) from the card? This cannot be undone.",
        destructive=True,
    ):
        raise Cancelled("not confirmed; nothing was changed")
    verify_user_pin(hsm, interaction, f"deleting the data object {info.label!r}")
    files = KeyStore(hsm).files()
    removed: list[str] = []
    for target in (description_fid, info.fid):
        if target is not None and files.delete(target):
            removed.append(f"{target:04X}")
    if not removed:
        raise WorkflowError(f"the data object {info.label!r} was already gone")
    interaction.inform(f"Data object {info.label!r} deleted (removed {', '.join(removed)}).")
    return DeletedDataObject(info.label, tuple(removed))
