"""Issues 16 and 19: messages in the GUI speak GUI: every CLI hint becomes its menu or field,
and no command-line flag survives in a dialog."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pepr_desktop.core
from pepr_desktop.gui.gui_text import CLI_HINT, GUI_EQUIVALENTS, for_gui

CORE = Path(pepr_desktop.core.__file__).parent
HINT = re.compile(r"`pepr [^`]*`|--[a-z][a-z-]+")
# an argument of the sqlite3 shell, a maintainer script's flag: never shown to users
INTERNAL = {"--ignore-freelist", "--write"}


def _core_hints() -> set[str]:
    """Every `--flag` and `pepr ...` that a string in core can show."""
    found: set[str] = set()
    for path in CORE.rglob("*.py"):
        for m in HINT.finditer(path.read_text(encoding="utf-8")):
            found.add(m.group(0))
    return found


def _message_strings() -> list[str]:
    """Every string literal in core that names a CLI hint (f-strings with their fields as '7'),
    docstrings left out: the texts a core message can carry to a dialog."""
    out: list[str] = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {
            id(n.value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
        }  # docstrings, and the pieces of f-strings (read whole below)
        docs |= {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docs:
                    continue
                text = node.value
            else:
                continue
            if HINT.search(text) and not any(i in text for i in INTERNAL):
                out.append(text)
    return out


def test_every_cli_hint_in_core_has_a_gui_equivalent() -> None:
    hints = _core_hints()
    assert "--db" in hints and any(h.startswith("`pepr resume") for h in hints)
    missing = sorted(
        h for h in hints - INTERNAL if not any(re.match(p, h) for p, _ in GUI_EQUIVALENTS)
    )
    assert missing == [], f"add these to gui/gui_text.py: {missing}"


def test_no_cli_flag_survives_in_any_core_message() -> None:
    texts = _message_strings()
    assert len(texts) > 20  # the scan found the messages
    left = {t: CLI_HINT.findall(for_gui(t)) for t in texts}
    assert {t: h for t, h in left.items() if h} == {}


def test_hints_become_their_menu() -> None:
    msg = "x.sqlite is damaged; choose another file with --db. Resume with `pepr resume 3`."
    out = for_gui(msg)
    assert out == (
        "x.sqlite is damaged; choose another file with File > Open database. "
        "Resume with Resume in Runs."
    )
    assert for_gui(out) == out  # idempotent: the GUI words hold no hint
    nested = for_gui("import it with `pepr import-data FILE --name NAME`.")
    assert nested == "import it with Import data… in New experiment."
    taken = for_gui("'pneu' is taken; choose another --name or pass --overwrite.")
    assert taken == "'pneu' is taken; choose another name in the import dialog."
    size = for_gui("vit needs 32 px; use --image-size 32 or larger, or a small model.")
    assert "set Image size to 32 px or more (Advanced settings" in size


def test_imbalance_warning_speaks_gui() -> None:
    from pepr_desktop.core.data.preview import class_warnings

    (w,) = class_warnings({"train": [100, 25]}, ["normal", "pneumonia"])
    out = for_gui(w)
    assert "--" not in out and "class-balanced sampling" in out


def test_show_error_speaks_gui(qapp, dialogs) -> None:
    from pepr_desktop.gui.context import show_error

    show_error(None, "Database", "locked; choose another with --db.")
    assert dialogs == [("Database", "locked; choose another with File > Open database.")]
