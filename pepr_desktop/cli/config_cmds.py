"""`pepr config show|set|unset|path`: the settings file shared with the desktop app
(core/config.py), and where each setting in force comes from."""

from __future__ import annotations

import argparse
import os
import sys

from pepr_desktop.cli._common import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="show or change the settings file (region, PUE, CPU watts, device, database)",
        description="The settings file shared by `pepr` and the desktop app. Each setting comes "
        "from a command-line flag, else its PEPR_* environment variable, else this file, else "
        "the default.",
    )
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    s = csub.add_parser("show", help="every setting, its value and where it comes from")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_show)
    s = csub.add_parser("set", help="write one setting to the file")
    s.add_argument("key", help="region, pue, carbon_intensity, cpu_watts, device or db")
    s.add_argument("value")
    s.set_defaults(func=cmd_set)
    s = csub.add_parser("unset", help="remove one setting from the file (back to the default)")
    s.add_argument("key")
    s.set_defaults(func=cmd_unset)
    s = csub.add_parser("path", help="print where the settings file is")
    s.set_defaults(func=cmd_path)
    # the settings file is this command's subject: a damaged one must not stop `config path`
    p.set_defaults(func=cmd_show, json=False, uses_settings=False)


def cmd_show(args: argparse.Namespace) -> int:
    from pepr_desktop.core import config

    path = config.config_path()
    settings = config.resolve()
    if args.json:
        print_json(
            {
                "path": str(path),
                "exists": path.is_file(),
                "settings": {
                    k: {"value": s.value, "source": s.source, "env": config.KEYS[k].env}
                    for k, s in settings.items()
                },
            }
        )
        return 0
    print(f"settings file: {path}" + ("" if path.is_file() else " (not created yet)"))
    rows = []
    for name, s in settings.items():
        key = config.KEYS[name]
        if isinstance(s.value, float):
            value = f"{s.value:g}"
        elif s.value is not None:
            value = str(s.value)
        elif s.source == "default":
            value = f"({key.default})"
        else:  # the other half of the region / intensity choice is set at this layer
            other = next(k for k in config.CARBON_GROUP if k != name)
            value = f"(not set: {other} applies)"
        rows.append([name, value, s.source, key.env])
    print_table(rows, ["setting", "value", "from", "environment variable"])
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from pepr_desktop.core import config

    value = config.set_value(args.key, args.value)
    print(f"{args.key} = {value!r} in {config.config_path()}", file=sys.stderr)
    env = config.KEYS[args.key].env
    if os.environ.get(env, "").strip():
        print(f"note: {env} is set in the environment and overrides the file", file=sys.stderr)
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    from pepr_desktop.core import config

    was = config.unset(args.key)
    where = config.config_path()
    print(f"{args.key} removed from {where}" if was else f"{args.key} is not set in {where}")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    from pepr_desktop.core import config

    print(config.config_path())
    return 0
