"""`pepr auto`: find the best model for a budget on this machine by measuring (a budgeted Optuna
search over models, input sizes and recipes; core/search/auto/), with its progress on stderr
and a leaderboard (or one JSON object with --json) on stdout. `pepr demo` runs a short one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pepr_desktop.cli._common import (
    add_fast_path_options,
    clean_for_json,
    comma_list,
    fast_path_options,
    fmt,
    non_negative_int,
    open_store,
    positive_float,
    positive_int,
    print_json,
    print_table,
)
from pepr_desktop.cli.options import add_meter_options, meter_settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "auto",
        help="find the best model for a budget here: a budgeted search over models, input "
        "sizes and recipes",
        description="Probe which models fit, try models x input sizes x recipes with short "
        "trials (Optuna, pruned on the validation metric), then train the best again on all the "
        "data in what is left. The whole search stays within the budget (+3 percent); the test "
        "split is read once, for the final runs, after the winner was chosen on validation.",
    )
    p.add_argument("--data", required=True, help="dataset name (see `pepr datasets`)")
    b = p.add_argument_group("budget of the whole search (one at least)")
    b.add_argument("--time-min", type=positive_float, help="wall-clock minutes")
    b.add_argument("--energy-wh", type=positive_float, help="metered energy in Wh")
    b.add_argument("--memory-mb", type=positive_float, help="peak memory of any run in MB")
    p.add_argument(
        "--by",
        choices=("energy", "co2", "time", "memory"),
        default="energy",
        help="resource for PePR and --promote pepr (default energy)",
    )
    p.add_argument(
        "--metric",
        choices=("bacc", "auc", "acc"),
        default="bacc",
        help="validation metric trials are pruned and ranked on (default bacc)",
    )
    p.add_argument(
        "--promote",
        choices=("accuracy", "pepr"),
        default="accuracy",
        help="finalists by the metric or by expected PePR on --by",
    )
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    p.add_argument("--num-cpus", type=positive_float, default=1.0, help="Ray CPUs per trial")
    p.add_argument(
        "--models",
        type=comma_list,
        help="pool to probe, e.g. resnet18,resnet10t ('catalogue': every model)",
    )
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--trial-epochs", type=positive_int, default=3, help="epochs per trial (3)")
    p.add_argument("--max-trials", type=positive_int, help="stop after this many trials")
    p.add_argument("--pruner", choices=("hyperband", "sha", "none"), default="hyperband")
    p.add_argument("--no-upscale", action="store_true", help="only the images' own size")
    p.add_argument(
        "--concurrency",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="trials at once on one device (0: chosen; on CUDA from the probe's memory, 1 on "
        "the CPU); their energy figures are the device's, labelled shared",
    )
    add_fast_path_options(p)
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(func=cmd_auto)


def spec_from_args(args: argparse.Namespace, **fixed: Any) -> Any:
    from pepr_desktop.core.search.auto.spec import AutoSpec

    if getattr(args, "idle_baseline", None) is None:
        args.idle_baseline = 0.0  # per trial it would cost seconds of every short run
    return AutoSpec(
        dataset=args.data,
        time_min=args.time_min,
        energy_wh=args.energy_wh,
        memory_mb=args.memory_mb,
        by=args.by,
        metric=args.metric,
        promote=args.promote,
        backend=args.backend,
        address=args.address,
        num_cpus=args.num_cpus,
        models=args.models,
        device=args.device or "auto",
        seed=args.seed,
        trial_epochs=args.trial_epochs,
        max_trials=args.max_trials,
        pruner=args.pruner,
        upscale=not args.no_upscale,
        meter=meter_settings_from_args(args),
        fast_path=fast_path_options(args),
        concurrency=args.concurrency,
        **fixed,
    )


def cmd_auto(args: argparse.Namespace) -> int:
    return run_and_print(args, spec_from_args(args))


def run_and_print(args: argparse.Namespace, spec: Any) -> int:
    """Run the search with its progress on stderr; the leaderboard or JSON on stdout."""
    import contextlib

    from pepr_desktop.cli.run_output import stop_on_sigint
    from pepr_desktop.core.search.auto.engine import run_search
    from pepr_desktop.core.training.config import Control

    spec.validate()  # a user's mistake before the store is opened
    control = Control()
    progress = AutoProgress()
    quiet_stdout: Any = contextlib.nullcontext()
    if spec.backend == "ray":  # Ray prints to stdout: keep it for the result alone
        from pepr_desktop.cli.sweep_cmds import stdout_for_result_only

        quiet_stdout = stdout_for_result_only()
    with open_store(args) as store, stop_on_sigint(control), quiet_stdout:
        result = run_search(spec, store, control=control, emit=progress.on_event)
    if args.json:
        print_json(clean_for_json(result.to_dict()))
    else:
        print_leaderboard(result)
    return 0 if result.winner is not None else 1


class AutoProgress:
    """One line per trial and per epoch on stderr, with the counts, spent vs budget and the best
    trial so far."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def on_event(self, ev: Any) -> None:
        name = type(ev).__name__
        show = getattr(self, f"_{name}", None)
        if show is not None:
            show(ev)

    @staticmethod
    def _spent(spent: dict[str, Any]) -> str:
        parts = [f"{spent['spent_s'] / 60:.1f}"]
        if spent.get("time_min") is not None:
            parts[0] += f"/{spent['time_min']:g} min"
        else:
            parts[0] += " min"
        if spent.get("energy_wh") is not None:
            parts.append(f"{fmt(spent.get('spent_energy_wh'), 3)}/{spent['energy_wh']:g} Wh")
        return ", ".join(parts)

    def _SearchPlanned(self, ev: Any) -> None:
        print(
            f"search {ev.search_id}: {ev.message} (probe done, {self._spent(ev.spent)})",
            file=sys.stderr,
        )

    def _TrialStarted(self, ev: Any) -> None:
        print(
            f"{ev.phase} {ev.number}: {ev.model}@{ev.image_size} {ev.recipe}, {ev.epochs} epochs",
            file=sys.stderr,
        )

    def _TrialEpoch(self, ev: Any) -> None:
        m = ev.metrics
        print(
            f"  epoch {ev.epoch + 1}: val bacc {fmt(m.get('val_bacc'))} acc "
            f"{fmt(m.get('val_acc'))} auc {fmt(m.get('val_auc'))}  {ev.seconds:.1f} s",
            file=sys.stderr,
        )

    def _TrialEnded(self, ev: Any) -> None:
        r = ev.record
        self.counts[r.status] = self.counts.get(r.status, 0) + 1
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        best = ev.best
        best_text = (
            f"best {fmt(best.score)} (trial {best.number}, {best.model}@{best.image_size})"
            if best
            else "best n/a"
        )
        what = f"{r.status} after {r.epochs} epoch(s), score {fmt(r.score)}"
        print(f"{r.phase} {r.number}: {what}{'; ' + r.note if r.note else ''}", file=sys.stderr)
        print(f"  [{counts} | spent {self._spent(ev.spent)} | {best_text}]", file=sys.stderr)


