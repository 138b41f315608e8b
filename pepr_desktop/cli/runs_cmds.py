"""`pepr runs` (and `pepr runs --show RUN_ID`) and `pepr export`: the stored runs."""

from __future__ import annotations

import argparse
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
from pepr_desktop.core.resources import RESOURCES

# the stored column of each resource of the registry (core/resources.py), then how energy was got
RUN_TABLE = (
    "id", "dataset", "model", "status", "epochs_done", "test_acc", "test_auc",
    *(r.run_column for r in RESOURCES.values()), "energy_method",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
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
    print_table([[r.get(c) for c in RUN_TABLE] for r in runs], RUN_TABLE)
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

    out = check_target(Path(args.output))
    with open_store(args) as store:
        runs = store.runs(dataset=args.data)
        if args.format == "json":
            for r in runs:
                r["epochs"] = store.epochs(r["id"])
    write_runs(out, runs, args.format)
    print(f"wrote {len(runs)} run(s) to {out}", file=sys.stderr)
    return 0
