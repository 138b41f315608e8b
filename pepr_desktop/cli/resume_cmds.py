"""`pepr resume RUN_ID`: continue an interrupted or stopped run from its last checkpoint.

The run keeps its id, its stored epochs and its settings (read back from the store, so a resumed
run cannot silently train with other numbers); only the meter options may be given again.
"""

from __future__ import annotations

import argparse
from typing import Any

from pepr_desktop.cli._common import positive_int
from pepr_desktop.cli.train_cmds import add_meter_options, meter_factory_from_args, run_and_report
from pepr_desktop.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "resume", help="continue an interrupted or stopped run from its last checkpoint"
    )
    p.add_argument("run_id", type=positive_int, metavar="RUN_ID", help="id from `pepr runs`")
    add_meter_options(p)
    p.add_argument("--json", action="store_true", help="print the stored run as JSON at the end")
    p.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from pepr_desktop.core.runner import execute
    from pepr_desktop.core.train import Control, TrainConfig

    meter_factory = meter_factory_from_args(args)

    def start(store: Any, control: Any) -> Any:
        config = store.get_run(args.run_id)["config"]
        if not isinstance(config, dict) or "dataset" not in config or "model" not in config:
            raise UserError(
                f"run {args.run_id} has no stored settings, so it cannot be resumed; start a new "
                "run with `pepr train`."
            )
        cfg = TrainConfig.from_dict(config)
        return execute(
            cfg, store, meter_factory=meter_factory, control=control, resume_run_id=args.run_id
        )

    return run_and_report(args, start, Control())