def print_leaderboard(result: Any) -> None:
    d = result.to_dict()
    spent = d["spent"]
    print(
        f"search {d['search_id']} on {d['dataset']}: {d['budget']}, metric {d['metric']}, "
        f"by {d['by']}"
    )
    energy = spent.get("spent_energy_wh")
    print(
        f"spent {spent['spent_s']:.0f} s, {fmt(energy, 3)} Wh "
        f"({spent['fraction_spent']:.0%} of the budget)"
    )
    if result.finals:
        print("\nfinal runs (all the data; test read once, after the choice on validation):")
        rows = [_final_row(f) for f in result.finals]
        print_table(
            rows,
            [
                "run",
                "model",
                "size",
                "recipe",
                "epochs",
                "val",
                "test acc",
                "test bacc",
                "test auc",
                "predicted [interval]",
                "test expected",
                "Wh",
                "s",
                "flag",
            ],
        )
    print("\ntrials (validation only):")
    print_table(
        [_trial_row(t) for t in sorted(result.trials, key=lambda t: t.number)],
        [
            "trial",
            "run",
            "model",
            "size",
            "recipe",
            "status",
            "epochs",
            "val",
            "Wh",
            "s",
            f"PePR-{d['by'][0].upper()}",
            "pareto",
            "note",
        ],
    )
    w = d["winner"]
    if w is None:
        print(f"\nno winner: {d['message'] or 'nothing trained'}")
        return
    past = d["past_prediction_error"]
    past_text = (
        f"; past predictions here: median |error| {past['median_abs_error']:.3f} over {past['n']}"
        if past.get("n")
        else ""
    )
    print(
        f"\nwinner: run {w['run_id']} {w['model']}@{w['image_size']} ({w['recipe']}), "
        f"{w['epochs']} epochs: test acc {fmt(w['test_acc'])} auc {fmt(w['test_auc'])} "
        f"bacc {fmt(w['test_bacc'])}{past_text}"
    )
    if w.get("degenerate"):
        print(f"  flagged: {w['degenerate']}")
    if d["message"]:
        print(f"note: {d['message']}")


def _final_row(f: Any) -> list[Any]:
    from pepr_desktop.core.search.auto.predict import interval_text

    t = f.test or {}
    return [
        f.run_id,
        f.model,
        f.image_size,
        f.recipe,
        f.epochs,
        f.score,
        t.get("test_acc"),
        t.get("test_bacc"),
        t.get("test_auc"),
        interval_text(f.predicted),
        interval_text((f.predicted or {}).get("test_expected")),  # unknown until past test readings
        None if f.energy_wh is None else round(f.energy_wh, 3),
        round(f.seconds),
        f.degenerate or "",
    ]


def _trial_row(t: Any) -> list[Any]:
    return [
        t.number,
        t.run_id,
        t.model,
        t.image_size,
        t.recipe,
        t.status,
        t.epochs,
        t.score,
        None if t.energy_wh is None else round(t.energy_wh, 3),
        round(t.seconds),
        t.pepr,
        "*" if t.on_pareto_front else "",
        t.note[:60],
    ]
