"""Importing keys from PKCS#12 files into a SmartCard-HSM (Smart Card Shell's Key Manager path).

The classic import (:func:`import_pkcs12`) follows the Key Manager's ``importPKCS12``:

1. ask how many DKEK shares make up the key domain's DKEK and take each from its
   custodian (share file + password, n-of-m fragments or PaperKey), XORed into a host
   DKEK (:func:`keymanager.workflows.shares.collect_dkek`);
2. verify the user PIN and **compare the host DKEK's KCV with the key domain's KCV
   before touching any key** (Smart Card Shell only notices when UNWRAP fails);
3. open the PKCS#12 file with its own password, list its entries and let the user
   choose; keys the card cannot hold are shown disabled with the reason;
4. for each chosen key: encode the blob, UNWRAP it into a free key reference, write
   its PRKD (label: friendly name, else the certificate's CN, else "Imported key N";
   ID as OpenSC computes it) and its certificate; certificates without a key go in as
   CA certificates (identical ones already on the card are skipped);
5. prove each key: sign a test message on the card (RSA-PSS-SHA256 or ECDSA-SHA256)
   and verify it on the host with the certificate's (or the key's) public key;
   then offer "import more entries from this file" and "import another file".

The per-key steps are shared with the transient key-domain plug-in
(:mod:`keymanager.workflows.plugins.transient_import`) through :class:`ImportSession`.

Consistency: a small :class:`ImportJournal` (JSON in the user's state directory, keyed
by the card's serial number, no secrets) records each key reference and CA
certificate number *before* the card is changed, and the transient domain before it
is created.  If the card is pulled or the program dies mid-way,
:func:`recover_leftovers` on the next connection rolls unfinished imports back
(certificate, PRKD, then key) and removes a leftover transient domain's KEK.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keymanager.card.domain_registry import Registry
from keymanager.card.errors import ApduError, CardError, TransportError
from keymanager.card.hsm import Algorithm, SmartCardHsm
from keymanager.card.keystore import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    PRKD_PREFIX,
    CardFiles,
    KeyStore,
    NoFreeKeyReference,
    fid,
)
from keymanager.card.pkcs15 import key_kind_and_size
from keymanager.card.seal import sealed_algorithms
from keymanager.dkek.dkek import Dkek, format_kcv
from keymanager.dkek.errors import DkekError
from keymanager.dkek.keyblob import encode_key
from keymanager.dkek.secret import wipe
from keymanager.paths import state_directory
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import (
    check_dkek_matches,
    complete_domain_status,
    verify_user_pin,
)
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.interaction import Interaction, SecretKind, SecretRequest
from keymanager.workflows.key_checks import key_already_on_card
from keymanager.workflows.key_domains import record_quietly
from keymanager.workflows.pkcs12 import (
    CERTIFICATE_PREFIX,
    CertificateEntry,
    KeyEntry,
    Pkcs12Contents,
    Pkcs12Error,
    SupportedPublicKey,
    open_pkcs12,
)
from keymanager.workflows.pkcs12 import (
    KEY_PREFIX as ENTRY_KEY_PREFIX,
)
from keymanager.workflows.sealing import SEALED_WORDS, SealNotProven, check_seal
from keymanager.workflows.shares import collect_dkek

logger = logging.getLogger(__name__)

TEST_MESSAGE = b"keymanager: proof of a PKCS#12 key import"
"""What each imported key signs on the card (Smart Card Shell signs "Hello World")."""

JOURNAL_NAME = "pkcs12-import-journal.json"
JOURNAL_FORMAT = 1


# --- the journal --------------------------------------------------------------------


def default_journal_path() -> Path:
    """``$XDG_STATE_HOME/keymanager/pkcs12-import-journal.json`` (``~/.local/state/…``)."""
    return state_directory() / JOURNAL_NAME


@dataclass
class JournalEntry:
    """What an unfinished import on one card left to clean up.  Holds no secrets.

    :param transient_domain: the key domain the transient import created (or was about
        to create); ``None`` for the classic import.
    :param step: the last step reached, for messages.
    :param pending_keys: key references being imported (not yet complete).
    :param pending_ca: CA certificate numbers being written (not yet complete).
    """

    serial: str
    transient_domain: int | None = None
    step: str = ""
    pending_keys: list[int] = field(default_factory=list)
    pending_ca: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.transient_domain is None and not self.pending_keys and not self.pending_ca


class ImportJournal:
    """The import journal: a JSON file written atomically with mode 0600.

    ``{"format": 1, "cards": {serial: {transient_domain, step, pending_keys,
    pending_ca}}}``.  Every change is written at once (temporary file in the same
    directory, fsync, ``os.replace``).  An unreadable file is treated as empty (and
    logged): the journal only ever helps to clean up.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = default_journal_path() if path is None else Path(path)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            logger.warning(
                "the import journal %s is unreadable (%s); ignoring it", self.path, error
            )
            return {}
        cards = data.get("cards") if isinstance(data, dict) else None
        return cards if isinstance(cards, dict) else {}

    def _save(self, cards: dict[str, dict[str, Any]]) -> None:
        if not cards:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"format": JOURNAL_FORMAT, "cards": cards}, indent=1, sort_keys=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=".journal-", suffix=".tmp", dir=self.path.parent
        )
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def get(self, serial: str) -> JournalEntry | None:
        """The unfinished work recorded for the card ``serial``."""
        raw = self._load().get(serial)
        if not isinstance(raw, dict):
            return None
        try:
            domain = raw.get("transient_domain")
            return JournalEntry(
                serial=serial,
                transient_domain=None if domain is None else int(domain),
                step=str(raw.get("step", "")),
                pending_keys=[int(value) for value in raw.get("pending_keys", [])],
                pending_ca=[int(value) for value in raw.get("pending_ca", [])],
            )
        except (TypeError, ValueError):
            logger.warning("the import journal's entry for %s is unreadable; ignoring it", serial)
            return None

    def _put(self, entry: JournalEntry) -> None:
        cards = self._load()
        if entry.empty:
            cards.pop(entry.serial, None)
        else:
            record = asdict(entry)
            del record["serial"]
            cards[entry.serial] = record
        self._save(cards)

    @contextlib.contextmanager
    def _editing(self, serial: str) -> Iterator[JournalEntry]:
        entry = self.get(serial) or JournalEntry(serial)
        yield entry
        self._put(entry)

    def begin_transient(self, serial: str, domain: int) -> None:
        """Record the transient key domain about to be created (before CREATE)."""
        with self._editing(serial) as entry:
            entry.transient_domain = domain
            entry.step = "creating the transient key domain"

    def set_step(self, serial: str, step: str) -> None:
        with self._editing(serial) as entry:
            entry.step = step

    def end_transient(self, serial: str) -> None:
        """The transient domain's KEK is gone: nothing left to remove there."""
        with self._editing(serial) as entry:
            entry.transient_domain = None
            entry.step = ""

    def add_pending_key(self, serial: str, reference: int) -> None:
        with self._editing(serial) as entry:
            if reference not in entry.pending_keys:
                entry.pending_keys.append(reference)

    def done_key(self, serial: str, reference: int) -> None:
        with self._editing(serial) as entry:
            entry.pending_keys = [value for value in entry.pending_keys if value != reference]

    def add_pending_ca(self, serial: str, number: int) -> None:
        with self._editing(serial) as entry:
            if number not in entry.pending_ca:
                entry.pending_ca.append(number)

    def done_ca(self, serial: str, number: int) -> None:
        with self._editing(serial) as entry:
            entry.pending_ca = [value for value in entry.pending_ca if value != number]

    def clear(self, serial: str) -> None:
        """Forget everything recorded for ``serial``."""
        cards = self._load()
        if cards.pop(serial, None) is not None:
            self._save(cards)


