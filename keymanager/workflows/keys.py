"""Keys: backup to ``.wky`` and restore, generation (RSA, EC, AES), deletion and export.

**Backup** (:func:`backup_key`): WRAP KEY gives the key blob under the DKEK of the
key's domain; with the key's PRKD (``C4xx``) and certificate or CV request (``CExx``)
it goes into a ``.wky`` container exactly as ``sc-hsm-tool --wrap-key`` writes it,
atomically with mode 0600, and is parsed back before the backup is called done.

**Restore** (:func:`restore_key`): the blob's KCV is compared with the KCV of every
complete key domain *before* UNWRAP, so a backup made under another DKEK stops with a
message that names both KCVs and nothing changes.  The key goes into a free key
reference (or the one asked for), then the PRKD and the certificate are written.

PRKD decision: sc-hsm-tool copies the file's PRKD unchanged, with its stale
``keyReference`` (harmless for OpenSC, which takes the reference from the file
identifier).  We copy it unchanged too, except that a ``keyReference`` naming another
slot is corrected when the PRKD re-encodes byte for byte (so nothing else in it can
change); a backup without a PRKD gets one made from its certificate or CV request.

**Consistency** (restore and generate): the key is created first, then its metadata;
a failure rolls everything back in the same session.  When the card is pulled out, no
rollback is possible, so a small host-side journal (one JSON file per card serial,
written before the key is created) remembers the operation; :func:`recover_interrupted`
finishes it on the next connection: a key whose files are all there as written stays,
anything less is deleted (metadata first, the key last).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import (
    CardError,
    ConditionsNotSatisfied,
    NoKeyDomainSupport,
    ReferencedDataNotFound,
    TransportError,
    WrongData,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import AES_DEFAULT_ALGORITHMS, EcKeySpec, KeySpec, RsaKeySpec
from keymanager.card.keystore import (
    DEVICE_KEY_REFERENCE,
    EE_CERTIFICATE_PREFIX,
    IMPORTED_KEY_ACCESS,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    CertificateKind,
    KeyInfo,
    KeyReferenceTaken,
    KeyStore,
    KeyStoreError,
    blob_key_kind,
    fid,
    parse_cv_request_public_key,
)
from keymanager.card.keystore_certificates import PublicKey
from keymanager.card.pkcs15 import (
    KeyKind,
    Pkcs15Error,
    PrivateKeyDescription,
    decode_prkd,
    default_usage,
    encode_prkd,
    key_id_for_public_key,
    key_kind_and_size,
    secret_key_description,
)
from keymanager.card.seal import is_sealed
from keymanager.dkek.curves import curve_by_name
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.errors import DkekError, UnsupportedKey
from keymanager.dkek.fileio import write_private_file
from keymanager.dkek.keyblob import describe_blob
from keymanager.dkek.tlv import TlvError, read_tlv
from keymanager.dkek.wky import KeyBackup, parse_backup, read_backup_file, write_backup_file
from keymanager.paths import state_directory
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import BackupDkekMismatch, DomainNotReady, WorkflowError
from keymanager.workflows.interaction import Cancelled, Choice, Interaction
from keymanager.workflows.key_checks import (
    algorithm_list_warnings,
    confirm_new_key,
    remove_left_key,
    waiting_domains,
)
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.sealing import (
    PROOF_BY_LIST,
    SEALED_WORDS,
    SealNotProven,
    check_seal,
    generation_algorithms,
    recorded_seal,
    reseal_blob,
)

MAX_UNWRAP_BLOB = 65535
"""The most data one (extended) UNWRAP KEY command can carry: larger blobs are refused."""


# --- the journal of key operations in progress ---------------------------------------


def default_journal_dir() -> Path:
    """Where the journal of interrupted key operations lives."""
    return state_directory() / "journal"


@dataclass(frozen=True)
class JournalEntry:
    """A key operation that had begun: the key reference and the files as they will be."""

    operation: str
    key_reference: int
    files: dict[int, str]
    """FID → SHA-256 (hex) of the content written, ``""`` for the key itself."""


class KeyJournal:
    """One JSON file per card (by serial) listing the key operations in progress."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, serial: str) -> Path:
        safe = "".join(c for c in serial if c.isalnum()) or "unknown"
        return self.directory / f"{safe}.json"

    def pending(self, serial: str) -> list[JournalEntry]:
        """The operations begun on this card and not finished."""
        try:
            raw = json.loads(self._path(serial).read_text())
        except (OSError, ValueError):
            return []
        return [
            JournalEntry(
                str(item["operation"]),
                int(item["key_reference"]),
                {int(k, 16): str(v) for k, v in dict(item["files"]).items()},
            )
            for item in raw
        ]

    def _store(self, serial: str, entries: list[JournalEntry]) -> None:
        path = self._path(serial)
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = [
            {
                "operation": entry.operation,
                "key_reference": entry.key_reference,
                "files": {f"{k:04X}": v for k, v in entry.files.items()},
            }
            for entry in entries
        ]
        write_private_file(path, json.dumps(data, indent=1).encode())

    def begin(self, serial: str, entry: JournalEntry) -> None:
        """Record ``entry`` before the card is changed."""
        entries = [e for e in self.pending(serial) if e.key_reference != entry.key_reference]
        self._store(serial, [*entries, entry])

    def end(self, serial: str, key_reference: int) -> None:
        """Forget the operation on ``key_reference`` (finished or rolled back)."""
        entries = [e for e in self.pending(serial) if e.key_reference != key_reference]
        self._store(serial, entries)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _serial(hsm: SmartCardHsm) -> str:
    try:
        return hsm.serial()
    except TransportError:  # removed or reset: never journal under "unknown" and go on
        raise
    except (CardError, ValueError):
        return "unknown"


