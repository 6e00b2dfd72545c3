"""The Ceremony menu: the key ceremony record in the desktop app (issue 18).

:class:`CeremonyArea` keeps the ceremony that runs in this window
(:class:`RunningCeremony`: the record file, its title, participants, who acts now,
rehearsal or not) and offers the menu's commands:

* **Start ceremony…** (:class:`~keymanager.gui.dialogs.ceremony_record.StartCeremonyDialog`):
  the record is opened (``start_record``) naming the current card's device (serial,
  firmware, authenticity, read on the worker).  A rehearsal takes simulated cards only;
  a real ceremony refuses them, so on a simulated card the ceremony is a rehearsal.
* **Acting participant…**: who operates now; the status bar and the window title say
  "Ceremony: <title> — acting: <name>".
* **Close ceremony…**: a key on the current card signs the head (``close_with_card_key``;
  the user PIN is asked).
* **Verify record…** and **Print report…**: card-free (``verify_record``,
  ``write_report_pdf``), for any record file.
* **Rotate custodian share…**: card-free custodian rotation (``rotate_share_file``) on
  a thread of its own, recorded when a ceremony runs.

While a ceremony runs, every job a card worker runs enters
:func:`~keymanager.workflows.ceremony_session.recording` *on the worker thread* (a
context variable is per thread): :meth:`CeremonyArea.job_scope` wraps each job when it
is submitted, with the participant acting at that moment.  A job on a card of the
wrong kind (a simulated card in a real ceremony, a real one in a rehearsal) is refused
before it starts, except reading the card.  A step that needs a witness asks the
witness to type their name (:class:`~keymanager.gui.dialogs.ceremony_record.WitnessDialog`).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from keymanager.card.keystore import KeyInfo
from keymanager.card.pkcs15 import KeyKind
from keymanager.gui import settings
from keymanager.gui.card_free import CardFreeJobs
from keymanager.gui.worker import CardSource, JobContext, JobFunction, SimulatorSource
from keymanager.workflows.ceremony_record import Participant
from keymanager.workflows.ceremony_session import CeremonySession, recording
from keymanager.workflows.errors import WorkflowError
from keymanager.workflows.outline import NodeKind, Outline

if TYPE_CHECKING:
    from keymanager.gui.main_window import MainWindow
    from keymanager.gui.menus import Extra

logger = logging.getLogger(__name__)

MENU_ID = "ceremony"
FOLDER_SETTING = "ceremony"
READ_ONLY_TITLES = frozenset({"Reading the card", "Reading the certificate"})
"""Jobs that only read the card: they run on a card of the wrong kind too (unrecorded)."""
NO_CEREMONY = "no ceremony runs: start one first (Ceremony → Start ceremony…)"


class CeremonyCardRefused(WorkflowError):
    """The running ceremony does not take this card (simulated vs real); nothing changed."""


@dataclass
class RunningCeremony:
    """The ceremony this window records into."""

    record: Path
    title: str
    participants: list[Participant]
    actor: str
    rehearsal: bool = False
    devices: list[dict[str, object]] = field(default_factory=list)

    def session(self) -> CeremonySession:
        """A session naming the participant acting now (taken when a job is submitted)."""
        return CeremonySession(self.record, self.actor, rehearsal=self.rehearsal)

    def caption(self) -> str:
        kind = "Rehearsal" if self.rehearsal else "Ceremony"
        return f"{kind}: {self.title} — acting: {self.actor}"


def card_refusal(rehearsal: bool, simulated: bool) -> str | None:
    """Why a ceremony of this kind takes no such card (``None``: it takes it)."""
    if rehearsal and not simulated:
        return "this ceremony is a rehearsal: it takes simulated cards only; nothing was changed"
    if not rehearsal and simulated:
        return (
            "a real ceremony takes no simulated card (start a rehearsal for that); nothing "
            "was changed"
        )
    return None


def signing_keys(outline: Outline | None) -> list[tuple[int, str]]:
    """The RSA and EC keys of the card that can sign the record, as ``(ref, text)``."""
    if outline is None:
        return []
    keys = []
    for node in outline.nodes(NodeKind.KEY):
        data = node.data
        if isinstance(data, KeyInfo) and data.kind in (KeyKind.RSA, KeyKind.EC):
            size = f" {data.size}" if data.size else ""
            keys.append(
                (
                    data.key_reference,
                    f"{data.label} (key {data.key_reference}, {data.kind.value}{size})",
                )
            )
    return keys


def default_record_path(today: datetime.date | None = None) -> Path:
    """A new record file in the folder used last (or the home folder)."""
    folder = Path(settings.last_folder(FOLDER_SETTING) or Path.home())
    day = (today or datetime.date.today()).isoformat()
    candidate = folder / f"ceremony-{day}.jsonl"
    number = 2
    while candidate.exists():
        candidate = folder / f"ceremony-{day}-{number}.jsonl"
        number += 1
    return candidate


class CeremonyArea(QObject):
    """The ceremony of this window and the Ceremony menu (see the module docstring).

    :param host: the window (held weakly by the caller: a ``weakref.proxy``).
    """

    changed = Signal()
    """A ceremony started, closed, or another participant acts now."""

    def __init__(self, host: MainWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.running: RunningCeremony | None = None
        self.last_record: Path | None = None
        self.card_free = CardFreeJobs(self)
        self.status_label = QLabel()
        self.status_label.setObjectName("ceremonyStatus")
        self.status_label.setVisible(False)

    # --- the window --------------------------------------------------------------------

    def install(self) -> None:
        """The status-bar label and the menu entries' state (after the window is built)."""
        self.host.statusBar().addPermanentWidget(self.status_label)
        self._update()

    def caption(self) -> str:
        """What the title and status bar say while a ceremony runs ("" otherwise)."""
        return self.running.caption() if self.running is not None else ""

    def _update(self) -> None:
        caption = self.caption()
        self.status_label.setText(caption)
        self.status_label.setVisible(bool(caption))
        self.host.refresh_title()
        qactions = self.host.menu_bar.qactions
        for action_id in ("ceremony-actor", "ceremony-close"):
            action = qactions.get(action_id)
            if action is not None:
                action.setEnabled(self.running is not None)
                action.setToolTip(
                    "" if self.running is not None else f"Not possible: {NO_CEREMONY}"
                )
        start = qactions.get("ceremony-start")
        if start is not None:
            start.setEnabled(self.running is None)
        self.changed.emit()

    def _current_source(self) -> CardSource | None:
        sources, key = self.host.card_sources()
        return sources.get(key) if key is not None else None

    # --- every job while a ceremony runs ---------------------------------------------------

    def job_scope(self, source: CardSource, title: str, run: JobFunction) -> JobFunction:
        """``run`` inside the ceremony's recording (entered on the worker thread), with
        the participant acting now; refused on a card the ceremony does not take."""
        running = self.running
        if running is None:
            return run
        refusal = card_refusal(running.rehearsal, isinstance(source, SimulatorSource))
        if refusal is not None:
            if title in READ_ONLY_TITLES:
                return run

            def refused(_context: JobContext) -> object:
                raise CeremonyCardRefused(refusal)

            return refused
        session = running.session()

        def recorded(context: JobContext) -> object:
            with recording(session):
                return run(context)

        return recorded

    # --- the commands ---------------------------------------------------------------------

    def start(self) -> None:
        from keymanager.gui.dialogs.ceremony_record import StartCeremonyDialog

        if self.running is not None:
            self.host.show_status("A ceremony runs already: close it first")
            return
        outline = self.host.current_outline()
        source = self._current_source()
        simulated = (
            None if outline is None or source is None else isinstance(source, SimulatorSource)
        )
        dialog = StartCeremonyDialog(
            self.host.card_name(), simulated, default_record_path(), self.host.dialog_parent()
        )

        def begin() -> None:
            title, people = dialog.title(), dialog.participants()
            rehearsal, path = dialog.rehearsal(), dialog.record_path()
            settings.remember_folder(FOLDER_SETTING, path)
            if simulated is None:
                self._open_record(path, title, people, rehearsal, [])
                return

            def run(context: JobContext) -> object:
                from keymanager.workflows.ceremony_session import device_facts

                devices: list[dict[str, object]] = [device_facts(context.hsm)]
                _start_record(path, title, people, rehearsal, devices)
                return devices

            def started(result: object) -> None:
                devices = result if isinstance(result, list) else []
                self._started(path, title, people, rehearsal, devices)

            self.host.submit("Starting the ceremony record", run, on_result=started)

        self.host.open_dialog(dialog, begin)

    def _open_record(
        self,
        path: Path,
        title: str,
        people: list[Participant],
        rehearsal: bool,
        devices: list[dict[str, object]],
    ) -> None:
        try:
            _start_record(path, title, people, rehearsal, devices)
        except (WorkflowError, ValueError, OSError) as error:
            self.host.show_error(error, "Starting the ceremony record")
            return
        self._started(path, title, people, rehearsal, devices)

    def _started(
        self,
        path: Path,
        title: str,
        people: list[Participant],
        rehearsal: bool,
        devices: list[dict[str, object]],
    ) -> None:
        officers = [p.name for p in people if p.role == "security officer"]
        actor = officers[0] if officers else people[0].name
        self.running = RunningCeremony(path, title, list(people), actor, rehearsal, devices)
        self.last_record = path
        self._update()
        self.host.show_status(
            f"{'Rehearsal' if rehearsal else 'Ceremony'} started ({path.name}); {actor} acts "
            "now (Ceremony → Acting participant… to change)"
        )

    def choose_actor(self) -> None:
        from keymanager.gui.dialogs.ceremony_record import ActingParticipantDialog

        running = self.running
        if running is None:
            self.host.show_status(f"Acting participant: {NO_CEREMONY}")
            return
        dialog = ActingParticipantDialog(
            running.participants, running.actor, self.host.dialog_parent()
        )

        def chosen() -> None:
            self.set_actor(dialog.chosen())

        self.host.open_dialog(dialog, chosen)

    def set_actor(self, name: str) -> None:
        """``name`` acts from the next job on (a participant of the running ceremony)."""
        running = self.running
        if running is None or name not in [p.name for p in running.participants]:
            raise ValueError(f"{name!r} is not a participant of the running ceremony")
        running.actor = name
        self._update()

    def close(self) -> None:
        from keymanager.gui.dialogs.ceremony_record import CloseCeremonyDialog

        running = self.running
        if running is None:
            self.host.show_status(f"Close ceremony: {NO_CEREMONY}")
            return
        source = self._current_source()
        if source is not None:
            refusal = card_refusal(running.rehearsal, isinstance(source, SimulatorSource))
            if refusal is not None:
                self.host.show_error(CeremonyCardRefused(refusal), "Closing the ceremony")
                return
        officers = [p.name for p in running.participants if p.role == "security officer"]
        dialog = CloseCeremonyDialog(
            running.record,
            self.host.card_name(),
            signing_keys(self.host.current_outline()),
            running.participants,
            officers[0] if officers else running.actor,
            self.host.dialog_parent(),
        )

        def sign() -> None:
            reference, signer, record = dialog.key_reference(), dialog.signer(), running.record

            def run(context: JobContext) -> object:
                from keymanager.workflows.ceremony_record import verify_record
                from keymanager.workflows.ceremony_session import close_with_card_key

                signature = close_with_card_key(
                    record, context.hsm, context.interaction, reference, signer
                )
                return signature, verify_record(record).text()

            def closed(result: object) -> None:
                assert isinstance(result, tuple)
                signature, verdict = result
                self.running = None
                self._update()
                self.host.show_result(
                    "Ceremony closed",
                    [
                        f"{record} is closed: {signature.algorithm} signature by key "
                        f"{reference} on {signature.key.get('serial', 'the card')}, signed by "
                        f"{signer}.",
                        f"Check: {verdict}.",
                        "Ceremony → Print report… prints it for the binder.",
                    ],
                )

            self.host.submit("Closing the ceremony", run, on_result=closed)

        self.host.open_dialog(dialog, sign)

    def _record_folder(self) -> str:
        record = self.running.record if self.running is not None else self.last_record
        return str(record.parent) if record is not None else settings.last_folder(FOLDER_SETTING)

    def verify(self) -> None:
        """Pick a record file; show what ``verify_record`` found (no card needed)."""
        self.host.open_file_dialog(
            "Verify a ceremony record",
            self.show_verification,
            save=False,
            name_filter="Ceremony records (*.jsonl);;All files (*)",
            default_name=str(self.last_record or ""),
            setting=FOLDER_SETTING,
        )

    def show_verification(self, path: Path) -> object:
        from keymanager.gui.dialogs.ceremony_record import RecordVerificationDialog
        from keymanager.workflows.ceremony_record import RecordError, verify_record
        from keymanager.workflows.ceremony_report import report_text

        try:
            verification = verify_record(path)
            report = report_text(path)
        except (RecordError, OSError, ValueError) as error:
            return self.host.show_error(error, "Verifying the ceremony record")
        dialog = RecordVerificationDialog(path, verification, report, self.host.dialog_parent())
        return self.host.open_dialog(dialog, lambda: None)

    def report(self) -> None:
        """The report PDF of the running (or last) record, or of a record picked."""
        record = self.running.record if self.running is not None else self.last_record
        if record is None:
            self.host.open_file_dialog(
                "Ceremony record to print",
                self._ask_report_pdf,
                save=False,
                name_filter="Ceremony records (*.jsonl);;All files (*)",
                setting=FOLDER_SETTING,
            )
        else:
            self._ask_report_pdf(record)

    def _ask_report_pdf(self, record: Path) -> None:
        self.host.open_file_dialog(
            f"Save the report of {record.name} as PDF",
            lambda out: self.write_report(record, out),
            save=True,
            name_filter="PDF files (*.pdf)",
            default_name=str(record.with_suffix(".pdf")),
            default_suffix="pdf",
            setting=FOLDER_SETTING,
        )

    def write_report(self, record: Path, output: Path) -> object:
        from keymanager.workflows.ceremony_record import RecordError
        from keymanager.workflows.ceremony_report import write_report_pdf

        try:
            pages = write_report_pdf(record, output, overwrite=True)  # the dialog asked
        except (RecordError, OSError, ValueError) as error:
            return self.host.show_error(error, "Printing the ceremony report")
        return self.host.show_result(
            "Ceremony report written",
            [f"{output} ({pages} page(s)) — the report of {record.name}, for the binder."],
        )

    def rotate(self) -> None:
        """Custodian rotation of a share file (no card), recorded while a ceremony runs."""
        from keymanager.gui.areas.share_rotation import rotate_share

        session = self.running.session() if self.running is not None else None
        rotate_share(self.host, self.card_free, session)

    # --- the menu ---------------------------------------------------------------------------

    def menu_entries(self) -> list[Extra]:
        from keymanager.gui.actions import MENU_CEREMONY
        from keymanager.gui.menus import Extra

        return [
            Extra("ceremony-start", "Start ceremony…", MENU_CEREMONY, self.start, "", "run",
                  "Open a ceremony record: every card-changing step goes into it"),
            Extra("ceremony-actor", "Acting participant…", MENU_CEREMONY, self.choose_actor,
                  "", "run", "Who operates the tool now (named in every step)"),
            Extra("ceremony-close", "Close ceremony…", MENU_CEREMONY, self.close, "", "run",
                  "Sign the record's head with a key on the current card"),
            Extra("ceremony-rotate", "Rotate custodian share…", MENU_CEREMONY, self.rotate,
                  "", "shares", "Protect a share file anew: a new password or n-of-m split"),
            Extra("ceremony-verify", "Verify record…", MENU_CEREMONY, self.verify, "",
                  "record", "Check a record's chain and signature (no card needed)"),
            Extra("ceremony-report", "Print report…", MENU_CEREMONY, self.report, "",
                  "record", "The record as a PDF for the binder"),
        ]  # fmt: skip


def _start_record(
    path: Path,
    title: str,
    people: list[Participant],
    rehearsal: bool,
    devices: list[dict[str, object]],
) -> None:
    from keymanager.workflows.ceremony_record import start_record

    start_record(path, title=title, participants=people, devices=devices, rehearsal=rehearsal)
