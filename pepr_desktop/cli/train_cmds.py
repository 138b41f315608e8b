"""`pepr train`: one run, its progress on stderr, the stored run at the end; `pepr demo`: a short
budgeted search (`pepr auto`, cli/auto_cmds.py) on the bundled sample.

The options they share with other commands are in cli/options.py, the running and printing in
cli/run_output.py; `pepr runs` and `pepr export` are in cli/runs_cmds.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pepr_desktop.cli._common import (
    add_fast_path_options,
    comma_list,
    fast_path_options,
    positive_float,
)
from pepr_desktop.cli.options import (
    add_meter_options,
    add_training_options,
    config_from_args,
    meter_factory_from_args,
    meter_settings_from_args,
)
from pepr_desktop.cli.run_output import run_and_report

DEMO_MODELS = ("resnet18", "resnet10t")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model and store the run")
    p.add_argument("--data", required=True, help="dataset name (see `pepr datasets`)")
    p.add_argument("--model", "-m", required=True, help="timm model name (see `pepr models`)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", action="store_true", help="start from timm's pretrained weights")
    w.add_argument(
        "--weights",
        "--initial-checkpoint",
        metavar="FILE",
        help="start from a state dict (.pt/.safetensors)",
    )
    add_training_options(p)
    add_fast_path_options(p)
    b = p.add_argument_group("budget (stop before an epoch would exceed it)")
    b.add_argument("--energy-wh", type=positive_float, help="energy budget in Wh")
    b.add_argument("--time-min", type=positive_float, help="training time budget in minutes")
    b.add_argument("--memory-mb", type=positive_float, help="peak memory budget in MB")
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "demo",
        help="a short budgeted search (`pepr auto`) on the bundled sample: leaderboard and winner",
    )
    p.add_argument(
        "--models",
        "--model",
        "-m",
        type=comma_list,
        default=list(DEMO_MODELS),
        help=f"pool to search (default {','.join(DEMO_MODELS)})",
    )
    p.add_argument(
        "--time-min", type=positive_float, default=1.5, help="budget in minutes (default 1.5)"
    )
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the search as JSON at the end")
    p.set_defaults(func=cmd_demo)


def cmd_train(args: argparse.Namespace) -> int:
    from pepr_desktop.core.training.config import Control
    from pepr_desktop.core.training.runner import execute

    cfg = config_from_args(
        args,
        budget_energy_wh=args.energy_wh,
        budget_time_min=args.time_min,
        budget_memory_mb=args.memory_mb,
        **fast_path_options(args),
    )

    def start(store: Any, control: Control) -> Any:
        return execute(
            _with_accuracy_prediction(cfg, store),
            store,
            meter_factory=meter_factory_from_args(args),
            control=control,
        )

    return run_and_report(args, start, Control())


def _with_accuracy_prediction(cfg: Any, store: Any) -> Any:
    """`cfg` carrying the accuracy it is expected to reach (your runs, the paper prior, or
    unknown), so the finished run records predicted vs actual. A dataset that cannot be resolved
    is left for `execute` to refuse in its own words."""
    from pepr_desktop.core.data import registry
    from pepr_desktop.core.errors import UserError
    from pepr_desktop.core.search.predictions import prediction_for, with_prediction

    try:
        info = registry.resolve(cfg.dataset, store)
    except UserError:
        return cfg
    return with_prediction(cfg, prediction_for(cfg.model, info, store, cfg))


def cmd_demo(args: argparse.Namespace) -> int:
    """The headless main job: a short budgeted search on the bundled PneumoniaMNIST sample (on CPU
    or GPU), its leaderboard and its winner."""
    from pepr_desktop.cli.auto_cmds import run_and_print
    from pepr_desktop.core.search.auto.spec import AutoSpec

    if args.idle_baseline is None:
        args.idle_baseline = 0.0  # seconds of idle power before every short run: not for a demo
    spec = AutoSpec(
        dataset="sample",
        time_min=args.time_min,
        models=args.models,
        device=getattr(args, "device", None) or "auto",
        trial_epochs=2,
        meter=meter_settings_from_args(args),
    )
    print(
        f"PePR Desktop demo: a {args.time_min:g}-minute budgeted search over "
        f"{', '.join(args.models)} (input sizes, recipes) on the bundled PneumoniaMNIST sample "
        "(582 training images, 28 px)",
        file=sys.stderr,
    )
    return run_and_print(args, spec)
