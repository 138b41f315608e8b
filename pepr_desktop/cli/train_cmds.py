"""`pepr train`, `pepr runs` and `pepr export`."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pepr_desktop.cli._common import (
    clean_for_json,
    fmt,
    fraction,
    non_negative_int,
    open_store,
    positive_float,
    positive_int,
    print_json,
    print_table,
)
from pepr_desktop.core.errors import UserError

RUN_TABLE = (
    "id", "dataset", "model", "status", "epochs_done", "test_acc", "test_auc", "train_time_s",
    "peak_mem_mb", "energy_j", "energy_method", "co2_g",
)  # fmt: skip


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `train`, `sweep` and `recommend` (defaults: the paper's protocol)."""
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
    p.add_argument("--lr", type=positive_float, default=5e-4, help="Adam learning rate (5e-4)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument(
        "--data-fraction", type=fraction, default=1.0, help="stratified share of training data"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--image-size", type=positive_int, help="resize images to N px on the device")
    p.add_argument(
        "--class-weights",
        choices=("none", "auto"),
        default="none",
        help="auto: weight the loss by inverse class frequency (imbalanced data)",
    )
    q = p.add_argument_group("training quality (defaults keep the paper's protocol)")
    q.add_argument(
        "--sampler",
        choices=("shuffle", "balanced"),
        default="shuffle",
        help="balanced: draw every class equally often (imbalanced data)",
    )
    q.add_argument(
        "--augment",
        choices=("none", "light"),
        default="none",
        help="light: random flips and small affine on the device",
    )
    q.add_argument(
        "--schedule",
        choices=("constant", "cosine", "onecycle"),
        default="constant",
        help="learning-rate schedule, stepped per batch (default constant)",
    )
    q.add_argument(
        "--label-smoothing", type=float, default=0.0, metavar="X", help="e.g. 0.1 (default 0)"
    )
    q.add_argument(
        "--early-stop",
        action="store_true",
        help="stop when more epochs no longer pay for their energy (docs/training.md)",
    )
    q.add_argument(
        "--early-stop-patience", type=positive_int, default=2, metavar="N", help="epochs (2)"
    )
    q.add_argument(
        "--early-stop-min-gain",
        type=float,
        default=0.01,
        metavar="X",
        help="validation accuracy gain per Wh that further epochs must buy (0.01)",
    )


def quality_options(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields of the training-quality options (issue 12)."""
    return {
        "sampler": args.sampler,
        "augment": args.augment,
        "schedule": args.schedule,
        "label_smoothing": args.label_smoothing,
        "early_stop": args.early_stop,
        "early_stop_patience": args.early_stop_patience,
        "early_stop_min_gain": args.early_stop_min_gain,
    }


def config_from_args(args: argparse.Namespace, **fields: Any) -> Any:
    """The TrainConfig that `train`, `recommend` and `sweep` build from the shared options;
    `fields` set what the command decides itself (model, budgets...)."""
    from pepr_desktop.core.train import TrainConfig

    shared = {
        "dataset": args.data,
        "model": getattr(args, "model", None) or "",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "image_size": args.image_size,
        "data_fraction": args.data_fraction,
        "pretrained": getattr(args, "pretrained", False),
        "weights": getattr(args, "weights", None),
        "class_weights": args.class_weights,
        **quality_options(args),
    }
    return TrainConfig(**{**shared, **fields})


def add_meter_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("energy metering")
    g.add_argument("--no-meter", action="store_true", help="do not measure energy")
    g.add_argument("--pue", type=positive_float, help="power usage effectiveness (default 1.0)")
    g.add_argument("--region", help="region code for carbon intensity, e.g. DK, DE, US-CA")
    g.add_argument(
        "--carbon-intensity", type=positive_float, metavar="G_PER_KWH", help="gCO2eq per kWh"
    )
    g.add_argument("--cpu-watts", type=positive_float, help="CPU power for the estimate (W)")
    g.add_argument(
        "--idle-baseline",
        type=float,
        metavar="S",
        help="seconds of idle power measured before the run (0 = off)",
    )


def meter_factory_from_args(args: argparse.Namespace) -> Any:
    """The meter factory for the options given, or None with --no-meter."""
    from pepr_desktop.core.metering import meter_factory

    settings = meter_settings_from_args(args)
    return None if settings is None else meter_factory(settings)


def meter_settings_from_args(args: argparse.Namespace, **fixed: Any) -> Any:
    """MeterSettings from the options (None with --no-meter); plain data, so they can travel to
    sweep workers. `fixed` sets what the command decides itself (`pepr meter`: period, no
    baseline)."""
    if getattr(args, "no_meter", False):
        return None
    from pepr_desktop.core.metering import MeterSettings

    kwargs: dict[str, Any] = dict(fixed)
    if args.pue is not None:
        kwargs["pue"] = args.pue
    if args.region:
        kwargs["region"] = args.region
    if args.carbon_intensity is not None:
        kwargs["carbon_intensity_g_per_kwh"] = args.carbon_intensity
    if args.cpu_watts is not None:
        kwargs["cpu_tdp_w"] = args.cpu_watts
    if getattr(args, "idle_baseline", None) is not None:
        if args.idle_baseline < 0:
            raise UserError("--idle-baseline must be >= 0 seconds (0 turns it off).")
        kwargs["idle_baseline_s"] = args.idle_baseline
    return MeterSettings(**kwargs)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model and store the run")
    p.add_argument("--data", required=True, help="dataset name (see `pepr datasets`)")
    p.add_argument("--model", required=True, help="timm model name (see `pepr models`)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", action="store_true", help="start from timm's pretrained weights")
    w.add_argument("--weights", metavar="FILE", help="start from a state dict (.pt/.safetensors)")
    add_training_options(p)
    b = p.add_argument_group("budget (stop before an epoch would exceed it)")
    b.add_argument("--energy-wh", type=positive_float, help="energy budget in Wh")
    b.add_argument("--time-min", type=positive_float, help="training time budget in minutes")
    b.add_argument("--memory-mb", type=positive_float, help="peak memory budget in MB")
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "demo", help="train a small model for a few epochs on the bundled sample and print the run"
    )
    p.add_argument("--model", default="resnet18", help="timm model (default resnet18)")
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs (default 3)")
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("runs", help="list stored runs")
    p.add_argument("--data", help="only runs on this dataset")
    p.add_argument("--status", help="only runs with this status")
    p.add_argument("--json", action="store_true", help="print JSON with per-epoch figures")
    p.add_argument(
        "--show", type=positive_int, metavar="RUN_ID", help="one run: figures, per-class table"
    )
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="export stored runs (and epochs) to CSV or JSON")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", required=True, help="file to write")
    p.add_argument("--data", help="only runs on this dataset")
    p.set_defaults(func=cmd_export)


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
    """A tqdm bar over the batches of each epoch, on stderr (hidden when stderr is not a TTY)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def on_event(self, ev: Any) -> None:
        from tqdm import tqdm

        name = type(ev).__name__
        if name == "RunStarted":
            self.total_epochs = ev.epochs
            if not self.quiet:
                print(
                    f"run {ev.run_id}: {ev.model} on {ev.dataset}, {ev.params / 1e6:.2f}M params, "
                    f"device {ev.device}",
                    file=sys.stderr,
                )
        elif name == "BatchEnded":
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
        elif name == "EpochEnded":
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
        elif name == "RunFinished":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_train(args: argparse.Namespace) -> int:
    from pepr_desktop.core.runner import execute
    from pepr_desktop.core.train import Control

    cfg = config_from_args(
        args,
        budget_energy_wh=args.energy_wh,
        budget_time_min=args.time_min,
        budget_memory_mb=args.memory_mb,
    )
    return run_and_report(
        args,
        lambda store, control: execute(
            cfg, store, meter_factory=meter_factory_from_args(args), control=control
        ),
        Control(),
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """The headless main job: the bundled PneumoniaMNIST sample, class-weighted, on CPU or GPU."""
    from pepr_desktop.core.runner import execute
    from pepr_desktop.core.train import Control, TrainConfig

    cfg = TrainConfig(dataset="sample", model=args.model, epochs=args.epochs, class_weights="auto")
    print(
        f"PePR Desktop demo: {args.model}, {args.epochs} epochs on the bundled PneumoniaMNIST "
        "sample (582 training images, 28 px)",
        file=sys.stderr,
    )
    return run_and_report(
        args,
        lambda store, control: execute(
            cfg, store, meter_factory=meter_factory_from_args(args), control=control
        ),
        Control(),
    )


def run_and_report(args: argparse.Namespace, start: Any, control: Any) -> int:
    """Drive a run's event stream with a progress bar and Ctrl-C handling; print the result."""
    progress = Progress(quiet=False)
    finished = None
    with open_store(args) as store, stop_on_sigint(control):
        for ev in start(store, control):
            progress.on_event(ev)
            if type(ev).__name__ == "RunFinished":
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


def cmd_runs(args: argparse.Namespace) -> int:
    if args.show:
        from pepr_desktop.cli.model_io_cmds import show_run

        return show_run(args)
    with open_store(args) as store:
        runs = store.runs(dataset=args.data, status=args.status)
        if args.json:
            for r in runs:
                r["epochs"] = store.epochs(r["id"])
            print_json(clean_for_json(runs))
            return 0
    if not runs:
        print("no runs stored yet; start one with `pepr train --data sample --model resnet18`")
        return 0
    print_table([[r.get(c) for c in RUN_TABLE] for r in runs], RUN_TABLE)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pepr_desktop.core.runs_export import check_target, write_runs

    out = check_target(Path(args.output))
    with open_store(args) as store:
        runs = store.runs(dataset=args.data)
        if args.format == "json":
            for r in runs:
                r["epochs"] = store.epochs(r["id"])
    write_runs(out, runs, args.format)
    print(f"wrote {len(runs)} run(s) to {out}", file=sys.stderr)
    return 0