@dataclass(frozen=True)
class RecoveredOperation:
    """What :func:`recover_interrupted` found for one interrupted operation."""

    operation: str
    key_reference: int
    kept: bool


def recover_interrupted(
    hsm: SmartCardHsm, interaction: Interaction, journal: KeyJournal | None
) -> list[RecoveredOperation]:
    """Finish key operations an earlier session began on this card and could not end.

    A key whose files are all there with the content written stays; otherwise its
    certificate, PRKD and key are deleted (the PIN is asked for if needed).
    """
    if journal is None:
        return []
    serial = _serial(hsm)
    entries = journal.pending(serial)
    if not entries:
        return []
    results = []
    files = CardFiles.enumerate(hsm)
    for entry in entries:
        complete = True
        for file, digest in entry.files.items():
            try:
                if not files.exists(file):  # a CE the listing hides is read
                    complete = False
                elif digest:
                    content = files.read(file)
                    complete = complete and content is not None and _digest(content) == digest
            except TransportError:  # gone or reset: never judge (and delete) blind
                raise
            except CardError:
                complete = False
        present = [
            file
            for file in (
                fid(EE_CERTIFICATE_PREFIX, entry.key_reference),
                fid(PRKD_PREFIX, entry.key_reference),
                fid(KEY_PREFIX, entry.key_reference),
            )
            if file in entry.files and not files.known_absent(file)
        ]
        if not complete and present:
            interaction.warn(
                f"An earlier {entry.operation} of key {entry.key_reference} was interrupted; "
                "its partial key and metadata are removed."
            )
            verify_user_pin(hsm, interaction, "removing an interrupted key")
            for file in present:
                files.delete(file)
        journal.end(serial, entry.key_reference)
        results.append(RecoveredOperation(entry.operation, entry.key_reference, complete))
    return results


# --- helpers ----------------------------------------------------------------------------


def _first_tlv(data: bytes) -> bytes:
    try:
        element = read_tlv(data, 0)
    except TlvError:
        return data
    return data[: element.next_offset]


def _choose_reference(files: CardFiles, requested: int | None) -> int:
    """The key store's choice (listed files and, where ENUMERATE hides ``CE``, a READ)."""
    try:
        return files.choose_key_reference(requested)
    except KeyReferenceTaken:
        raise WorkflowError(
            f"key reference {requested} already holds a key; nothing was changed"
        ) from None
    except KeyStoreError as error:
        raise WorkflowError(str(error)) from None


def find_key(hsm: SmartCardHsm, key_reference: int) -> KeyInfo:
    """The listed key with ``key_reference``.

    :raises WorkflowError: there is none.
    """
    for key in KeyStore(hsm).list_keys():
        if key.key_reference == key_reference:
            return key
    raise WorkflowError(f"there is no key with reference {key_reference}")


