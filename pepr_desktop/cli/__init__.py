"""The `pepr` command line: one module per group of commands, all over the same core as the GUI.

Each command module exposes `register(subparsers)`, which adds its sub-commands and sets
`func(args) -> int` on each. Heavy imports (torch, timm) stay inside the command functions, so
`pepr --help` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sqlite3
import sys
from collections.abc import Sequence
from typing import NoReturn

from pepr_desktop import __version__
from pepr_desktop.core.errors import UserError

# Command modules, in the order their commands appear in `pepr --help`.
COMMAND_MODULES = (
    "pepr_desktop.cli.data_cmds",
    "pepr_desktop.cli.train_cmds",
    "pepr_desktop.cli.runs_cmds",
    "pepr_desktop.cli.model_cmds",
    "pepr_desktop.cli.score_cmds",
    "pepr_desktop.cli.model_io_cmds",
    "pepr_desktop.cli.meter_cmds",
    "pepr_desktop.cli.resume_cmds",
    "pepr_desktop.cli.sweep_cmds",
    "pepr_desktop.cli.auto_cmds",
    "pepr_desktop.cli.db_cmds",
    "pepr_desktop.cli.config_cmds",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _NoLibraryWarnings(logging.Filter):
    """Keeps captured Python warnings (logger `py.warnings`) off the console handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "py.warnings"


_NO_LIBRARY_WARNINGS = _NoLibraryWarnings()


def warnings_to_log(verbose: bool) -> None:
    """Route Python warnings (torch, timm, sklearn UserWarnings...) to the log file, so stderr
    holds only our own one-line messages; with -v they show on stderr as well."""
    logging.captureWarnings(True)
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_pepr_console", False):
            if verbose:
                handler.removeFilter(_NO_LIBRARY_WARNINGS)
            else:
                handler.addFilter(_NO_LIBRARY_WARNINGS)  # once: addFilter skips a repeat


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pepr",
        description="PePR Desktop: choose, train and compare models under a compute budget.",
    )
    parser.add_argument("--version", action="version", version=f"pepr-desktop {__version__}")
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _global_options_everywhere(parser)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """The options every command takes; below the top, absent ones leave the top's value."""
    below = argparse.SUPPRESS
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=None if top else below,
        help="database file (default: $PEPR_DB, else `db` in the settings file, else the user "
        "data dir)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else below,
        help="log details to stderr",
    )


def _global_options_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--db` and `-v` also after the sub-command (`pepr runs --db X`): every sub-command parser
    gets them with SUPPRESS as default, so where absent they leave the top-level value alone."""
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for child in {id(p): p for p in action.choices.values()}.values():  # aliases once
                _add_global_options(child, top=False)
                _global_options_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with a usage line on bad syntax
    from pepr_desktop.logsetup import configure_logging

    configure_logging(verbose=args.verbose)
    warnings_to_log(verbose=args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "uses_settings", True):  # `pepr config` reads the file itself
            from pepr_desktop.cli.options import apply_settings

            apply_settings(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"pepr {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.DatabaseError as exc:  # a page found damaged after the database opened
        from pepr_desktop.core.store.remote import damaged_error

        where = getattr(args, "db", None) or "the database"
        print(f"pepr {args.command}: error: {damaged_error(where, exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `pepr runs | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
