"""Several trials at once: N processes on one device, their events merged and labelled shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TINY_MODEL, write_npz

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.sweeps import concurrent
from pepr_desktop.core.sweeps.jobs import JobPlaced
from pepr_desktop.core.training.config import Control, TrainConfig


def test_concurrency_follows_memory_cores_and_jobs() -> None:
    choose = concurrent.choose_concurrency
    per = concurrent.PROCESS_OVERHEAD_MB["cuda"]
    # 10 GiB free, 400 MiB per trial + the process overhead: memory allows 8 of 12 jobs
    n = choose(12, "cuda", mem_per_trial_mb=400, free_mb=10_240, cpu_cores=16)
    assert n == int(10_240 * concurrent.MEMORY_HEADROOM // (400 + per)) == 8
    assert choose(12, "cuda", mem_per_trial_mb=400, free_mb=10_240, cpu_cores=3) == 3
    assert choose(2, "cuda", mem_per_trial_mb=400, free_mb=10_240, cpu_cores=16) == 2
    assert choose(5, "cuda", mem_per_trial_mb=None, free_mb=None, cpu_cores=16) == 1
    assert choose(5, "cpu", mem_per_trial_mb=None, free_mb=None, cpu_cores=4) == 4
    assert choose(5, "cpu", mem_per_trial_mb=50, free_mb=10_240, cpu_cores=8, requested=2) == 2
    assert choose(5, "cuda", mem_per_trial_mb=90_000, free_mb=10_240, cpu_cores=8) == 1
    with pytest.raises(UserError):
        choose(5, "cpu", mem_per_trial_mb=None, cpu_cores=4, requested=0)


def test_two_trials_at_once_stream_every_event_labelled_shared(tmp_path: Path) -> None:
    from pepr_desktop.core.data.sources import read_npz

    arrays = read_npz(write_npz(tmp_path / "d.npz", (24, 8, 8), 16))
    base = TrainConfig(dataset="d", model=TINY_MODEL, epochs=1, batch_size=8, device="cpu")
    jobs = [(0, base), (1, TrainConfig(**{**base.to_dict(), "seed": 1}))]
    items = list(concurrent.run_jobs(jobs, arrays, None, Control(), n=2))
    by_job: dict[int, list] = {0: [], 1: []}
    for index, item in items:
        by_job[index].append(item)
    pids = set()
    for evs in by_job.values():
        assert isinstance(evs[0], JobPlaced)
        pids.add(evs[0].pid)
        epochs = [e for e in evs if isinstance(e, EpochEnded)]
        assert len(epochs) == 1 and epochs[0].extra["energy_shared_by"] == 2
        assert isinstance(evs[-1], RunFinished) and evs[-1].status == "finished", evs[-1]
    assert len(pids) == 2  # two processes, not one after another in this one


def test_label_is_recorded_in_the_config() -> None:
    cfg = concurrent.label_shared(TrainConfig(dataset="d", model=TINY_MODEL), 3)
    assert cfg.extra[concurrent.CONCURRENCY_KEY] == {"trials": 3, "energy": "shared"}


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_sweep_refuses_a_bad_concurrency(store, bad) -> None:
    from pepr_desktop.core.sweeps.driver import validate
    from pepr_desktop.core.sweeps.jobs import SweepSpec

    cfg = TrainConfig(dataset="d", model=TINY_MODEL, device="cpu")
    with pytest.raises(UserError, match="concurrent"):
        validate(SweepSpec(dataset="d", jobs=[cfg.to_dict()], concurrent=bad), store)


def test_a_pool_stops_one_trial_alone_and_reuses_its_workers(tmp_path: Path) -> None:
    import time
    from collections import defaultdict
    from dataclasses import replace

    from pepr_desktop.core.data.sources import read_npz

    arrays = read_npz(write_npz(tmp_path / "d.npz", (24, 8, 8), 16))
    short = TrainConfig(dataset="d", model=TINY_MODEL, epochs=1, batch_size=8, device="cpu")
    pool = concurrent.TrialPool(2, arrays, None)
    by_job: dict[int, list] = defaultdict(list)
    try:
        pool.start(0, replace(short, epochs=200))  # stopped after its first epoch
        pool.start(1, short)
        assert pool.free == 0
        deadline = time.monotonic() + 180
        while pool.running and time.monotonic() < deadline:
            for index, item in pool.poll():
                by_job[index].append(item)
                if index == 0 and isinstance(item, EpochEnded):
                    pool.stop(0)
            if 1 not in pool.running and 2 not in by_job and pool.free:
                pool.start(2, short)  # the next trial, on the worker that is free
                by_job[2] = []
    finally:
        pool.close()
    assert not pool.running and not pool.slots
    ends = {i: evs[-1] for i, evs in by_job.items()}
    assert ends[0].status == "stopped" and ends[1].status == ends[2].status == "finished"
    assert len([e for e in by_job[0] if isinstance(e, EpochEnded)]) < 200
    pids = {i: evs[0].pid for i, evs in by_job.items()}
    # one process per slot, kept for the next trial: the third ran in one of the two
    assert pids[0] != pids[1] and pids[2] in (pids[0], pids[1])
