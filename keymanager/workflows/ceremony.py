"""Share ceremonies: creating a DKEK share for a custodian, and importing shares into a key domain.

**Creating a share** (:func:`create_share`): 32 random bytes (the card's GET CHALLENGE
when a card is given, else the host's ``os.urandom``), saved by one or two routes of a
:class:`ShareCreationPlan`:

* a share file (``.pbe``) protected by a password the custodian types twice (with a
  strength hint), or by a random password split n-of-m among several people (each
  fragment shown one at a time, and optionally printed to its own PDF);
* a PaperKey: four lines to write down or print (optionally as a one-page PDF).

Each sheet (:mod:`keymanager.workflows.share_sheets`) names the share file, the card,
the date and the share fingerprint and has a signature line; a front end with its own
sheet view shows a hand-over screen before each custodian's fragment.

Every route reads the share back before it is called done: the file is decrypted
again (for n-of-m with the password rebuilt from the fragments *as printed*), the
PaperKey is decoded from its lines (and from the PDF, when one is written).  A file
that does not read back, or whose fragments could not be shown, is removed again.
The share's fingerprint (the KCV of a DKEK made of it alone) is shown so custodians
can later tell which share they hold.

**Importing shares** (:func:`import_shares`): the domain must be waiting for shares;
the user PIN is asked and verified first (so a typo cannot strike after the last
share), each custodian's share is read and imported into the card at once, the
outstanding count is shown after each, and after the last share the PIN is verified
again (some devices lose a DKEK never followed by a VERIFY) and the KCV shown.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keymanager.card.errors import (
    CardError,
    FileNotFound,
    IncorrectParameters,
    NoKeyDomainSupport,
    ReferencedDataNotFound,
)
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.hsm_types import KeyDomainStatus
from keymanager.dkek.dkek import SHARE_LENGTH, format_kcv, share_fingerprint
from keymanager.dkek.errors import DerivationCancelled, DkekError, WeakPassword
from keymanager.dkek.nofm import (
    MAX_TOTAL,
    MIN_THRESHOLD,
    MIN_TOTAL,
    PasswordShare,
    PasswordSplit,
    candidate_passwords,
    format_prime,
    format_share_id,
    format_share_value,
    generate_password,
    parse_prime,
    parse_share_id,
    parse_share_value,
    split_password,
)
from keymanager.dkek.paperkey import decode_paperkey, encode_paperkey
from keymanager.dkek.secret import wipe
from keymanager.dkek.sharefile import (
    check_new_password,
    decrypt_share,
    encrypt_share,
    read_share_file,
    write_share_file,
)
from keymanager.workflows.ceremony_session import ceremony_step
from keymanager.workflows.common import ask_and_verify_pin
from keymanager.workflows.errors import DomainNotReady, WorkflowError
from keymanager.workflows.interaction import (
    Cancelled,
    Interaction,
    SecretKind,
    SecretRequest,
    ShareOutcome,
    ShareRequest,
)
from keymanager.workflows.key_domains import check_share_import
from keymanager.workflows.printable import PageOverflow, render_text_pdf, write_text_pdf
from keymanager.workflows.share_sheets import (
    SecretSheet,
    SheetFacts,
    fragment_handover,
    fragment_sheet_text,
    fragment_title,
    paperkey_sheet_text,
    show_sheet,
)
from keymanager.workflows.shares import InteractionCancelFlag, read_share

logger = logging.getLogger(__name__)

# --- creating a share --------------------------------------------------------------


class FileProtection(enum.Enum):
    """How a share file's password is kept."""

    PASSWORD = "password"  # noqa: S105 - a name, not a password
    """One password the custodian chooses and types twice."""
    N_OF_M = "n-of-m"
    """A random password split among several people, any ``threshold`` of whom rebuild it."""


class ShareVerificationFailed(WorkflowError):
    """A saved share did not read back as the share that was generated."""


