"""What the key workflows share: the journal of key operations in progress, the
recovery of interrupted ones, and small helpers (key references, key domains, rollback).

**Consistency** (restore and generate): the key is created first, then its metadata;
a failure rolls everything back in the same session (:class:`Rollback`).  When the card
is pulled out, no rollback is possible, so a small host-side journal (one JSON file per
card serial, written before the key is created) remembers the operation;
:func:`recover_interrupted` finishes it on the next connection: a key whose files are
all there as written stays, anything less is deleted (metadata first, the key last).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from keymanager.card.errors import (
    CardError,
    NoKeyDomainSupport,
    TransportError,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore import (
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyInfo,
    KeyReferenceTaken,
    KeyStore,
    KeyStoreError,
    fid,
)
from keymanager.dkek.fileio import write_private_file
from keymanager.dkek.tlv import TlvError, read_tlv
from keymanager.paths import state_directory
from keymanager.workflows.common import verify_user_pin
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction
from keymanager.workflows.key_checks import (
    waiting_domains,
)

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


def content_digest(data: bytes) -> str:
    """SHA-256 (hex) of what was written, as the journal keeps it."""
    return hashlib.sha256(data).hexdigest()


def card_serial(hsm: SmartCardHsm) -> str:
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
    serial = card_serial(hsm)
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
                    complete = (
                        complete and content is not None and content_digest(content) == digest
                    )
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


def first_tlv(data: bytes) -> bytes:
    try:
        element = read_tlv(data, 0)
    except TlvError:
        return data
    return data[: element.next_offset]


def choose_reference(files: CardFiles, requested: int | None) -> int:
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
    """Complete key domains by KCV, the complete ones whose KCV is hidden, and incomplete ones.

    An XKEK domain counts as complete once its KEK was derived (its KCV is not zero);
    one whose KCV reads zero is incomplete with the user PIN verified (no KEK derived
    yet), hidden without it (a card may hide KCVs until login).
    """
    try:
        slots = hsm.key_domains()
    except NoKeyDomainSupport:
        slots = []
    by_kcv: dict[bytes, list[int]] = {}
    hidden: list[int] = []
    incomplete: list[int] = []
    pin_verified: bool | None = None
    for slot in slots:
        status = slot.status
        if status is None:
            continue
        if status.uid:
            if status.kcv is not None:
                by_kcv.setdefault(status.kcv, []).append(slot.index)
                continue
            if pin_verified is None:
                pin_verified = hsm.pin_status().verified
            (incomplete if pin_verified else hidden).append(slot.index)
            continue
        if status.shares_outstanding:
            incomplete.append(slot.index)
        elif status.kcv is None:
            hidden.append(slot.index)
        else:
            by_kcv.setdefault(status.kcv, []).append(slot.index)
    return by_kcv, hidden, incomplete


def domain_wait_words(hsm: SmartCardHsm, domain: int) -> str:
    """What ``domain`` still waits for, in words."""
    return waiting_domains(hsm).get(domain, f"key domain {domain} has no DKEK")


class Rollback:
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


def end_unless_removed(
    journal: KeyJournal | None, serial: str, reference: int, error: BaseException
) -> None:
    """After a failure: keep the journal entry only when the card went away (the
    rollback could not reach it); otherwise the rollback already ran."""
    if journal is not None and not isinstance(error, TransportError):
        journal.end(serial, reference)
