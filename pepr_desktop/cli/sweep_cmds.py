"""`pepr sweep`: several runs on one dataset, here one after another or as Ray tasks on a cluster.

Every run lands in the same store as `pepr train` runs (this process writes it, never the
workers), so `pepr runs`, `pepr compare` and the GUI show sweeps like any other runs.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from pepr_desktop.cli._common import (
    add_fast_path_options,
    clean_for_json,
    comma_list,
    fast_path_options,
    non_negative_int,
    open_store,
    positive_float,
    positive_int,
    print_json,
    print_table,
)
from pepr_desktop.cli.options import (
    add_meter_options,
    add_training_options,
    config_from_args,
    meter_settings_from_args,
)
from pepr_desktop.cli.run_output import stop_on_sigint
from pepr_desktop.core.errors import UserError

PROGRESS_EVERY_S = 10.0  # between epochs, a progress line at most this often


@contextlib.contextmanager
def stdout_for_result_only() -> Iterator[None]:
    """Whatever is written to stdout inside goes to stderr, so that stdout carries the result
    alone (`--json` parses). Ray print()s cluster errors ("the node ... has been marked dead")
    to sys.stdout from a thread of its own, and its C++ core may write to file descriptor 1:
    both are moved, Python's sys.stdout and descriptor 1, until the block ends."""
    sys.stdout.flush()
    saved_stdout = sys.stdout
    try:
        saved_fd: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # descriptor 1 is closed: Python's level only
        saved_fd = None
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stdout = saved_stdout
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number >= 0")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="train several models on one dataset, locally or on a Ray cluster",
        description="Run one job per model (same settings) and store every run. Default backend: "
        "local, one job after another. --backend ray runs each job as a Ray task (a local Ray "
        "without --address). --resume SWEEP_ID runs only the jobs that did not finish.",
    )
    p.add_argument("--data", help="dataset name (see `pepr datasets`)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--models", type=comma_list, metavar="M1,M2,...", help="timm model names")
    what.add_argument(
        "--recommended",
        type=positive_int,
        metavar="K",
        help="the K best models `pepr recommend` finds for the budget",
    )
    what.add_argument("--resume", metavar="SWEEP_ID", help="run the unfinished jobs of a sweep")
    p.add_argument(
        "--pretrained", action="store_true", help="start every model from timm's weights"
    )
    add_training_options(p)
    add_fast_path_options(p)
    b = p.add_argument_group("budget per run (stop before an epoch would exceed it)")
    b.add_argument("--energy-wh", type=positive_float, help="energy budget in Wh")
    b.add_argument("--time-min", type=positive_float, help="training time budget in minutes")
    b.add_argument("--memory-mb", type=positive_float, help="peak memory budget in MB")
    add_meter_options(p)
    r = p.add_argument_group("where the jobs run")
    r.add_argument("--backend", choices=("local", "ray"), help="local (default) or ray")
    r.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster address (auto, HOST:6379 or ray://HOST:10001); none: a local Ray",
    )
    r.add_argument("--num-cpus", type=positive_float, help="CPUs per job on Ray (default 1)")
    r.add_argument(
        "--num-gpus", type=non_negative_float, help="GPUs per job on Ray (default 0; 0.5 shares)"
    )
    r.add_argument(
        "--concurrency",
        type=non_negative_int,
        metavar="N",
        help="local backend: N jobs at once on one device (default 1; 0: chosen from free memory "
        "and the recommender's memory figure); their energy figures are labelled shared",
    )
    p.add_argument("--json", action="store_true", help="print the sweep summary as JSON")
    p.set_defaults(func=cmd_sweep)


def _new_spec(args: argparse.Namespace, store: Any) -> Any:
    from pepr_desktop.core.sweeps.jobs import make_spec

    if not args.data:
        raise UserError("--data NAME is required for a new sweep (or --resume SWEEP_ID).")
    if not args.models and not args.recommended:
        raise UserError("say what to train: --models M1,M2,... or --recommended K.")
    base = config_from_args(
        args,
        model="",
        weights=None,
        budget_energy_wh=args.energy_wh,
        budget_time_min=args.time_min,
        budget_memory_mb=args.memory_mb,
        **fast_path_options(args),
    )
    models: list[Any] = list(args.models or [])
    memory_mb = None
    if args.recommended:
        models, memory_mb = _recommended(args, store, base)
    spec = make_spec(
        base,
        models,
        backend=args.backend or "local",
        meter_settings=meter_settings_from_args(args),
        address=args.address,
        num_cpus=args.num_cpus if args.num_cpus is not None else 1.0,
        num_gpus=args.num_gpus if args.num_gpus is not None else 0.0,
    )
    if args.concurrency is not None:
        spec.concurrent, spec.trial_memory_mb = args.concurrency, memory_mb
    return spec