@dataclass(frozen=True)
class ShareCreationPlan:
    """What :func:`create_share` writes and shows.

    :param share_file: the ``.pbe`` file to write, or ``None`` for PaperKey only.
    :param protection: the file's password: typed, or random and split n-of-m.
    :param threshold: n-of-m: how many fragments rebuild the password (2 to ``total``).
    :param total: n-of-m: how many fragments there are (3 to 9).
    :param paperkey: also (or only) lay the share out as a PaperKey.
    :param paperkey_pdf: write the PaperKey sheet to this one-page PDF as well.
    :param show_paperkey: show the PaperKey sheet on screen (``show_secret``).
    :param show_fragments: show each custodian's fragment on screen, one at a time.
    :param fragment_pdf_dir: write each fragment to ``fragment-<i>-of-<n>.pdf`` there.
    :param overwrite: replace existing output files.
    """

    share_file: Path | None = None
    protection: FileProtection = FileProtection.PASSWORD
    threshold: int = 2
    total: int = 3
    paperkey: bool = False
    paperkey_pdf: Path | None = None
    show_paperkey: bool = True
    show_fragments: bool = True
    fragment_pdf_dir: Path | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.share_file is None and not self.paperkey:
            raise ValueError("save the share somewhere: a share file, a PaperKey or both")
        if self.paperkey_pdf is not None and not self.paperkey:
            raise ValueError("a PaperKey PDF needs the PaperKey route")
        if self.paperkey and not (self.show_paperkey or self.paperkey_pdf is not None):
            raise ValueError("the PaperKey must be shown or printed to a PDF")
        if self.share_file is not None and self.protection is FileProtection.N_OF_M:
            if not MIN_TOTAL <= self.total <= MAX_TOTAL:
                raise ValueError(
                    f"the password can be split into {MIN_TOTAL} to {MAX_TOTAL} fragments, "
                    f"not {self.total}"
                )
            if not MIN_THRESHOLD <= self.threshold <= self.total:
                raise ValueError(
                    f"the number of fragments needed must be {MIN_THRESHOLD} to {self.total}, "
                    f"not {self.threshold}"
                )
            if not self.show_fragments and self.fragment_pdf_dir is None:
                raise ValueError("the n-of-m fragments must be shown or printed to PDFs")

    @property
    def splits_password(self) -> bool:
        """Whether a share file is written with an n-of-m password."""
        return self.share_file is not None and self.protection is FileProtection.N_OF_M

    def fragment_pdf(self, index: int) -> Path | None:
        """The PDF for fragment ``index`` (from 0), if fragments are printed."""
        if self.fragment_pdf_dir is None:
            return None
        return self.fragment_pdf_dir / f"fragment-{index + 1}-of-{self.total}.pdf"

    def output_files(self) -> list[Path]:
        """Every file the plan writes."""
        files = [path for path in (self.share_file, self.paperkey_pdf) if path is not None]
        if self.splits_password and self.fragment_pdf_dir is not None:
            files += [p for i in range(self.total) if (p := self.fragment_pdf(i)) is not None]
        return files


