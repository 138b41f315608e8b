"""`pepr resume RUN_ID`: continue an interrupted or stopped run from its last checkpoint.

The run keeps its id, its stored epochs and its settings (read back from the store, so a resumed
run cannot silently train with other numbers); only the meter options may be given again.
"""

from __future__ import annotations

import argparse
from typing import Any

from pepr_desktop.cli._common import positive_int
from pepr_desktop.cli.options import add_meter_options, meter_factory_from_args
from pepr_desktop.cli.run_output import run_and_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "resume", help="continue an interrupted or stopped run from its last checkpoint"
    )
    p.add_argument("run_id", type=positive_int, metavar="RUN_ID", help="id from `pepr runs`")
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from pepr_desktop.core.training.config import Control
    from pepr_desktop.core.training.resume import resume_config
    from pepr_desktop.core.training.runner import execute

    meter_factory = meter_factory_from_args(args)

    def start(store: Any, control: Any) -> Any:
        cfg = resume_config(store.get_run(args.run_id))
        return execute(
            cfg, store, meter_factory=meter_factory, control=control, resume_run_id=args.run_id
        )

    return run_and_report(args, start, Control())