def _recommended(args: argparse.Namespace, store: Any, base: Any) -> tuple[list[Any], float | None]:
    """The K best fitting models of `pepr recommend` (with its pretrained choice and size)."""
    from dataclasses import replace

    from pepr_desktop.core.budget import Budget
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.search.recommend import recommend

    info = datasets.resolve(args.data, store)
    budget = Budget(args.energy_wh, args.time_min, args.memory_mb)
    print(f"probing models for the {args.recommended} best under {budget.describe()}...",
          file=sys.stderr)  # fmt: skip
    rec = recommend(info, store, budget, replace(base, model=""), top=args.recommended)
    picked = rec.fitting[: args.recommended]
    if not picked:
        raise UserError(
            f"no model fits {budget.describe()} here ({rec.message}); raise the budget or give "
            "--models."
        )
    jobs = [(c.model, {"pretrained": bool(c.pretrained)}) for c in picked]
    mems = [m for c in picked if (m := getattr(c, "predicted_memory_mb", None)) is not None]
    return jobs, max(mems) if mems else None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """On --resume, only where-to-run options may change; training options come from the sweep."""
    given = {
        "backend": args.backend,
        "address": args.address,
        "num_cpus": args.num_cpus,
        "num_gpus": args.num_gpus,
        "concurrent": args.concurrency,
    }
    return {k: v for k, v in given.items() if v is not None}


def cmd_sweep(args: argparse.Namespace) -> int:
    from pepr_desktop.core.events import EpochEnded, RunFinished
    from pepr_desktop.core.sweeps import driver as sweep
    from pepr_desktop.core.sweeps.jobs import node_label
    from pepr_desktop.core.training.config import Control

    ray_opts = args.address or args.num_gpus is not None or args.num_cpus is not None
    if ray_opts and (args.backend == "local" or (args.backend is None and not args.resume)):
        raise UserError("--address, --num-cpus and --num-gpus are for --backend ray.")
    if args.concurrency not in (None, 1) and args.backend == "ray":
        raise UserError("--concurrency is for the local backend; Ray places jobs itself.")
    control = Control()
    with stdout_for_result_only(), open_store(args) as store:
        if args.resume:
            if args.data:
                raise UserError(
                    "--resume takes the dataset and jobs from the stored sweep; drop --data."
                )
            sweep_id = args.resume
            sweep.get_sweep(store, sweep_id)  # unknown id: one line, before anything runs
            overrides = _overrides(args)
        else:
            sweep_id = sweep.create_sweep(_new_spec(args, store), store)
            overrides = {}
        print(f"sweep {sweep_id}", file=sys.stderr)
        last_line = 0.0
        with stop_on_sigint(control):
            for u in sweep.run_sweep(store, sweep_id, control=control, overrides=overrides):
                ev = u.event
                now = time.monotonic()
                if isinstance(ev, (sweep.JobPlaced, RunFinished)) or (
                    isinstance(ev, EpochEnded) and now - last_line > PROGRESS_EVERY_S
                ):
                    if isinstance(ev, sweep.JobPlaced):
                        where = f"{ev.host} {ev.device} ({ev.device_name}), {ev.energy_method}"
                        if ev.node_id:
                            where += f", Ray node {node_label(ev.node())}"
                        print(f"job {u.job}: run {u.run_id} on {where}", file=sys.stderr)
                    elif isinstance(ev, RunFinished) and ev.status != "finished":
                        why = f": {ev.message}" if ev.message else ""
                        print(f"job {u.job}: run {u.run_id} {ev.status}{why}", file=sys.stderr)
                    print(u.progress.line(), file=sys.stderr)
                    last_line = now
        summary = sweep.summarize(store, sweep_id)  # Ray is disconnected by now
    if args.json:
        print_json(clean_for_json(summary))
    else:
        print_summary(summary)
    ok = all(j["status"] == "finished" or j["reason"] == "budget" for j in summary["jobs"])
    return 0 if ok else 1


def print_summary(s: dict[str, Any]) -> None:
    from pepr_desktop.core.sweeps.jobs import node_label

    counts = ", ".join(f"{v} {k}" for k, v in sorted(s["counts"].items()))
    print(f"sweep {s['id']} on {s['dataset']} ({s['backend']}): {s['status']}; {counts}")
    pepr: dict[int, Any] = {}
    if s.get("comparison"):
        for row in s["comparison"]["runs"]:
            pepr[row["run_id"]] = (row.get("energy") or {}).get("PePR-E")
    print_table(
        [
            [
                j["job"],
                j["model"],
                j["run_id"] if j["run_id"] is not None else "-",
                j["status"] + (f" ({j['reason']})" if j["reason"] else ""),
                node_label(j.get("node")) or j["host"] or "-",
                j["device"] or "-",
                j["energy_method"] or "-",
                j["test_acc"],
                j["train_time_s"],
                None if j["energy_j"] is None else j["energy_j"] / 3600,
                pepr.get(j["run_id"]),
            ]
            for j in s["jobs"]
        ],
        ["job", "model", "run", "status", "where", "device", "meter", "test acc", "time s",
         "energy Wh", "PePR-E"],
    )  # fmt: skip
    for j in s["jobs"]:
        if j["message"] and j["status"] != "finished":
            print(f"- job {j['job']} ({j['model']}): {j['message']}")
    if s["energy_j"] is not None:
        by = ", ".join(f"{v / 3600:.4f} Wh {k}" for k, v in s["energy_j_by_method"].items())
        print(f"energy of the sweep: {s['energy_j'] / 3600:.4f} Wh ({by})")
    if s["energy_note"]:
        print(f"note: {s['energy_note']}")
    for w in s["warnings"]:
        print(f"warning: {w}")
    if any(j["status"] != "finished" and j["reason"] != "budget" for j in s["jobs"]):
        print(f"run the unfinished jobs again with `pepr sweep --resume {s['id']}`")
