"""Card I/O off the GUI thread: one worker thread per reader, jobs run one at a time.

A *job* is a plain callable ``run(context) -> result`` (Qt-free; the card logic lives
in :mod:`keymanager.workflows`).  :class:`CardWorker` queues jobs, runs each on its own
Python thread holding the card exclusively (``transport.exclusive()``) for the span of
the job, and delivers the result or the error on the GUI thread through queued Qt
signals.  The session stays open between jobs (so a verified PIN stays verified) and is
dropped after a transport error, to be opened again by the next job.

Secure messaging: the worker opens each session in the mode it was given
(:meth:`CardWorker.set_secure_messaging`, from the setting Card ▸ Use secure
messaging); a change drops the session before the next job, which opens a new one in
the new mode (a job running meanwhile ends in the old one).  A job that selects the
applet on its own connection (the diagnosis) asks for a new session the same way
(:attr:`JobContext.renew_session`): the card ended the old session's channel and login.

Cancel: every job gets a :class:`threading.Event`; :meth:`CardWorker.cancel` sets the
running job's, and a job checks it between units of work
(:meth:`JobContext.check_cancelled`).  Progress goes through
:meth:`JobContext.progress`, throttled to the GUI.  :meth:`CardWorker.stop` cancels
everything and joins the thread; a result or error that was still on its way to the
GUI thread then no longer calls the job's callbacks (their window is closing), and
the worker's signals are not emitted any more.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from keymanager.card.errors import CardReset, TransportError
from keymanager.card.hsm import SmartCardHsm
from keymanager.card.secure_messaging import SecureMessagingMode
from keymanager.card.transport import LocalTransport, Transport
from keymanager.workflows.interaction import (
    Cancelled,
    Choice,
    Interaction,
    MessageLevel,
    SecretRequest,
    ShareInput,
    ShareRequest,
    T,
)

if TYPE_CHECKING:
    from keymanager.simulator import SmartCardHsmSimulator

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress signals of one job (the last one always goes)."""


# --- where the card is ----------------------------------------------------------------


class CardSource(ABC):
    """Something a worker can open a card session on: a PC/SC reader or the simulator."""

    @property
    @abstractmethod
    def key(self) -> str:
        """A stable identifier (``pcsc:<reader>``, ``simulator:<state file>``)."""

    @property
    @abstractmethod
    def label(self) -> str:
        """What the reader bar shows."""

    @abstractmethod
    def open(self) -> Transport:
        """Connect to the card.  Raises :class:`TransportError` subclasses."""


class SimulatorSource(CardSource):
    """The built-in simulated card (one simulator object, shared by every session)."""

    def __init__(self, simulator: SmartCardHsmSimulator, label: str = "Simulated card") -> None:
        self.simulator = simulator
        self._label = label

    @property
    def key(self) -> str:
        path = self.simulator.state_path
        return f"simulator:{path if path is not None else id(self.simulator)}"

    @property
    def label(self) -> str:
        return self._label

    @property
    def state_path(self) -> Path | None:
        return self.simulator.state_path

    def open(self) -> Transport:
        return LocalTransport(self.simulator, name=self._label)


class PcscSource(CardSource):
    """A PC/SC reader (pyscard is imported only when the reader is opened)."""

    def __init__(self, reader: str) -> None:
        self.reader = reader

    @property
    def key(self) -> str:
        return f"pcsc:{self.reader}"

    @property
    def label(self) -> str:
        return self.reader

    def open(self) -> Transport:
        from keymanager.card.pcsc import PcscTransport

        return PcscTransport(self.reader)


# --- jobs ---------------------------------------------------------------------------


class NoInteraction(Interaction):
    """Used when a worker has no user to ask: every question cancels the job."""

    def _refuse(self) -> Cancelled:
        return Cancelled("this job cannot ask questions")

    def ask_number(
        self, prompt: str, *, minimum: int, maximum: int, default: int | None = None
    ) -> int:
        raise self._refuse()

    def ask_choice(self, prompt: str, choices: Sequence[Choice[T]]) -> T:
        raise self._refuse()

    def ask_choices(self, prompt: str, choices: Sequence[Choice[T]]) -> list[T]:
        raise self._refuse()

    def ask_text(self, prompt: str, *, default: str = "") -> str:
        raise self._refuse()

    def ask_secret(self, request: SecretRequest) -> bytearray:
        raise self._refuse()

    def ask_share(self, request: ShareRequest) -> ShareInput:
        raise self._refuse()

    def confirm(self, message: str, *, destructive: bool = False) -> bool:
        raise self._refuse()

    def show_secret(self, title: str, text: str) -> None:
        raise self._refuse()

    def message(self, level: MessageLevel, text: str) -> None:
        logger.info("job message (%s): %s", level.value, text)


