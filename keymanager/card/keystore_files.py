"""How the key store finds files and chooses free numbers.

ENUMERATE OBJECTS of a genuine SmartCard-HSM lists every file.  Pico HSM's lists the
key files ``CC`` and the descriptions ``C4`` / ``C8`` / ``C9`` but no certificate or
data file (``CE``, ``CA``, ``CD``, ``CF``), although READ BINARY of them works
(``pcsc-testing.md`` item 7).  :class:`CardFiles` therefore keeps what one ENUMERATE
told and what the reads, writes and deletes since have learnt, and says for each file
whether the listing is conclusive:

* the listing is conclusive for a ``CE`` / ``CA`` / ``CD`` / ``CF`` file only when it
  lists at least one file of those kinds (a card that lists some lists them all); for
  every other file it always is;
* where it is not, the file is read directly (as OpenSC does from what a PRKD or CD
  points at): ``6A82`` means absent, anything else that the file is there;
* a delete of a file the listing may hide is tried (``6A82`` = it was not there);
* a new file is written only where it is known to be absent: where the listing is not
  conclusive it is read first (``6A82`` expected).

On a genuine card none of this costs an APDU: the listing answers every question.
"""

from __future__ import annotations

from collections.abc import Iterable

from keymanager.card.errors import FileNotFound, SecurityStatusNotSatisfied
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.keystore_types import (
    CA_CERTIFICATE_PREFIX,
    CD_PREFIX,
    DATA_PREFIX,
    EE_CERTIFICATE_PREFIX,
    KEY_PREFIX,
    MAX_KEY_REFERENCE,
    PRKD_PREFIX,
    PROTECTED_DATA_PREFIX,
    KeyReferenceTaken,
    KeyStoreError,
    NoFreeKeyReference,
    fid,
    numbers_of,
)

MAY_BE_UNLISTED = frozenset(
    {EE_CERTIFICATE_PREFIX, CA_CERTIFICATE_PREFIX, PROTECTED_DATA_PREFIX, DATA_PREFIX}
)
"""Prefixes of the files Pico HSM's ENUMERATE leaves out (certificates and data)."""

CA_NUMBERS = range(256)


class FileInUse(KeyStoreError):
    """A file that was to be written new already exists (the listing did not show it)."""


