"""The recommender: pruning, ranking with fixed fake costs, nothing fits, offline pretrained,
expected accuracy sources, one real probe, and the trainer's budget guard."""

from __future__ import annotations

import contextlib

import pytest

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models import catalog
from pepr_desktop.core.scoring.pepr import pepr_scores
from pepr_desktop.core.search import recommend as rc
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import TrainConfig

NAMES = ["mobilenetv3_small_050", "lcnet_050", "resnet10t", "resnet18", "efficientnet_b0"]
FLOPS_PER_S = 50e9  # the fake machine: fixed overhead + training FLOPs at 50 GFLOP/s


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def info():
    return DatasetInfo(
        name="pneu",
        source="imported",
        path=None,
        n_classes=2,
        channels=1,
        image_size=28,
        task="binary",
        class_names=["normal", "pneumonia"],
        split_sizes={"train": 3200, "val": 400, "test": 400},
    )


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


class FakeProbe:
    """Fixed, FLOPs-consistent costs: step = 5 ms + 3 x forward FLOPs x batch / 50 GFLOP/s."""

    def __init__(self):
        self.calls: list[str] = []

    @staticmethod
    def step(name, channels=1, n_classes=2, input_size=28, batch_size=32):
        flops = catalog.facts(name, channels, n_classes, input_size).flops
        return 0.005 + 3 * flops * batch_size / FLOPS_PER_S

    def __call__(self, name, **kw):
        self.calls.append(name)
        step = self.step(name, kw["channels"], kw["n_classes"], kw["input_size"], kw["batch_size"])
        return rc.ProbeResult(step, 0.0, 50.0)


def cfg(**kw):
    return TrainConfig(dataset="pneu", model="", device="cpu", **kw)


def test_ranking_with_fixed_costs(info, store):
    fake = FakeProbe()
    rec = rc.recommend(
        info,
        store,
        rc.Budget(time_min=5),
        cfg(epochs=10, batch_size=32),
        names=NAMES,
        probe_fn=fake,
        power_w=20.0,
    )
    # 100 batches x 10 epochs: time = 1000 x step (<= 132 s here), so all fit 5 minutes
    assert sorted(fake.calls) == sorted(NAMES)
    assert len(rec.fitting) == 5
    c = {x.model: x for x in rec.candidates}
    t18 = 1000 * FakeProbe.step("resnet18")
    assert c["resnet18"].predicted_time_s == pytest.approx(t18)
    assert c["resnet18"].predicted_energy_wh == pytest.approx(t18 * 20 / 3600)
    # the ranking is PePR-E over the fitting set, from each model's expected accuracy
    expect = pepr_scores(
        [x.expected_acc for x in rec.fitting], [x.predicted_energy_wh for x in rec.fitting]
    )
    assert [x.expected_pepr for x in rec.fitting] == pytest.approx(expect)
    assert [x.expected_pepr for x in rec.fitting] == sorted(
        [x.expected_pepr for x in rec.fitting], reverse=True
    )
    assert rec.fitting[0].rank == 1 and "PePR-E" in rec.fitting[0].why
    # the cheapest keeps its full accuracy (R_n = 0)
    cheapest = min(rec.fitting, key=lambda x: x.predicted_energy_wh)
    assert cheapest.expected_pepr == pytest.approx(cheapest.expected_acc)


def test_budget_filters_and_by_time(info, store):
    rec = rc.recommend(
        info, store, rc.Budget(time_min=1), cfg(), names=NAMES, probe_fn=FakeProbe(), by="time"
    )
    fit = {x.model for x in rec.fitting}
    # 60 s budget: 1000 steps -> only steps <= 0.06 s fit
    assert fit == {m for m in NAMES if 1000 * FakeProbe.step(m) <= 60}
    assert 0 < len(fit) < len(NAMES)
    over = [x for x in rec.candidates if not x.fits]
    assert over and all("time" in x.over[0] and x.expected_pepr is None for x in over)
    assert rec.by == "time" and "PePR-T" in rec.fitting[0].why


