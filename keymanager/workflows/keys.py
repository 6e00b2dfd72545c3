"""Keys: backup to ``.wky`` and restore, generation (RSA, EC, AES), deletion and export.

**Backup** (:func:`backup_key`): WRAP KEY gives the key blob under the DKEK of the
key's domain; with the key's PRKD (``C4xx``) and certificate or CV request (``CExx``)
it goes into a ``.wky`` container exactly as ``sc-hsm-tool --wrap-key`` writes it,
atomically with mode 0600, and is parsed back before the backup is called done.  A
refusal says whether the key's domain has no complete DKEK (``6A88``) or the key may
not be exported (``6985``, sealed).

Restore lives in :mod:`keymanager.workflows.key_restore`, generation in
:mod:`keymanager.workflows.key_generation`, the journal of interrupted operations and
the shared helpers in :mod:`keymanager.workflows.key_support`; this module gives them
all under one name, as before.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from keymanager.card.errors import (
    ConditionsNotSatisfied,
    NoKeyDomainSupport,
    ReferencedDataNotFound,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import (
    DEVICE_KEY_REFERENCE,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    CertificateKind,
    KeyStore,
    fid,
)
from keymanager.card.pkcs15 import (
    Pkcs15Error,
    decode_prkd,
)
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.errors import DkekError
from keymanager.dkek.keyblob import describe_blob
from keymanager.dkek.wky import KeyBackup, parse_backup, write_backup_file
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Cancelled, Interaction
from keymanager.workflows.key_checks import (
    waiting_domains,
)
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.key_generation import GeneratedKey, KeyAlgorithm, generate_key
from keymanager.workflows.key_restore import MAX_UNWRAP_BLOB, RestoreResult, restore_key
from keymanager.workflows.key_support import (
    JournalEntry,
    KeyJournal,
    RecoveredOperation,
    default_journal_dir,
    domains_by_kcv,
    find_key,
    first_tlv,
    recover_interrupted,
)

__all__ = [
    "MAX_UNWRAP_BLOB",
    "BackupResult",
    "DeletedKey",
    "GeneratedKey",
    "JournalEntry",
    "KeyAlgorithm",
    "KeyJournal",
    "RecoveredOperation",
    "RestoreResult",
    "backup_key",
    "default_journal_dir",
    "delete_key",
    "domains_by_kcv",
    "export_certificate",
    "export_public_key",
    "find_key",
    "generate_key",
    "recover_interrupted",
    "restore_key",
]


# --- backup -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    """What :func:`backup_key` wrote."""

    key_reference: int
    label: str
    kind: str | None
    size: int | None
    file: Path
    blob_kcv: str
    domain: int | None
    prkd: bool
    certificate: str | None
    """``"x509"``, ``"cv-request"`` or ``None``."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "type": self.kind,
            "size": self.size,
            "file": str(self.file),
            "kcv": self.blob_kcv,
            "domain": self.domain,
            "prkd": self.prkd,
            "certificate": self.certificate,
        }


@ceremony_step("back up key")
def backup_key(
    hsm: SmartCardHsm,
    interaction: Interaction,
    key_reference: int,
    output: Path,
    *,
    overwrite: bool = False,
) -> BackupResult:
    """Back a key up into a ``.wky`` file (blob, PRKD, certificate), as sc-hsm-tool does.

    :raises WorkflowError: no such key, the file exists, or the card will not wrap the
        key (it belongs to no key domain with a complete DKEK).
    """
    if output.exists() and not overwrite:
        raise WorkflowError(f"{output} already exists; nothing was written")
    if key_reference == DEVICE_KEY_REFERENCE:
        raise WorkflowError("the device key (reference 0) cannot be backed up")
    verify_user_pin(hsm, interaction, f"backing up key {key_reference}")
    files = CardFiles.enumerate(hsm)
    if not files.known_present(fid(KEY_PREFIX, key_reference)):
        raise WorkflowError(f"there is no key with reference {key_reference}")
    # read where the key's number says, listed or not (Pico HSM lists no CE files)
    raw_prkd = files.read(fid(PRKD_PREFIX, key_reference))
    prkd = first_tlv(raw_prkd) if raw_prkd is not None else None
    raw_certificate = files.read(fid(EE_CERTIFICATE_PREFIX, key_reference))
    certificate = first_tlv(raw_certificate) if raw_certificate else None
    label, kind, size = "(no description)", None, None
    if prkd is not None:
        try:
            description = decode_prkd(prkd)
            label, kind, size = description.label, description.kind.value, description.size
        except Pkcs15Error:
            interaction.warn(f"The description of key {key_reference} is unreadable; kept as is.")
    if certificate is not None and prkd is None and not certificate.startswith(b"\x67"):
        interaction.warn(
            "The key has a certificate but no description: the certificate is left out "
            "(readers would take it for the description)."
        )
        certificate = None
    try:
        blob = hsm.wrap_key(key_reference)
    except NoKeyDomainSupport:
        raise WorkflowError(
            "the device was initialised without a DKEK: its keys cannot be backed up"
        ) from None
    except ConditionsNotSatisfied as error:
        raise WorkflowError(
            f"this key may not be exported: key {key_reference} is sealed: the card refuses "
            f"to export it (SW {error.sw:04X}: its allowed-algorithm list lacks wrap, 92); "
            "no backup was written"
        ) from None
    except ReferencedDataNotFound as error:
        waiting = "; ".join(waiting_domains(hsm).values())
        raise WorkflowError(
            f"the domain has no complete DKEK: the card will not wrap key {key_reference} "
            f"(SW {error.sw:04X}) because its key domain has no complete DKEK"
            + (f" ({waiting})" if waiting else "")
            + "; no backup was written"
        ) from None
    try:
        kcv = describe_blob(blob).kcv
    except DkekError as error:
        raise WorkflowError(
            f"the card's answer to WRAP KEY for key {key_reference} is not a key blob "
            f"({error}); no backup was written"
        ) from None
    backup = KeyBackup(blob=blob, prkd=prkd, certificate=certificate)
    write_backup_file(output, backup, overwrite=overwrite)
    try:
        if parse_backup(output.read_bytes()) != backup:
            raise WorkflowError(f"{output} did not read back correctly")
    except BaseException:
        with contextlib.suppress(OSError):
            output.unlink()
        raise
    by_kcv, _hidden, _incomplete = domains_by_kcv(hsm)
    matches = by_kcv.get(kcv, [])
    cert_kind = None
    if certificate is not None:
        cert_kind = "cv-request" if certificate.startswith(b"\x67") else "x509"
    domain_text = f", key domain {matches[0]}" if len(matches) == 1 else ""
    interaction.inform(
        f"Key {key_reference} ({label}) backed up to {output}; "
        f"DKEK KCV {format_kcv(kcv)}{domain_text}."
    )
    return BackupResult(
        key_reference=key_reference,
        label=label,
        kind=kind,
        size=size,
        file=output,
        blob_kcv=format_kcv(kcv),
        domain=matches[0] if len(matches) == 1 else None,
        prkd=prkd is not None,
        certificate=cert_kind,
    )


