"""Restore a key from a ``.wky`` backup (ours or sc-hsm-tool's): :func:`restore_key`.

The blob's KCV is compared with the KCV of every complete key domain *before* UNWRAP,
so a backup made under another DKEK stops with a message that names both KCVs (and the
domains that wait for shares) and nothing changes.  A key already on the card (same
public key) is named and the user asked.  The key goes into a free key reference (or
the one asked for), then the PRKD and the certificate are written.  A blob the card
refuses is reported with what the host could check (the MAC needs the DKEK, which only
the card holds); a key file the card created before refusing is found and removed.

PRKD decision: sc-hsm-tool copies the file's PRKD unchanged, with its stale
``keyReference`` (harmless for OpenSC, which takes the reference from the file
identifier).  We copy it unchanged too, except that a ``keyReference`` naming another
slot is corrected when the PRKD re-encodes byte for byte (so nothing else in it can
change); a backup without a PRKD gets one made from its certificate or CV request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keymanager.card.errors import (
    CardError,
    ReferencedDataNotFound,
    TransportError,
    WrongData,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    IMPORTED_KEY_ACCESS,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
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
from keymanager.dkek.dkek import format_kcv
from keymanager.dkek.keyblob import describe_blob
from keymanager.dkek.wky import KeyBackup, read_backup_file
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import BackupDkekMismatch, DomainNotReady, WorkflowError
from keymanager.workflows.interaction import Choice, Interaction
from keymanager.workflows.key_checks import (
    confirm_new_key,
    remove_left_key,
    waiting_domains,
)
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.key_support import (
    JournalEntry,
    KeyJournal,
    Rollback,
    card_serial,
    choose_reference,
    content_digest,
    domains_by_kcv,
    end_unless_removed,
)
from keymanager.workflows.sealing import (
    PROOF_BY_LIST,
    SEALED_WORDS,
    SealNotProven,
    check_seal,
    recorded_seal,
    reseal_blob,
)

MAX_UNWRAP_BLOB = 65535
"""The most data one (extended) UNWRAP KEY command can carry: larger blobs are refused."""

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
    file: Path | None
    """The backup file (``None``: a key copied from another device of its group)."""
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
            "file": str(self.file) if self.file is not None else None,
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


def backup_public_key(backup: KeyBackup) -> PublicKey | None:
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


@ceremony_step("restore key")
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
    return restore_backup(
        hsm,
        interaction,
        backup,
        origin=path.name,
        backup_file=path,
        key_reference=key_reference,
        label=label,
        journal=journal,
        seal=seal,
    )


def restore_backup(
    hsm: SmartCardHsm,
    interaction: Interaction,
    backup: KeyBackup,
    *,
    origin: str,
    backup_file: Path | None = None,
    key_reference: int | None = None,
    label: str | None = None,
    journal: KeyJournal | None = None,
    seal: bool = False,
) -> RestoreResult:
    """:func:`restore_key` of a backup already read (a file, or a blob just wrapped on
    another device of a key-domain group: :mod:`keymanager.workflows.xkek_migrate`).

    :param origin: where the backup comes from, in the messages (``key.wky``).
    :param backup_file: the file it was read from (``None``: none).
    """
    header = describe_blob(backup.blob)
    if len(backup.blob) > MAX_UNWRAP_BLOB:
        raise WorkflowError(
            f"the key blob in {origin} has {len(backup.blob):,} bytes, more than one "
            f"UNWRAP KEY command can carry ({MAX_UNWRAP_BLOB:,}); nothing was changed"
        )
    kind = blob_key_kind(header.key_type)
    verify_user_pin(hsm, interaction, f"restoring the key from {origin}")
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
    reference = choose_reference(files, key_reference)
    confirm_new_key(hsm, interaction, backup_public_key(backup), f"restoring {origin}")
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
        planned[fid(PRKD_PREFIX, reference)] = content_digest(prkd_bytes)
    if backup.certificate is not None:
        planned[fid(EE_CERTIFICATE_PREFIX, reference)] = content_digest(backup.certificate)
    serial = card_serial(hsm)
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
        rollback = Rollback(hsm, reference)
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
        end_unless_removed(journal, serial, reference, error)
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
        file=backup_file,
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