def domains_by_kcv(hsm: SmartCardHsm) -> tuple[dict[bytes, list[int]], list[int], list[int]]:
    """Complete key domains by KCV, the complete ones whose KCV is hidden, and incomplete ones."""
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    by_kcv: dict[bytes, list[int]] = {}
    hidden: list[int] = []
    incomplete: list[int] = []
    for slot in slots:
        status = slot.status
        if status is None or status.uid:
            continue
        if status.shares_outstanding:
            incomplete.append(slot.index)
        elif status.kcv is None:
            hidden.append(slot.index)
        else:
            by_kcv.setdefault(status.kcv, []).append(slot.index)
    return by_kcv, hidden, incomplete


def _waiting(hsm: SmartCardHsm, domain: int) -> str:
    """What ``domain`` still waits for, in words."""
    return waiting_domains(hsm).get(domain, f"key domain {domain} has no DKEK")


class _Rollback:
    """Delete what a key operation created if it does not finish (metadata first)."""

    def __init__(self, hsm: SmartCardHsm, reference: int) -> None:
        self.hsm = hsm
        self.reference = reference

    def run(self) -> None:
        for file in (
            fid(EE_CERTIFICATE_PREFIX, self.reference),
            fid(PRKD_PREFIX, self.reference),
            fid(KEY_PREFIX, self.reference),
        ):
            with contextlib.suppress(CardError):
                self.hsm.delete_file(file)


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
    prkd = _first_tlv(raw_prkd) if raw_prkd is not None else None
    raw_certificate = files.read(fid(EE_CERTIFICATE_PREFIX, key_reference))
    certificate = _first_tlv(raw_certificate) if raw_certificate else None
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


