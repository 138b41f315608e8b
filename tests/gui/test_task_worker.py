"""Issue 17: one GUI task protocol. TaskWorker runs functions off the GUI thread: `start` one at a
time, `submit` as a queue (submission order, one at a time, a failure keeps the rest), progress
as typed `TaskProgress` messages."""

from __future__ import annotations

import threading
import time

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.gui.worker import TaskProgress, TaskWorker


def test_task_progress_fraction() -> None:
    assert TaskProgress(1, 4, "a").fraction == 0.25
    assert TaskProgress(3, 0).fraction is None  # total not known yet
    assert TaskProgress(9, 4).fraction == 1.0
    assert TaskProgress().text == ""


def _recorder(worker: TaskWorker) -> dict[str, list]:
    seen: dict[str, list] = {"ok": [], "user": [], "crash": [], "busy": [], "progress": []}
    worker.finished_ok.connect(seen["ok"].append)
    worker.user_error.connect(seen["user"].append)
    worker.crashed.connect(seen["crash"].append)
    worker.busy_changed.connect(seen["busy"].append)
    worker.progress.connect(seen["progress"].append)
    return seen


def test_start_runs_off_the_gui_thread_and_refuses_a_second(qtbot) -> None:
    w = TaskWorker()
    seen = _recorder(w)
    gui = threading.get_ident()
    gate = threading.Event()

    def fn(progress, should_stop):
        progress(TaskProgress(1, 2, "half"))
        gate.wait(10)
        return threading.get_ident()

    w.start(fn)
    assert w.busy
    with pytest.raises(RuntimeError, match="already running"):
        w.start(fn)
    gate.set()
    qtbot.waitUntil(lambda: not w.busy, timeout=10_000)
    assert seen["ok"] and seen["ok"][0] != gui
    assert seen["progress"] == [TaskProgress(1, 2, "half")]
    assert seen["busy"] == [True, False]


def test_submit_runs_in_order_one_at_a_time_and_a_failure_keeps_the_rest(qtbot) -> None:
    w = TaskWorker()
    seen = _recorder(w)
    running = []
    overlap = []

    def job(i: int, fail: str = ""):
        def fn(progress, should_stop):
            if running:
                overlap.append(i)
            running.append(i)
            time.sleep(0.02)
            running.remove(i)
            if fail == "user":
                raise UserError(f"bad {i}")
            if fail == "bug":
                raise ValueError(f"oops {i}")
            return i

        return fn

    for i in range(3):
        w.submit(job(i))
    w.submit(job(3, "user"))
    w.submit(job(4, "bug"))
    w.submit(job(5))
    assert w.wait(10_000)  # one thread drains the whole queue
    qtbot.waitUntil(lambda: not w.busy, timeout=10_000)
    assert seen["ok"] == [0, 1, 2, 5]
    assert seen["user"] == ["bad 3"]
    assert seen["crash"] == ["ValueError: oops 4"]
    assert overlap == []
    assert seen["busy"] == [True, False]  # busy once, for the whole queue
    # a later submit starts again
    w.submit(job(6))
    qtbot.waitUntil(lambda: seen["ok"][-1:] == [6] and not w.busy, timeout=10_000)
    assert seen["busy"] == [True, False, True, False]


def test_cancel_reaches_the_running_function_only(qtbot) -> None:
    w = TaskWorker()
    seen = _recorder(w)
    started = threading.Event()

    def slow(progress, should_stop):
        started.set()
        end = time.monotonic() + 10
        while not should_stop() and time.monotonic() < end:
            time.sleep(0.01)
        return "stopped" if should_stop() else "timed out"

    w.start(slow)
    assert started.wait(10)
    w.cancel()
    qtbot.waitUntil(lambda: not w.busy, timeout=10_000)
    assert seen["ok"] == ["stopped"]
    w.start(lambda progress, should_stop: should_stop())  # a new task is not cancelled
    qtbot.waitUntil(lambda: len(seen["ok"]) == 2 and not w.busy, timeout=10_000)
    assert seen["ok"][1] is False


DESTROY_WHILE_RUNNING = """
import time
import shiboken6
from PySide6.QtWidgets import QApplication, QWidget
from pepr_desktop.gui.worker import TaskWorker

app = QApplication([])
parent = QWidget()
worker = TaskWorker(parent)
done = []
worker.submit(lambda progress, should_stop: time.sleep(0.3) or done.append(1))
time.sleep(0.05)
shiboken6.delete(parent)  # as when a panel is closed mid-prediction
end = time.monotonic() + 10
while not done and time.monotonic() < end:  # the thread outlives its owner and finishes
    app.processEvents()
    time.sleep(0.01)
print("done", done)
"""


def test_destroying_the_parent_while_a_function_runs_neither_aborts_nor_stops_it() -> None:
    """Threads have no Qt parent (worker._LIVE keeps them): no 'QThread destroyed while
    running' abort, no memory freed under the thread, and the function completes."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", DESTROY_WHILE_RUNNING],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "done [1]" in out.stdout


EXIT_WHILE_RUNNING = """
import time
from PySide6.QtWidgets import QApplication
from pepr_desktop.gui.worker import TaskWorker

app = QApplication([])
worker = TaskWorker()
done = []
worker.submit(lambda progress, should_stop: done.append(1) or time.sleep(0.5))
while not done:
    time.sleep(0.01)
print("exiting")  # the thread still runs: interpreter exit must wait for it, not abort
"""


def test_exiting_while_a_thread_winds_down_does_not_abort() -> None:
    """A thread whose work has (almost) returned when the app exits is waited for at exit
    (CI once caught 'QThread: Destroyed while thread is still running' in the test above)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", EXIT_WHILE_RUNNING],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Destroyed while thread" not in out.stderr


def test_training_worker_is_busy_until_its_last_signal_arrived(qtbot, isolated, monkeypatch):
    """`busy` turns False on the GUI thread, after what the worker sent before it ended (the Ray
    queue's last sweep line was read as missing when `busy` flipped in the worker thread)."""
    from pepr_desktop.core.training.config import TrainConfig
    from pepr_desktop.gui.worker import TrainingWorker

    def run_one(self, item, store, control, emit) -> None:
        time.sleep(0.05)
        self.sweep_progress.emit(f"last line of {item.model}")

    monkeypatch.setattr(TrainingWorker, "_run_one", run_one)
    w = TrainingWorker(lambda: isolated / "pepr.sqlite")
    lines: list[str] = []
    w.sweep_progress.connect(lines.append)
    for round_ in range(3):
        w.enqueue([TrainConfig(dataset="sample", model=f"m{round_}")])
        time.sleep(0.5)  # the worker ends meanwhile; its signals wait in the GUI thread's queue
        assert w.busy and lines[-1:] != [f"last line of m{round_}"]
        qtbot.waitUntil(lambda: not w.busy, timeout=30_000)
        assert lines[-1] == f"last line of m{round_}"
    w.enqueue([TrainConfig(dataset="sample", model="m9")])
    assert w.wait(30_000) and not w.busy  # a caller that waited sees it idle at once
