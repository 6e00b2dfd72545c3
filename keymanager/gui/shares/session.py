"""One collection of shares (one job) and the record of its ceremony (no Qt here).

:class:`ShareSession` is what the worker hands around: the job's cancel flag, the open
dialog, and the :class:`CeremonyLog`, which outlives a dialog that is closed and opened
again within the same job.  The log holds one :class:`CeremonyEntry` per share handed
over (its route, fingerprint and state, never the secret), the KCVs seen, and the
times; the summary page is made from it.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from keymanager.dkek.dkek import format_kcv
from keymanager.workflows.interaction import ShareOutcome, ShareRequest, ShareRoute

if TYPE_CHECKING:
    from keymanager.gui.shares.dialog import ShareDialog


class EntryState(enum.Enum):
    """Where one share handed over stands."""

    QUEUED = "queued"
    CHECKING = "checking"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    HANDED_OVER = "handed over"
    """Handed to a workflow that reports nothing back."""


@dataclass
class CeremonyEntry:
    """One share handed over: what the custodian used and what became of it."""

    number: int
    """The share's number as the domain counts them (share ``number`` of ``total``)."""
    total: int
    route: ShareRoute
    description: str
    handed_over_at: datetime
    state: EntryState = EntryState.QUEUED
    fingerprint: str = ""
    problem: str = ""

    @property
    def state_text(self) -> str:
        if self.state is EntryState.REFUSED:
            return f"refused: {self.problem}" if self.problem else "refused"
        if self.state is EntryState.CHECKING:
            return "being checked"
        if self.state is EntryState.QUEUED:
            return "waiting its turn"
        return str(self.state.value)

    def text(self) -> str:
        """One line for the dialog's list."""
        parts = [f"Share {self.number} of {self.total}", self.description]
        if self.fingerprint:
            parts.append(f"fingerprint {self.fingerprint}")
        parts.append(self.state_text)
        return " \u00b7 ".join(parts)


@dataclass
class CeremonyLog:
    """The shares of one collection as they are handed over and checked."""

    entries: list[CeremonyEntry] = field(default_factory=list)
    domain: int | None = None
    total: int = 0
    into_card: bool = False
    card_kcv: bytes | None = None
    running_kcv: bytes | None = None
    shares_accepted: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    already_on_card: int = 0
    """Shares a card import found on the card before it began."""

    def note_request(self, request: ShareRequest) -> None:
        if self.total == 0 and request.into_card:  # the first request of the job
            self.already_on_card = request.number - 1
        self.domain = request.domain
        self.total = request.total
        self.into_card = request.into_card
        self.card_kcv = request.card_kcv
        self.shares_accepted = max(self.shares_accepted, request.number - 1)

    def hand_over(
        self, number: int, route: ShareRoute, description: str, now: datetime
    ) -> CeremonyEntry:
        if self.started is None:
            self.started = now
        entry = CeremonyEntry(number, self.total, route, description, now)
        self.entries.append(entry)
        return entry

    def waiting(self) -> CeremonyEntry | None:
        """The oldest entry the workflow has not reported on yet."""
        for entry in self.entries:
            if entry.state in (EntryState.QUEUED, EntryState.CHECKING):
                return entry
        return None

    def record(self, outcome: ShareOutcome, now: datetime) -> CeremonyEntry | None:
        """The workflow reports on the oldest waiting share; the entry it was."""
        entry = self.waiting()
        if entry is not None:
            entry.number = outcome.request.number
            entry.total = outcome.request.total
            if outcome.accepted:
                entry.state = EntryState.ACCEPTED
                entry.fingerprint = outcome.fingerprint
            else:
                entry.state = EntryState.REFUSED
                entry.problem = outcome.problem
        if outcome.accepted:
            self.shares_accepted = outcome.shares_accepted
            self.running_kcv = outcome.running_kcv
        if outcome.complete:
            self.finished = now
        return entry

    @property
    def accepted(self) -> list[CeremonyEntry]:
        return [entry for entry in self.entries if entry.state is EntryState.ACCEPTED]

    @property
    def refused(self) -> list[CeremonyEntry]:
        return [entry for entry in self.entries if entry.state is EntryState.REFUSED]

    @property
    def kcv_matches(self) -> bool | None:
        """``True``/``False`` once every share is in and a card KCV is known, else ``None``."""
        if self.card_kcv is None or self.running_kcv is None:
            return None
        if self.shares_accepted < self.total:
            return None
        return self.card_kcv == self.running_kcv

    def kcv_text(self) -> str:
        return format_kcv(self.running_kcv) if self.running_kcv is not None else "not known"


@dataclass(eq=False)
class ShareSession:
    """One collection of shares (one job): its dialog, the job's cancel flag, the log.

    Used on the GUI thread only, except that the worker hands it around.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    dialog: ShareDialog | None = None
    log: CeremonyLog = field(default_factory=CeremonyLog)
