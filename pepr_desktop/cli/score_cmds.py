"""`pepr score` (PePR columns for any table), `pepr compare` (stored runs) and `pepr paper` (the
paper's own model space)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from pepr_desktop.cli._common import (
    clean_for_json,
    open_store,
    positive_int,
    print_json,
    print_table,
)
from pepr_desktop.core import resources
from pepr_desktop.core.errors import UserError

MAX_REASONS_SHOWN = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="add normalised resources and PePR scores to a CSV/JSON table",
        description="For each --resource X, add X_n (min-max normalised within the group) and "
        "pepr_X = P / (1 + X_n). Rows keep their input order; missing values are left empty "
        "and reported.",
    )
    p.add_argument("table", help="input .csv or .json (a list of objects)")
    p.add_argument("--performance", required=True, metavar="COL", help="column with P in [0, 1]")
    p.add_argument(
        "--resource",
        required=True,
        action="append",
        metavar="COL",
        help="resource column (repeat for several)",
    )
    p.add_argument("--group", metavar="COL", help="normalise within each value of this column")
    p.add_argument(
        "-o", "--output", default="-", metavar="OUT", help="output file (default: stdout)"
    )
    p.add_argument(
        "--format",
        choices=("csv", "json"),
        help="input and output format (default: from the file extensions)",
    )
    p.add_argument(
        "--rank", action="store_true", help="also add rank_X (1 = best) and pareto_X (1/0)"
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "compare",
        help="compare stored runs by PePR-E/C/T/M, with Pareto front and rank",
    )
    p.add_argument("run_ids", nargs="+", type=positive_int, metavar="RUN_ID")
    p.add_argument(
        "--resource",
        default="all",
        choices=resources.CHOICES,
        help="which PePR variant(s) (default: all)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="write accuracy vs resource with the front")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--allow-mixed", action="store_true", help="compare runs of different datasets as one set"
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("paper", help="the PePR paper's model space and its PePR scores")
    p.add_argument("--experiment", metavar="NAME", help="e.g. pneumonia (default: a summary)")
    p.add_argument("--sort", default="E", choices=resources.LETTERS, help="rank by this variant")
    p.add_argument("--top", type=positive_int, metavar="N", help="show only the N best")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_paper)


# --------------------------------------------------------------------------- score


def _format_of(path: str, forced: str | None) -> str:
    if forced:
        return forced
    return "json" if path.lower().endswith(".json") else "csv"


def read_table(path: str, fmt_: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (in order) and rows of a CSV or JSON table; unreadable input is a UserError."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).expanduser().read_text("utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; give a .csv or .json file.") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file; export it as CSV or JSON.") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}).") from None
    if fmt_ == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            data = data["rows"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UserError(f"{path} must hold a JSON list of objects, one per row.")
        columns = list(dict.fromkeys(k for r in data for k in r))
        return columns, [{c: r.get(c) for c in columns} for r in data]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise UserError(
            f"{path} is empty; give a CSV with a header row and one row per run."
        ) from None
    except csv.Error as exc:
        raise UserError(f"{path} is not a readable CSV ({exc}).") from None
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise UserError(f"{path} has duplicate column names ({', '.join(dup)}); rename them.")
    rows = []
    try:
        for line_no, rec in enumerate(reader, start=2):
            if not rec:
                continue
            if len(rec) != len(header):
                raise UserError(
                    f"{path} line {line_no} has {len(rec)} fields but the header has "
                    f"{len(header)}; fix that line."
                )
            rows.append(dict(zip(header, rec, strict=True)))
    except csv.Error as exc:
        raise UserError(f"{path} is not a readable CSV ({exc}).") from None
    return header, rows


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return repr(v)
    return v


def cmd_score(args: argparse.Namespace) -> int:
    from pepr_desktop.core.scoring.pepr import score_table

    in_fmt = _format_of(args.table, args.format)
    out_fmt = (
        _format_of(args.output, args.format) if args.output != "-" else (args.format or in_fmt)
    )
    columns, rows = read_table(args.table, in_fmt)
    if not rows:
        raise UserError(f"{args.table} has no rows to score; add at least one run.")
    st = score_table(rows, args.performance, args.resource, args.group)

    out_cols = list(columns)
    added: dict[str, list[Any]] = {}
    for col in args.resource:
        sc = st.scores[col]
        added[f"{col}_n"] = sc.normalised
        added[f"pepr_{col}"] = sc.pepr
        if args.rank:
            added[f"rank_{col}"] = sc.rank
            added[f"pareto_{col}"] = [
                int(f) if s is not None else None for f, s in zip(sc.pareto, sc.pepr, strict=True)
            ]
    out_cols += [c for c in added if c not in out_cols]
    out_rows = []
    for i, row in enumerate(rows):
        r = dict(row)
        for c, vals in added.items():
            r[c] = vals[i]
        out_rows.append(r)

    buf = io.StringIO()
    if out_fmt == "json":
        json.dump(clean_for_json(out_rows), buf, indent=2, allow_nan=False)
        buf.write("\n")
    else:
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(out_cols)
        for r in out_rows:
            w.writerow([_cell(r.get(c)) for c in out_cols])
    if args.output == "-":
        sys.stdout.write(buf.getvalue())
    else:
        out = Path(args.output).expanduser()
        try:
            out.write_text(buf.getvalue(), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out} ({exc.strerror}); choose another path.") from None

    groups = len(set(st.groups))
    print(
        f"scored {len(rows)} rows"
        + (f" in {groups} groups of '{args.group}'" if args.group else "")
        + ("" if args.output == "-" else f" -> {args.output}"),
        file=sys.stderr,
    )
    _print_exclusions(st, args.performance, args.resource)
    return 0


def _print_exclusions(st: Any, performance: str, resources: list[str]) -> None:
    for col in [performance, *resources]:
        ex = st.reasons(col)
        if not ex:
            continue
        what = "all scores" if col == performance else f"pepr_{col}"
        shown = "; ".join(f"row {e.row + 1}: {e.reason}" for e in ex[:MAX_REASONS_SHOWN])
        more = f"; ... {len(ex) - MAX_REASONS_SHOWN} more" if len(ex) > MAX_REASONS_SHOWN else ""
        print(f"excluded from {what}: {len(ex)} row(s) ({shown}{more})", file=sys.stderr)


# --------------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    from pepr_desktop.core.scoring.compare import compare_runs, load_runs
    from pepr_desktop.core.scoring.epoch_pepr import for_runs

    with open_store(args, readonly=True) as store:
        runs = load_runs(store, args.run_ids)
        table = compare_runs(runs, args.resource, allow_mixed=args.allow_mixed)
        epochs_table = for_runs(store, runs)
    plot = None
    if args.plot:
        from pepr_desktop.core.scoring.plot import plot_comparison

        plot = plot_comparison(table, args.plot)
    if args.json:
        data = table.to_dict()
        data["plot"] = str(plot) if plot else None
        data["epoch_pepr"] = epochs_table.to_dict()
        print_json(clean_for_json(data))
        return 0

    single = len(table.variants) == 1
    headers = ["run", "model", "status", "test_acc"]
    for v in table.variants:
        headers += [f"{v.resource} ({v.unit})", f"{v.resource}_n", v.name, f"rank_{v.key}"]
        if single:
            headers.append("pareto")
    first = table.variants[0].resource
    body = []
    for row in table.ranked(first):
        cells: list[Any] = [row.run_id, row.model, row.status, row.performance]
        for v in table.variants:
            r = v.resource
            score = row.pepr[r]
            mark = "*" if row.pareto[r] and not single else ""
            cells += [
                _sig(row.resources[r]),
                row.normalised[r],
                None if score is None else f"{score:.4f}{mark}",
                row.rank[r],
            ]
            if single:
                cells.append("yes" if row.pareto[r] else "")
        body.append(cells)
    print(f"dataset: {', '.join(table.datasets)}; performance: final-epoch test accuracy")
    print_table(body, headers)
    if not single:
        print("* on the Pareto front of test accuracy vs that resource")
    for row in table.rows:
        for res, why in row.excluded.items():
            print(f"run {row.run_id}: not scored for {res}: {why}")
    for note in table.notes:
        print(f"note: {note}")
    _print_epoch_optimum(epochs_table)
    if plot:
        print(f"plot written to {plot}")
    return 0


def _print_epoch_optimum(t: Any) -> None:
    """The epoch count that maximises each run's PePR (issue 12)."""
    print(
        f"PePR-optimal epochs (PePR by {t.resource} if stopped after each epoch; every run's "
        f"epochs form one comparison set; {t.basis}):"
    )
    print_table(
        [
            [
                c.key,
                c.model,
                f"{c.best_epochs} of {c.epochs}" if c.best_epochs else "n/a",
                c.performance[c.best_epochs - 1] if c.best_epochs else None,
                _sig(c.resource[c.best_epochs - 1]) if c.best_epochs else "n/a",
                None if c.best_pepr is None else f"{c.best_pepr:.4f}",
                None if c.final_pepr is None else f"{c.final_pepr:.4f}",
            ]
            for c in t.curves
        ],
        ["run", "model", "best epochs", "acc then", f"{t.resource} ({t.unit})", "PePR", "final"],
    )
    for note in t.notes:
        print(f"note: {note}")