@dataclass(frozen=True)
class ShareCreationResult:
    """What :func:`create_share` made.  Holds no secret (the fingerprint and prime are public)."""

    fingerprint: str
    random_source: str
    """``"card"`` (GET CHALLENGE) or ``"host"`` (``os.urandom``)."""
    share_file: Path | None = None
    protection: FileProtection | None = None
    threshold: int | None = None
    total: int | None = None
    prime: str | None = None
    paperkey: bool = False
    paperkey_pdf: Path | None = None
    fragment_pdfs: tuple[Path, ...] = ()
    checks: tuple[str, ...] = field(default=())
    """What was read back successfully, one sentence each."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "fingerprint": self.fingerprint,
            "random_source": self.random_source,
            "file": str(self.share_file) if self.share_file else None,
            "protection": self.protection.value if self.protection else None,
            "threshold": self.threshold,
            "total": self.total,
            "prime": self.prime,
            "paperkey": self.paperkey,
            "paperkey_pdf": str(self.paperkey_pdf) if self.paperkey_pdf else None,
            "fragment_pdfs": [str(path) for path in self.fragment_pdfs],
            "checks": list(self.checks),
        }


def new_share(hsm: SmartCardHsm | None = None) -> bytearray:
    """32 random bytes for a new share: the card's RNG when a card is given, else the host's.

    The caller wipes the buffer.
    """
    if hsm is not None:
        try:
            return bytearray(hsm.get_challenge(SHARE_LENGTH, sensitive=True))
        except (FileNotFound, ReferencedDataNotFound):
            # Pico HSM answers GET CHALLENGE with 6A82 before it is initialised.
            logger.info("the card gave no random bytes (not initialised?); using the host's")
    return bytearray(os.urandom(SHARE_LENGTH))


def password_strength_hint(password: bytes | bytearray) -> str:
    """A short hint on a new share-file password's strength (never repeats the password).

    The share file is open to offline guessing at ~10 million MD5 rounds per guess, so
    length and variety matter; the hint is rough on purpose.
    """
    try:
        text = bytes(password).decode("utf-8")
    except UnicodeDecodeError:
        text = bytes(password).decode("latin-1")
    classes = sum(
        1 for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]") if re.search(pattern, text)
    )
    words = len(text.split())
    if len(text) >= 20 or (words >= 4 and len(text) >= 16):
        return "strong: a long passphrase"
    if len(text) >= 12 and classes >= 3:
        return "good: long enough, with varied characters"
    if len(text) >= 10:
        return "fair: a passphrase of four or more words would be stronger"
    return "weak: short passwords can be guessed offline; use 12+ characters or a passphrase"


def _encrypt(share: bytearray, password: bytes | bytearray, interaction: Interaction) -> bytes:
    try:
        return encrypt_share(
            share,
            password,
            progress=interaction.progress_for("Encrypting the share (key derivation)"),
            cancel=InteractionCancelFlag(interaction),
        )
    except DerivationCancelled:
        raise Cancelled("cancelled during the key derivation; nothing was written") from None


def _decrypt_back(path: Path, password: bytes | bytearray, interaction: Interaction) -> bytearray:
    try:
        return decrypt_share(
            read_share_file(path),
            password,
            progress=interaction.progress_for("Reading the share back (key derivation)"),
            cancel=InteractionCancelFlag(interaction),
        )
    except DerivationCancelled:
        raise Cancelled("cancelled while reading the share back") from None


def _ask_new_password(interaction: Interaction, path: Path) -> bytearray:
    password = interaction.ask_secret(
        SecretRequest(SecretKind.NEW_SHARE_PASSWORD, f"share file {path.name}", confirm=True)
    )
    try:
        check_new_password(password)
    except WeakPassword as error:
        wipe(password)
        raise WeakPassword(f"{error}; nothing was written") from None
    interaction.inform(f"Password strength: {password_strength_hint(password)}.")
    return password


def _fragments_as_printed(split: PasswordSplit, indexes: list[int]) -> list[PasswordShare]:
    """The fragments read back from their printed form, as a custodian would type them."""
    return [
        PasswordShare(
            parse_share_id(format_share_id(split.shares[index].share_id)),
            parse_share_value(format_share_value(split.shares[index].value)),
        )
        for index in indexes
    ]


def _check_outputs_free(plan: ShareCreationPlan) -> None:
    if plan.overwrite:
        return
    for path in plan.output_files():
        if path.exists():
            raise WorkflowError(f"{path} already exists; nothing was written")


def _remove_quietly(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _pdf_lines(pdf: bytes) -> list[str]:
    """The text lines of a PDF made by :mod:`~keymanager.workflows.printable` (its own format)."""
    lines = []
    for match in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", pdf):
        raw = re.sub(rb"\\(.)", rb"\1", match.group(1))
        lines.append(raw.decode("latin-1"))
    return lines


def _save_file_with_password(
    share: bytearray,
    plan: ShareCreationPlan,
    password: bytearray,
    interaction: Interaction,
    written: list[Path],
) -> str:
    assert plan.share_file is not None
    encrypted = _encrypt(share, password, interaction)
    write_share_file(plan.share_file, encrypted, overwrite=plan.overwrite)
    written.append(plan.share_file)
    read_back = _decrypt_back(plan.share_file, password, interaction)
    try:
        if read_back != share:
            raise ShareVerificationFailed(f"{plan.share_file} did not read back correctly")
    finally:
        wipe(read_back)
    return f"{plan.share_file} decrypts to the share with its password"


def _save_file_n_of_m(
    share: bytearray, plan: ShareCreationPlan, interaction: Interaction, written: list[Path]
) -> tuple[PasswordSplit, str]:
    assert plan.share_file is not None
    password = bytearray(generate_password())
    try:
        split = split_password(bytes(password), plan.threshold, plan.total)
        encrypted = _encrypt(share, password, interaction)
    finally:
        wipe(password)
    write_share_file(plan.share_file, encrypted, overwrite=plan.overwrite)
    written.append(plan.share_file)
    # Read back with the password rebuilt from fragments as printed: the last
    # ``threshold`` of them (a different subset than the first custodians').
    indexes = list(range(plan.total - plan.threshold, plan.total))
    candidates = candidate_passwords(
        parse_prime(format_prime(split.prime)), _fragments_as_printed(split, indexes)
    )
    read_back = _decrypt_back(plan.share_file, candidates[0], interaction)
    try:
        if read_back != share:
            raise ShareVerificationFailed(f"{plan.share_file} did not read back correctly")
    finally:
        wipe(read_back)
    return split, (
        f"{plan.share_file} decrypts to the share with the password rebuilt from "
        f"{plan.threshold} of the {plan.total} fragments as printed"
    )


def _write_fragment_pdf(
    split: PasswordSplit, index: int, pdf: Path, title: str, sheet: str, overwrite: bool
) -> None:
    write_text_pdf(pdf, title, sheet, overwrite=overwrite)
    typed = _pdf_lines(pdf.read_bytes())
    if f"Share value : {format_share_value(split.shares[index].value)}" not in typed:
        _remove_quietly([pdf])
        raise ShareVerificationFailed(f"{pdf} does not read back correctly")


PRINT_ERRORS = (OSError, PageOverflow, ShareVerificationFailed)
"""What writing a sheet's PDF may fail with; the sheet is then shown on screen instead."""