ProgressCallback = Callable[[str, int, int], None]
InteractionFactory = Callable[[threading.Event, ProgressCallback], Interaction]


@dataclass
class JobContext:
    """What a job runs with: the session, its cancel flag, progress, and the user."""

    hsm: SmartCardHsm
    cancel: threading.Event
    report: ProgressCallback
    interaction: Interaction
    renew_session: bool = False
    """Set by a job that left the session's card state behind (it selected the applet
    on a connection of its own): the worker opens a new session for the next job."""

    def progress(self, step: str, done: int, total: int) -> None:
        """Report progress (throttled before it reaches the GUI)."""
        self.report(step, done, total)

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the user pressed Cancel."""
        if self.cancel.is_set():
            raise Cancelled("cancelled by the user")


JobFunction = Callable[[JobContext], object]
JobScope = Callable[["CardSource", str, JobFunction], JobFunction]
"""Wraps a job as it is submitted (GUI thread): ``scope(source, title, run) -> run``."""
ResultCallback = Callable[[object], None]
ErrorCallback = Callable[[BaseException], None]


@dataclass
class Job:
    """One queued job (the GUI thread keeps the callbacks; the worker the rest)."""

    id: int
    title: str
    run: JobFunction
    cancel: threading.Event = field(default_factory=threading.Event)
    on_result: ResultCallback | None = None
    on_error: ErrorCallback | None = None


class CardWorker(QObject):
    """Runs jobs for one card source on one worker thread, strictly one after another.

    Create and use it on the GUI thread; the signals arrive on the GUI thread.
    """

    job_started = Signal(int, str)
    job_progress = Signal(int, str, int, int)
    job_finished = Signal(int, object)
    job_failed = Signal(int, object)
    busy_changed = Signal(bool)

    def __init__(
        self,
        source: CardSource,
        *,
        interaction_factory: InteractionFactory | None = None,
        secure_messaging: SecureMessagingMode | None = None,
        parent: QObject | None = None,
    ) -> None:
        """:param secure_messaging: the mode sessions are opened in (``None``: what
        ``KEYMANAGER_SECURE_MESSAGING`` says, see :meth:`SmartCardHsm.open`)."""
        super().__init__(parent)
        self.source = source
        self._secure_messaging = secure_messaging
        self._renew = False
        self._session_lock = threading.Lock()
        self._interaction_factory = interaction_factory
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._current: Job | None = None
        self._current_lock = threading.Lock()
        self._hsm: SmartCardHsm | None = None
        self._stopped = False
        self.current_title = ""
        self.job_scope: JobScope | None = None
        """Wraps every job as it is submitted (the ceremony record's recording)."""
        self._thread = threading.Thread(
            target=self._loop, name=f"card worker {source.label}", daemon=True
        )
        self._deliver_started.connect(self._on_started)
        self._deliver_finished.connect(self._on_finished)
        self._deliver_failed.connect(self._on_failed)
        self._thread.start()

    # internal signals: emitted on the worker thread, delivered (queued) here
    _deliver_started = Signal(int, str)
    _deliver_finished = Signal(int, object)
    _deliver_failed = Signal(int, object)

    # --- GUI-thread API ------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a job is queued or running."""
        return bool(self._jobs)

    @property
    def thread_ident(self) -> int | None:
        """The worker thread's identifier (tests check jobs run there)."""
        return self._thread.ident

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(
        self,
        title: str,
        run: JobFunction,
        *,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Job:
        """Queue a job; ``on_result`` / ``on_error`` are called on the GUI thread."""
        if self._stopped:
            raise RuntimeError("the card worker was stopped")
        if self.job_scope is not None:
            run = self.job_scope(self.source, title, run)
        job = Job(next(self._ids), title, run, on_result=on_result, on_error=on_error)
        was_busy = self.busy
        self._jobs[job.id] = job
        self._queue.put(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return job

    @property
    def secure_messaging(self) -> SecureMessagingMode | None:
        """The mode the next session is opened in (``None``: the environment's)."""
        return self._secure_messaging

    def set_secure_messaging(self, mode: SecureMessagingMode) -> bool:
        """Open sessions in ``mode`` from now on; ``False`` if that is the mode already.

        The open session is dropped before the next job starts (a running job ends in
        the old mode); the next job opens a new session, so a verified PIN is gone.
        """
        with self._session_lock:
            if mode is self._secure_messaging:
                return False
            self._secure_messaging = mode
            self._renew = True
        return True

    def cancel(self) -> None:
        """Ask the running job to stop."""
        with self._current_lock:
            if self._current is not None:
                self._current.cancel.set()

    def cancel_all(self) -> None:
        """Cancel the running job and every queued one."""
        for job in list(self._jobs.values()):
            job.cancel.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel everything, end the thread and join it; ``False`` if it did not end."""
        if not self._stopped:
            self._stopped = True
            self.cancel_all()
            self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- worker thread -------------------------------------------------------------

    def _session(self) -> SmartCardHsm:
        with self._session_lock:
            renew, self._renew = self._renew, False
            mode = self._secure_messaging
        if renew:
            self._drop_session()
        if self._hsm is None:
            transport = self.source.open()
            try:
                self._hsm = SmartCardHsm.open(transport, secure_messaging=mode)
            except BaseException:
                transport.close()
                raise
        return self._hsm

    def _drop_session(self) -> None:
        if self._hsm is not None:
            try:
                self._hsm.transport.close()
            except Exception:  # closing a dead connection is best effort
                logger.debug("closing the card connection failed", exc_info=True)
            self._hsm = None

    def _reporter(self, job: Job) -> ProgressCallback:
        last = [0.0]

        def report(step: str, done: int, total: int) -> None:
            now = time.monotonic()
            if self._stopped:  # the window is closing: nobody to show it to
                return
            if done >= total or now - last[0] >= PROGRESS_INTERVAL:
                last[0] = now
                self.job_progress.emit(job.id, step, done, total)

        return report

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                break
            with self._current_lock:
                self._current = job
            try:
                self._run(job)
            finally:
                with self._current_lock:
                    self._current = None
        self._drop_session()

    def _run(self, job: Job) -> None:
        if job.cancel.is_set():
            self._deliver_failed.emit(job.id, Cancelled("cancelled before it started"))
            return
        self._deliver_started.emit(job.id, job.title)
        report = self._reporter(job)
        try:
            hsm = self._session()
            interaction = (
                self._interaction_factory(job.cancel, report)
                if self._interaction_factory is not None
                else NoInteraction()
            )
            context = JobContext(hsm, job.cancel, report, interaction)
            try:
                with hsm.transport.exclusive():
                    result = job.run(context)
            finally:
                if context.renew_session:
                    self._drop_session()
        except Exception as error:
            if isinstance(error, TransportError | CardReset):
                self._drop_session()
            self._deliver_failed.emit(job.id, error)
        else:
            self._deliver_finished.emit(job.id, result)

    # --- back on the GUI thread ----------------------------------------------------

    @Slot(int, str)
    def _on_started(self, job_id: int, title: str) -> None:
        if self._stopped:
            return
        self.current_title = title
        self.job_started.emit(job_id, title)

    def _settle(self) -> None:
        if not self._jobs:
            self.current_title = ""
            self.busy_changed.emit(False)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        job = self._jobs.pop(job_id, None)
        if self._stopped:
            return
        try:
            if job is not None and job.on_result is not None:
                job.on_result(result)
        finally:
            self.job_finished.emit(job_id, result)
            self._settle()

    @Slot(int, object)
    def _on_failed(self, job_id: int, error: object) -> None:
        job = self._jobs.pop(job_id, None)
        if self._stopped:
            return
        try:
            if job is not None and job.on_error is not None and isinstance(error, BaseException):
                job.on_error(error)
        finally:
            self.job_failed.emit(job_id, error)
            self._settle()
