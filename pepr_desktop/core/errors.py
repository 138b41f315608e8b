"""User-facing errors.

A `UserError` is a mistake the user can fix (bad file, bad number, unknown name). Its message is one
line that names the problem and what to do; the CLI prints it and exits 2, the GUI shows a dialog.
Anything else that escapes is a bug in the app.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input, with a one-line message naming the problem and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DataError(UserError):
    """A dataset file or folder that cannot be used."""


class StoreError(UserError):
    """A database that cannot be opened or written."""


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> str:
    """' Did you mean: a, b?' or '' when nothing is close."""
    found = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    return f" Did you mean: {', '.join(found)}?" if found else ""
