"""Issue 19, Live training: runs stay on the charts when the queue moves on (each a colour, the
newest bold), axes reset per run, whole-epoch ticks, power labelled as the meter reports it, an
evaluation phase, an end-of-run card, a dialog for a failed run, and an editable queue."""

from __future__ import annotations

from pepr_desktop.core.events import BatchEnded, EpochEnded, MeterSample, RunFinished, RunStarted
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.gui.charts import IntegerAxis, power_kind
from pepr_desktop.gui.worker import TrainingWorker


def _start(tv, store, model: str, epochs: int) -> int:
    cfg = {"dataset": "sample", "model": model, "epochs": epochs}
    rid = store.create_run(dataset="sample", model=model, config=cfg, epochs_planned=epochs)
    tv.on_event(RunStarted(rid, model, "sample", "cpu", 600_000, epochs, 10))
    return rid


def _epoch(tv, rid: int, e: int, acc: float) -> None:
    tv.on_event(BatchEnded(rid, e, 5, 10, 1.0 + e))
    tv.on_event(BatchEnded(rid, e, 10, 10, 2.0 + e))
    tv.on_event(EpochEnded(rid, e, 0.7 - 0.1 * e, {"val_acc": acc, "test_acc": acc}, 2.0, 90.0,
                           "process_rss", energy_j=30.0, energy_method="rapl"))  # fmt: skip


def test_runs_stay_on_the_charts_and_the_axes_follow_the_newest(window, qtbot, dialogs) -> None:
    tv, store = window.training, window.ctx.store
    a = _start(tv, store, "net_a", 3)
    assert tv.stack.currentIndex() == 1  # the charts replace the empty state
    tv.on_event(MeterSample(a, 1.0, {"cpu": 20.0, "dram": 3.0}, 23.0, "cpu_estimate+dram_estimate"))
    assert "estimated" in tv.power_plot.getPlotItem().titleLabel.text
    tv.on_event(BatchEnded(a, 0, 10, 10, 2.0))
    assert tv.batch_bar.format() == "evaluating…" and "Evaluating epoch 1 of 3" in tv.phase
    for e in range(3):
        _epoch(tv, a, e, 0.6 + 0.1 * e)
    assert "Final evaluation" in tv.phase
    store.update_run(a, status="finished", epochs_done=3, test_acc=0.8, test_bacc=0.79,
                     energy_j=90.0, energy_method="rapl", co2_g=0.012, train_time_s=66.0)  # fmt: skip
    tv.on_event(RunFinished(a, "finished"))
    card = tv.card.values
    assert card["acc"].text() == "0.800" and card["bacc"].text() == "0.790"
    assert card["energy"].text() == "0.0250 Wh" and card["co2"].text() == "0.012 g"
    assert tv.card.names["energy"].text() == "Energy" and "measured" in card["energy"].toolTip()
    assert card["pepr"].text() == "0.800" and tv.card.names["pepr"].text() == "PePR-E"
    assert "1 run finished" in card["pepr"].toolTip() and card["time"].text() == "1:06"
    assert tv.card.flag.isHidden()

    b = _start(tv, store, "net_b", 5)
    first, newest = tv.chart_runs
    assert (first.run_id, newest.run_id) == (a, b) and first.color != newest.color
    assert len(first.curves["val"].buffer) == 3  # the earlier run is still drawn
    assert not first.curves["val"].fit and newest.curves["val"].fit
    assert (
        first.curves["val"].item.opts["pen"].widthF()
        < newest.curves["val"].item.opts["pen"].widthF()
    )
    legend = tv.legend.text()
    assert f"#{a} net_a" in legend and f"<b>#{b} net_b</b> (now)" in legend
    _epoch(tv, b, 0, 0.55)
    tv.hub.flush_all()
    x0, x1 = tv.acc_plot.getPlotItem().getViewBox().viewRange()[0]
    assert (round(x0, 3), round(x1, 3)) == (0.5, 5.5)  # this run's epochs, not the last one's
    assert len(tv.val_curve.buffer) == 1  # the newest run's own curve
    axis = tv.loss_plot.getPlotItem().getAxis("bottom")
    assert isinstance(axis, IntegerAxis)
    ticks = [t for _s, ts in axis.tickValues(0.5, 5.5, 400) for t in ts]
    assert ticks and all(t == int(t) for t in ticks)
    assert dialogs == []


def test_a_failed_run_says_what_happened_and_what_to_click(window, dialogs) -> None:
    tv, store = window.training, window.ctx.store
    rid = _start(tv, store, "vit_tiny_patch16_224", 2)
    store.update_run(rid, status="failed", reason="error")
    msg = "RuntimeError: Input height (28) doesn't match model (224)."
    tv.on_event(RunFinished(rid, "failed", "error", msg))
    assert len(dialogs) == 1
    title, text = dialogs[0]
    assert title == f"Run {rid} failed"
    assert "needs 224 px" in text and "Image size" in text and "What to do" in text
    assert "RuntimeError" not in text


def test_power_kind_follows_the_meter() -> None:
    assert power_kind("rapl") == "measured" and power_kind("nvml_energy") == "measured"
    assert power_kind("cpu_estimate+dram_estimate") == "estimated"
    assert power_kind("rapl+dram_estimate") == "partly estimated"
    assert power_kind("unavailable") == "not measured"


def test_the_queue_can_be_reordered_and_edited(qtbot) -> None:
    w = TrainingWorker(lambda: None)
    cfgs = [TrainConfig(dataset="sample", model=m) for m in ("a", "b", "c")]
    w._queue.extend(cfgs)  # waiting behind a running one
    with qtbot.waitSignal(w.queue_changed) as sig:
        assert w.move(2, -1)
    assert [c.model for c in sig.args[0]] == ["a", "c", "b"]
    assert not w.move(0, -1) and not w.remove(5)
    assert w.remove(0)
    assert [c.model for c in w.pending()] == ["c", "b"]


def test_an_epoch_on_a_shared_cpu_says_so_in_the_log(window) -> None:
    tv, store = window.training, window.ctx.store
    rid = _start(tv, store, "net_a", 2)
    _epoch(tv, rid, 0, 0.6)
    assert "CPU shared" not in tv.log.toPlainText()
    tv.on_event(BatchEnded(rid, 1, 10, 10, 3.0))
    tv.on_event(EpochEnded(rid, 1, 0.5, {"val_acc": 0.7, "test_acc": 0.7}, 9.0, 90.0,
                           "process_rss", extra={"cpu_threads": {"cap": 2, "lowest": 1,
                                                                 "changes": 1}}))  # fmt: skip
    assert "epoch 2:" in tv.log.toPlainText().splitlines()[-1]
    assert "CPU shared: 1 of 2 threads" in tv.log.toPlainText().splitlines()[-1]