def _hand_out_fragments(
    split: PasswordSplit, plan: ShareCreationPlan, interaction: Interaction, facts: SheetFacts
) -> list[Path]:
    """Show each custodian's fragment (after a hand-over screen), then write its PDF.

    A PDF that cannot be written is reported and its fragment shown (again) on
    screen, to be written down, printed or saved from there: the share file is
    never left with a fragment nobody has.
    """
    written: list[Path] = []
    try:
        for index in range(split.total):
            sheet = fragment_sheet_text(split, index, facts)
            title = fragment_title(index, split.total)
            pdf = plan.fragment_pdf(index)
            screen = SecretSheet(
                f"{title} (for custodian {index + 1} only)",
                sheet,
                handover=fragment_handover(index, split.total, facts),
                pdf=pdf,
                file_name=f"fragment-{index + 1}-of-{split.total}.pdf",
            )
            if plan.show_fragments:
                show_sheet(interaction, screen)
            if pdf is None:
                continue
            try:
                _write_fragment_pdf(split, index, pdf, title, sheet, plan.overwrite)
            except PRINT_ERRORS as error:
                problem = f"{pdf} could not be written: {error}"
                interaction.warn(
                    f"Fragment {index + 1} of {split.total}: {problem}.  The fragment is "
                    "shown on screen instead: write it down, print it or save it from there."
                )
                again = " Its PDF could not be written; it is shown again."
                show_sheet(
                    interaction,
                    SecretSheet(
                        screen.title,
                        sheet,
                        handover=fragment_handover(index, split.total, facts, again=again),
                        problem=problem,
                        file_name=screen.file_name,
                    ),
                )
            else:
                written.append(pdf)
    except BaseException:
        _remove_quietly(written)
        raise
    return written


def _write_paperkey_pdf(
    share: bytearray, path: Path, title: str, text: str, overwrite: bool
) -> str:
    pdf = render_text_pdf(title, text)
    write_text_pdf(path, title, text, overwrite=overwrite)
    written = path.read_bytes()
    try:
        if written != pdf:
            raise ShareVerificationFailed(f"{path} did not read back correctly")
        printed = [line.strip() for line in _pdf_lines(written)]
        typed = [line for line in printed if re.match(r"^[1-4]: ", line)]
        if decode_paperkey(typed) != bytes(share):
            raise ShareVerificationFailed(f"{path} does not decode to the share")
    except BaseException:
        _remove_quietly([path])
        raise
    return f"the PaperKey printed to {path} decodes to the share"


