"""`pepr runs` (and `pepr runs --show RUN_ID`) and `pepr export`: the stored runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pepr_desktop.cli._common import (
    clean_for_json,
    open_store,
    positive_int,
    print_json,
    print_table,
)
from pepr_desktop.cli.run_output import print_evaluation, print_run_summary, run_with_epochs
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.sweeps.jobs import node_label

# the stored column of each resource of the registry (core/resources.py), then how energy was got
RUN_TABLE = (
    "id", "dataset", "model", "status", "epochs_done", "test_acc", "test_auc",
    *(r.run_column for r in RESOURCES.values()), "energy_method",
)  # fmt: skip


EXPORT_FORMATS = ("csv", "json", "codecarbon", "mlflow")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list stored runs")
    p.add_argument("--data", help="only runs on this dataset")
    p.add_argument("--status", help="only runs with this status")
    p.add_argument("--json", action="store_true", help="print JSON with per-epoch figures")
    p.add_argument(
        "--show", type=positive_int, metavar="RUN_ID", help="one run: figures, per-class table"
    )
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "export",
        help="export stored runs: CSV, JSON, CodeCarbon's emissions.csv or to MLflow",
        description="csv/json: every stored column (ISO times, units in the names); codecarbon: "
        "CodeCarbon's emissions.csv columns and units (kWh, kg); mlflow: one MLflow run per run, "
        "per-epoch metrics by step (extra `mlflow`).",
    )
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    p.add_argument("-o", "--output", help="file to write (codecarbon: default emissions.csv)")
    p.add_argument("--data", help="only runs on this dataset")
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="mlflow: tracking URI (default $MLFLOW_TRACKING_URI), e.g. ./mlruns, sqlite:///m.db",
    )
    p.add_argument("--experiment", default="pepr-desktop", help="mlflow: experiment name")
    p.set_defaults(func=cmd_export)


def cmd_runs(args: argparse.Namespace) -> int:
    if args.show:
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
    # runs trained on Ray nodes: which node and worker (a local run has none)
    cols = (*RUN_TABLE, "node") if any(r.get("node") for r in runs) else RUN_TABLE
    rows = [[node_label(r.get(c)) if c == "node" else r.get(c) for c in cols] for r in runs]
    from pepr_desktop.core.scoring.degenerate import run_verdict

    flags = [run_verdict(r) for r in runs]
    if any(flags):  # a model that collapsed onto one class is named, not ranked as a model
        cols = (*cols, "flag")
        rows = [[*row, v.label if v else ""] for row, v in zip(rows, flags)]
    print_table(rows, cols)
    return 0


def show_run(args: argparse.Namespace) -> int:
    """`pepr runs --show RUN_ID`: the run's figures, per-class table and confusion matrix."""
    with open_store(args) as store:
        run = run_with_epochs(store, args.show)
    if args.json:
        print_json(clean_for_json(run))
        return 0
    print_run_summary(run)
    print()
    print_evaluation(run.get("evaluation"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pepr_desktop.core.exports.runs import check_target, write_runs

    if args.format == "mlflow":
        return _export_mlflow(args)
    if not args.output and args.format != "codecarbon":
        raise UserError(f"--format {args.format} needs -o FILE, the file to write.")
    out = check_target(Path(args.output or "emissions.csv"))
    with open_store(args) as store:
        runs = store.runs(dataset=args.data)
        if args.format in ("json", "codecarbon"):
            for r in runs:
                r["epochs"] = store.epochs(r["id"])
    if args.format == "codecarbon":
        from pepr_desktop.core.exports.codecarbon import write_emissions

        write_emissions(out, runs)
    else:
        write_runs(out, runs, args.format)
    print(f"wrote {len(runs)} run(s) to {out}", file=sys.stderr)
    return 0


def _export_mlflow(args: argparse.Namespace) -> int:
    from pepr_desktop.core.exports.mlflow import export_runs

    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UserError("--format mlflow needs --tracking-uri URI (or MLFLOW_TRACKING_URI).")
    with open_store(args) as store:
        runs = store.runs(dataset=args.data)
        for r in runs:
            r["epochs"] = store.epochs(r["id"])
        db_id = str(Path(store.path).resolve())
    done = export_runs(uri, runs, db_id, args.experiment)
    print(
        f"logged {done.logged} run(s) to MLflow experiment '{args.experiment}' at {uri}"
        + (f"; {done.skipped} already there" if done.skipped else "")
        + (f"; {done.running} still training, not logged" if done.running else ""),
        file=sys.stderr,
    )
    return 0
