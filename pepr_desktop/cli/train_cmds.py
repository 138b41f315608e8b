"""`pepr train` and `pepr demo`: one run, its progress on stderr, the stored run at the end.

The options they share with other commands are in cli/options.py, the running and printing in
cli/run_output.py; `pepr runs` and `pepr export` are in cli/runs_cmds.py.
"""

from __future__ import annotations

import argparse
import sys

from pepr_desktop.cli._common import positive_float, positive_int
from pepr_desktop.cli.options import (
    add_meter_options,
    add_training_options,
    config_from_args,
    meter_factory_from_args,
)
from pepr_desktop.cli.run_output import run_and_report


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


def cmd_train(args: argparse.Namespace) -> int:
    from pepr_desktop.core.training.config import Control
    from pepr_desktop.core.training.runner import execute

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
    from pepr_desktop.core.training.config import Control, TrainConfig
    from pepr_desktop.core.training.runner import execute

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