def _sig(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


# --------------------------------------------------------------------------- paper


def cmd_paper(args: argparse.Namespace) -> int:
    from pepr_desktop.core.scoring.epoch_pepr import for_paper
    from pepr_desktop.core.scoring.paper import paper_models

    models = paper_models(args.experiment)
    if args.experiment is None and not args.json:
        _print_paper_summary(models)
        return 0
    key = args.sort
    models = sorted(models, key=lambda m: (m.experiment, m.rank[key], m.model))
    if args.top:
        models = [m for m in models if m.rank[key] <= args.top]
    ep = {}  # (experiment, model) -> PePR-optimal epoch count by energy
    ep_basis = ""
    for exp in sorted({m.experiment for m in models}):
        t = for_paper(exp, "energy")
        ep_basis = t.basis
        ep.update({(exp, c.key): c for c in t.curves})
    if args.json:
        out = []
        for m in models:
            c = ep.get((m.experiment, m.model))
            out.append(
                m.to_dict()
                | {
                    "pepr_optimal_epochs_E": c.best_epochs if c else None,
                    "pepr_optimal_epochs_E_basis": ep_basis,
                }
            )
        print_json(out)
        return 0
    _print_paper_experiment(args.experiment, models, key, ep, ep_basis)
    return 0


def _print_paper_summary(models: list[Any]) -> None:
    """One line per experiment: its best models by accuracy and by each PePR variant."""
    import statistics

    from pepr_desktop.core.scoring.epoch_pepr import for_paper
    from pepr_desktop.core.scoring.paper import CITATION, experiments

    body = []
    for exp in experiments():
        ms = [m for m in models if m.experiment == exp]
        best_eps = [c.best_epochs for c in for_paper(exp).curves if c.best_epochs]
        best = {k: min(ms, key=lambda m, k=k: m.rank[k]) for k in ("E", "C", "T", "M")}
        top_acc = max(ms, key=lambda m: m.test_acc)
        body.append(
            [exp, len(ms), f"{top_acc.model} ({top_acc.test_acc:.3f})"]
            + [f"{best[k].model} ({best[k].pepr[k]:.3f})" for k in ("E", "C", "T", "M")]
            + [f"{statistics.median(best_eps):g}" if best_eps else "n/a"]
        )
    print_table(
        body,
        [
            "experiment",
            "models",
            "best accuracy",
            "best PePR-E",
            "best PePR-C",
            "best PePR-T",
            "best PePR-M",
            "median best epochs E",
        ],
    )
    print(
        "median best epochs E: over the models, the epoch count (of 10) that maximises "
        "PePR-E had the model stopped there (energy assumed uniform per epoch)."
    )
    print(f"`pepr paper --experiment NAME` lists one experiment's models. Source: {CITATION}")


def _print_paper_experiment(
    experiment: str, models: list[Any], key: str, ep: dict[Any, Any], ep_basis: str
) -> None:
    from pepr_desktop.core.scoring.paper import CITATION

    body = [
        [
            m.rank[key],
            m.model,
            f"{m.num_param / 1e6:.2f}M",
            m.test_acc,
            _sig(m.energy_kwh),
            _sig(m.co2_g),
            f"{m.train_time_s:.1f}",
            f"{m.mem_gb:.2f}",
            *(f"{m.pepr[k]:.4f}" + ("*" if m.pareto[k] else "") for k in ("E", "C", "T", "M")),
            _best_epochs(ep.get((m.experiment, m.model))),
        ]
        for m in models
    ]
    print(f"experiment {experiment}: {len(body)} models, ranked by PePR-{key}")
    print_table(
        body,
        [
            f"rank_{key}",
            "model",
            "params",
            "test_acc",
            "energy (kWh)",
            "co2 (g)",
            "time (s)",
            "memR (GB)",
            "PePR-E",
            "PePR-C",
            "PePR-T",
            "PePR-M",
            "best epochs E",
        ],
    )
    print(
        "best epochs E: the epoch count (of 10) that maximises PePR-E if each model had stopped "
        f"there, all models' epochs as one comparison set; {ep_basis}."
    )
    print(f"* on the Pareto front of accuracy vs that resource. Source: {CITATION}")


def _best_epochs(c: Any) -> str:
    if c is None or c.best_epochs is None:
        return "n/a"
    return f"{c.best_epochs} ({c.best_pepr:.4f})"