def test_nothing_fits_shows_the_cheapest(info, store):
    rec = rc.recommend(
        info, store, rc.Budget(time_min=0.05), cfg(), names=NAMES, probe_fn=FakeProbe()
    )
    assert rec.fitting == []
    assert rec.message.startswith("Nothing fits")
    cheapest = min(NAMES, key=FakeProbe.step)
    assert f"Cheapest: {cheapest} would need time" in rec.message
    assert rec.candidates[0].model == cheapest and not rec.candidates[0].fits


def test_pruning_by_params_and_memory_happens_before_probing(info, store):
    fake = FakeProbe()
    rec = rc.recommend(
        info, store, rc.Budget(max_params=2_000_000), cfg(), names=NAMES, probe_fn=fake
    )
    assert set(fake.calls) == {"mobilenetv3_small_050", "lcnet_050"}
    assert {s["model"] for s in rec.skipped} == {"resnet10t", "resnet18", "efficientnet_b0"}
    fake = FakeProbe()
    rc.recommend(info, store, rc.Budget(memory_mb=100), cfg(), names=NAMES, probe_fn=fake)
    assert "resnet18" not in fake.calls  # 11M params x 16 B > 100 MB


def test_time_lower_bound_skips_hopeless_probes(info, store):
    # resnet18 is probed first among the big ones and sets the best FLOP/s; a huge model would
    # need far more than the budget even at 1.5x that speed, so it is never probed
    fake = FakeProbe()
    rec = rc.recommend(
        info, store, rc.Budget(time_min=1), cfg(), names=[*NAMES, "resnet50"], probe_fn=fake
    )
    assert "resnet50" not in fake.calls
    assert any(s["model"] == "resnet50" and "not probed" in s["why"] for s in rec.skipped)


def test_offline_pretrained_falls_back_to_scratch(info, store, tmp_path):
    rec = rc.recommend(
        info,
        store,
        rc.Budget(),
        cfg(pretrained=True),
        names=["resnet18"],
        probe_fn=FakeProbe(),
        online=lambda: False,
    )
    c = rec.candidates[0]
    assert c.pretrained is False and "offline" in c.pretrained_note
    rec = rc.recommend(
        info,
        store,
        rc.Budget(),
        cfg(pretrained=True),
        names=["resnet18"],
        probe_fn=FakeProbe(),
        online=lambda: True,
    )
    assert rec.candidates[0].pretrained is True
    w = tmp_path / "w.safetensors"
    rec = rc.recommend(
        info,
        store,
        rc.Budget(),
        TrainConfig(dataset="pneu", model="resnet18", device="cpu", weights=str(w)),
        names=["resnet18"],
        probe_fn=FakeProbe(),
        online=lambda: False,
    )
    assert rec.candidates[0].pretrained is True and "w.safetensors" in rec.candidates[0].why


def test_expected_accuracy_sources(info, store):
    if not rc.paper_results():
        pytest.skip("the PePR paper's results are not available")
    acc, exp = rc.expected_accuracy(["resnet18d", "lcnet_050", "resnet18"], info, store, cfg())
    assert exp == "pneumonia"
    paper = {
        r["model"]: float(r["test_09"]) for r in rc.paper_results() if r["dataset"] == "pneumonia"
    }
    assert acc["resnet18d"] == (paper["resnet18d"], "paper 'pneumonia' (test acc after 10 epochs)")
    assert "not in the paper" in acc["lcnet_050"][1]
    rid = store.create_run(dataset="pneu", model="resnet18", config={}, status="finished")
    store.update_run(rid, test_acc=0.5, status="finished")
    acc, _ = rc.expected_accuracy(["resnet18"], info, store, cfg())
    assert acc["resnet18"] == (0.5, "your 1 run on pneu")
    assert rc.paper_experiment(info, cfg(data_fraction=0.1)) == "pneumonia_small"
    other = DatasetInfo(
        name="x",
        source="imported",
        path=None,
        n_classes=5,
        channels=1,
        image_size=28,
        task="multi-class",
    )
    acc, exp = rc.expected_accuracy(["resnet18"], other, None, cfg())
    assert exp is None and acc["resnet18"] == (0.2, "no prior: chance level 1/5")


