"""The card worker: jobs off the GUI thread, one at a time, errors, cancel, shutdown."""

from __future__ import annotations

import threading

import pytest

from keymanager.card.errors import CardRemoved
from keymanager.gui.worker import CardWorker, JobContext, SimulatorSource
from keymanager.simulator import SmartCardHsmSimulator
from keymanager.workflows.interaction import Cancelled
from keymanager.workflows.outline import Outline, read_outline


@pytest.fixture
def worker(qtbot, demo_card: SmartCardHsmSimulator):
    card_worker = CardWorker(SimulatorSource(demo_card))
    yield card_worker
    assert card_worker.stop()
    assert not card_worker.alive


def test_jobs_run_on_the_worker_thread_results_arrive_on_the_gui_thread(qtbot, worker) -> None:
    gui_thread = threading.get_ident()
    seen: dict[str, int] = {}
    results: list[object] = []

    def job(context: JobContext) -> Outline:
        seen["job"] = threading.get_ident()
        return read_outline(context.hsm)

    def on_result(result: object) -> None:
        seen["callback"] = threading.get_ident()
        results.append(result)

    with qtbot.waitSignal(worker.busy_changed, check_params_cb=lambda busy: not busy):
        worker.submit("read", job, on_result=on_result)
        assert worker.busy
    assert seen["job"] == worker.thread_ident != gui_thread
    assert seen["callback"] == gui_thread
    assert isinstance(results[0], Outline)
    assert not worker.busy


def test_jobs_run_one_at_a_time_in_order(qtbot, worker) -> None:
    active = 0
    overlap: list[bool] = []
    order: list[int] = []
    lock = threading.Lock()

    def make(number: int):
        def job(context: JobContext) -> int:
            nonlocal active
            with lock:
                active += 1
                overlap.append(active > 1)
            context.hsm.pin_status()
            with lock:
                active -= 1
            order.append(number)
            return number

        return job

    with qtbot.waitSignal(worker.busy_changed, check_params_cb=lambda busy: not busy):
        for number in range(6):
            worker.submit(f"job {number}", make(number))
    assert order == list(range(6))
    assert not any(overlap)


def test_card_removed_during_a_job_is_reported_and_the_worker_recovers(
    qtbot, worker, demo_card: SmartCardHsmSimulator
) -> None:
    errors: list[BaseException] = []
    with qtbot.waitSignal(worker.busy_changed, check_params_cb=lambda busy: not busy):
        worker.submit("warm up", lambda context: context.hsm.pin_status())
    demo_card.faults.remove_at(3)
    with qtbot.waitSignal(worker.job_failed):
        worker.submit("read", lambda context: read_outline(context.hsm), on_error=errors.append)
    assert isinstance(errors[0], CardRemoved)
    # the card is still out: the next job fails to open it, and says so
    with qtbot.waitSignal(worker.job_failed):
        worker.submit("read", lambda context: read_outline(context.hsm), on_error=errors.append)
    assert isinstance(errors[1], CardRemoved)
    demo_card.insert()
    results: list[object] = []
    with qtbot.waitSignal(worker.job_finished):
        worker.submit("read", lambda context: read_outline(context.hsm), on_result=results.append)
    assert isinstance(results[0], Outline)


def test_cancel_stops_the_running_job_and_skips_queued_ones(qtbot, worker) -> None:
    started = threading.Event()
    errors: list[BaseException] = []
    progress: list[tuple[str, int, int]] = []
    worker.job_progress.connect(lambda _id, step, done, total: progress.append((step, done, total)))

    def long_job(context: JobContext) -> None:
        started.set()
        for step in range(10_000):
            context.check_cancelled()
            context.progress("counting", step, 10_000)
            threading.Event().wait(0.001)

    worker.submit("long", long_job, on_error=errors.append)
    worker.submit("queued", lambda context: None, on_error=errors.append)
    assert started.wait(5)
    qtbot.waitUntil(lambda: len(progress) > 0)
    with qtbot.waitSignal(worker.busy_changed, check_params_cb=lambda busy: not busy):
        worker.cancel_all()
    assert [type(e) for e in errors] == [Cancelled, Cancelled]
    assert progress[0][0] == "counting"


def test_stop_joins_the_thread_even_with_a_job_waiting(qtbot, demo_card) -> None:
    card_worker = CardWorker(SimulatorSource(demo_card))
    release = threading.Event()

    def waits(context: JobContext) -> None:
        while not release.is_set():
            context.check_cancelled()
            release.wait(0.01)

    card_worker.submit("waits", waits)
    assert card_worker.stop(timeout=5)
    assert not card_worker.alive
    with pytest.raises(RuntimeError):
        card_worker.submit("late", lambda context: None)


def test_results_on_their_way_after_stop_call_no_callbacks(qtbot, demo_card) -> None:
    """A job that ends while its window closes delivers to nobody: the window is gone."""
    from PySide6.QtCore import QCoreApplication

    card_worker = CardWorker(SimulatorSource(demo_card))
    started = threading.Event()
    delivered: list[object] = []
    signalled: list[object] = []
    card_worker.job_finished.connect(lambda _id, result: signalled.append(result))
    card_worker.job_progress.connect(lambda *progress: signalled.append(progress))

    def finishes_when_cancelled(context: JobContext) -> str:
        started.set()
        while not context.cancelled():
            context.cancel.wait(0.01)
        context.progress("after the window closed", 1, 1)
        return "a result nobody waits for"

    card_worker.submit(
        "ends late",
        finishes_when_cancelled,
        on_result=delivered.append,
        on_error=delivered.append,
    )
    assert started.wait(10)
    assert card_worker.stop(timeout=5)
    QCoreApplication.sendPostedEvents()  # the queued delivery of the result
    QCoreApplication.processEvents()
    assert delivered == [] and signalled == []
    assert not card_worker.busy