# --- restore ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore_key` did."""

    key_reference: int
    label: str
    kind: str
    size: int | None
    domain: int | None
    prkd: str
    """``"file"``, ``"file, key reference corrected"``, ``"made"`` or ``"none"``."""
    certificate: str | None
    file: Path
    sealed: bool = False
    """The restored key's algorithm list lacks WRAP (a sealed restore, or a sealed blob)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "type": self.kind,
            "size": self.size,
            "domain": self.domain,
            "prkd": self.prkd,
            "certificate": self.certificate,
            "file": str(self.file),
            "sealed": self.sealed,
        }


def _prkd_from_file(raw: bytes, reference: int) -> tuple[bytes, PrivateKeyDescription | None, str]:
    try:
        description = decode_prkd(raw)
    except Pkcs15Error:
        return raw, None, "file"
    if description.key_reference is None or description.key_reference == reference:
        return raw, description, "file"
    if encode_prkd(description) != raw:
        return raw, description, "file"  # cannot be rewritten without changing more
    fixed = replace(description, key_reference=reference)
    return encode_prkd(fixed), fixed, "file, key reference corrected"


def _backup_public_key(backup: KeyBackup) -> PublicKey | None:
    """The public key of a backup's certificate or CV request (``None``: it has neither,
    or it cannot be read: the restore then goes on without the duplicate check)."""
    certificate = backup.certificate
    if certificate is None:
        return None
    try:
        if certificate.startswith(b"\x67"):
            return parse_cv_request_public_key(certificate).public_key
        public = x509.load_der_x509_certificate(certificate).public_key()
    except (CardError, ValueError):
        return None
    if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return public
    return None


def _made_prkd(
    backup: KeyBackup,
    kind: KeyKind,
    reference: int,
    label: str | None,
    interaction: Interaction,
    encrypted_length: int,
) -> PrivateKeyDescription | None:
    if kind is KeyKind.AES:
        if encrypted_length == 32:
            size = 128
        else:
            size = interaction.ask_choice(
                "The backup does not tell the AES key size",
                [Choice(192, "AES-192"), Choice(256, "AES-256")],
            )
        name = label or interaction.ask_text("Label of the restored key", default="restored key")
        return secret_key_description(name, bytes([reference]), size)
    certificate = backup.certificate
    if certificate is None:
        return None
    subject: bytes | None = None
    if certificate.startswith(b"\x67"):
        facts = parse_cv_request_public_key(certificate)
        key_kind, size, key_id, default_label = facts.kind, facts.size, facts.key_id, ""
    else:
        parsed = x509.load_der_x509_certificate(certificate)
        public = parsed.public_key()
        key_kind, size = key_kind_and_size(public)
        assert not isinstance(public, str)
        key_id = key_id_for_public_key(public)  # type: ignore[arg-type]
        subject = parsed.subject.public_bytes()
        names = parsed.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        default_label = str(names[0].value) if names else ""
    if key_kind is not kind:
        raise WorkflowError(
            f"the backup's certificate is for an {key_kind.value} key but its blob holds an "
            f"{kind.value} key; nothing was changed"
        )
    name = label or interaction.ask_text(
        "Label of the restored key", default=default_label or "restored key"
    )
    return PrivateKeyDescription(
        kind=kind,
        label=name,
        id=key_id,
        usage=default_usage(kind),
        size=size,
        key_reference=reference,
        access_flags=IMPORTED_KEY_ACCESS,
        subject=subject,
    )


def restore_key(
    hsm: SmartCardHsm,
    interaction: Interaction,
    path: Path,
    *,
    key_reference: int | None = None,
    label: str | None = None,
    journal: KeyJournal | None = None,
    seal: bool = False,
) -> RestoreResult:
    """Restore a key from a ``.wky`` backup (ours or sc-hsm-tool's).

    :param label: label for a PRKD made here (a backup's own PRKD keeps its label).
    :param seal: "the card must never export this key": the DKEK shares are asked, the
        blob is re-encoded on the host with an algorithm list without WRAP
        (:func:`keymanager.workflows.sealing.reseal_blob`), and after the UNWRAP a WRAP
        attempt must be refused by the card.
    :raises BackupFileError: the file is not a key backup.
    :raises BackupDkekMismatch: no key domain holds the DKEK the backup was made under.
    :raises DomainNotReady: no key domain holds a complete DKEK.
    :raises WorkflowError: the key reference is taken, or the file cannot be read.
    """
    try:
        backup = read_backup_file(path)
    except OSError as error:
        raise WorkflowError(f"cannot read {path}: {error.strerror}") from None
    header = describe_blob(backup.blob)
    if len(backup.blob) > MAX_UNWRAP_BLOB:
        raise WorkflowError(
            f"the key blob in {path.name} has {len(backup.blob):,} bytes, more than one "
            f"UNWRAP KEY command can carry ({MAX_UNWRAP_BLOB:,}); nothing was changed"
        )
    kind = blob_key_kind(header.key_type)
    verify_user_pin(hsm, interaction, f"restoring the key from {path.name}")
    by_kcv, hidden, incomplete = domains_by_kcv(hsm)
    matches = by_kcv.get(header.kcv, [])
    if not matches and not hidden:
        waiting = "; ".join(waiting_domains(hsm).values()) if incomplete else ""
        outstanding = (
            f"{waiting} (a Clear KEK, or shares not all imported): import its shares, "
            "then restore again"
        )
        if not by_kcv:
            where = outstanding if incomplete else "the device has no key domain with a DKEK"
            raise DomainNotReady(
                f"no key domain holds a complete DKEK ({where}); nothing was changed"
            )
        cards = ", ".join(
            f"{format_kcv(kcv)} (domain {', '.join(map(str, domains))})"
            for kcv, domains in by_kcv.items()
        )
        raise BackupDkekMismatch(
            f"the backup was made under a DKEK with KCV {format_kcv(header.kcv)}, but this "
            f"card's complete key domains have KCV {cards}: it belongs to another DKEK"
            + (f"; {outstanding}, if the backup's DKEK belongs there" if incomplete else "")
            + "; nothing was changed"
        )
    if not matches:
        interaction.warn(
            "The card hides the KCV of some key domains: the backup's DKEK cannot be "
            "checked before the card tries it."
        )
    blob = backup.blob
    if seal:
        blob = reseal_blob(interaction, backup.blob, matches[0] if len(matches) == 1 else None)
    listed_sealed = bool(is_sealed(describe_blob(blob).allowed_algorithms))
    files = CardFiles.enumerate(hsm)
    reference = _choose_reference(files, key_reference)
    confirm_new_key(hsm, interaction, _backup_public_key(backup), f"restoring {path.name}")
    description: PrivateKeyDescription | None
    prkd_source = "none"
    if backup.prkd is not None:
        prkd_bytes, description, prkd_source = _prkd_from_file(backup.prkd, reference)
        if description is not None and description.kind is not kind:
            raise WorkflowError(
                f"the backup's description is for an {description.kind.value} key but its "
                f"blob holds an {kind.value} key; nothing was changed"
            )
    else:
        description = _made_prkd(
            backup, kind, reference, label, interaction, header.encrypted_length
        )
        prkd_bytes = encode_prkd(description) if description is not None else b""
        prkd_source = "made" if description is not None else "none"
        if description is None:
            interaction.warn(
                "The backup has no description or certificate: the key is restored without "
                "a PRKD, so OpenSC will not show it."
            )
    planned: dict[int, str] = {fid(KEY_PREFIX, reference): ""}
    if prkd_bytes:
        planned[fid(PRKD_PREFIX, reference)] = _digest(prkd_bytes)
    if backup.certificate is not None:
        planned[fid(EE_CERTIFICATE_PREFIX, reference)] = _digest(backup.certificate)
    serial = _serial(hsm)
    if journal is not None:
        journal.begin(serial, JournalEntry("restore", reference, planned))
    try:
        try:
            hsm.unwrap_key(reference, blob)
        except TransportError:
            raise
        except CardError as error:
            left = remove_left_key(hsm, reference)
            if left:
                interaction.warn(
                    f"The card created key {reference} (CC{reference:02X}) before it refused "
                    "the blob; that key, without description, was found and removed."
                )
            if isinstance(error, WrongData):
                raise WorkflowError(_refused_blob_words(error.sw, matches, header.kcv)) from None
            if isinstance(error, ReferencedDataNotFound):
                waiting = "; ".join(waiting_domains(hsm).values()) or "none is complete"
                raise DomainNotReady(
                    f"the card refused the key blob (SW {error.sw:04X}): the key domain has no "
                    f"complete DKEK ({waiting}); nothing was changed"
                ) from None
            if left:
                raise WorkflowError(
                    f"the card refused the key blob ({error}); the key it had created was "
                    "removed, nothing else was changed"
                ) from None
            raise
        rollback = _Rollback(hsm, reference)
        try:
            for file in (fid(PRKD_PREFIX, reference), fid(EE_CERTIFICATE_PREFIX, reference)):
                files.delete(file)  # stale metadata at an explicitly chosen reference
            if prkd_bytes:
                hsm.write_file(fid(PRKD_PREFIX, reference), prkd_bytes)
            if backup.certificate is not None:
                hsm.write_file(fid(EE_CERTIFICATE_PREFIX, reference), backup.certificate)
            proof = ""
            if seal:
                # the UNWRAP worked, so a domain holds the DKEK: only 6985 proves it
                proof = check_seal(hsm, reference, kek_present=True)
            elif listed_sealed:
                # the blob's own list lacks WRAP: say "sealed" only if the card refuses
                with contextlib.suppress(SealNotProven):
                    proof = check_seal(hsm, reference, kek_present=True)
        except BaseException:
            rollback.run()
            raise
        if len(matches) == 1:  # several domains with that KCV, or hidden: not recorded
            key_id = description.id if description is not None else None
            kind_size = (kind, description.size if description is not None else None)
            record_quietly(
                hsm,
                interaction,
                lambda registry: registry.record_key(
                    reference,
                    key_id,
                    matches[0],
                    sealed=recorded_seal(describe_blob(blob).allowed_algorithms, proof),
                    kind=kind_size[0],
                    size=kind_size[1],
                ),
            )
    except BaseException as error:
        _end_unless_removed(journal, serial, reference, error)
        raise
    if journal is not None:
        journal.end(serial, reference)
    name = description.label if description is not None else "(no description)"
    size = description.size if description is not None else None
    certificate_kind = None
    if backup.certificate is not None:
        certificate_kind = "cv-request" if backup.has_cv_request else "x509"
    sealed = proof == PROOF_BY_LIST
    sealed_text = f"; sealed: {SEALED_WORDS}" if sealed else ""
    interaction.inform(
        f"Key restored into reference {reference}: {name} ({kind.value}){sealed_text}."
    )
    return RestoreResult(
        key_reference=reference,
        label=name,
        kind=kind.value,
        size=size,
        domain=matches[0] if len(matches) == 1 else None,
        prkd=prkd_source,
        certificate=certificate_kind,
        file=path,
        sealed=sealed,
    )


def _refused_blob_words(sw: int, matches: list[int], kcv: bytes) -> str:
    """Why UNWRAP KEY refused a blob whose KCV was checked (or hidden) on the host."""
    if matches:
        where = "key domain " + ", ".join(map(str, matches))
        checked = (
            f"the host checked the file's structure and that its DKEK KCV {format_kcv(kcv)} "
            f"is the one of {where}"
        )
    else:
        checked = (
            "the host checked the file's structure; the card hides its key domains' KCVs, "
            "so the DKEK could not be compared"
        )
    return (
        f"the backup does not match this key domain's DKEK or is damaged: the card refused "
        f"the key blob (SW {sw:04X}). {checked[0].upper() + checked[1:]}; the blob's MAC "
        "can only be checked with the DKEK, which only the card holds (a blob made under "
        "other shares with the same KCV, a changed byte, or a key type this card cannot "
        "take fail there); nothing was changed"
    )


def _end_unless_removed(
    journal: KeyJournal | None, serial: str, reference: int, error: BaseException
) -> None:
    """After a failure: keep the journal entry only when the card went away (the
    rollback could not reach it); otherwise the rollback already ran."""
    if journal is not None and not isinstance(error, TransportError):
        journal.end(serial, reference)


# --- generate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyAlgorithm:
    """A key to generate: ``rsa:BITS``, ``ec:CURVE`` or ``aes:BITS``."""

    kind: KeyKind
    bits: int = 0
    curve: str = ""

    @classmethod
    def parse(cls, text: str) -> KeyAlgorithm:
        """Read ``rsa:2048``, ``ec:prime256v1`` / ``ec:brainpoolP256r1``, ``aes:256``.

        :raises ValueError: anything else (the message says what is accepted).
        """
        family, _, value = text.strip().partition(":")
        family = family.lower()
        if family == "rsa":
            try:
                RsaKeySpec(int(value))
            except ValueError:
                raise ValueError("RSA keys are rsa:1024 to rsa:4096 in steps of 256") from None
            return cls(KeyKind.RSA, bits=int(value))
        if family == "ec":
            try:
                curve = curve_by_name(value)
            except UnsupportedKey as error:
                raise ValueError(str(error)) from None
            return cls(KeyKind.EC, bits=curve.p.bit_length(), curve=curve.name)
        if family == "aes":
            if value not in ("128", "192", "256"):
                raise ValueError("AES keys are aes:128, aes:192 or aes:256")
            return cls(KeyKind.AES, bits=int(value))
        raise ValueError(f"{text!r}: use rsa:BITS, ec:CURVE or aes:BITS")

    def spec(self) -> KeySpec:
        """The asymmetric key spec for GENERATE ASYMMETRIC KEY PAIR."""
        if self.kind is KeyKind.RSA:
            return RsaKeySpec(self.bits)
        return EcKeySpec(self.curve)

    def describe(self) -> str:
        if self.kind is KeyKind.EC:
            return f"EC {self.curve}"
        return f"{self.kind.value} {self.bits}"


@dataclass(frozen=True)
class GeneratedKey:
    """A key :func:`generate_key` made."""

    key_reference: int
    label: str
    algorithm: str
    key_id: str
    domain: int | None
    allowed_algorithms: str | None
    sealed: bool = False
    """The algorithm list lacks WRAP: the card refuses to export the key."""
    seal_proof: str = ""
    """What proved the seal (a WRAP refused by the card), when a seal was asked for."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "key_reference": self.key_reference,
            "label": self.label,
            "algorithm": self.algorithm,
            "id": self.key_id,
            "domain": self.domain,
            "allowed_algorithms": self.allowed_algorithms,
            "sealed": self.sealed,
            "seal_proof": self.seal_proof or None,
        }


def generate_key(
    hsm: SmartCardHsm,
    interaction: Interaction,
    algorithm: KeyAlgorithm,
    label: str,
    *,
    domain: int | None = None,
    allowed_algorithms: bytes | None = None,
    key_reference: int | None = None,
    journal: KeyJournal | None = None,
    seal: bool = False,
) -> GeneratedKey:
    """Generate an RSA, EC or AES key on the card with label, algorithms and key domain.

    RSA and EC go through :meth:`KeyStore.generate_key` (CV request in ``CExx``, PRKD as
    OpenSC writes it); AES keys get sc-hsm-embedded's ``A8`` PRKD with the key reference
    as ID.  The key is recorded in the key-domain registry with its domain.

    :param seal: "the card must never export this key": an algorithm list without WRAP
        (:func:`keymanager.workflows.sealing.generation_algorithms`), proven by a WRAP
        the card refuses before the key is reported; a key the card would export is
        deleted again.
    :raises DomainNotReady: ``domain`` is not a DKEK domain on this card.
    :raises SealNotProven: ``seal`` and the card did not refuse WRAP (the key is gone).
    """
    if not label.strip():
        raise WorkflowError("a key needs a label")
    kek_present = False
    if domain is not None:
        by_kcv, hidden, incomplete = domains_by_kcv(hsm)
        with_kek = {d for ds in by_kcv.values() for d in ds} | set(hidden)
        if domain not in with_kek | set(incomplete):
            raise DomainNotReady(f"key domain {domain} is not a DKEK domain on this card")
        kek_present = domain in with_kek
        if not kek_present:
            interaction.warn(
                f"Key domain {domain} has no complete DKEK ({_waiting(hsm, domain)}): a key "
                "generated there cannot be backed up, and may never be (a card can keep a key "
                "made before its domain's DKEK was complete unexportable); import the "
                "remaining shares first to be able to back it up."
            )
    if allowed_algorithms is not None:
        for warning in algorithm_list_warnings(algorithm.kind, allowed_algorithms, seal=seal):
            interaction.warn(warning[0].upper() + warning[1:] + ".")
    allowed_algorithms = generation_algorithms(algorithm.kind, allowed_algorithms, seal=seal)
    verify_user_pin(hsm, interaction, f"generating the key {label!r}")
    files = CardFiles.enumerate(hsm)
    reference = _choose_reference(files, key_reference)
    serial = _serial(hsm)
    planned = {fid(KEY_PREFIX, reference): "", fid(PRKD_PREFIX, reference): ""}
    if algorithm.kind is not KeyKind.AES:
        planned[fid(EE_CERTIFICATE_PREFIX, reference)] = ""  # the CV request
    if journal is not None:
        journal.begin(serial, JournalEntry("generation", reference, planned))
    try:
        if algorithm.kind is KeyKind.AES:
            key_id = bytes([reference])
            hsm.generate_aes_key(
                reference,
                algorithm.bits,
                allowed_algorithms=allowed_algorithms,
                key_domain=domain,
            )
            rollback = _Rollback(hsm, reference)
            try:
                files.delete(fid(PRKD_PREFIX, reference))
                hsm.write_file(
                    fid(PRKD_PREFIX, reference),
                    encode_prkd(secret_key_description(label, key_id, algorithm.bits)),
                )
            except BaseException:
                rollback.run()
                raise
            allowed = allowed_algorithms
            if allowed is None:
                allowed = bytes(int(a) for a in AES_DEFAULT_ALGORITHMS)
        else:
            info = KeyStore(hsm).generate_key(
                algorithm.spec(),
                label,
                key_reference=reference,
                allowed_algorithms=allowed_algorithms,
                key_domain=domain,
            )
            key_id = info.id or b""
            allowed = allowed_algorithms
        seal_proof = ""
        if seal:
            try:
                seal_proof = check_seal(hsm, reference, kek_present=kek_present)
            except SealNotProven:
                _Rollback(hsm, reference).run()
                raise
        if domain is not None:  # without one the card chooses: not recorded (Find key domains)
            record_quietly(
                hsm,
                interaction,
                lambda registry: registry.record_key(
                    reference,
                    key_id,
                    domain,
                    sealed=recorded_seal(allowed, seal_proof),
                    kind=algorithm.kind,
                    size=algorithm.bits,
                ),
            )
    except BaseException as error:
        _end_unless_removed(journal, serial, reference, error)
        raise
    if journal is not None:
        journal.end(serial, reference)
    sealed_text = f"; sealed: {SEALED_WORDS} ({seal_proof})" if seal else ""
    interaction.inform(
        f"Generated {algorithm.describe()} key {label!r} in reference {reference} "
        f"(ID {key_id.hex().upper()}){sealed_text}."
    )
    return GeneratedKey(
        key_reference=reference,
        label=label,
        algorithm=algorithm.describe(),
        key_id=key_id.hex().upper(),
        domain=domain,
        allowed_algorithms=allowed.hex().upper() if allowed is not None else None,
        sealed=recorded_seal(allowed, seal_proof) is True or (seal and bool(seal_proof)),
        seal_proof=seal_proof,
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