def _save_paperkey(
    share: bytearray, plan: ShareCreationPlan, interaction: Interaction, facts: SheetFacts
) -> list[str]:
    """Show the PaperKey (first), then write its PDF; a PDF that fails is reported and
    the PaperKey shown again, to be written down, printed or saved from the screen.

    A PaperKey meant for the PDF only (``show_paperkey`` off) is not put on screen when
    its PDF fails: the error is raised (a share file, if any, stays as written).
    """
    paperkey = encode_paperkey(share)
    checks = []
    if decode_paperkey(list(paperkey.lines)) != bytes(share):
        raise ShareVerificationFailed("the PaperKey does not decode to the share")
    checks.append("the PaperKey lines decode to the share")
    title = "DKEK share - PaperKey"
    text = paperkey_sheet_text(paperkey.text(), facts)
    screen = SecretSheet(
        "DKEK share - PaperKey (write it down or print it)",
        text,
        pdf=plan.paperkey_pdf,
        file_name="paperkey.pdf",
    )
    if plan.show_paperkey:
        show_sheet(interaction, screen)
    if plan.paperkey_pdf is not None:
        try:
            checks.append(
                _write_paperkey_pdf(share, plan.paperkey_pdf, title, text, plan.overwrite)
            )
        except PRINT_ERRORS as error:
            if not plan.show_paperkey:
                raise  # a PDF-only PaperKey is not put on screen unasked; nothing holds it
            problem = f"{plan.paperkey_pdf} could not be written: {error}"
            interaction.warn(
                f"PaperKey: {problem}.  The PaperKey is shown on screen instead: write it "
                "down, print it or save it from there."
            )
            show_sheet(
                interaction,
                SecretSheet(screen.title, text, problem=problem, file_name=screen.file_name),
            )
    return checks


def _report_file(interaction: Interaction, path: Path, fingerprint: str) -> None:
    interaction.inform(f"Share file {path} written and read back; share fingerprint {fingerprint}.")


def _device_serial(hsm: SmartCardHsm | None) -> str | None:
    if hsm is None:
        return None
    try:
        return hsm.serial()
    except (CardError, ValueError):
        logger.info("the card's serial could not be read; the sheets do not name it")
        return None


@ceremony_step("create share", witness=True)
def create_share(
    interaction: Interaction,
    plan: ShareCreationPlan,
    *,
    hsm: SmartCardHsm | None = None,
    device: str | None = None,
) -> ShareCreationResult:
    """Create a new random DKEK share for a custodian and save it as ``plan`` says.

    Nothing is written when a target exists (unless ``plan.overwrite``) or the new
    password is too short.  Files are written atomically with mode 0600; a share file
    that fails its read-back, or whose fragments could not all be handed out, is
    removed again.  The share never leaves this function except in the saved forms.

    The share file and the fingerprint are reported before any sheet is printed, and
    every sheet that is shown is shown before its PDF is written; a PDF that cannot be
    written is reported and its sheet shown on screen (again), so nothing is lost.  An
    n-of-m fragment is shown even when only its PDF was asked for (the share file needs
    it); a PaperKey meant for its PDF only is not, and the error is raised.

    :param device: the serial of the card the ceremony is held at, printed on the
        sheets (default: ``hsm``'s serial, when a card is given).

    :raises WeakPassword: the typed password is shorter than 6 characters.
    :raises ShareVerificationFailed: a saved form did not read back as the share.
    :raises Cancelled: the user cancelled (during a key derivation, for example).
    """
    _check_outputs_free(plan)
    password: bytearray | None = None
    if plan.share_file is not None and plan.protection is FileProtection.PASSWORD:
        password = _ask_new_password(interaction, plan.share_file)
    share = new_share(hsm)
    try:
        result = save_share(
            interaction,
            plan,
            share,
            password,
            source="card" if hsm is not None else "host",
            device=device if device is not None else _device_serial(hsm),
        )
    finally:
        wipe(share, password)
    interaction.inform(
        f"New DKEK share created (random bytes from the {result.random_source}); "
        f"share fingerprint {result.fingerprint}."
    )
    return result


