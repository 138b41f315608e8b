"""The recommender: pruning, ranking with fixed fake costs (known accuracies by PePR, unknown ones
after by resource), nothing fits, offline pretrained, the user's carbon settings, past prediction
errors in the result, and the trainer's budget guard."""

from __future__ import annotations

import contextlib

import pytest

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models import catalog
from pepr_desktop.core.scoring.pepr import pepr_scores
from pepr_desktop.core.search import recommend as rc
from pepr_desktop.core.search.predictions import with_prediction
from pepr_desktop.core.search.priors import PAPER, UNKNOWN
from pepr_desktop.core.search.probe import ProbeResult
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import TrainConfig

NAMES = ["mobilenetv3_small_050", "lcnet_050", "resnet10t", "resnet18", "efficientnet_b0"]
FLOPS_PER_S = 50e9  # the fake machine: fixed overhead + training FLOPs at 50 GFLOP/s


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


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
        return ProbeResult(step, 0.0, 50.0)


def cfg(**kw):
    return TrainConfig(dataset="pneu", model="", device="cpu", **kw)


def _finished_run(store, model, acc, dataset="pneu", prediction=None, **config):
    cfg = TrainConfig(dataset=dataset, model=model, **config)
    if prediction is not None:
        cfg = with_prediction(cfg, prediction)
    rid = store.create_run(dataset=dataset, model=model, config=cfg.to_dict(), status="finished")
    store.update_run(rid, test_acc=acc, status="finished")
    return rid


def test_ranking_with_fixed_costs(info, store):
    fake = FakeProbe()
    _finished_run(store, "lcnet_050", 0.8)  # the user's own run: a known accuracy
    names = [*NAMES, "resnet18d"]  # efficientnet_b0 and resnet18d are in the paper's table
    rec = rc.recommend(
        info,
        store,
        rc.Budget(time_min=5),
        cfg(epochs=10, batch_size=32),
        names=names,
        probe_fn=fake,
        power_w=20.0,
    )
    # 100 batches x 10 epochs: time = 1000 x step (<= 132 s here), so all fit 5 minutes
    assert sorted(fake.calls) == sorted(names)
    assert len(rec.fitting) == 6
    c = {x.model: x for x in rec.candidates}
    t18 = 1000 * FakeProbe.step("resnet18")
    assert c["resnet18"].predicted_time_s == pytest.approx(t18)
    assert c["resnet18"].predicted_energy_wh == pytest.approx(t18 * 20 / 3600)
    assert c["lcnet_050"].acc_source == "your runs" and c["lcnet_050"].expected_acc == 0.8
    assert c["efficientnet_b0"].acc_source == PAPER == c["resnet18d"].acc_source
    known = [x for x in rec.fitting if x.expected_acc is not None]
    assert {x.model for x in known} == {"lcnet_050", "efficientnet_b0", "resnet18d"}
    # known accuracies first, ranked by PePR-E over the known set
    assert rec.fitting[: len(known)] == known
    expect = pepr_scores([x.expected_acc for x in known], [x.predicted_energy_wh for x in known])
    assert [x.expected_pepr for x in known] == pytest.approx(expect)
    assert [x.expected_pepr for x in known] == sorted(expect, reverse=True)
    assert rec.fitting[0].rank == 1 and "PePR-E" in rec.fitting[0].why
    # the cheapest known one keeps its full accuracy (R_n = 0)
    cheapest = min(known, key=lambda x: x.predicted_energy_wh)
    assert cheapest.expected_pepr == pytest.approx(cheapest.expected_acc)
    # unknown accuracies: no PePR, no chance level, after the known ones by energy, and said so
    unknown = rec.fitting[len(known) :]
    assert {x.model for x in unknown} == {"mobilenetv3_small_050", "resnet10t", "resnet18"}
    assert all(x.expected_acc is None and x.expected_pepr is None for x in unknown)
    assert all(x.acc_source == UNKNOWN and x.acc_low is None for x in unknown)
    energies = [x.predicted_energy_wh for x in unknown]
    assert energies == sorted(energies)
    assert [x.rank for x in rec.fitting] == list(range(1, 7))
    assert all("accuracy unknown" in x.why and "ranked after the 3" in x.why for x in unknown)
    # every known accuracy comes with an interval around it
    for x in known:
        assert x.acc_low < x.expected_acc < x.acc_high
        assert f"[{x.acc_low:.2f}, {x.acc_high:.2f}]" in x.why


def test_nothing_known_ranks_by_resource(info, store):
    other = DatasetInfo(
        name="things",
        source="imported",
        path=None,
        n_classes=5,
        channels=1,
        image_size=28,
        task="multi-class",
        split_sizes={"train": 3200, "val": 400, "test": 400},
    )
    rec = rc.recommend(
        other, store, rc.Budget(), cfg(), names=NAMES, probe_fn=FakeProbe(), by="time"
    )
    assert rec.experiment is None
    assert all(x.expected_acc is None for x in rec.candidates)  # never 1/K
    times = [x.predicted_time_s for x in rec.fitting]
    assert times == sorted(times) and rec.fitting[0].rank == 1
    assert "no expected accuracy is known" in rec.message


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