# --- delete and export -------------------------------------------------------------------


@dataclass(frozen=True)
class DeletedKey:
    """A key :func:`delete_key` removed."""

    key_reference: int
    label: str
    removed: tuple[str, ...] = ()
    """What was on the card and is gone: ``"certificate"`` (or ``"cv-request"``),
    ``"description"``, ``"key"``, in the order they were deleted."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "deleted": True,
            "removed": list(self.removed),
        }


@ceremony_step("delete key", witness=True)
def delete_key(hsm: SmartCardHsm, interaction: Interaction, key_reference: int) -> DeletedKey:
    """Delete a key with its certificate and PRKD after a confirmation naming its label."""
    if key_reference == DEVICE_KEY_REFERENCE:
        raise WorkflowError("the device key (reference 0) cannot be deleted")
    key = find_key(hsm, key_reference)
    what = f"{key.kind.value} {key.size}" if key.kind is not None else "key"
    if not interaction.confirm(
        f"Delete key {key_reference} {key.label!r} ({what}) with its certificate? "
        "This cannot be undone (unless a backup exists).",
        destructive=True,
    ):
        raise Cancelled("not confirmed; nothing was changed")
    verify_user_pin(hsm, interaction, f"deleting the key {key.label!r}")
    store = KeyStore(hsm)
    key = store.load_certificate(key)
    certificate_name = (
        "cv-request" if key.certificate_kind is CertificateKind.CV_REQUEST else "certificate"
    )
    names = {
        fid(EE_CERTIFICATE_PREFIX, key_reference): certificate_name,
        fid(PRKD_PREFIX, key_reference): "description",
        fid(KEY_PREFIX, key_reference): "key",
    }
    removed = tuple(names[file] for file in store.delete_key(key_reference))
    record_quietly(hsm, interaction, lambda registry: registry.forget_key(key_reference))
    texts = {
        "certificate": f"certificate CE{key_reference:02X}",
        "cv-request": f"CV request CE{key_reference:02X}",
        "description": f"description C4{key_reference:02X}",
        "key": f"key CC{key_reference:02X}",
    }
    removed_text = ", ".join(texts[name] for name in removed)
    missing = [] if certificate_name in removed else ["it had no certificate"]
    if "description" not in removed:
        missing.append("no description")
    note = f" ({'; '.join(missing)})" if missing else ""
    interaction.inform(f"Key {key_reference} ({key.label}) deleted: removed {removed_text}{note}.")
    return DeletedKey(key_reference, key.label, removed)


def export_certificate(hsm: SmartCardHsm, key_reference: int, *, pem: bool = True) -> bytes:
    """The key's X.509 certificate, PEM or DER.

    :raises WorkflowError: the key has no X.509 certificate (only a CV request, or none).
    """
    key = KeyStore(hsm).load_certificate(find_key(hsm, key_reference))
    if key.certificate_kind is CertificateKind.CV_REQUEST:
        raise WorkflowError(
            f"key {key_reference} has no X.509 certificate: CE{key_reference:02X} holds the "
            "CV request the card made when it generated the key (export --public-key gives "
            "its public key; store a certificate issued for it first)"
        )
    if key.certificate is None:
        problem = next((p for p in key.problems if f"CE{key_reference:02X}" in p), None)
        raise WorkflowError(
            f"key {key_reference} has no X.509 certificate"
            + (f" ({problem})" if problem else f" (there is no CE{key_reference:02X})")
        )
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return key.certificate.public_bytes(encoding)


def export_public_key(hsm: SmartCardHsm, key_reference: int) -> bytes:
    """The key's public key as PEM SubjectPublicKeyInfo (from its certificate or CV request).

    :raises WorkflowError: the card tells no public key for it (AES, or no metadata).
    """
    key = KeyStore(hsm).load_certificate(find_key(hsm, key_reference))
    if key.public_key is None:
        raise WorkflowError(
            f"key {key_reference} has no certificate or CV request to read its public key from"
        )
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
