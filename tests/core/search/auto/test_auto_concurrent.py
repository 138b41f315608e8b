"""The budgeted search with several trials at once: a real tiny search on the CPU with
concurrency 2 (trial processes, the driver the only writer), and the choices around it (how many,
the guard's shared energy, the spec's checks) without training."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.auto import engine
from pepr_desktop.core.search.auto.events import TrialEnded, TrialStarted
from pepr_desktop.core.search.auto.guard import TOLERANCE, BudgetGuard
from pepr_desktop.core.search.auto.space import Arm
from pepr_desktop.core.search.auto.spec import AutoSpec
from pepr_desktop.core.sweeps.concurrent import CONCURRENCY_KEY
from tests.conftest import TINY_MODEL, write_npz

BUDGET_MIN = 0.6  # 36 s: worker start-up (torch, timm) is most of a trial on a loaded CPU


@pytest.fixture
def tiny(tmp_path: Path, store):
    from pepr_desktop.core.data import registry as datasets

    path = write_npz(tmp_path / "tiny.npz", (64, 28, 28), 28)
    return datasets.import_dataset(path, "tiny", store)


def _planner(*args: Any, **kwargs: Any):
    # the probe's figures for the tiny model on a CPU; probing itself is tested elsewhere
    arm = Arm(TINY_MODEL, 28, False, step_s=0.05, eval_s_per_image=0.001, memory_mb=60.0)
    return [arm], []


def test_two_trials_at_once_on_the_cpu(store, tiny) -> None:
    import timm  # noqa: F401  (imported before the clock starts, as the CLI's own test does)

    events: list[Any] = []
    spec = AutoSpec(
        dataset="tiny",
        time_min=BUDGET_MIN,
        models=[TINY_MODEL],
        device="cpu",
        trial_epochs=2,
        upscale=False,
        search_share=0.7,
        concurrency=2,
    )
    result = engine.run_search(spec, store, planner=_planner, emit=events.append)
    trained = [t for t in result.trials if t.run_id is not None]
    assert len(trained) >= 2, result.message
    runs = {r["id"]: r for r in store.runs() if (r.get("extra") or {}).get("search")}
    # every trial that trained is a stored run of this search, labelled shared
    for t in trained:
        run = runs[t.run_id]
        assert run["extra"]["phase"] == "search" and run["test_acc"] is None
        assert run["config"]["extra"][CONCURRENCY_KEY] == {"trials": 2, "energy": "shared"}
    # ...and the two first trials trained at the same time (stored start and end overlap)
    spans = sorted((runs[t.run_id]["created_at"], runs[t.run_id]["updated_at"]) for t in trained)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans)), spans
    started = [e for e in events if isinstance(e, (TrialStarted, TrialEnded))]
    assert isinstance(started[1], TrialStarted)  # a second started before the first ended
    # the budget held, the leaderboard has every trial and final, the final ran alone
    assert result.spent["spent_s"] <= BUDGET_MIN * 60 * (1 + TOLERANCE), result.spent
    board = result.leaderboard()
    assert len(board) == len(result.trials) + len(result.finals)
    assert {r.run_id for r in board if r.run_id} == set(runs)
    for f in result.finals:
        assert CONCURRENCY_KEY not in runs[f.run_id]["config"]["extra"]
    assert "at once" in result.message


class _Concurrent:
    """An executor that can run several at once (its `concurrent` is never reached here)."""

    def concurrent(self, n: int, arrays: Any) -> Any:
        raise AssertionError("not in this test")


def _search(monkeypatch, store, tiny, device: str, **spec: Any) -> engine._Search:
    monkeypatch.setattr("pepr_desktop.core.devices.resolve_device", lambda d: device)
    s = engine._Search(
        AutoSpec(dataset="tiny", time_min=1, **spec).validate(),
        store,
        engine.Control(),
        None,
        lambda: 0.0,
        _Concurrent(),
        None,
    )
    s.arms = {a.key: a for a in _planner()[0]}
    return s


def test_how_many_at_once(monkeypatch, store, tiny) -> None:
    from pepr_desktop.core.sweeps import concurrent

    seen: dict[str, Any] = {}

    def choose(n_jobs: int, device: str, **kw: Any) -> int:
        seen.update(kw, device=device)
        return 5

    monkeypatch.setattr(concurrent, "choose_concurrency", choose)
    # the CPU: one at a time unless asked (its cores are what trials would share)
    assert _search(monkeypatch, store, tiny, "cpu")._concurrency() == 1
    assert _search(monkeypatch, store, tiny, "cpu", concurrency=2)._concurrency() == 5
    assert seen["requested"] == 2
    # CUDA: chosen from the probe's memory figure of the largest arm
    seen.clear()
    assert _search(monkeypatch, store, tiny, "cuda:0")._concurrency() == 5
    assert seen == {"device": "cuda:0", "mem_per_trial_mb": 60.0, "requested": None}
    # an executor of one run at a time, or N = 1 asked: the sequential path
    s = _search(monkeypatch, store, tiny, "cuda:0")
    s.executor = object()
    assert s._concurrency() == 1
    monkeypatch.setattr(concurrent, "choose_concurrency", lambda *a, **k: 1)
    assert _search(monkeypatch, store, tiny, "cuda:0", concurrency=1)._concurrency() == 1


def test_shared_epochs_count_once_in_the_energy_guard() -> None:
    alone, shared = BudgetGuard(Budget(energy_wh=1)), BudgetGuard(Budget(energy_wh=1))
    alone.add_epoch(10.0, 100.0, None)
    # two trials at once: each metered the whole device (100 J over the same 10 s)
    shared.add_epoch(10.0, 100.0, None, shared_by=2)
    shared.add_epoch(10.0, 100.0, None, shared_by=2)
    assert shared.run_energy_j == alone.run_energy_j == 100.0
    assert shared.run_seconds == alone.run_seconds == 10.0
    shared.in_flight = 2
    assert shared.to_dict()["in_flight"] == 2


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"concurrency": -1}, "concurrency must be"),
        ({"concurrency": 1.5}, "concurrency must be"),
        ({"concurrency": 2, "backend": "ray"}, "local backend"),
        ({"fast_path": {"amp": "fp8"}}, "autocast (amp) must be one of"),
        ({"fast_path": {"warp": "on"}}, "unknown fast-path setting"),
    ],
)
def test_bad_concurrency_and_fast_path_are_user_errors(fields, words) -> None:
    with pytest.raises(UserError, match=None) as exc:
        AutoSpec(dataset="d", time_min=1, **fields).validate()
    assert words in str(exc.value)


class _FakePool:
    """A trial pool without processes: the test says what arrives and when a worker frees."""

    def __init__(self) -> None:
        self.n, self.running, self.arrivals = 1, {}, []

    @property
    def free(self) -> int:
        return self.n - len(self.running)

    def start(self, key: int, cfg: Any) -> None:
        self.running[key] = True

    def stop(self, key: int) -> None:
        pass

    def poll(self):
        arrived, self.arrivals = self.arrivals, []
        for key, item in arrived:
            if item == "done":
                self.running.pop(key)
            else:
                yield key, item

    def close(self) -> None:
        self.running.clear()


def test_a_run_ends_when_its_worker_is_free_again(store, tiny) -> None:
    from pepr_desktop.core.events import RunFinished
    from pepr_desktop.core.search.auto.runs import RunExecutor
    from pepr_desktop.core.sweeps.jobs import JobPlaced
    from pepr_desktop.core.training.config import Control, TrainConfig

    runs = RunExecutor(store, tiny).concurrent(1, None)
    runs.pool = pool = _FakePool()
    cfg = TrainConfig(dataset="tiny", model=TINY_MODEL, device="cpu", checkpoint=False)
    runs.start(0, cfg, name="t0", extra={"phase": "search"}, control=Control())
    pool.arrivals = [(0, JobPlaced("h", "cpu", "CPU", "none", 1)), (0, RunFinished(0, "finished"))]
    # the run has ended but its worker has not said it is free: no slot yet, so not ended
    assert runs.poll() == [] and runs.free == 0 and runs.busy == 1
    pool.arrivals = [(0, "done")]
    ((key, out),) = runs.poll()
    assert key == 0 and out.status == "finished" and runs.free == 1 and runs.busy == 0
    run = store.get_run(out.run_id)
    assert run["status"] == "finished"
    assert run["config"]["extra"][CONCURRENCY_KEY] == {"trials": 1, "energy": "own"}