# --- results ------------------------------------------------------------------------


@dataclass
class KeyImportResult:
    """What happened to one key of a PKCS#12 file."""

    label: str
    entry: str
    key_type: str
    certificate_subject: str | None = None
    key_reference: int | None = None
    key_id: str | None = None
    proven: bool = False
    proof: str = ""
    error: str | None = None
    sealed: bool = False
    """The key's algorithm list lacks WRAP and a WRAP attempt was refused by the card."""
    seal_proof: str = ""

    @property
    def ok(self) -> bool:
        """Imported and its test signature verified (and, if asked for, its seal proven)."""
        return self.error is None and self.proven


@dataclass
class CaImportResult:
    """What happened to one certificate without a key."""

    label: str
    subject: str
    number: int | None = None
    skipped: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FileImportResult:
    """One PKCS#12 file: its keys, its CA certificates and what could not be imported."""

    source: str
    keys: list[KeyImportResult] = field(default_factory=list)
    ca_certificates: list[CaImportResult] = field(default_factory=list)
    not_importable: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and all(key.ok for key in self.keys)
            and all(ca.ok for ca in self.ca_certificates)
        )


@dataclass
class Pkcs12ImportResult:
    """The outcome of a PKCS#12 import, per file and per key (for the CLI and the GUI).

    :param kek_deleted: transient import only: whether the temporary KEK was deleted.
    :param domain_deleted: transient import only: the domain itself was removed again
        (no key ended up in it).
    """

    domain: int | None
    kcv: str
    transient: bool = False
    files: list[FileImportResult] = field(default_factory=list)
    kek_deleted: bool | None = None
    domain_deleted: bool = False

    @property
    def keys(self) -> list[KeyImportResult]:
        return [key for result in self.files for key in result.keys]

    @property
    def ca_certificates(self) -> list[CaImportResult]:
        return [ca for result in self.files for ca in result.ca_certificates]

    @property
    def ok(self) -> bool:
        """Every chosen entry went in (keys proven) and a transient KEK is gone."""
        return (
            bool(self.files)
            and all(result.ok for result in self.files)
            and self.kek_deleted is not False
        )

    @property
    def checks(self) -> list[str]:
        """What was proven (for the ceremony record): each key's test signature, seals,
        and that a transient KEK is gone."""
        checks = [f"{key.label}: {key.proof}" for key in self.keys if key.proven and key.proof]
        checks += [f"{key.label}: {key.seal_proof}" for key in self.keys if key.seal_proof]
        if self.transient and self.kek_deleted:
            checks.append(f"the transient KEK of key domain {self.domain} was deleted")
        return checks

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` (no secrets: labels, references, IDs, subjects)."""
        return {
            "ok": self.ok,
            "transient": self.transient,
            "domain": self.domain,
            "kcv": self.kcv,
            "kek_deleted": self.kek_deleted,
            "domain_deleted": self.domain_deleted,
            "files": [
                {
                    "source": result.source,
                    "error": result.error,
                    "keys": [asdict(key) | {"ok": key.ok} for key in result.keys],
                    "ca_certificates": [asdict(ca) for ca in result.ca_certificates],
                    "not_importable": [
                        {"label": label, "reason": reason}
                        for label, reason in result.not_importable
                    ],
                }
                for result in self.files
            ],
        }

    def summary(self) -> list[str]:
        """Human-readable lines, one per key and certificate."""
        lines: list[str] = []
        for result in self.files:
            if result.error:
                lines.append(f"{result.source}: not imported: {result.error}")
            for key in result.keys:
                if key.ok:
                    sealed = f"; sealed: {SEALED_WORDS}" if key.sealed else ""
                    lines.append(
                        f"{key.label}: {key.key_type} key imported as key {key.key_reference} "
                        f"(ID {key.key_id}); {key.proof}{sealed}"
                    )
                else:
                    lines.append(f"{key.label}: {key.key_type} key FAILED: {key.error}")
            for ca in result.ca_certificates:
                if ca.error:
                    lines.append(f"{ca.label}: CA certificate FAILED: {ca.error}")
                elif ca.skipped:
                    lines.append(f"{ca.label}: CA certificate skipped: {ca.skipped}")
                else:
                    lines.append(f"{ca.label}: CA certificate stored as CA{ca.number:02X}")
            for label, reason in result.not_importable:
                lines.append(f"{label}: not importable: {reason}")
        if self.transient:
            if self.kek_deleted:
                lines.append(
                    f"The transient KEK of key domain {self.domain} was deleted, and each "
                    f"imported key is sealed: {SEALED_WORDS}."
                )
            else:
                lines.append(
                    f"WARNING: the transient KEK of key domain {self.domain} could not be "
                    "deleted; it is removed on the next connection to this card."
                )
        return lines


class ImportNotProven(WorkflowError):
    """The test signature of an imported key did not verify with its public key."""


# --- shared steps ------------------------------------------------------------------


def prove_key(hsm: SmartCardHsm, key_reference: int, public_key: SupportedPublicKey) -> str:
    """Sign :data:`TEST_MESSAGE` with the card's key and verify it with ``public_key``.

    RSA keys sign with RSA-PSS-SHA256 (algorithm ``43``, salt = hash length), EC keys
    with ECDSA-SHA256 (``73``); the card hashes.

    :returns: a short description of what was verified.
    :raises ImportNotProven: the signature does not verify.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        signature = hsm.sign(key_reference, Algorithm.RSA_PSS_SHA256, TEST_MESSAGE)
        try:
            public_key.verify(
                signature,
                TEST_MESSAGE,
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise ImportNotProven(
                "the RSA-PSS-SHA256 test signature does not verify with the public key"
            ) from None
        return "RSA-PSS-SHA256 test signature verified"
    signature = hsm.sign(key_reference, Algorithm.ECDSA_SHA256, TEST_MESSAGE)
    try:
        public_key.verify(signature, TEST_MESSAGE, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ImportNotProven(
            "the ECDSA-SHA256 test signature does not verify with the public key"
        ) from None
    return "ECDSA-SHA256 test signature verified"


def ask_and_open(interaction: Interaction, path: Path) -> Pkcs12Contents:
    """Ask for the file's own password and open it (the password is wiped)."""
    password = interaction.ask_secret(
        SecretRequest(SecretKind.PKCS12_PASSWORD, f"the PKCS#12 file {path.name}")
    )
    try:
        return open_pkcs12(path, password)
    finally:
        wipe(password)


class ImportSession:
    """The per-entry steps both PKCS#12 paths share: UNWRAP, metadata, certificate, proof.

    :param dkek: the host DKEK matching the card's key domain (the caller checked the
        KCVs and wipes it).
    """

    def __init__(
        self,
        hsm: SmartCardHsm,
        interaction: Interaction,
        dkek: Dkek,
        journal: ImportJournal,
        serial: str,
        *,
        domain: int | None = None,
        seal: bool = False,
    ) -> None:
        self.hsm = hsm
        self.interaction = interaction
        self.dkek = dkek
        self.journal = journal
        self.serial = serial
        self.domain = domain
        """The key domain whose DKEK :attr:`dkek` is (recorded in the registry per key)."""
        self.seal = seal
        """Seal every key: an algorithm list without WRAP, and a refused WRAP as proof."""
        self.store = KeyStore(hsm)
        self.keys_unwrapped = 0
        """How many keys are now on the card because of this session."""

    # -- files ----------------------------------------------------------------------

    def run_files(
        self,
        first: Pkcs12Contents | None,
        path: Path | None,
        *,
        offer_more: bool,
    ) -> list[FileImportResult]:
        """Import from ``first`` (already open) or ``path``, then offer further files.

        An error opening the first file is raised; for later files it is reported and
        recorded, and the loop goes on.
        """
        results: list[FileImportResult] = []
        contents = first
        while True:
            if contents is None:
                if path is None:
                    text = self.interaction.ask_text("PKCS#12 file to import (empty: stop)")
                    if not text.strip():
                        break
                    path = Path(text.strip())
                try:
                    contents = ask_and_open(self.interaction, path)
                except Pkcs12Error as error:
                    if not results:
                        raise
                    self.interaction.warn(str(error))
                    results.append(FileImportResult(path.name, error=str(error)))
            if contents is not None:
                try:
                    results.append(self.run_file(contents, offer_more=offer_more))
                finally:
                    contents.forget()
            contents, path = None, None
            if not offer_more or not self.interaction.confirm("Import another PKCS#12 file?"):
                break
        return results

    def run_file(self, contents: Pkcs12Contents, *, offer_more: bool) -> FileImportResult:
        """Let the user choose entries of one file and import them ("more keys?" loop)."""
        contents.check_importable()
        result = FileImportResult(contents.source)
        for entry in contents.keys:
            if entry.unsupported is not None:
                result.not_importable.append((entry.label, entry.unsupported))
                self.interaction.warn(
                    f"{entry.label} ({entry.description}) cannot be imported: {entry.unsupported}"
                )
        done: list[str] = []
        while True:
            choices = contents.choices(exclude=done)
            if not any(choice.disabled is None for choice in choices):
                break
            picked = self.interaction.ask_choices(
                f"Entries of {contents.source} to import", choices
            )
            if not picked:
                break
            done.extend(picked)
            keys = [contents.entry(value) for value in picked if value.startswith(ENTRY_KEY_PREFIX)]
            certificates = [
                contents.entry(value) for value in picked if value.startswith(CERTIFICATE_PREFIX)
            ]
            for key in keys:
                assert isinstance(key, KeyEntry)
                result.keys.append(self.import_key(key))
            if certificates:
                known = self._known_ca_certificates()
                for certificate in certificates:
                    assert isinstance(certificate, CertificateEntry)
                    result.ca_certificates.append(self.import_ca(certificate, known))
            remaining = [c for c in contents.choices(exclude=done) if c.disabled is None]
            if not (
                offer_more
                and remaining
                and self.interaction.confirm(f"Import more entries from {contents.source}?")
            ):
                break
        return result

    # -- one key ----------------------------------------------------------------------

    def import_key(self, entry: KeyEntry) -> KeyImportResult:
        """Encode, UNWRAP, describe, store the certificate and prove one key.

        Card errors of this key are recorded in the result; transport errors (card
        removed, reset) and cancellation end the whole import.
        """
        result = KeyImportResult(
            label=entry.label,
            entry=entry.id,
            key_type=entry.description,
            certificate_subject=(
                entry.certificate.subject.rfc4514_string() if entry.certificate else None
            ),
        )
        public_key = entry.public_key
        if entry.unsupported is not None or entry.private_key is None or public_key is None:
            result.error = entry.unsupported or "the key is no longer available"
            return result
        self.interaction.check_cancelled()
        existing = key_already_on_card(self.hsm, public_key)
        if existing is not None and not self.interaction.confirm(
            f"{entry.label}: this key is already on the card as key {existing.key_reference} "
            f"({existing.label}), with the same public key. Import it again anyway?"
        ):
            result.error = (
                f"the key is already on the card as key {existing.key_reference} "
                f"({existing.label}); not imported again"
            )
            return result
        kind, _size = key_kind_and_size(public_key)
        allowed = sealed_algorithms(kind) if self.seal else None
        try:
            blob = encode_key(
                self.dkek,
                entry.private_key,  # type: ignore[arg-type]
                allowed_algorithms=allowed,
            )
        except DkekError as error:
            result.error = str(error)
            return result
        try:
            # the lowest 1-255 without CC, C4 or CE (a CE ENUMERATE hides is read)
            reference = self.store.free_key_reference()
        except NoFreeKeyReference as error:
            result.error = str(error)
            return result
        self.journal.add_pending_key(self.serial, reference)
        try:
            info = self.store.import_wrapped_key(
                blob,
                label=entry.label,
                certificate=entry.certificate,
                public_key=public_key if entry.certificate is None else None,
                key_reference=reference,
            )
        except TransportError:
            raise
        except (CardError, ValueError) as error:
            result.error = f"the card did not take the key: {error}"
            self._settle_failed_key(reference)
            return result
        self.keys_unwrapped += 1
        result.key_reference = reference
        result.key_id = info.id.hex().upper() if info.id else None
        try:
            result.proof = prove_key(self.hsm, reference, public_key)
            if self.seal:
                result.seal_proof = self._prove_seal(reference)
                result.sealed = True
            result.proven = True
            sealed = f"; sealed: {SEALED_WORDS}" if result.sealed else ""
            self.interaction.inform(
                f"{entry.label}: imported as key {reference}; {result.proof}{sealed}."
            )
        except (ImportNotProven, SealNotProven) as error:
            result.error = f"{error}; the key was removed again"
            self.store.delete_key(reference)
            self.keys_unwrapped -= 1
            result.key_reference = None
            self.journal.done_key(self.serial, reference)
            return result
        except TransportError:
            raise
        except CardError as error:
            result.error = f"imported as key {reference}, but the test signature failed: {error}"
        self._record(
            lambda registry: registry.record_key(
                reference,
                info.id,
                self.domain,
                sealed=True if result.sealed else (None if self.seal else False),
            )
        )
        self.journal.done_key(self.serial, reference)
        return result

    def _prove_seal(self, reference: int) -> str:
        """WRAP the new key while its domain still has a KEK: the card must refuse.

        :raises SealNotProven: the card exported it, or refused for another reason.
        """
        return check_seal(self.hsm, reference, kek_present=True)

    def _record(self, change: Callable[[Registry], object]) -> None:
        """Apply ``change`` to the card's key-domain registry (a display aid: a failure
        to write it is told, never fatal; transport errors end the import)."""
        record_quietly(self.hsm, self.interaction, change)

    def _settle_failed_key(self, reference: int) -> None:
        """After a refused import: the key store rolled back; confirm nothing is left."""
        files = CardFiles.enumerate(self.hsm)
        for prefix in (EE_CERTIFICATE_PREFIX, PRKD_PREFIX, KEY_PREFIX):
            files.delete(fid(prefix, reference))  # tried where ENUMERATE may hide it
        self.journal.done_key(self.serial, reference)

    # -- one CA certificate -----------------------------------------------------------

    def _known_ca_certificates(self) -> set[bytes]:
        """The CA certificates on the card, read where their descriptions point."""
        return {
            info.certificate.public_bytes(serialization.Encoding.DER)
            for info in self.store.list_ca_certificates()
            if info.certificate is not None
        }

    def import_ca(self, entry: CertificateEntry, known: set[bytes]) -> CaImportResult:
        """Store a certificate without a key as a CA certificate (unless already there)."""
        der = entry.certificate.public_bytes(serialization.Encoding.DER)
        result = CaImportResult(entry.label, entry.certificate.subject.rfc4514_string())
        if der in known:
            result.skipped = "the card already holds this certificate"
            return result
        try:
            number = self.store.free_ca_number()
        except NoFreeKeyReference as error:
            result.error = str(error)
            return result
        self.journal.add_pending_ca(self.serial, number)
        try:
            stored = self.store.store_ca_certificate(entry.certificate, entry.label, number=number)
        except TransportError:
            raise
        except CardError as error:
            result.error = str(error)
            return result
        self.journal.done_ca(self.serial, stored)
        if stored != number:  # pragma: no cover - the store picks the same number
            self.journal.done_ca(self.serial, number)
        known.add(der)
        result.number = stored
        return result


# --- the classic import ---------------------------------------------------------------


@ceremony_step("PKCS#12 import", witness=True)
def import_pkcs12(
    hsm: SmartCardHsm,
    interaction: Interaction,
    *,
    domain: int = 0,
    path: Path | None = None,
    journal: ImportJournal | None = None,
    offer_more: bool = True,
    seal: bool = False,
    opened: Pkcs12Contents | None = None,
) -> Pkcs12ImportResult:
    """Import keys and certificates from PKCS#12 files with DKEK shares entered on the host.

    :param domain: the key domain whose DKEK the shares make up.
    :param seal: give each key an algorithm list without WRAP ("the card must never
        export this key") and prove it by a WRAP the card refuses.
    :param path: the first file (``None``: asked with :meth:`Interaction.ask_text`).
    :param journal: where unfinished work is recorded (default: the user's state dir).
    :param offer_more: offer "more entries" / "another file" (the GUI; the CLI says no).
    :param opened: the first file, already opened and checked by the caller (the CLI
        does so before any share is decrypted: a share file's key derivation takes
        seconds); ``path`` is then not opened again.  It is forgotten here.
    :raises DomainNotReady: the domain holds no complete DKEK.
    :raises DkekKcvMismatch: the shares give another DKEK: nothing was imported.
    :raises PinNotVerified: the user PIN could not be verified.
    :raises Pkcs12Error: the (first) file cannot be opened or holds nothing importable.
    :raises Cancelled: the user cancelled.
    """
    journal = ImportJournal() if journal is None else journal
    try:
        status = complete_domain_status(hsm, domain)
        count = interaction.ask_number(
            f"How many DKEK shares make up the DKEK of key domain {domain}?",
            minimum=1,
            maximum=255,
            default=status.shares_total or 1,
        )
        dkek = collect_dkek(interaction, count, domain=domain, card_kcv=status.kcv)
        try:
            verify_user_pin(hsm, interaction, "importing keys")
            check_dkek_matches(hsm, dkek, domain)
            kcv = format_kcv(dkek.kcv())
            interaction.inform(f"The shares give key domain {domain}'s DKEK (KCV {kcv}).")
            serial = hsm.serial()
            session = ImportSession(
                hsm, interaction, dkek, journal, serial, domain=domain, seal=seal
            )
            files = session.run_files(opened, None if opened else path, offer_more=offer_more)
        finally:
            dkek.clear()
        return Pkcs12ImportResult(domain=domain, kcv=kcv, files=files)
    finally:
        if opened is not None:
            opened.forget()


# --- recovery ------------------------------------------------------------------------


@dataclass
class RecoveryResult:
    """What :func:`recover_leftovers` found and did."""

    found: bool = False
    declined: bool = False
    transient_domain: int | None = None
    kek_deleted: bool = False
    domain_deleted: bool = False
    keys_rolled_back: list[int] = field(default_factory=list)
    ca_rolled_back: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _describe(entry: JournalEntry) -> str:
    parts: list[str] = []
    if entry.transient_domain is not None:
        parts.append(
            f"transient key domain {entry.transient_domain} (its temporary KEK may still be "
            f"on the card; last step: {entry.step or 'unknown'})"
        )
    if entry.pending_keys:
        parts.append(f"unfinished key import(s) at reference(s) {entry.pending_keys}")
    if entry.pending_ca:
        parts.append(f"unfinished CA certificate(s) number {entry.pending_ca}")
    return "; ".join(parts)


def recover_leftovers(
    hsm: SmartCardHsm, interaction: Interaction, journal: ImportJournal | None = None
) -> RecoveryResult:
    """Clean up what an interrupted PKCS#12 import left on this card, if anything.

    Reads the card's serial, looks it up in the journal and, after the user agreed
    and the PIN is verified: rolls back unfinished key imports (certificate, PRKD,
    then key - only files at the recorded references, which were free when the import
    began), unfinished CA certificates (description, then certificate), deletes the
    KEK of a leftover transient domain and deletes the domain itself when no key
    belongs to it (the card refuses otherwise; keys that were imported stay: they are
    sealed, so the card refuses to export them).  Then the journal entry is cleared.
    """
    journal = ImportJournal() if journal is None else journal
    result = RecoveryResult()
    serial = hsm.serial()
    entry = journal.get(serial)
    if entry is None or entry.empty:
        return result
    result.found = True
    result.transient_domain = entry.transient_domain
    what = _describe(entry)
    if not interaction.confirm(
        f"An earlier PKCS#12 import on this card ({serial}) was interrupted and left: "
        f"{what}.  Remove the leftovers now?",
        destructive=True,
    ):
        result.declined = True
        interaction.warn("The leftovers stay; you are asked again on the next connection.")
        return result
    verify_user_pin(hsm, interaction, "cleaning up an interrupted import")
    files = CardFiles.enumerate(hsm)  # deletes are tried where ENUMERATE may hide files
    for reference in list(entry.pending_keys):
        for prefix in (EE_CERTIFICATE_PREFIX, PRKD_PREFIX, KEY_PREFIX):
            files.delete(fid(prefix, reference))
        result.keys_rolled_back.append(reference)
        journal.done_key(serial, reference)
    for number in list(entry.pending_ca):
        for prefix in (CD_PREFIX, CA_CERTIFICATE_PREFIX):
            files.delete(fid(prefix, number))
        result.ca_rolled_back.append(number)
        journal.done_ca(serial, number)
    if entry.transient_domain is not None:
        domain = entry.transient_domain
        result.kek_deleted, result.domain_deleted, note = remove_transient_domain(hsm, domain)
        if note:
            result.notes.append(note)
        if result.domain_deleted:
            record_quietly(hsm, interaction, lambda registry: registry.forget_domain(domain))
        journal.end_transient(serial)
    journal.clear(serial)
    interaction.inform(f"Cleaned up the interrupted import: {what}.")
    return result


def remove_transient_domain(hsm: SmartCardHsm, domain: int) -> tuple[bool, bool, str]:
    """Delete a transient domain's KEK, and the domain too when no key uses it.

    :returns: (KEK deleted or already gone, domain deleted, a note for the user).
    """
    status = hsm.key_domain_status(domain)
    if status is None:
        return True, True, f"key domain {domain} is empty: nothing was left there"
    if status.uid or status.shares_total != 1:
        return (
            False,
            False,
            f"key domain {domain} is not a one-share DKEK domain any more; it was left alone",
        )
    kek_deleted = True
    if status.shares_outstanding == 0:
        hsm.delete_kek(domain)
    deleted = delete_domain_if_unused(hsm, domain)
    note = (
        f"key domain {domain} was removed"
        if deleted
        else f"the KEK of key domain {domain} was deleted; its keys stay (sealed)"
    )
    return kek_deleted, deleted, note


def delete_domain_if_unused(hsm: SmartCardHsm, domain: int) -> bool:
    """Try DELETE KEY DOMAIN; the card refuses while keys belong to it (``6A89``)."""
    try:
        hsm.delete_key_domain(domain)
    except ApduError as error:
        if error.sw == 0x6A88:  # Pico HSM answers 6A88 to a successful delete
            return hsm.key_domain_status(domain) is None
        return False
    return True