def save_share(
    interaction: Interaction,
    plan: ShareCreationPlan,
    share: bytearray,
    password: bytearray | None,
    *,
    source: str,
    device: str | None,
) -> ShareCreationResult:
    """Save ``share`` as ``plan`` says (the part of :func:`create_share` after the share
    was made; custodian rotation saves an existing share anew with it).

    ``password`` is the new file password for :attr:`FileProtection.PASSWORD` (asked
    by the caller); the caller wipes ``share`` and ``password``.  Written files that do
    not read back are removed again.
    """
    checks: list[str] = []
    split: PasswordSplit | None = None
    fragment_pdfs: list[Path] = []
    written: list[Path] = []
    fingerprint = format_kcv(share_fingerprint(share))
    facts = SheetFacts(fingerprint=fingerprint, share_file=plan.share_file, device=device)
    if plan.share_file is not None:
        try:
            if password is not None:
                checks.append(_save_file_with_password(share, plan, password, interaction, written))
                _report_file(interaction, plan.share_file, fingerprint)
            else:
                split, check = _save_file_n_of_m(share, plan, interaction, written)
                checks.append(check)
                _report_file(interaction, plan.share_file, fingerprint)
                fragment_pdfs = _hand_out_fragments(split, plan, interaction, facts)
        except BaseException:
            # A file that did not read back, or whose fragments were not all handed
            # out, is no use to anybody: remove it.
            _remove_quietly(written)
            raise
    if plan.paperkey:
        checks.extend(_save_paperkey(share, plan, interaction, facts))
    return ShareCreationResult(
        fingerprint=fingerprint,
        random_source=source,
        share_file=plan.share_file,
        protection=plan.protection if plan.share_file is not None else None,
        threshold=split.threshold if split is not None else None,
        total=split.total if split is not None else None,
        prime=format_prime(split.prime) if split is not None else None,
        paperkey=plan.paperkey,
        paperkey_pdf=plan.paperkey_pdf,
        fragment_pdfs=tuple(fragment_pdfs),
        checks=tuple(checks),
    )


# --- importing shares into a key domain -----------------------------------------------


@dataclass(frozen=True)
class ImportedShare:
    """One share imported into the card, and the domain's state right after."""

    number: int
    fingerprint: str
    shares_outstanding: int
    shares_total: int


@dataclass(frozen=True)
class ShareImportResult:
    """What :func:`import_shares` did."""

    domain: int
    imported: tuple[ImportedShare, ...]
    shares_total: int
    shares_outstanding: int
    kcv: str | None
    """The domain's KCV once complete (``None`` while shares are outstanding or hidden)."""
    kcv_hidden: bool
    pin_verified: bool

    @property
    def complete(self) -> bool:
        """Whether the domain holds its whole DKEK now."""
        return self.shares_outstanding == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "domain": self.domain,
            "imported": [
                {
                    "number": step.number,
                    "share_fingerprint": step.fingerprint,
                    "shares_outstanding": step.shares_outstanding,
                }
                for step in self.imported
            ],
            "share_fingerprint": self.imported[-1].fingerprint if self.imported else None,
            "shares_total": self.shares_total,
            "shares_outstanding": self.shares_outstanding,
            "kcv": self.kcv,
            "kcv_hidden": self.kcv_hidden,
            "pin_verified": self.pin_verified,
        }


def waiting_domain_status(hsm: SmartCardHsm, domain: int) -> KeyDomainStatus:
    """The status of a key domain that is waiting for DKEK shares.

    :raises DomainNotReady: no such domain, empty, XKEK, or expecting no more shares.
    """
    try:
        status = hsm.key_domain_status(domain)
    except NoKeyDomainSupport:
        raise DomainNotReady(
            "the device was initialised without a DKEK or key domains: it takes no shares"
        ) from None
    except IncorrectParameters:
        raise DomainNotReady(f"the device has no key domain {domain}") from None
    if status is None:
        raise DomainNotReady(
            f"key domain {domain} is empty: create it first (keymanager-cli domain create)"
        )
    if status.uid:
        raise DomainNotReady(f"key domain {domain} is an XKEK domain; it takes no DKEK shares")
    if status.shares_outstanding == 0:
        raise DomainNotReady(
            f"key domain {domain} expects no more shares ({status.shares_total} of "
            f"{status.shares_total} imported); clear its KEK to start again"
        )
    return status


