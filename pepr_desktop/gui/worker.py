"""The one module that moves core work off the GUI thread (napari/Orange style).

A core generator or function runs in a QThread; what it yields crosses back as queued Qt signals,
so views only ever touch widgets on the GUI thread. Commands go the other way through thread-safe
objects: `core.training.config.Control` for pause/resume/stop of a training run, a flag for
other tasks.

Each worker thread opens its own `RemoteStore` (a connection of its own in the store process; no
SQLite connection lives in the GUI process: core/store/remote.py says why).
Batch events are coalesced to at most one every `BATCH_EMIT_S` so a fast model cannot flood the GUI
thread's event queue; every other event (epochs, meter samples, the end of a run) is forwarded.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import BatchEnded, RunFinished
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

BATCH_EMIT_S = 0.05
MeterFactoryGetter = Callable[[], Any]


@dataclass(frozen=True)
class ResumeRequest:
    """A queued continuation of a stored interrupted/stopped run (`pepr resume` in the GUI).

    `cfg` is the run's stored configuration, for display; the runner reads it again itself."""

    run_id: int
    cfg: TrainConfig

    @property
    def model(self) -> str:
        return self.cfg.model

    @property
    def dataset(self) -> str:
        return self.cfg.dataset

    @property
    def epochs(self) -> int:
        return self.cfg.epochs

    @property
    def device(self) -> str:
        return self.cfg.device


@dataclass(frozen=True)
class SweepRequest:
    """The models of one "Train selected" as one sweep on Ray (`core.sweep` + `core.ray_backend`).

    The jobs run as Ray tasks; their events stream back to this worker thread, the only writer of
    the store, and leave it as the same `event` signals a local run sends. `meter_settings`
    (`MeterSettings` or None) and `address` (None: a local Ray) are read on the GUI thread."""

    configs: tuple[TrainConfig, ...]
    address: str | None = None
    meter_settings: Any = None
    num_cpus: float = 1.0

    @property
    def model(self) -> str:
        return f"Ray sweep of {len(self.configs)} ({', '.join(c.model for c in self.configs)})"

    @property
    def dataset(self) -> str:
        return self.configs[0].dataset

    @property
    def epochs(self) -> int:
        return max(c.epochs for c in self.configs)

    @property
    def device(self) -> str:
        return f"Ray at {self.address}" if self.address else "local Ray"


QueueItem = TrainConfig | ResumeRequest | SweepRequest


class _Job(QObject):
    """Runs `body(emit)` once in its thread; reports errors as signals, never as tracebacks."""

    emitted = Signal(object)
    user_error = Signal(str)
    crashed = Signal(str)
    result = Signal(object)
    done = Signal()

    def __init__(self, body: Callable[[Callable[[Any], None]], Any]) -> None:
        super().__init__()
        self._body = body

    @Slot()
    def run(self) -> None:
        try:
            self.result.emit(self._body(self.emitted.emit))
        except UserError as exc:
            self.user_error.emit(str(exc))
        except Exception as exc:  # a bug: log it fully, show one line
            log.exception("background task failed")
            self.crashed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.done.emit()


# Every worker thread and its job, kept here until the thread has finished. Threads have no Qt
# parent: a view, panel or window destroyed while its work runs (a details dialog closed
# mid-prediction, a window closed at the end of a test) must never destroy a running QThread or
# the job executing in it (Qt aborts, or frees memory the thread still uses).
_LIVE: list[tuple[_Job, QThread]] = []


def _start(job: _Job, owner: QObject) -> QThread:
    """Start `job` in a new thread (kept alive in `_LIVE` until it has finished). `owner` is the
    object on whose behalf it runs; it does not own the thread."""
    _LIVE[:] = [(j, t) for j, t in _LIVE if not _finished(t)]  # on the GUI thread: safe to drop
    thread = QThread()
    job.moveToThread(thread)
    thread.started.connect(job.run)
    # Direct: quit() is thread-safe, and a queued call would wait for a GUI thread that may be
    # blocked in wait() at shutdown.
    job.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    _LIVE.append((job, thread))
    thread.start()
    return thread