def test_predicted_memory_is_the_runs_own_not_the_apps(info, store, monkeypatch):
    import psutil

    class Info:  # the app's process: 40 GB, growing by 1 GB at every look
        looks = 0

        def __init__(self) -> None:
            Info.looks += 1
            self.rss = self.vms = (40 + Info.looks) * 2**30

    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: Info())
    rec = rc.recommend(
        info, store, rc.Budget(memory_mb=500), cfg(), names=NAMES[:2], probe_fn=FakeProbe()
    )
    data_mb = (3200 + 400 + 400) * 28 * 28 / 2**20 * 2  # the splits, as arrays and tensors
    for c in rec.candidates:
        assert c.predicted_memory_mb == pytest.approx(data_mb + 50.0)  # data + the probe's 50
    assert len(rec.fitting) == 2  # a realistic 500 MB budget is not eaten by the app


def test_carbon_comes_from_the_users_region_and_pue(info, store):
    from pepr_desktop.core.metering import MeterSettings
    from pepr_desktop.core.metering.carbon import lookup

    settings = MeterSettings(region="FR", pue=1.5, cpu_tdp_w=30.0)
    rec = rc.recommend(
        info, store, rc.Budget(), cfg(), names=["lcnet_050"], probe_fn=FakeProbe(),
        meter_settings=settings,
    )  # fmt: skip
    c = rec.candidates[0]
    france = lookup("FR")
    assert rec.carbon_g_per_kwh == france.g_per_kwh != 475.0
    assert france.source in rec.carbon_source and "PUE 1.5" in rec.carbon_source
    assert rec.power_w == 30.0 and rec.power_source.startswith("your setting")
    assert c.predicted_energy_wh == pytest.approx(30.0 * c.predicted_time_s / 3600)
    assert c.predicted_co2_g == pytest.approx(c.predicted_energy_wh / 1000 * 1.5 * france.g_per_kwh)


def test_past_prediction_errors_are_in_the_result(info, store):
    rec = rc.recommend(info, store, rc.Budget(), cfg(), names=["lcnet_050"], probe_fn=FakeProbe())
    assert rec.past_median_error is None and rec.past_predictions == 0
    assert rec.calibration == "no past predictions yet"
    pred = rec.candidates[0].prediction()
    assert pred["expected_acc"] is None and pred["acc_source"] == UNKNOWN
    # two runs with a known prediction: 0.9 predicted, 0.8 and 0.6 reached
    known = dict(pred, expected_acc=0.9, acc_source=PAPER)
    _finished_run(store, "resnet18", 0.8, prediction=known)
    _finished_run(store, "resnet18", 0.6, prediction=known)
    rec = rc.recommend(info, store, rc.Budget(), cfg(), names=["lcnet_050"], probe_fn=FakeProbe())
    assert rec.past_median_error == pytest.approx(0.2) and rec.past_predictions == 2
    assert rec.calibration == (
        "past predictions on this machine: median error 0.20 over 2 runs on pneu"
    )
    assert rec.to_dict()["past_median_error"] == pytest.approx(0.2)


def test_paper_prior_interval_widens_to_past_errors(info, store):
    before = rc.recommend(
        info, store, rc.Budget(), cfg(), names=["efficientnet_b0"], probe_fn=FakeProbe()
    ).candidates[0]
    assert before.acc_source == PAPER
    miss = {"expected_acc": 0.95, "acc_source": PAPER}
    _finished_run(store, "resnet18d", 0.65, prediction=miss)  # missed by 0.30
    after = rc.recommend(
        info, store, rc.Budget(), cfg(), names=["efficientnet_b0"], probe_fn=FakeProbe()
    ).candidates[0]
    assert after.expected_acc == before.expected_acc
    assert after.acc_low == pytest.approx(after.expected_acc - 0.30)
    assert after.acc_low < before.acc_low and "widened" in after.acc_note


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


def test_the_probe_is_timed_with_the_threads_a_run_would_train_with(info, store, monkeypatch):
    """The probe runs inside `fitted_threads` (core/training/threads.py): timed at 2 threads
    beside a busy process, a step costs up to 9x what the run will pay at 1."""
    seen: list[tuple[str, bool]] = []

    @contextlib.contextmanager
    def fitted(device):
        seen.append((device, False))
        yield None
        seen.append((device, True))

    class Probe(FakeProbe):
        def __call__(self, name, **kw):
            assert seen == [("cpu", False)]  # inside the block
            return super().__call__(name, **kw)

    monkeypatch.setattr(rc, "fitted_threads", fitted)
    rc.recommend(info, store, rc.Budget(), cfg(), names=NAMES[:2], probe_fn=Probe())
    assert seen == [("cpu", False), ("cpu", True)]