@ceremony_step("import shares", witness=True)
def import_shares(
    hsm: SmartCardHsm,
    interaction: Interaction,
    domain: int = 0,
    *,
    count: int | None = None,
    retry_rejected: bool = True,
) -> ShareImportResult:
    """Import DKEK shares into ``domain``, one custodian at a time.

    :param count: how many shares to import now (default: every outstanding one).
    :param retry_rejected: ask again when a share cannot be read (wrong password,
        mistyped fragment or PaperKey group); otherwise the error is raised.
    :raises DomainNotReady: the domain takes no (or not that many) shares; checked
        before anything is decrypted.
    :raises TransientDomainHoldsKeys: the domain is a recorded transient import that
        holds keys (:func:`keymanager.workflows.key_domains.check_share_import`).
    :raises PinNotVerified: the user PIN could not be verified (nothing imported).
    :raises CardError: the card refused or was removed; shares imported before that
        stay imported (the card's status says how many are outstanding).
    """
    status = waiting_domain_status(hsm, domain)
    wanted = status.shares_outstanding if count is None else count
    if not 1 <= wanted <= status.shares_outstanding:
        raise DomainNotReady(
            f"key domain {domain} waits for {status.shares_outstanding} share(s); "
            f"{wanted} cannot be imported"
        )
    interaction.inform(
        f"Key domain {domain}: {status.shares_outstanding} of {status.shares_total} "
        "share(s) outstanding."
    )
    pin = ask_and_verify_pin(hsm, interaction, f"importing DKEK shares into key domain {domain}")
    try:
        # after the PIN: the guard may WRAP keys whose domain is not recorded
        check_share_import(
            hsm, interaction, domain, status.shares_total - status.shares_outstanding
        )
    except BaseException:
        wipe(pin)
        raise
    imported: list[ImportedShare] = []
    # shares are numbered as the domain counts them: with 1 of 3 on the card already,
    # the next custodian brings share 2 of 3
    already = status.shares_total - status.shares_outstanding
    total = status.shares_total
    try:
        number = already + 1
        while number <= already + wanted:
            interaction.check_cancelled()
            request = ShareRequest(
                number=number,
                total=total,
                domain=domain,
                last=already + wanted,
                into_card=True,
            )
            share_input = interaction.ask_share(request)
            try:
                share = read_share(share_input, interaction)
            except DkekError as error:
                if not retry_rejected:
                    raise
                interaction.share_checked(
                    ShareOutcome(request, False, shares_accepted=number - 1, problem=str(error))
                )
                interaction.warn(f"Share {number} of {total} was not accepted: {error}")
                continue
            try:
                fingerprint = format_kcv(share_fingerprint(share))
                status = hsm.import_dkek_share(bytes(share), domain)
            finally:
                wipe(share)
            imported.append(
                ImportedShare(number, fingerprint, status.shares_outstanding, status.shares_total)
            )
            interaction.inform(
                f"Share {number} of {total} imported (share fingerprint {fingerprint}); "
                f"{status.shares_outstanding} of {status.shares_total} outstanding."
            )
            interaction.share_checked(
                ShareOutcome(
                    request,
                    True,
                    fingerprint,
                    status.kcv,
                    shares_accepted=number,
                )
            )
            number += 1
        # Some devices lose a DKEK that is not followed by a VERIFY: verify at once.
        hsm.verify_pin(bytes(pin))
    finally:
        wipe(pin)
    final = hsm.key_domain_status(domain)
    assert final is not None
    kcv = format_kcv(final.kcv) if final.shares_outstanding == 0 and final.kcv is not None else None
    hidden = final.shares_outstanding == 0 and final.kcv is None
    if final.shares_outstanding:
        interaction.inform(
            f"Key domain {domain} still waits for {final.shares_outstanding} of "
            f"{final.shares_total} share(s)."
        )
    elif kcv is not None:
        interaction.inform(f"Key domain {domain} is complete: DKEK KCV {kcv}.")
    else:
        interaction.inform(f"Key domain {domain} is complete; the card hides its KCV.")
    return ShareImportResult(
        domain=domain,
        imported=tuple(imported),
        shares_total=final.shares_total,
        shares_outstanding=final.shares_outstanding,
        kcv=kcv,
        kcv_hidden=hidden,
        pin_verified=True,
    )
