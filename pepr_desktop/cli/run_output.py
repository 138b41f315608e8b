"""Running a training from the command line and printing it: Ctrl-C as a clean stop, a progress
printer over the run's events (`train`, `demo`, `resume`), and a stored run's summary and
per-class evaluation (also `pepr runs --show`)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pepr_desktop.cli._common import clean_for_json, fmt, open_store, print_json, print_table
from pepr_desktop.core.events import BatchEnded, EpochEnded, RunFinished, RunStarted


@contextmanager
def stop_on_sigint(control: Any) -> Iterator[None]:
    """First Ctrl-C asks the run to stop cleanly (within one batch); a second one aborts."""

    def handler(signum: int, frame: Any) -> None:
        print("\nstopping after the current batch (Ctrl-C again to abort)...", file=sys.stderr)
        control.stop("interrupt")
        signal.signal(signal.SIGINT, signal.default_int_handler)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class Progress:
    """A tqdm bar over the batches of each epoch, on stderr (hidden when stderr is not a TTY),
    and a line per run start and epoch."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def on_event(self, ev: Any) -> None:
        show = _SHOW.get(type(ev))  # other events (meter samples) print nothing
        if show is not None:
            show(self, ev)

    def _run_started(self, ev: RunStarted) -> None:
        self.total_epochs = ev.epochs
        if not self.quiet:
            print(
                f"run {ev.run_id}: {ev.model} on {ev.dataset}, {ev.params / 1e6:.2f}M params, "
                f"device {ev.device}",
                file=sys.stderr,
            )

    def _batch_ended(self, ev: BatchEnded) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=ev.batches,
                desc=f"epoch {ev.epoch + 1}/{self.total_epochs}",
                unit="batch",
                file=sys.stderr,
                leave=False,
                disable=None,
            )
        self.bar.update(1)

    def _epoch_ended(self, ev: EpochEnded) -> None:
        self.close()
        if not self.quiet:
            m = ev.metrics
            energy = (
                f"{ev.energy_j:.0f} J ({ev.energy_method})"
                if ev.energy_j is not None
                else "energy n/a"
            )
            print(
                f"epoch {ev.epoch + 1}/{self.total_epochs}: loss {ev.train_loss:.4f}  "
                f"val acc {fmt(m.get('val_acc'))} auc {fmt(m.get('val_auc'))}  "
                f"test acc {fmt(m.get('test_acc'))} auc {fmt(m.get('test_auc'))}  "
                f"{ev.seconds:.1f}s  {fmt(ev.peak_mem_mb, 0)} MB  {energy}",
                file=sys.stderr,
            )

    def _run_finished(self, ev: RunFinished) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# What the progress printer does per event class of core/events.py.
_SHOW: dict[type, Callable[[Progress, Any], None]] = {
    RunStarted: Progress._run_started,
    BatchEnded: Progress._batch_ended,
    EpochEnded: Progress._epoch_ended,
    RunFinished: Progress._run_finished,
}


def run_and_report(args: argparse.Namespace, start: Any, control: Any) -> int:
    """Drive a run's event stream with a progress bar and Ctrl-C handling; print the result."""
    progress = Progress(quiet=False)
    finished = None
    with open_store(args) as store, stop_on_sigint(control):
        for ev in start(store, control):
            progress.on_event(ev)
            if isinstance(ev, RunFinished):
                finished = ev
        assert finished is not None
        run = run_with_epochs(store, finished.run_id)
    if args.json:
        print_json(clean_for_json(run))
    else:
        print_run_summary(run)
    if finished.status == "failed":
        print(f"pepr: run {finished.run_id} failed: {finished.message}", file=sys.stderr)
        return 1
    if finished.reason == "disk_full":  # kept and resumable, but not done: a script must see it
        print(f"pepr: run {finished.run_id} stopped: {finished.message}", file=sys.stderr)
        return 1
    return 0


def run_with_epochs(store: Any, run_id: int) -> dict[str, Any]:
    run = store.get_run(run_id)
    run["epochs"] = store.epochs(run_id)
    return run


def print_run_summary(run: dict[str, Any]) -> None:
    status = run["status"] + (f" ({run['reason']})" if run.get("reason") else "")
    print(f"run {run['id']}: {run['model']} on {run['dataset']}: {status}")
    if run.get("message"):
        print(f"  {run['message']}")
    best = run.get("best_val_epoch")
    print(
        f"  epochs {run['epochs_done']}/{run['epochs_planned']}  "
        f"test acc {fmt(run.get('test_acc'))}  auc {fmt(run.get('test_auc'))}  "
        f"balanced acc {fmt(run.get('test_bacc'))}  "
        f"best val epoch {best + 1 if best is not None else 'n/a'}"
    )
    from pepr_desktop.core.scoring.degenerate import run_verdict

    verdict = run_verdict(run)
    if verdict is not None:  # a collapsed model is named as such, with what to try
        print(f"  warning: {verdict.label} - likely fix: {verdict.fix}")
    energy = (
        f"{run['energy_j'] / 3600:.3f} Wh ({run['energy_method']})"
        if run.get("energy_j") is not None
        else f"n/a ({run.get('energy_note') or run.get('energy_method')})"
    )
    print(
        f"  time {fmt(run.get('train_time_s'), 1)} s  peak memory "
        f"{fmt(run.get('peak_mem_mb'), 0)} MB ({run.get('mem_method')})  energy {energy}"
        + (f"  CO2 {run['co2_g']:.2f} g" if run.get("co2_g") is not None else "")
    )
    from pepr_desktop.core.training.threads import throttled_note

    note = throttled_note(run.get("epochs") or [])
    if note:
        print(f"  note: {note}")


def print_evaluation(ev: dict | None) -> None:
    """Per-class precision/recall/F1, the confusion matrix and the ROC AUC, as plain text."""
    if not ev:
        print("no per-class evaluation stored (the run did not finish, or predates it)")
        return
    names = ev["class_names"]
    pc = ev["per_class"]
    print(f"per class, {ev['split']} split ({ev['n']} images):")
    rows = [
        [c, pc["precision"][i], pc["recall"][i], pc["f1"][i], pc["support"][i]]
        for i, c in enumerate(names)
    ]
    for avg in ("macro", "weighted"):
        rows.append([f"{avg} avg", *(ev[avg][m] for m in ("precision", "recall", "f1")), ev["n"]])
    print_table(rows, ["class", "precision", "recall", "f1", "support"])
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print_table(
        [[c, *ev["confusion"][i]] for i, c in enumerate(names)], ["true \\ predicted", *names]
    )
    roc = ev.get("roc")
    if roc:
        print(f"\nROC AUC ({roc['positive_class']} as positive): {roc['auc']:.3f}")
    mis = ev.get("misclassified") or {}
    if mis:
        print(f"misclassified test images: {mis['count']}")