def test_cancel_and_progress(info, store):
    seen = []
    rec = rc.recommend(
        info,
        store,
        rc.Budget(),
        cfg(),
        names=NAMES,
        probe_fn=FakeProbe(),
        progress=lambda d, t, m: seen.append((d, t, m)),
        should_stop=lambda: len(seen) >= 2,
    )
    assert rec.cancelled and rec.message.startswith("Cancelled")
    assert len(rec.candidates) == 2


def test_probe_cache_reused(info, store):
    fake = FakeProbe()
    rc.recommend(info, store, rc.Budget(), cfg(), names=["lcnet_050"], probe_fn=fake)
    rec = rc.recommend(info, store, rc.Budget(), cfg(), names=["lcnet_050"], probe_fn=fake)
    assert fake.calls == ["lcnet_050"] and rec.candidates[0].probe == "cached"


def test_real_probe_of_a_tiny_model():
    r = rc.probe(
        "mobilenetv3_small_050",
        channels=1,
        n_classes=2,
        native_size=28,
        input_size=28,
        batch_size=8,
        eval_batch_size=16,
        device="cpu",
    )
    assert 0 < r.step_s < 5 and 0 < r.eval_s_per_image < r.step_s
    assert r.mem_mb >= 0


def test_budget_guard_stops_a_run_keeping_its_epochs(store):
    from pepr_desktop.core.events import EpochEnded, RunFinished
    from pepr_desktop.core.training.runner import execute

    c = TrainConfig(
        dataset="sample",
        model="mobilenetv3_small_050",
        epochs=4,
        batch_size=16,
        data_fraction=0.1,
        device="cpu",
        budget_time_min=1e-5,
        checkpoint=False,
    )
    events = list(execute(c, store))
    fin = events[-1]
    assert isinstance(fin, RunFinished) and fin.status == "stopped" and fin.reason == "budget"
    assert sum(isinstance(e, EpochEnded) for e in events) == 1
    run = store.get_run(fin.run_id)
    assert run["status"] == "stopped" and run["reason"] == "budget"
    assert run["epochs_done"] == 1 and run["test_acc"] is not None
    assert len(store.epochs(fin.run_id)) == 1


class _Opener:
    """A store opener that records each store it opened and whether it was closed again."""

    def __init__(self, path):
        self.path = path
        self.events: list[str] = []

    @contextlib.contextmanager
    def __call__(self):
        s = Store(self.path)
        self.events.append("open")
        try:
            yield s
        finally:
            s.close()
            self.events.append("close")


def test_recommend_for_opens_and_closes_the_store_it_is_given(tmp_path):
    opener = _Opener(tmp_path / "for.sqlite")
    seen = []
    rec = rc.recommend_for(
        "sample",
        opener,
        rc.Budget(time_min=5),
        TrainConfig(dataset="sample", model="", device="cpu"),
        by="time",
        names=["lcnet_050", "resnet10t"],
        probe_fn=FakeProbe(),
        progress=lambda d, t, m: seen.append((d, t)),
    )
    assert opener.events == ["open", "close"]
    assert rec.by == "time" and {c.model for c in rec.candidates} == {"lcnet_050", "resnet10t"}
    assert seen and seen[-1][0] == seen[-1][1]  # the last progress is done == total
    with pytest.raises(UserError):
        rc.recommend_for("no-such-data", opener, rc.Budget(), cfg())
    assert opener.events[-1] == "close"  # closed after a mistake too
