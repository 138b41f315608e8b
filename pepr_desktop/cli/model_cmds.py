"""`pepr models` (the catalogue) and `pepr recommend` (what fits a budget on this machine)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pepr_desktop.cli._common import (
    clean_for_json,
    open_store,
    positive_float,
    positive_int,
    print_json,
    print_table,
    progress_bar,
)
from pepr_desktop.cli.options import (
    add_training_options,
    config_from_args,
    meter_settings_from_args,
)
from pepr_desktop.core import resources
from pepr_desktop.core.errors import UserError


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="the model catalogue (params, FLOPs, pretrained weights)")
    p.add_argument("--max-params", type=positive_int, metavar="N", help="only models <= N params")
    p.add_argument("--data", metavar="NAME", help="facts at this dataset's channels/classes/size")
    p.add_argument(
        "--image-size", "--img-size", type=positive_int, help="input size (default: dataset or 224)"
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_models)

    r = sub.add_parser("recommend", help="models that fit a budget here, best expected PePR first")
    r.add_argument("--data", required=True, metavar="NAME", help="dataset name (pepr datasets)")
    r.add_argument("--energy-wh", type=positive_float, metavar="X", help="energy budget (Wh)")
    r.add_argument("--time-min", type=positive_float, metavar="X", help="time budget (minutes)")
    r.add_argument("--memory-mb", type=positive_float, metavar="X", help="memory budget (MB)")
    r.add_argument("--max-params", type=positive_int, metavar="N", help="at most N parameters")
    r.add_argument(
        "--by",
        choices=resources.NAMES,
        default="energy",
        help="PePR variant to rank by (default energy)",
    )
    r.add_argument("--top", type=positive_int, default=10, help="how many to show (default 10)")
    r.add_argument(
        "--pretrained",
        action="store_true",
        help="prefer pretrained weights (downloads when online)",
    )
    r.add_argument("--weights", "--initial-checkpoint", metavar="FILE", help="a weights file")
    r.add_argument("--model", "-m", help="the model --weights belongs to")
    r.add_argument("--cpu-watts", type=positive_float, help="CPU power for the energy estimate")
    r.add_argument("--region", help="region code for carbon intensity, e.g. DK, DE, US-CA")
    r.add_argument(
        "--carbon-intensity", type=positive_float, metavar="G_PER_KWH", help="gCO2eq per kWh"
    )
    r.add_argument("--pue", type=positive_float, help="power usage effectiveness (default 1.0)")
    r.add_argument(
        "--time-limit",
        type=positive_float,
        default=40.0,
        metavar="S",
        help="seconds to spend probing (default 40)",
    )
    r.add_argument("--json", action="store_true", help="JSON output")
    t = r.add_argument_group("recipe search (--tune)")
    t.add_argument(
        "--tune",
        action="store_true",
        help="then try a few training recipes on the top candidates with short runs and keep "
        "the best by validation (never test)",
    )
    t.add_argument(
        "--tune-min", type=positive_float, metavar="X", help="search budget in minutes (default 5)"
    )
    t.add_argument("--tune-models", type=positive_int, default=2, metavar="K", help="top K (2)")
    t.add_argument(
        "--tune-epochs", type=positive_int, default=2, metavar="N", help="epochs per trial (2)"
    )
    add_training_options(r)
    r.set_defaults(func=cmd_recommend)


def cmd_models(args: argparse.Namespace) -> int:
    from pepr_desktop.core.models import catalog

    channels, classes, size = 3, 1000, args.image_size or 224
    if args.data:
        from pepr_desktop.core.data import registry as datasets

        with open_store(args) as store:
            info = datasets.resolve(args.data, store)
        channels, classes = info.channels, info.n_classes
        size = args.image_size or info.image_size

    with progress_bar("measuring", enabled=not args.json) as progress:
        rows = catalog.catalogue(
            channels, classes, size, max_params=args.max_params, progress=progress
        )
    if args.json:
        print_json(clean_for_json([f.to_dict() for f in rows]))
        return 0
    print(f"{len(rows)} models at {channels} channel(s), {classes} classes, {size} px")
    print_table(
        [
            [
                f.model,
                f.family,
                f.source,
                f"{f.params / 1e6:.2f}M",
                "n/a" if f.flops is None else f"{f.flops / 1e6:.1f}M",
                f.min_input_size,
                f.input_size,
                len(f.pretrained_tags),
                "yes" if f.weights_cached else "no",
                f.error[:40],
            ]
            for f in rows
        ],
        [
            "model",
            "family",
            "source",
            "params",
            "FLOPs",
            "min px",
            "at px",
            "pretrained tags",
            "cached",
            "note",
        ],
    )
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from pepr_desktop.core.budget import Budget
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.search.recommend import recommend

    if args.weights and not args.model:
        raise UserError("--weights needs --model NAME to say which architecture it belongs to.")
    budget = Budget(args.energy_wh, args.time_min, args.memory_mb, args.max_params)
    cfg = config_from_args(args).validate()
    settings = meter_settings_from_args(args)

    with open_store(args) as store, progress_bar("probing", not args.json) as progress:
        info = datasets.resolve(args.data, store)
        rec = recommend(
            info,
            store,
            budget,
            cfg,
            by=args.by,
            top=args.top,
            progress=progress,
            time_limit_s=args.time_limit,
            meter_settings=settings,
        )
    tuned = _tune(args, info, cfg, rec) if args.tune else None
    if args.json:
        data = rec.to_dict()
        if tuned is not None:
            data["tune"] = tuned.to_dict()
        print_json(clean_for_json(data))
        return 0
    _print_recommendation(rec)
    if tuned is not None:
        _print_tune(tuned, cfg)
    return 0


def _accuracy(c: Any) -> str:
    """'0.914 [0.81, 1.00]' or 'unknown' (never a stand-in number)."""
    if c.expected_acc is None:
        return "unknown"
    return f"{c.expected_acc:.3f} [{c.acc_low:.2f}, {c.acc_high:.2f}]"


def _print_recommendation(rec: Any) -> None:
    print(rec.message)
    s = rec.settings
    print(
        f"settings: {s.get('epochs')} epochs, batch {s.get('batch_size')}, "
        f"{s.get('train_images')} training images, {s.get('device')}; "
        f"power {rec.power_w or 0:.0f} W ({rec.power_source}); carbon {rec.carbon_source}; "
        f"paper prior: {rec.experiment or 'none'}; {rec.seconds:.1f} s"
    )
    print(f"expected accuracy: {rec.calibration}")
    print_table(
        [
            [
                c.rank or "-",
                c.model,
                f"{c.params / 1e6:.2f}M",
                c.image_size,
                "yes" if c.pretrained else "no",
                f"{c.predicted_time_s / 60:.2f}",
                c.predicted_energy_wh,
                f"{c.predicted_memory_mb:.0f}",
                _accuracy(c),
                c.acc_source,
                c.expected_pepr,
                "yes" if c.fits else "no",
            ]
            for c in rec.candidates
        ],
        [
            "#",
            "model",
            "params",
            "px",
            "pretrained",
            "time min",
            "energy Wh",
            "mem MB",
            "exp acc [interval]",
            "acc source",
            "exp PePR",
            "fits",
        ],
    )
    for c in rec.candidates[:3]:
        print(f"- {c.model}: {c.why}")
    if rec.skipped:
        print(f"({len(rec.skipped)} catalogue models not probed or excluded; --json lists why)")


def _tune(args: argparse.Namespace, info: Any, cfg: Any, rec: Any) -> Any:
    from pepr_desktop.core.search.tune import tune_recommended

    minutes = args.tune_min or 5.0
    if not args.json:
        print(f"tuning: up to {minutes:g} min, top {args.tune_models} candidates", file=sys.stderr)
    return tune_recommended(
        info,
        cfg,
        rec.candidates,
        budget_s=minutes * 60,
        top=args.tune_models,
        trial_epochs=args.tune_epochs,
    )


def _print_tune(res: Any, cfg: Any) -> None:
    print(
        f"recipe search: spent {res.spent_s:.0f} s of {res.budget_s:.0f} s"
        + ("" if res.spent_energy_j is None else f", {res.spent_energy_j / 3600:.3g} Wh")
        + f"; {res.trial_epochs}-epoch trials, chosen by {res.metric} (the test split is never "
        "read)"
    )
    print_table(
        [
            [t.model, t.recipe, t.status, t.score, t.epochs_done, f"{t.seconds:.0f}", t.note[:50]]
            for t in res.trials
        ],
        ["model", "recipe", "status", res.metric, "epochs", "s", "note"],
    )
    if res.best is None:
        print("no trial finished within the search budget; give more --tune-min.")
        return
    b = res.best
    flags = " ".join(
        (f"--{k.replace('_', '-')}" if v else "")
        if isinstance(v, bool)
        else f"--{k.replace('_', '-')} {v}"
        for k, v in b.overrides.items()
    ).strip()
    print(f"best: {b.model} with {b.recipe} ({res.metric} {b.score:.4f}); train it with:")
    if cfg.data_fraction != 1.0:
        flags += f" --data-fraction {cfg.data_fraction:g}"
    print(f"  pepr train --data {cfg.dataset} --model {b.model} --epochs {cfg.epochs} {flags}")
