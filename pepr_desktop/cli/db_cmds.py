"""`pepr db check|backups|backup|recover`: the database's health, its backups and its recovery.

These commands open the database file only through core/store/backup.py (plain read-only SQLite
connections and the online backup API), never through `Store`, so they work on a file that Store
refuses to open. `check` exits 0 when the file is ok, 1 when it is damaged (2: a user mistake).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from pepr_desktop.cli._common import print_json, print_table
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.paths import default_db_path

EXIT_OK, EXIT_FAILED = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "db",
        help="check the database, list or make backups, recover a damaged one",
        description="Backups are made with SQLite's online backup API at start and after each "
        "finished run, in <db>_files/backups/ beside the database (the newest 5 are kept, "
        "within max(3 x the database size, 200 MB)).",
    )
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _no_action(p))

    c = dsub.add_parser(
        "check",
        help="integrity check, read-only (exit 0: ok, 1: damaged)",
        description="Open the database read-only, run SQLite's integrity check and count its "
        "rows. Exit 0 when it is ok, 1 when it is damaged or not a SQLite file.",
    )
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_check)

    b = dsub.add_parser("backups", help="list the backups, newest first, each checked")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=cmd_backups)

    m = dsub.add_parser("backup", help="make a backup now (kept with the automatic ones)")
    m.set_defaults(func=cmd_backup)

    r = dsub.add_parser(
        "recover",
        help="restore the newest good backup and salvage what the damaged file still holds",
        description="Move the damaged file (and its -wal/-shm) aside to <name>.damaged-<time>, "
        "restore the newest good backup (or --backup) in its place, then copy every run, epoch, "
        "sample and dataset that can still be read from the damaged file and is not in the "
        "backup. Nothing is deleted or overwritten.",
    )
    r.add_argument("--backup", metavar="PATH", help="restore this backup instead of the newest")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.set_defaults(func=cmd_recover)


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _db_path(args: argparse.Namespace) -> Path:
    """The database the global --db names (as _common.open_store resolves it)."""
    return Path(args.db).expanduser() if getattr(args, "db", None) else default_db_path()


def _mb(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.1f} MB" if n >= 100 * 1024 else f"{n / 1024:.0f} kB"


def cmd_check(args: argparse.Namespace) -> int:
    from pepr_desktop.core.store import backup

    path = _db_path(args)
    report = backup.check(path)
    if report.status == "missing":
        raise UserError(f"database {path} does not exist; check --db.")
    if args.json:
        print_json(report.to_dict())
        return EXIT_OK if report.ok else EXIT_FAILED
    print(f"{path}: {report.verdict}")
    if report.counts and any(v is not None for v in report.counts.values()):
        counts = ", ".join(
            f"{n if n is not None else 'unreadable'} {t}" for t, n in report.counts.items()
        )
        print(f"  {counts}; {_mb(report.size)}")
    if not report.ok:
        good = backup.newest_good_backup(path)
        if good:
            print(
                f"  newest good backup: {good.when} ({good.runs} runs); "
                "`pepr db recover` restores it and salvages the rest"
            )
        elif report.status == "damaged":
            print("  no good backup; `pepr db recover` salvages what can still be read")
        else:
            print("  no good backup, so nothing can be restored; use another file with --db")
        return EXIT_FAILED
    return EXIT_OK


def cmd_backups(args: argparse.Namespace) -> int:
    from pepr_desktop.core.store import backup

    path = _db_path(args)
    items = backup.list_backups(path)
    if args.json:
        print_json([b.to_dict() for b in items])
        return EXIT_OK
    if not items:
        print(
            f"no backups of {path} yet (they are made at start and after each finished run, in "
            f"{backup.backups_dir(path)}; `pepr db backup` makes one now)"
        )
        return EXIT_OK
    rows = [
        [
            b.when,
            b.reason,
            _mb(b.size),
            b.runs if b.runs is not None else "n/a",
            "ok" if b.ok else "damaged",
            b.path.name,
        ]
        for b in items
    ]
    print_table(rows, ["time", "reason", "size", "runs", "state", "file"])
    print(f"in {backup.backups_dir(path)}")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from pepr_desktop.core.store import backup

    path = _db_path(args)
    if not path.is_file():
        raise UserError(f"database {path} does not exist; check --db.")
    try:
        result = backup.backup_now(None, path, "manual", force=True)
    except OSError as exc:
        raise UserError(f"could not write a backup of {path} ({exc}); check the disk.") from None
    except sqlite3.Error as exc:  # locked by another program, I/O error
        raise UserError(
            f"could not back up {path} ({exc}); close other programs or retry."
        ) from None
    if result.status == "written":
        print(f"backup written: {result.path} ({_mb(result.size)}, {result.seconds:.2f} s)")
        return EXIT_OK
    if result.status == "damaged":
        print(f"{result.message}; `pepr db recover` restores the newest good backup")
        return EXIT_FAILED
    raise UserError(result.message + ".")


def cmd_recover(args: argparse.Namespace) -> int:
    from pepr_desktop.core.store import backup

    path = _db_path(args)
    before = backup.check(path)
    if before.ok:
        print(f"{path}: ok; nothing to recover")
        return EXIT_OK
    chosen = Path(args.backup).expanduser() if args.backup else None
    if chosen is None:
        good = backup.newest_good_backup(path)
        if good is None and before.status != "damaged":
            backup.recover(path)  # refuses (StoreError) before changing anything
        plan = (
            f"restore the backup of {good.when} ({good.runs} runs)"
            if good
            else "no good backup: start from an empty file"
        )
    else:
        plan = f"restore {chosen}"
    if before.status == "missing":
        lines = [f"{path}: {before.verdict}", f"  {plan} in its place"]
    else:
        lines = [
            f"{path}: {before.verdict}",
            f"  1. keep it (and its -wal/-shm) as {path.name}.damaged-<time>",
            f"  2. {plan}",
            "  3. salvage every row the damaged file still holds that is not in the backup",
        ]
    if not args.yes:
        if not sys.stdin.isatty():
            state = {"not_sqlite": "unreadable as SQLite"}.get(before.status, before.status)
            raise UserError(
                f"{path} is {state}; no terminal to confirm recovery here: run `pepr db recover "
                "--yes` to keep it aside, restore its newest good backup and salvage the rest."
            )
        print("\n".join(lines))
        answer = input("Recover now? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing was changed")
            return EXIT_FAILED
    report = backup.recover(path, backup=chosen)
    print("\n".join(report.lines()))
    print(f"({report.seconds:.1f} s; methods: {', '.join(report.methods) or 'none'})")
    return EXIT_OK if report.verdict == "ok" else EXIT_FAILED
