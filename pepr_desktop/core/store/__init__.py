"""The store: the only code that touches the runs database and its -wal/-shm files.

- `database`: `Store`, one SQLite connection (WAL) with the schema, its migrations and all SQL.
- `backup`: rotating online backups, integrity checks, restore and salvage of a damaged file.
- `remote`: the store process; a GUI process talks to its database only through it, so that no
  file dialog or library of the GUI process can release SQLite's POSIX locks (docs/architecture.md).
"""

from pepr_desktop.core.store.database import (
    ACTIVE,
    BUSY_TIMEOUT_MS,
    DATASET_COLUMNS,
    EPOCH_COLUMNS,
    FINAL_STATUSES,
    MIGRATIONS,
    RUN_COLUMNS,
    SAMPLE_COLUMNS,
    SCHEMA_VERSION,
    Store,
)

__all__ = [
    "ACTIVE",
    "BUSY_TIMEOUT_MS",
    "DATASET_COLUMNS",
    "EPOCH_COLUMNS",
    "FINAL_STATUSES",
    "MIGRATIONS",
    "RUN_COLUMNS",
    "SAMPLE_COLUMNS",
    "SCHEMA_VERSION",
    "Store",
]
