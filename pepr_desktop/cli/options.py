"""Options several commands share, and what they become: the training options (`train`, `sweep`,
`recommend`) -> `TrainConfig`, the metering options (`train`, `demo`, `resume`, `sweep`,
`meter`) -> `MeterSettings` or a meter factory.

The options' choices come from core/training/config.py, their one definition (`TrainConfig.validate`
checks against the same tuples); that module imports neither numpy nor torch, so `pepr --help`
stays fast. timm's spellings are accepted beside ours (`--img-size`, `--smoothing`, `--sched`, `-b`;
`-m` and `--initial-checkpoint` where a command has `--model` / `--weights`): `TIMM_ALIASES`.

Options that the settings file also sets (region, PUE, carbon intensity, CPU watts, device, the
database) default to None here; `apply_settings` fills what no flag gave from the environment, the
file or the default (core/config.py), before any command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from pepr_desktop.cli._common import fraction, non_negative_int, positive_float, positive_int
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import AUGMENTS, CLASS_WEIGHTS, SAMPLERS, SCHEDULES

# timm's train.py spellings, accepted as aliases of ours (same option, same dest)
TIMM_ALIASES: dict[str, tuple[str, ...]] = {
    "--image-size": ("--img-size",),
    "--label-smoothing": ("--smoothing",),
    "--schedule": ("--sched",),
    "--weights": ("--initial-checkpoint",),
    "--batch-size": ("-b",),
    "--model": ("-m",),
}
DEVICE_HELP = "auto, cpu, cuda or cuda:N (default: settings file, else auto)"


def flag(name: str) -> tuple[str, ...]:
    """An option's spellings: ours first (it names the dest), then timm's."""
    return (name, *TIMM_ALIASES.get(name, ()))


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `train`, `sweep` and `recommend` (defaults: the paper's protocol)."""
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs (default 10)")
    p.add_argument(
        *flag("--batch-size"), type=positive_int, default=32, help="batch size (default 32)"
    )
    p.add_argument("--lr", type=positive_float, default=5e-4, help="Adam learning rate (5e-4)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument(
        "--data-fraction", type=fraction, default=1.0, help="stratified share of training data"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument(
        *flag("--image-size"), type=positive_int, help="resize images to N px on the device"
    )
    p.add_argument(
        "--class-weights",
        choices=CLASS_WEIGHTS,
        default="none",
        help="auto: weight the loss by inverse class frequency (imbalanced data)",
    )
    q = p.add_argument_group("training quality (defaults keep the paper's protocol)")
    q.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="shuffle",
        help="balanced: draw every class equally often (imbalanced data)",
    )
    q.add_argument(
        "--augment",
        choices=AUGMENTS,
        default="none",
        help="light: random flips and small affine on the device",
    )
    q.add_argument(
        *flag("--schedule"),
        choices=SCHEDULES,
        default="constant",
        help="learning-rate schedule, stepped per batch (default constant)",
    )
    q.add_argument(
        *flag("--label-smoothing"), type=float, default=0.0, metavar="X", help="e.g. 0.1 (0)"
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
    from pepr_desktop.core.training.config import TrainConfig

    shared = {
        "dataset": args.data,
        "model": getattr(args, "model", None) or "",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device or "auto",
        "image_size": args.image_size,
        "data_fraction": args.data_fraction,
        "pretrained": getattr(args, "pretrained", False),
        "weights": getattr(args, "weights", None),
        "class_weights": args.class_weights,
        **quality_options(args),
    }
    return TrainConfig(**{**shared, **fields})


def apply_settings(args: argparse.Namespace) -> None:
    """Fill the settings no flag gave (None) from the environment, the settings file or the
    default, for the options this command has; `--device` falls back to auto."""
    from pepr_desktop.core import config

    names = [k for k in config.KEYS if hasattr(args, k)]
    flags = {k: getattr(args, k) for k in names}
    for name, setting in config.resolve(flags).items():
        if name in names:
            setattr(args, name, setting.value)
    if hasattr(args, "device") and args.device is None:
        args.device = "auto"


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
