"""Issue 16: messages in the GUI speak GUI: every CLI hint also names its menu or field."""

from __future__ import annotations

import re
from pathlib import Path

import pepr_desktop.core
from pepr_desktop.gui.gui_text import GUI_EQUIVALENTS, for_gui

CORE = Path(pepr_desktop.core.__file__).parent
HINT = re.compile(r"`pepr [^`]*`|--[a-z][a-z-]+")


def _core_hints() -> set[str]:
    """Every `--flag` and `pepr ...` that a string in core can show."""
    found: set[str] = set()
    for path in CORE.rglob("*.py"):
        for m in HINT.finditer(path.read_text(encoding="utf-8")):
            found.add(m.group(0))
    return found


def test_every_cli_hint_in_core_has_a_gui_equivalent() -> None:
    hints = _core_hints()
    assert "--db" in hints and any(h.startswith("`pepr resume") for h in hints)
    internal = {"--ignore-freelist"}  # an argument of the sqlite3 shell, never shown to users
    missing = sorted(
        h for h in hints - internal if not any(re.match(p, h) for p, _ in GUI_EQUIVALENTS)
    )
    assert missing == [], f"add these to gui/gui_text.py: {missing}"


def test_hints_gain_their_menu_once() -> None:
    msg = "x.sqlite is damaged; choose another file with --db. Resume with `pepr resume 3`."
    out = for_gui(msg)
    assert "--db (File > Open database)" in out
    assert "`pepr resume 3` (Resume in Runs)" in out
    assert out.count("(") == 2
    nested = for_gui("import it with `pepr import-data FILE --name NAME`.")
    assert nested.count("(") == 1 and "Import .npz" in nested


def test_show_error_speaks_gui(qapp, dialogs) -> None:
    from pepr_desktop.gui.context import show_error

    show_error(None, "Database", "locked; choose another with --db.")
    assert dialogs == [("Database", "locked; choose another with --db (File > Open database).")]