@atexit.register
def _wait_for_live_threads(timeout_s: float = 10.0) -> None:
    """At interpreter exit, let threads that are still winding down (their function returned,
    the event loop not yet quit) finish: destroying a running QThread aborts the process."""
    deadline = time.monotonic() + timeout_s
    for _job, thread in list(_LIVE):
        _wait(thread, max(0, int((deadline - time.monotonic()) * 1000)))


def _finished(thread: QThread) -> bool:
    try:
        return thread.isFinished()
    except RuntimeError:  # already deleted (deleteLater after `finished`): it had finished
        return True


def _wait(thread: QThread | None, timeout_ms: int) -> bool:
    """Wait for `thread` by polling with time.sleep, which releases the GIL: a blocking
    QThread.wait() on the GUI thread can starve a worker that needs the GIL to finish."""
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while thread is not None and not thread.isFinished():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    except RuntimeError:  # the QThread was already deleted: it had finished
        pass
    return True


class TrainingWorker(QObject):
    """Trains a queue of configurations one after another on a worker thread.

    Signals carry core events (`RunStarted`, `BatchEnded`, `EpochEnded`, `MeterSample`,
    `RunFinished`) unchanged. `stop()` stops the current run within one batch and drops the rest
    of the queue; the stopped run keeps its finished epochs in the store.
    """

    event = Signal(object)
    queue_changed = Signal(list)  # list[TrainConfig | ResumeRequest] still waiting
    user_error = Signal(str)  # e.g. an unknown model: no run was created
    crashed = Signal(str)
    busy_changed = Signal(bool)
    sweep_progress = Signal(str)  # a sweep's progress line, when its counts change

    def __init__(
        self,
        db_path: Callable[[], Path],
        meter_factory: MeterFactoryGetter | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._db_path = db_path
        self._meter_factory = meter_factory or (lambda: None)
        self._lock = threading.Lock()
        self._queue: deque[QueueItem] = deque()
        self._control: Control | None = None
        self._thread: QThread | None = None
        self._busy = False  # a worker thread owns the queue (set False by that thread)
        self._shown_busy = False  # what `busy` says: False once the GUI thread got every signal
        self._factory: Any = None
        self._path: Path | None = None

    # commands (GUI thread) ---------------------------------------------------------------------
    def enqueue(self, configs: list[QueueItem]) -> None:
        # Read settings here, on the GUI thread; the worker only uses the captured values.
        factory, db_path = self._meter_factory(), self._db_path()
        with self._lock:
            self._factory, self._path = factory, db_path
            self._queue.extend(configs)
            start = not self._busy
            if start:
                self._busy = True
        self.queue_changed.emit(self.pending())
        if start:
            self._shown_busy = True
            self.busy_changed.emit(True)
            job = _Job(self._loop)
            job.emitted.connect(self.event)
            job.user_error.connect(self.user_error)
            job.crashed.connect(self.crashed)
            job.done.connect(self._on_done)
            self._job = job
            self._thread = _start(job, self)

    def pending(self) -> list[QueueItem]:
        with self._lock:
            return list(self._queue)

    def move(self, index: int, delta: int) -> bool:
        """Move the waiting item at `index` up (delta < 0) or down; False when it cannot."""
        with self._lock:
            j = index + delta
            if not (0 <= index < len(self._queue) and 0 <= j < len(self._queue)):
                return False
            item = self._queue[index]
            del self._queue[index]
            self._queue.insert(j, item)
        self.queue_changed.emit(self.pending())
        return True

    def remove(self, index: int) -> bool:
        """Drop the waiting item at `index` (the running one is stopped with `stop`)."""
        with self._lock:
            if not 0 <= index < len(self._queue):
                return False
            del self._queue[index]
        self.queue_changed.emit(self.pending())
        return True

    @property
    def busy(self) -> bool:
        """True from an enqueue until `busy_changed(False)`: the signals the worker sent before it
        ended (a sweep's last progress line, say) have all arrived by the time this is False."""
        return self._shown_busy

    @property
    def paused(self) -> bool:
        c = self._control
        return bool(c and c.paused)

    def pause(self) -> None:
        if self._control:
            self._control.pause()

    def resume(self) -> None:
        if self._control:
            self._control.resume()

    def stop(self, reason: str = "user") -> None:
        """Stop the current run (within one batch) and drop the queue."""
        with self._lock:
            self._queue.clear()
            control = self._control
        if control:
            control.stop(reason)
        self.queue_changed.emit([])

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the worker thread ends (used when closing the window); then `busy` is
        False at once (the caller waited, it does not wait for the signals still queued)."""
        ended = _wait(self._thread, timeout_ms)
        with self._lock:
            if ended and not self._busy:
                self._shown_busy = False
        return ended

    @Slot()
    def _on_done(self) -> None:
        with self._lock:
            busy = self._busy  # True when an enqueue already started the next thread
        if not busy:
            self._shown_busy = False
            self.busy_changed.emit(False)
            self.queue_changed.emit(self.pending())

    # worker thread -------------------------------------------------------------------------------
    def _loop(self, emit: Callable[[Any], None]) -> None:
        from pepr_desktop.core.store.remote import RemoteStore

        released = False
        store = None
        try:
            store = RemoteStore(self._path)
            while True:
                with self._lock:
                    if not self._queue:
                        self._busy = False  # an enqueue from now on starts a new thread
                        self._control = None
                        released = True
                        return
                    cfg = self._queue.popleft()
                    control = self._control = Control()
                self.queue_changed.emit(self.pending())
                try:
                    self._run_one(cfg, store, control, emit)
                except UserError as exc:  # before the run existed: nothing stored
                    self.user_error.emit(f"{cfg.model}: {exc}")
        finally:
            if not released:  # an error ended the loop: drop the queue, free the worker
                with self._lock:
                    self._queue.clear()
                    self._busy = False
                    self._control = None
            if store is not None:
                store.close()

    def _run_one(self, item: QueueItem, store: Any, control: Control, emit: Callable) -> None:
        from pepr_desktop.core.training.runner import execute

        if isinstance(item, SweepRequest):
            self._run_sweep(item, store, control, emit)
            return
        factory = self._factory
        last_batch = 0.0
        pending_batch: BatchEnded | None = None
        if isinstance(item, ResumeRequest):
            events = execute(
                item.cfg, store, meter_factory=factory, control=control, resume_run_id=item.run_id
            )
        else:
            events = execute(item, store, meter_factory=factory, control=control)
        for ev in events:
            if isinstance(ev, BatchEnded):
                now = time.monotonic()
                if now - last_batch < BATCH_EMIT_S and ev.batch < ev.batches:
                    pending_batch = ev
                    continue
                last_batch, pending_batch = now, None
            elif pending_batch is not None and isinstance(ev, RunFinished):
                emit(pending_batch)
                pending_batch = None
            emit(ev)

    def _run_sweep(self, item: SweepRequest, store: Any, control: Control, emit: Callable) -> None:
        """One sweep on Ray; `control.stop()` cancels its tasks (the driver marks them stopped)."""
        from pepr_desktop.core.sweeps import driver as sweep

        spec = sweep.spec_from_configs(  # the jobs built as for `pepr sweep` (core/sweeps/jobs.py)
            item.configs,
            backend="ray",
            meter_settings=item.meter_settings,
            address=item.address,
            num_cpus=item.num_cpus,
        )
        # validates first: a user mistake is one message, no sweep row left behind
        sweep_id = sweep.create_sweep(spec, store)
        self.sweep_progress.emit(
            f"sweep {sweep_id} submitted: {len(spec.jobs)} jobs on {item.device}"
        )
        last_batch: dict[int, float] = {}
        counts: tuple[int, ...] = ()
        for up in sweep.run_sweep(store, sweep_id, control=control):
            p = up.progress
            now_counts = (p.done, p.running, p.failed, p.other)
            if now_counts != counts:
                counts = now_counts
                self.sweep_progress.emit(p.line())
            ev = up.event
            if isinstance(ev, (sweep.JobPlaced, sweep.JobLost)):
                continue  # the driver's bookkeeping; the runs' own events follow
            if isinstance(ev, BatchEnded):  # coalesce per job, as for a local run
                now = time.monotonic()
                if now - last_batch.get(up.job, 0.0) < BATCH_EMIT_S and ev.batch < ev.batches:
                    continue
                last_batch[up.job] = now
            emit(ev)
        row = sweep.get_sweep(store, sweep_id)
        self.sweep_progress.emit(f"sweep {sweep_id} {row['status']}")


@dataclass(frozen=True)
class TaskProgress:
    """How far a task is: `done` of `total` steps (total 0: not known yet), and what it is doing.

    The one progress message a task sends through `TaskWorker`'s `progress(obj)`; views render
    it and ignore anything else."""

    done: int = 0
    total: int = 0
    text: str = ""

    @property
    def fraction(self) -> float | None:
        """done / total, in [0, 1]; None while the total is not known."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total else None


@dataclass(frozen=True)
class _Outcome:
    """One queued function's end, sent from the worker thread (never seen outside this module)."""

    result: Any = None
    user_error: str | None = None
    crashed: str | None = None


TaskFn = Callable[[Callable[[Any], None], Callable[[], bool]], Any]


class TaskWorker(QObject):
    """Runs functions off the GUI thread: `fn(progress, should_stop)` -> result.

    Used for the recommender, the recipe search, try-it predictions and other slow, cancellable
    queries. `progress(obj)` (a `TaskProgress`) may be called from the worker thread; it arrives
    on the GUI thread as the `progress` signal. Each function's result arrives as `finished_ok`,
    a `UserError` as `user_error` (its message), any other exception as `crashed` (one line, the
    traceback in the log).

    `start(fn)` runs one task and refuses a second while it runs; `submit(fn)` queues `fn` behind
    the ones before it: they run one at a time, in submission order, on one thread, and a failed
    one does not drop those after it. `busy` stays True until the queue is empty.
    """

    progress = Signal(object)
    finished_ok = Signal(object)
    user_error = Signal(str)
    crashed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._pending: deque[TaskFn] = deque()
        self._draining = False  # a worker thread is taking functions off `_pending`
        self._thread: QThread | None = None
        self._running = 0  # jobs started whose `done` has not arrived
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    def start(self, fn: TaskFn) -> None:
        if self._busy:
            raise RuntimeError("a task is already running")
        self.submit(fn)

    def submit(self, fn: TaskFn) -> None:
        """Run `fn` after the functions submitted before it (at once when there are none)."""
        with self._lock:
            self._pending.append(fn)
            if self._draining:  # the running thread takes it next
                return
            self._draining = True
        self._cancel.clear()  # a new thread: a cancel was for the functions before
        if not self._busy:
            self._busy = True
            self.busy_changed.emit(True)
        job = _Job(self._drain)
        job.emitted.connect(self._on_emitted)
        job.user_error.connect(self.user_error)
        job.crashed.connect(self.crashed)
        job.done.connect(self._on_done)
        self._running += 1
        self._thread = _start(job, self)

    def cancel(self) -> None:
        """Ask the running function, and those queued behind it, to stop: their `should_stop()`
        turns True (until the queue is empty; a function submitted after that runs as usual)."""
        self._cancel.set()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every submitted function has run (used when closing, and by tests)."""
        return _wait(self._thread, timeout_ms)

    # worker thread -------------------------------------------------------------------------------
    def _drain(self, emit: Callable[[Any], None]) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._draining = False  # a submit from now on starts a new thread
                    return
                fn = self._pending.popleft()
            try:
                outcome = _Outcome(result=fn(emit, self._cancel.is_set))
            except UserError as exc:
                outcome = _Outcome(user_error=str(exc))
            except Exception as exc:  # a bug: log it fully, show one line
                log.exception("background task failed")
                outcome = _Outcome(crashed=f"{type(exc).__name__}: {exc}")
            emit(outcome)

    # GUI thread ----------------------------------------------------------------------------------
    @Slot(object)
    def _on_emitted(self, msg: Any) -> None:
        if not isinstance(msg, _Outcome):
            self.progress.emit(msg)
        elif msg.user_error is not None:
            self.user_error.emit(msg.user_error)
        elif msg.crashed is not None:
            self.crashed.emit(msg.crashed)
        else:
            self.finished_ok.emit(msg.result)

    @Slot()
    def _on_done(self) -> None:
        # Each job sends `done` once, after its drain loop; when all have, the queue is empty
        # (a submit meanwhile would have started another job).
        self._running -= 1
        if self._running == 0:
            self._busy = False
            self.busy_changed.emit(False)
