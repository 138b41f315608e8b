"""Helpers shared by the command modules: the store, JSON output, number arguments, tables, the
fast-path options."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepr_desktop.core.paths import default_db_path
from pepr_desktop.core.training.config import AMP_MODES, FAST_SWITCHES

if TYPE_CHECKING:
    from pepr_desktop.core.store import Store


def open_store(args: argparse.Namespace, readonly: bool = False) -> Store:
    from pepr_desktop.core.store import Store  # sqlite_utils is slow to import: not for --help

    path = Path(args.db).expanduser() if getattr(args, "db", None) else default_db_path()
    return Store(path, readonly=readonly)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=_json_default, allow_nan=False)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def clean_for_json(obj: Any) -> Any:
    """NaN/inf -> None so the output is strict JSON (core/runs_export.finite_or_none)."""
    from pepr_desktop.core.exports.runs import finite_or_none

    return finite_or_none(obj)


def _number(kind: type, lo: float | None, hi: float | None, lo_open: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a valid {kind.__name__}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if lo_open else '>='} {lo:g}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{text} must be <= {hi:g}")
        return value

    return parse


def positive_int(text: str) -> int:
    return _number(int, 1, None, False)(text)


def non_negative_int(text: str) -> int:
    return _number(int, 0, None, False)(text)


def positive_float(text: str) -> float:
    return _number(float, 0, None, True)(text)


def fraction(text: str) -> float:
    return _number(float, 0, 1, True)(text)


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """An aligned text table (tabulate's "simple" style): cells as `fmt` writes them, numeric
    columns right-aligned, None as n/a."""
    from tabulate import tabulate

    def numeric(i: int) -> bool:
        vals = [r[i] for r in rows if r[i] is not None]
        return bool(vals) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals
        )

    align = ["right" if numeric(i) else "left" for i in range(len(headers))]
    cells = [[fmt(c) for c in r] for r in rows]
    heads = [str(h) for h in headers]
    text = tabulate(cells, heads, "simple", disable_numparse=True, colalign=align)
    print("\n".join(line.rstrip() for line in text.splitlines()))


@contextmanager
def progress_bar(desc: str, enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """A tqdm bar on stderr for work that reports (done, total, name). tqdm hides it when stderr
    is no terminal, so CI logs and pipes get no carriage-return lines; `enabled=False` (--json)
    hides it always."""
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int, name: str) -> None:
        nonlocal bar
        if bar is None:
            disable = None if enabled else True  # None: off unless stderr is a terminal
            bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=disable)
        bar.total, bar.n = total, done
        bar.set_postfix_str(name, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def comma_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def iter_chunks(items: Iterable[Any], n: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for it in items:
        chunk.append(it)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_fast_path_options(p: argparse.ArgumentParser) -> None:
    """The trainer's CUDA fast path (core/training/fast_path.py): `train`, `sweep`, `auto`.
    "auto" is on for CUDA and off on the CPU; what each resolved to is stored with the run."""
    g = p.add_argument_group("fast path on CUDA (auto: on for CUDA, off on the CPU)")
    g.add_argument(
        "--amp",
        choices=AMP_MODES,
        default="auto",
        help="autocast: bf16 where the GPU supports it, else fp16 with a gradient scaler (auto)",
    )
    for name, what in (
        ("--channels-last", "channels-last (NHWC) model and batches"),
        ("--cudnn-benchmark", "cuDNN autotuning of convolution kernels"),
        ("--tf32", "TF32 matmuls and convolutions"),
    ):
        g.add_argument(name, choices=FAST_SWITCHES, default="auto", help=f"{what} (auto)")
    g.add_argument(
        "--compile-step",
        action="store_true",
        help="torch.compile the model's forward (a slow first epoch; off by default)",
    )


def fast_path_options(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields of the fast-path options."""
    return {
        "amp": args.amp,
        "channels_last": args.channels_last,
        "cudnn_benchmark": args.cudnn_benchmark,
        "tf32": args.tf32,
        "compile_step": bool(args.compile_step),
    }