class CardFiles:
    """The files of one card as far as known (see the module docstring).

    :param listed: the ENUMERATE answer.
    """

    def __init__(self, hsm: SmartCardHsm, listed: Iterable[int]) -> None:
        self._hsm = hsm
        self.listed = frozenset(listed)
        self._present = set(self.listed)
        self._absent: set[int] = set()
        self._unknown: set[int] = set()
        self.lists_content_files = any(file >> 8 in MAY_BE_UNLISTED for file in self.listed)
        """Whether ENUMERATE showed certificate or data files (then it shows them all)."""

    @classmethod
    def enumerate(cls, hsm: SmartCardHsm) -> CardFiles:
        """One ENUMERATE OBJECTS."""
        return cls(hsm, hsm.enumerate_objects())

    # --- what is known -------------------------------------------------------------

    def conclusive(self, file: int) -> bool:
        """Whether the listing alone tells if ``file`` exists."""
        return file >> 8 not in MAY_BE_UNLISTED or self.lists_content_files

    def known_present(self, file: int) -> bool:
        return file in self._present

    def known_absent(self, file: int) -> bool:
        if file in self._absent:
            return True
        return file not in self._present and file not in self._unknown and self.conclusive(file)

    def numbers(self, prefix: int) -> set[int]:
        """The numbers of the files with ``prefix`` known to exist."""
        return numbers_of(self._present, prefix)

    def forget(self, file: int) -> None:
        """``file`` may have changed behind this view (the card may write it itself, as
        some cards write the CV request after GENERATE): ask the card next time."""
        self._present.discard(file)
        self._absent.discard(file)
        self._unknown.add(file)

    def learn(self, file: int, *, present: bool) -> None:
        """Record what a command outside this class found out about ``file``."""
        self._unknown.discard(file)
        if present:
            self._present.add(file)
            self._absent.discard(file)
        else:
            self._absent.add(file)
            self._present.discard(file)

    # --- asking the card -----------------------------------------------------------

    def read(self, file: int) -> bytes | None:
        """The content of ``file``; ``None`` if it does not exist (known, or ``6A82``).

        A file the listing showed is read; one it may have hidden is read as well.
        """
        if self.known_absent(file):
            return None
        try:
            data = self._hsm.read_file(file)
        except FileNotFound:
            self.learn(file, present=False)
            return None
        self.learn(file, present=True)
        return data

    def exists(self, file: int) -> bool:
        """Whether ``file`` exists; costs one READ only where the listing is not conclusive.

        A READ refused for want of the PIN (``6982``, a protected ``CDxx``) means the
        file is there; any other refusal is raised (it tells nothing).
        """
        if file in self._present:
            return True
        if self.known_absent(file):
            return False
        try:
            return self.read(file) is not None
        except SecurityStatusNotSatisfied:
            self.learn(file, present=True)
            return True

    def delete(self, file: int) -> bool:
        """DELETE FILE unless ``file`` is known to be absent.

        :returns: whether a file was deleted (``False``: it was not there, ``6A82``).
        """
        if self.known_absent(file):
            return False
        try:
            self._hsm.delete_file(file)
        except FileNotFound:
            self.learn(file, present=False)
            return False
        self.learn(file, present=False)
        return True

    def replace(self, file: int, data: bytes) -> None:
        """Write ``data`` as the whole of ``file``: an older file is deleted first, as
        OpenSC's ``sc_hsm_update_ef`` does, so no bytes of a longer one survive."""
        self.delete(file)
        self._hsm.write_file(file, data)
        self.learn(file, present=True)

    def write_new(self, file: int, data: bytes) -> None:
        """Write a file that must not exist yet.

        :raises FileInUse: it exists (the listing had not shown it); nothing was written.
        """
        if self.exists(file):
            raise FileInUse(f"file {file:04X} already exists on the card; it was left as it is")
        self._hsm.write_file(file, data)
        self.learn(file, present=True)

    # --- free numbers --------------------------------------------------------------

    def key_reference_in_use(self, reference: int) -> bool:
        """Whether ``CC``, ``C4`` or ``CE`` with this number exists (``CE`` may be read)."""
        return any(
            self.exists(fid(prefix, reference))
            for prefix in (KEY_PREFIX, PRKD_PREFIX, EE_CERTIFICATE_PREFIX)
        )

    def choose_key_reference(self, requested: int | None = None) -> int:
        """The requested reference if it holds no key, else the lowest free one.

        Free means no ``CC``, ``C4`` or ``CE`` file with that number, whether listed or
        not (a hidden ``CE`` is looked for with a READ).  An explicitly requested
        reference may carry stale metadata, which the writer replaces.

        :raises KeyReferenceTaken: ``requested`` holds a key.
        :raises NoFreeKeyReference: every reference 1 to 255 is in use.
        """
        if requested is not None:
            if not 0 < requested <= MAX_KEY_REFERENCE:
                raise KeyStoreError(f"key references are 1 to 255, not {requested}")
            if self.exists(fid(KEY_PREFIX, requested)):
                raise KeyReferenceTaken(f"key reference {requested} already holds a key")
            return requested
        used = self.numbers(KEY_PREFIX) | self.numbers(PRKD_PREFIX)
        used |= self.numbers(EE_CERTIFICATE_PREFIX)
        for reference in range(1, MAX_KEY_REFERENCE + 1):
            if reference not in used and not self.key_reference_in_use(reference):
                return reference
        raise NoFreeKeyReference("all key references 1 to 255 are in use")

    def choose_ca_number(self, described: Iterable[int] = ()) -> int:
        """The lowest number ``xx`` with neither ``C8xx`` nor ``CAxx``.

        :param described: CA file numbers the descriptions (``C8``) point at.
        :raises NoFreeKeyReference: all 256 are taken.
        """
        used = self.numbers(CD_PREFIX) | self.numbers(CA_CERTIFICATE_PREFIX) | set(described)
        for number in CA_NUMBERS:
            if number in used:
                continue
            if self.exists(fid(CD_PREFIX, number)):
                continue
            if self.exists(fid(CA_CERTIFICATE_PREFIX, number)):
                continue
            return number
        raise NoFreeKeyReference("all 256 CA certificate numbers are in use")
