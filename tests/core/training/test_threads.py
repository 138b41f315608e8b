"""The training threads follow the CPUs other processes leave free (core/training/threads.py):
down at once, up only after two readings agree, never above the cap, given back at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.training import threads as threads_mod
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.runner import execute
from pepr_desktop.core.training.threads import (
    THREADS_KEY,
    ThreadGovernor,
    first_look,
    free_cpus,
    governor_for,
    throttled_note,
)
from tests.conftest import TINY_MODEL


class FakeMachine:
    """A clock, the machine's busy CPU seconds and this process's: `run(seconds, others, own)`
    advances them as if other processes kept `others` CPUs busy and this one `own`."""

    def __init__(self) -> None:
        self.now = self.busy = self.own = 0.0
        self.calls: list[int] = []

    def run(self, seconds: float, others: float, own: float = 1.0) -> None:
        self.now += seconds
        self.busy += seconds * (others + own)
        self.own += seconds * own

    def governor(self, cap: int = 2, cpus: int = 2) -> ThreadGovernor:
        return ThreadGovernor(
            cap=cap,
            set_threads=self.calls.append,
            cpus=cpus,
            interval_s=2.0,
            clock=lambda: self.now,
            busy_s=lambda: self.busy,
            own_s=lambda: self.own,
        )


def test_free_cpus_counts_a_barely_used_cpu_as_free() -> None:
    assert free_cpus(0.0, 2) == 2
    assert free_cpus(0.2, 2) == 2  # a light background task
    assert free_cpus(1.0, 2) == 1  # one busy process takes one core
    assert free_cpus(2.5, 2) == 1  # never below one
    assert free_cpus(1.0, 8) == 7


def test_a_busy_process_drops_the_threads_at_the_first_reading_after_the_interval() -> None:
    m = FakeMachine()
    gov = m.governor()
    gov.start()
    m.run(1.0, others=1.0)
    assert gov.poll() is None and m.calls == []  # before the interval: only the clock is read
    m.run(1.5, others=1.0)
    assert gov.poll() == 1 and m.calls == [1] and gov.threads == 1


def test_own_threads_are_not_counted_as_others() -> None:
    m = FakeMachine()
    gov = m.governor()
    gov.start()
    m.run(3.0, others=0.0, own=2.0)  # this process alone keeps both CPUs busy
    assert gov.poll() is None and m.calls == []


def test_going_back_up_takes_two_agreeing_readings_and_a_burst_resets_them() -> None:
    m = FakeMachine()
    gov = m.governor()
    gov.start(threads=1)  # the first look saw a busy CPU
    assert m.calls == [1]
    m.run(2.0, others=0.0)
    assert gov.poll() is None  # one quiet reading
    m.run(2.0, others=1.0)
    assert gov.poll() is None  # busy again: the vote is reset
    m.run(2.0, others=0.0)
    assert gov.poll() is None
    m.run(2.0, others=0.0)
    assert gov.poll() == 2 and m.calls == [1, 2]
    assert gov.record() == {"cap": 2, "lowest": 1, "changes": 2}


def test_never_above_the_cap_and_close_gives_the_cap_back() -> None:
    m = FakeMachine()
    gov = m.governor(cap=3, cpus=8)
    gov.start()
    for _ in range(3):
        m.run(2.0, others=0.0)
        assert gov.poll() is None  # 8 CPUs free, but the user's cap is 3
    m.run(2.0, others=6.0)
    assert gov.poll() == 2
    gov.close()
    assert m.calls == [2, 3] and gov.threads == 3


def test_a_cap_of_one_does_nothing() -> None:
    m = FakeMachine()
    gov = m.governor(cap=1)
    gov.start()
    m.run(5.0, others=2.0)
    assert not gov.active and gov.poll() is None and m.calls == []


def test_first_look_reads_other_processes_over_a_short_while(monkeypatch) -> None:
    m = FakeMachine()
    gov = m.governor()
    monkeypatch.setattr(threads_mod.time, "sleep", lambda s: m.run(s, others=1.0, own=0.0))
    assert first_look(gov, 0.2) == 1


def test_governor_for_sets_and_gives_back_torch_threads(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads_mod, "first_look", lambda gov, seconds=0.2: 1)
    torch.set_num_threads(2)
    try:
        assert governor_for("cuda:0") is None  # accelerators: CPU threads are not the limit
        gov = governor_for("cpu")
        assert gov is not None and gov.cap == 2 and torch.get_num_threads() == 1
        gov.close()
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        assert governor_for("cpu") is None  # the user's (or the suite's) one thread is kept
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def pneu(pneumonia_npz: Path, store):
    datasets.import_dataset(pneumonia_npz, "pneu", store)
    return store


def test_a_run_polls_records_and_gives_the_threads_back(pneu, monkeypatch) -> None:
    m = FakeMachine()
    gov = m.governor()
    polls = []

    def started(device: str) -> ThreadGovernor:
        gov.start(threads=1)
        real_poll = gov.poll
        gov.poll = lambda: polls.append(1) or real_poll()  # type: ignore[method-assign]
        return gov

    monkeypatch.setattr(threads_mod, "governor_for", started)
    cfg = TrainConfig(dataset="pneu", model=TINY_MODEL, epochs=2, data_fraction=0.05)
    events = list(execute(cfg, pneu))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "finished"
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert polls and len(polls) >= sum(1 for _ in epochs)  # between the batches
    assert epochs[-1].extra[THREADS_KEY] == {"cap": 2, "lowest": 1, "changes": 1}
    assert m.calls == [1, 2]  # started at the first look's 1, given back 2 at the end
    stored = pneu.epochs(events[0].run_id)[-1]
    assert stored["extra"][THREADS_KEY]["lowest"] == 1


def test_a_throttled_run_is_named_and_an_unthrottled_one_is_not() -> None:
    full = {"extra": {THREADS_KEY: {"cap": 2, "lowest": 2, "changes": 0}}}
    low = {"extra": {THREADS_KEY: {"cap": 2, "lowest": 1, "changes": 1}}}
    assert throttled_note([]) is None and throttled_note([{"extra": None}]) is None
    assert throttled_note([full, full]) is None
    note = throttled_note([full, low])
    assert note is not None and "as few as 1 of 2 CPU threads" in note
