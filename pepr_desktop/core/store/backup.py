"""Rotating online backups of the runs database, integrity checks, restore and salvage.

Every copy of a database is made with SQLite's online backup API (`sqlite3.Connection.backup`):
it reads through SQLite's own locks, so a copy taken while the GUI or a `pepr train` writes is a
consistent snapshot, and no descriptor of a live database file is ever opened or closed outside
SQLite (on POSIX, closing any descriptor of a file drops every SQLite lock the process holds on it).
Only plain `sqlite3` is used here, never `Store`: these functions must work on files Store refuses.

Backups
    `<db stem>_files/backups/<stem>-YYYYmmdd-HHMMSS-<reason>.sqlite`, beside the database (local
    time; `-2`, `-3`... when two land in one second). Each is written to a hidden `.partial` file,
    checked with `PRAGMA integrity_check` and only then renamed into place, so a listed backup was
    good when written. A copy of a damaged database fails that check and is dropped (the database
    itself is untouched), so it never pushes a good backup out of the rotation. Automatic backups
    (`force=False`) are skipped when nothing changed since the newest backup (same tables, row
    counts, largest rowids and newest `updated_at`/`created_at`, compared before copying: a start
    with nothing new costs milliseconds and checks nothing), so a few starts of the app do not
    rotate the history away.

Rotation (after each written backup)
    keep the newest `KEEP` (5) backups while their total size stays within
    `max(SIZE_FACTOR x database size, MIN_BUDGET_BYTES)` = max(3 x size, 200 MB): a 10 MB database
    keeps 5, a 1 GB one keeps 3. The backup just written is always kept (it is the newest good one),
    so the only good backup is never deleted. A backup is not made when the disk would be left
    with less free space than the database's size plus 64 MB.

Recovery (`recover`)
    1. refuse while another connection (another PePR window or command) has the file open;
    2. move the file and its -wal/-shm/-journal aside to `<name>.damaged-<YYYYmmdd-HHMMSS>`
       (renamed, never copied or deleted: the bytes stay exactly as they were);
    3. restore the newest good backup (or the one given) with the backup API into a hidden
       file beside the database;
    4. salvage from the damaged copy every row of every table whose key is not in the restored
       file (runs by id, epochs by (run_id, epoch), samples by (run_id, t), datasets by name), and
       a run or dataset row that is newer there (`updated_at` / `created_at`): first a row-by-row
       read that skips unreadable pages, then, where the `sqlite3` program has a working
       `.recover`, what it recovers besides;
    5. check the result with `PRAGMA integrity_check`, then rename it into place. On any
       failure the damaged file is moved back and nothing else changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import StoreError

log = logging.getLogger(__name__)

KEEP = 5
SIZE_FACTOR = 3
MIN_BUDGET_BYTES = 200 * 1024**2
FREE_SPACE_MARGIN_BYTES = 64 * 1024**2
BUSY_TIMEOUT_S = 15.0
SQLITE3_CLI = "sqlite3"  # the sqlite3 program, for `.recover` when it has one that works
CLI_TIMEOUT_S = 900

# The identity of a row when salvaging: a row of the damaged file whose key is already in the
# restored file is not copied again. Other tables use their primary key, else all their columns.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "meta": ("key",),
    "runs": ("id",),
    "epochs": ("run_id", "epoch"),
    "samples": ("run_id", "t"),
    "datasets": ("name",),
    "sweeps": ("id",),
}
# A salvaged row replaces the restored one when this column is larger (e.g. the run finished or
# was renamed after the backup was made).
NEWER_BY: dict[str, str] = {"runs": "updated_at", "datasets": "created_at"}
COUNTED = ("runs", "epochs", "samples", "datasets")

_NAME = re.compile(
    r"^(?P<stem>.+)-(?P<ts>\d{8}-\d{6})-(?P<reason>[a-z0-9_]+)(?:-(?P<n>\d+))?\.sqlite$"
)
_MIN_ROWID = -(2**63)
_MAX_ROWID = 2**63 - 1
_MAX_SKIPS_PER_TABLE = 10_000
_CHUNK = 512


# ----------------------------------------------------------------------------- reports


@dataclass
class BackupInfo:
    path: Path
    created: float  # seconds since the epoch, from the file name
    reason: str
    size: int
    runs: int | None
    ok: bool
    problem: str = ""

    @property
    def when(self) -> str:
        return _when(self.created)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["when"] = self.when
        return d


@dataclass
class BackupResult:
    """What `backup_now` did: `written`, `unchanged` (the newest backup already holds this
    state; `path` is that backup), `skipped` (no database, no disk space) or `damaged` (the copy
    failed its integrity check, so the database itself is damaged; nothing was kept)."""

    status: str
    path: Path | None
    message: str
    seconds: float = 0.0
    size: int = 0

    @property
    def saved(self) -> bool:
        return self.status in ("written", "unchanged")


@dataclass
class CheckReport:
    path: Path
    status: str  # ok | damaged | not_sqlite | missing
    verdict: str  # 'ok', 'damaged: ...', 'not a SQLite file ...', 'missing: ...'
    size: int | None = None
    wal_size: int | None = None
    schema_version: int | None = None
    counts: dict[str, int | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def damaged(self) -> bool:
        """Damaged or unreadable as SQLite: what `recover` is for."""
        return self.status in ("damaged", "not_sqlite")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["ok"] = self.ok
        return d


@dataclass
class RecoverReport:
    path: Path
    before: str  # the verdict on the file before recovery
    damaged_copy: Path | None = None  # where the old file now is (None: there was none)
    moved: list[Path] = field(default_factory=list)  # every file moved aside (db, -wal, -shm)
    backup: Path | None = None
    backup_time: float | None = None
    restored: dict[str, int] = field(default_factory=dict)  # rows that came from the backup
    salvaged: dict[str, int] = field(default_factory=dict)  # rows added from the damaged file
    updated: dict[str, int] = field(default_factory=dict)  # rows replaced by a newer salvaged one
    unreadable: dict[str, str] = field(default_factory=dict)  # table -> what could not be read
    methods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdict: str = ""  # the check of the recovered file
    counts: dict[str, int | None] = field(default_factory=dict)  # rows in the recovered file
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """A short human summary, one fact a line (no command-line syntax: the GUI shows it)."""
        out = [f"Recovered {self.path} ({self.verdict})."]
        if self.damaged_copy:
            out.append(f"The previous file is kept as {self.damaged_copy}.")
        if self.backup:
            rows = _count_text(self.restored)
            out.append(f"Restored the backup of {_when(self.backup_time)}: {rows}.")
        else:
            out.append("No backup was restored (none was found).")
        if any(self.salvaged.values()) or any(self.updated.values()):
            text = _count_text(self.salvaged) if any(self.salvaged.values()) else "no new rows"
            if any(self.updated.values()):
                text += f"; updated {_count_text(self.updated)}"
            out.append(f"Salvaged from the damaged file: {text}.")
        elif self.damaged_copy:
            out.append("Nothing newer than the backup could be salvaged from the damaged file.")
        for table, what in sorted(self.unreadable.items()):
            out.append(f"Unreadable in the damaged file: {table}: {what}.")
        out.extend(self.notes)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("path", "damaged_copy", "backup"):
            d[k] = None if d[k] is None else str(d[k])
        d["moved"] = [str(p) for p in self.moved]
        return d


def _when(t: float | None) -> str:
    return "unknown time" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _count_text(counts: dict[str, int]) -> str:
    parts = [_rows_of(n, t) for t, n in counts.items() if n and t in COUNTED]
    parts += [_rows_of(n, t) for t, n in counts.items() if n and t not in COUNTED and t != "meta"]
    return ", ".join(parts) or "no rows"


def _rows_of(n: int, table: str) -> str:
    """'1 run', '2 runs', '1 dataset': table names are plurals."""
    return f"{n} {table[:-1] if n == 1 and table.endswith('s') else table}"


# ----------------------------------------------------------------------------- paths, connections


def backups_dir(db_path: str | os.PathLike[str]) -> Path:
    """`<stem>_files/backups/` beside the database (Store.data_dir / "backups")."""
    p = Path(db_path).expanduser()
    return p.parent / (p.stem + "_files") / "backups"


def _connect_ro(path: Path, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A read-only connection: never creates the file, never checkpoints into it."""
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    conn.text_factory = _lenient_text
    return conn


def _lenient_text(b: bytes) -> str:
    return b.decode("utf-8", "replace")  # a damaged TEXT value is kept, not a reason to stop


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rootpage"
        )
    ]


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, pk position) of each column."""
    return [(r[1], r[2] or "", r[5]) for r in conn.execute(f"PRAGMA table_info({_quote(table)})")]


def _count(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0])
    except sqlite3.Error:
        return None


def _counts(conn: sqlite3.Connection) -> dict[str, int | None]:
    return {t: _count(conn, t) for t in COUNTED}


def _problems(conn: sqlite3.Connection, thorough: bool = True, limit: int = 20) -> list[str]:
    """The integrity check's complaints ([] = ok); a check that cannot even run is one."""
    pragma = "integrity_check" if thorough else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({limit})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [str(r[0]) for r in rows if r[0] != "ok"]


def _schema_version(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.Error:
        return None
    try:
        return int(row[0]) if row else None
    except (TypeError, ValueError):
        return None


def _not_a_database(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == 26 or "not a database" in str(exc)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size
    except OSError:
        return None


def _move_no_clobber(src: Path, dst: Path) -> None:
    """Rename src to dst; FileExistsError (and no change) when dst exists."""
    if os.name != "nt":
        try:
            os.link(src, dst)  # atomic, fails when dst exists
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            pass
        else:
            os.unlink(src)
            return
    if dst.exists():
        raise FileExistsError(dst)
    os.rename(src, dst)  # on Windows this refuses an existing dst itself


def _side_files(p: Path) -> list[Path]:
    return [Path(str(p) + s) for s in ("-wal", "-shm", "-journal")]


# ----------------------------------------------------------------------------- backups


def _stamp(t: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(t))


def _clean_reason(reason: str) -> str:
    r = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_")[:24]
    return r or "manual"


def _backup_entries(db_path: Path) -> list[tuple[Path, float, str]]:
    """(path, time, reason) of this database's backups, newest first."""
    d = backups_dir(db_path)
    stem = Path(db_path).expanduser().stem
    found = []
    try:
        names = os.listdir(d)
    except OSError:
        return []
    for name in names:
        m = _NAME.match(name)
        if not m or m["stem"] != stem:
            continue
        t = time.mktime(time.strptime(m["ts"], "%Y%m%d-%H%M%S"))
        found.append(((m["ts"], int(m["n"] or 1)), d / name, t, m["reason"]))
    found.sort(key=lambda e: e[0], reverse=True)
    return [(p, t, r) for _k, p, t, r in found]


def _verify(path: Path, thorough: bool) -> tuple[bool, str, int | None]:
    try:
        conn = _connect_ro(path, timeout=2.0)
    except sqlite3.Error as exc:
        return False, str(exc), None
    try:
        problems = _problems(conn, thorough, limit=3)
        runs = _count(conn, "runs")
    finally:
        conn.close()
    return not problems, "; ".join(problems), runs


def list_backups(db_path: str | os.PathLike[str], *, thorough: bool = False) -> list[BackupInfo]:
    """This database's backups, newest first, each checked (quick_check; `thorough`: the full
    integrity_check) and with its number of runs."""
    out = []
    for p, t, reason in _backup_entries(Path(db_path).expanduser()):
        ok, problem, runs = _verify(p, thorough)
        out.append(BackupInfo(p, t, reason, _size(p) or 0, runs, ok, problem))
    return out


def newest_good_backup(db_path: str | os.PathLike[str]) -> BackupInfo | None:
    """The newest backup that passes the full integrity check, or None."""
    for p, t, reason in _backup_entries(Path(db_path).expanduser()):
        ok, problem, runs = _verify(p, thorough=True)
        if ok:
            return BackupInfo(p, t, reason, _size(p) or 0, runs, ok, problem)
        log.warning("backup %s is damaged (%s); trying an older one", p, problem)
    return None


def _signature(conn: sqlite3.Connection) -> tuple[Any, ...]:
    """A cheap fingerprint of the content: tables, row counts, largest rowids, newest times."""
    sig: list[Any] = []
    for table, sql in _tables(conn):
        cols = {c[0] for c in _columns(conn, table)}
        extra = "".join(f", max({c})" for c in ("updated_at", "created_at") if c in cols)
        try:
            row = conn.execute(f"SELECT count(*), max(rowid){extra} FROM {_quote(table)}")
            sig.append((table, sql, *row.fetchone()))
        except sqlite3.Error:  # WITHOUT ROWID, or unreadable: compare the count alone
            sig.append((table, sql, _count(conn, table)))
    return tuple(sig)


def _file_signature(path: Path) -> tuple[Any, ...] | None:
    try:
        conn = _connect_ro(path, timeout=2.0)
        try:
            return _signature(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _resolve_source(source: Any, db_path: Any) -> tuple[sqlite3.Connection | None, Path | None]:
    if source is None:
        return None, Path(db_path).expanduser() if db_path is not None else None
    if isinstance(source, sqlite3.Connection):
        if db_path is None:
            raise TypeError("make_backup(conn, db_path): a connection needs the database's path")
        return source, Path(db_path).expanduser()
    conn = source.db.conn  # a Store
    return conn, Path(db_path).expanduser() if db_path is not None else Path(source.path)


def backup_now(
    source: Any = None,
    db_path: str | os.PathLike[str] | None = None,
    reason: str = "manual",
    *,
    keep: int = KEEP,
    force: bool = False,
) -> BackupResult:
    """Back up the database now (see the module's docstring for names, checks and rotation).

    `source`: a `Store`, its `sqlite3.Connection` (used from its own thread), or None to open a
    read-only connection of our own to `db_path`. `force`: write one even when nothing changed.
    Raises sqlite3.Error / OSError on I/O failures; `make_backup` is the never-raising wrapper."""
    t0 = time.perf_counter()
    conn, path = _resolve_source(source, db_path)
    if path is None:
        raise TypeError("backup_now needs a Store, or db_path")
    reason = _clean_reason(reason)
    own = conn is None or conn.in_transaction  # a connection mid-transaction would copy it
    if own and not path.is_file():
        return BackupResult("skipped", None, f"no database at {path}; nothing to back up")
    src = _connect_ro(path) if own else conn
    assert src is not None
    try:
        try:
            page_size = src.execute("PRAGMA page_size").fetchone()[0]
            db_size = src.execute("PRAGMA page_count").fetchone()[0] * page_size
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            return _damaged_result(path, [str(exc)], t0)
        entries = [] if force else _backup_entries(path)
        if entries:  # compared before copying: a start of the app with nothing new costs ms
            same = _unchanged_result(src, entries[0], t0)
            if same is not None:
                return same
        bdir = backups_dir(path)
        bdir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(bdir).free
        if free < 2 * db_size + FREE_SPACE_MARGIN_BYTES:
            return BackupResult(
                "skipped",
                None,
                f"not enough free disk space for a backup of {path} ({free // 2**20} MB free, "
                f"{db_size // 2**20} MB needed besides a margin); free some space",
            )
        return _write_backup(src, path, bdir, reason, keep, db_size, t0)
    finally:
        if own:
            src.close()


def _unchanged_result(
    src: sqlite3.Connection, newest: tuple[Path, float, str], t0: float
) -> BackupResult | None:
    """ "unchanged" when the newest backup already holds what the database holds, else None."""
    try:
        unchanged = _signature(src) == _file_signature(newest[0])
    except sqlite3.DatabaseError:
        unchanged = False  # the copy that follows tells whether the database is damaged
    if not unchanged:
        return None
    return BackupResult(
        "unchanged",
        newest[0],
        f"unchanged since the backup of {_when(newest[1])}",
        time.perf_counter() - t0,
        _size(newest[0]) or 0,
    )


def _write_backup(
    src: sqlite3.Connection,
    path: Path,
    bdir: Path,
    reason: str,
    keep: int,
    db_size: int,
    t0: float,
) -> BackupResult:
    """Copy `src` into a temporary file in `bdir`, check the copy, then give it its name and
    rotate the older backups; a damaged copy is deleted and reported."""
    tmp = bdir / f".{path.stem}-{os.getpid()}-{time.monotonic_ns()}.partial"
    dst = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
        except sqlite3.OperationalError:  # locked, I/O error: the caller's problem
            raise
        except sqlite3.DatabaseError as exc:  # not a database / malformed
            problems = [str(exc)]
        else:
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = _problems(dst, limit=3)
    except BaseException:
        dst.close()
        tmp.unlink(missing_ok=True)
        raise
    dst.close()
    if problems:
        tmp.unlink(missing_ok=True)
        return _damaged_result(path, problems, t0)
    final = _place(tmp, bdir, path.stem, reason)
    _rotate(path, keep, db_size, protect=final)
    size = _size(final) or 0
    return BackupResult(
        "written", final, f"backup written: {final}", time.perf_counter() - t0, size
    )


def _damaged_result(path: Path, problems: list[str], t0: float) -> BackupResult:
    return BackupResult(
        "damaged",
        None,
        f"the database {path} is damaged ({'; '.join(problems)}); no backup was made and the "
        "existing backups were kept",
        time.perf_counter() - t0,
    )


def _place(tmp: Path, bdir: Path, stem: str, reason: str) -> Path:
    """Rename the checked copy to its final name; within one second the number grows (a rotated
    `base` name is not reused, so names keep sorting by age)."""
    ts = _stamp(time.time())
    base = f"{stem}-{ts}-{reason}"
    taken = [
        int(m["n"] or 1)
        for m in (_NAME.match(n) for n in os.listdir(bdir))
        if m and m["stem"] == stem and m["ts"] == ts
    ]
    for n in range(max(taken, default=0) + 1, 10_000):
        final = bdir / (f"{base}.sqlite" if n == 1 else f"{base}-{n}.sqlite")
        try:
            _move_no_clobber(tmp, final)
            return final
        except FileExistsError:
            continue
    tmp.unlink(missing_ok=True)
    raise OSError(f"too many backups named {base}*")


def _rotate(db_path: Path, keep: int, db_size: int, protect: Path) -> list[Path]:
    """Delete the backups beyond the newest `keep` or beyond the size budget; never `protect`."""
    budget = max(SIZE_FACTOR * db_size, MIN_BUDGET_BYTES)
    total, kept, full, removed = 0, 0, False, []
    for p, _t, _r in _backup_entries(db_path):
        size = _size(p) or 0
        if p == protect:
            total += size
            kept += 1
            continue
        if full or kept >= max(keep, 1) or total + size > budget:
            full = True
            removed.append(p)
            continue
        total += size
        kept += 1
    for p in removed:
        with contextlib.suppress(OSError):
            p.unlink()
            log.info("removed old backup %s", p)
    _remove_stale_partials(backups_dir(db_path))
    return removed


def _remove_stale_partials(bdir: Path, age_s: float = 3600) -> None:
    """Half-written copies of backups a crash interrupted (never a listed backup)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for p in bdir.glob(".*.partial"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > age_s:
                    p.unlink()


def make_backup(
    conn_or_store: Any,
    db_path: str | os.PathLike[str] | None = None,
    reason: str = "auto",
    *,
    keep: int = KEEP,
    force: bool = False,
) -> Path | None:
    """Best-effort backup for the app's start and the end of each run: never raises on I/O
    problems (it logs them). Returns the backup that holds the current state (new, or the newest
    one when nothing changed), or None when no backup could be made (damaged database, no space).
    """
    try:
        result = backup_now(conn_or_store, db_path, reason, keep=keep, force=force)
    except (sqlite3.Error, OSError) as exc:
        log.warning("backup of %s failed: %s", db_path or conn_or_store, exc)
        return None
    level = logging.WARNING if result.status in ("damaged", "skipped") else logging.INFO
    log.log(level, "backup (%s, %.2f s): %s", reason, result.seconds, result.message)
    return result.path if result.saved else None


# ----------------------------------------------------------------------------- check


def check(db_path: str | os.PathLike[str]) -> CheckReport:
    """Open read-only, run the integrity check and count rows; a verdict in plain words.
    Raises StoreError for a folder, an unreadable file or one locked by another program."""
    p = Path(db_path).expanduser()
    if p.is_dir():
        raise StoreError(f"{p} is a folder, not a database file.")
    if not p.exists():
        return CheckReport(p, "missing", f"missing: {p} does not exist")
    if not os.access(p, os.R_OK):
        raise StoreError(f"database {p} is not readable; check its permissions.")
    size = _size(p)
    wal = _size(Path(str(p) + "-wal"))
    try:
        conn = _connect_ro(p)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {p} ({exc}); check the file and its folder.") from None
    try:
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
            problems = [x for x in problems if x != "ok"]
        except sqlite3.DatabaseError as exc:
            if _not_a_database(exc):
                return CheckReport(
                    p,
                    "not_sqlite",
                    "not a SQLite file: its first page is unreadable (overwritten or truncated, "
                    "or this is another kind of file)",
                    size,
                    wal,
                    problems=[str(exc)],
                )
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise StoreError(
                    f"database {p} is locked by another program ({exc}); close it or try again."
                ) from None
            if isinstance(exc, sqlite3.OperationalError) and "corrupt" not in str(exc).lower():
                raise StoreError(f"cannot read {p} ({exc}); check the file and the disk.") from None
            problems = [str(exc)]
        counts = _counts(conn)
        version = _schema_version(conn)
    finally:
        conn.close()
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        shown = "; ".join(problems[:3]) + more
        return CheckReport(p, "damaged", f"damaged: {shown}", size, wal, version, counts, problems)
    return CheckReport(p, "ok", "ok", size, wal, version, counts, [])


# ----------------------------------------------------------------------------- recover


def _ensure_unused(p: Path) -> None:
    """StoreError when another connection (any process) has the database open.

    An exclusive lock in exclusive locking mode is refused while any other connection exists,
    even an idle one in WAL mode. When the file cannot be read as SQLite at all, no other program
    can be using it either, and recovery goes on. (Closing this connection may checkpoint the
    -wal into the file, as any last SQLite connection does: committed pages, the same content.)"""
    try:
        conn = sqlite3.connect(str(p), timeout=1.0, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise StoreError(
                f"{p} is in use by another program (another PePR Desktop window or command); "
                "close it and try again. Nothing was changed."
            ) from None
    except sqlite3.DatabaseError:
        pass
    finally:
        conn.close()


def _move_aside(p: Path, label: str) -> tuple[Path, list[Path]]:
    """Rename the database and its side files to `<name>.<label>-<time>[-wal...]`; nothing is
    copied or deleted. Returns the new name of the database file and every moved file."""
    files = [f for f in (p, *_side_files(p)) if f.exists()]
    base = f"{p.name}.{label}-{_stamp(time.time())}"
    for n in range(1, 1000):
        target = p.with_name(base if n == 1 else f"{base}-{n}")
        if not any(Path(str(target) + s).exists() for s in ("", "-wal", "-shm", "-journal")):
            break
    else:  # pragma: no cover
        raise StoreError(f"cannot find a free name to keep {p} aside; tidy its folder.")
    moved: list[Path] = []
    try:
        for f in files:
            dst = Path(str(target) + str(f)[len(str(p)) :])
            _move_no_clobber(f, dst)
            moved.append(dst)
    except OSError as exc:
        _move_back(moved, target, p)
        raise StoreError(
            f"cannot move {p} aside ({exc.strerror or exc}); check the folder's permissions. "
            "Nothing was changed."
        ) from None
    return target, moved


def _move_back(moved: list[Path], target: Path, p: Path) -> list[str]:
    """Undo `_move_aside`; the problems that prevented it (the files then stay where they are)."""
    problems = []
    for f in moved:
        back = Path(str(p) + str(f)[len(str(target)) :])
        try:
            _move_no_clobber(f, back)
        except OSError as exc:
            problems.append(f"{f} could not be moved back to {back} ({exc})")
    return problems


def recover(
    db_path: str | os.PathLike[str],
    *,
    backup: str | os.PathLike[str] | None = None,
) -> RecoverReport:
    """Restore the newest good backup (or `backup`) into place and salvage from the old file.

    Call it with no connection open on `db_path` in this process (another process's is refused).
    The old file (with its -wal/-shm) is renamed to `<name>.damaged-<time>`, never overwritten.
    A missing database is restored from its newest backup. Raises StoreError when the file is not
    damaged, when there is nothing to restore or salvage, or when recovery failed (then the file
    is back where it was)."""
    t0 = time.perf_counter()
    p = Path(db_path).expanduser()
    before = check(p)
    if before.ok:
        raise StoreError(
            f"{p} passes the integrity check, so there is nothing to recover; it was not changed."
        )
    chosen: BackupInfo | None
    if backup is not None:
        bp = Path(backup).expanduser()
        if not bp.is_file():
            raise StoreError(f"backup {bp} does not exist; the backup list shows the ones kept.")
        ok, problem, runs = _verify(bp, thorough=True)
        if not ok:
            raise StoreError(f"backup {bp} is damaged ({problem}); choose another backup.")
        m = _NAME.match(bp.name)
        created = time.mktime(time.strptime(m["ts"], "%Y%m%d-%H%M%S")) if m else bp.stat().st_mtime
        chosen = BackupInfo(bp, created, m["reason"] if m else "", _size(bp) or 0, runs, True)
    else:
        chosen = newest_good_backup(p)
    if chosen is None and before.status in ("missing", "not_sqlite"):
        what = "does not exist" if before.status == "missing" else "is not a readable SQLite file"
        raise StoreError(
            f"{p} {what} and has no good backup, so there is nothing to restore or salvage; "
            "nothing was changed. Open or create another database."
        )
    report = RecoverReport(p, before.verdict)
    if chosen is not None:
        report.backup, report.backup_time = chosen.path, chosen.created
    if before.status != "missing":
        _ensure_unused(p)
    target, report.moved = _move_aside(p, "damaged")
    if target in report.moved:
        report.damaged_copy = target
        log.warning("moved %s aside to %s", p, target)
    tmp = p.with_name(f".{p.name}.recovering-{os.getpid()}")
    for f in (tmp, *_side_files(tmp)):
        f.unlink(missing_ok=True)
    try:
        _build(tmp, report)
        _move_no_clobber(tmp, p)
    except BaseException as exc:
        for f in (tmp, *_side_files(tmp)):
            with contextlib.suppress(OSError):
                f.unlink(missing_ok=True)
        problems = _move_back(report.moved, target, p)
        if isinstance(exc, FileExistsError):
            reason = f"another program created {p} meanwhile"
        elif isinstance(exc, (sqlite3.Error, OSError)):
            reason = str(exc)
        else:
            raise
        where = (
            f"; the old file stays at {report.damaged_copy}" if problems else " and nothing changed"
        )
        raise StoreError(f"recovery of {p} failed ({reason}){where}.") from None
    after = check(p)
    report.verdict, report.counts = after.verdict, after.counts
    report.seconds = time.perf_counter() - t0
    log.warning("recovered %s: %s", p, " ".join(report.lines()))
    return report


def _build(tmp: Path, report: RecoverReport) -> None:
    """The recovered database at `tmp`: the backup, then what the old file still holds."""
    dst = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        if report.backup is not None:
            src = _connect_ro(report.backup)
            try:
                src.backup(dst)
            finally:
                src.close()
            dst.execute("PRAGMA journal_mode=DELETE")
            report.restored = {t: n for t, n in _counts(dst).items() if n is not None}
            report.methods.append("backup")
        if report.damaged_copy is not None:
            _salvage(report.damaged_copy, dst, report)
        problems = _problems(dst)
        if problems:
            raise sqlite3.DatabaseError("the recovered file fails its check: " + problems[0])
    finally:
        dst.close()


class _Merger:
    """Copies rows into the recovered file, skipping keys it already has."""

    def __init__(self, dst: sqlite3.Connection, report: RecoverReport) -> None:
        self.dst = dst
        self.report = report
        self.existing: dict[str, set[tuple[Any, ...]]] = {}  # keys before salvaging
        self.newer: dict[str, dict[tuple[Any, ...], Any]] = {}
        self.added: dict[str, set[tuple[Any, ...]]] = {}  # keys salvaged so far

    def prepare(self, table: str, sql: str | None, src: sqlite3.Connection) -> list[str]:
        """Make sure the table (and its columns) exist in dst; its key columns."""
        src_cols = _columns(src, table)
        dst_tables = {t for t, _ in _tables(self.dst)}
        if table not in dst_tables:
            if sql and sql.upper().startswith("CREATE TABLE"):
                self.dst.execute(sql)
            else:
                cols = ", ".join(f"{_quote(c)} {t}" for c, t, _pk in src_cols)
                self.dst.execute(f"CREATE TABLE {_quote(table)} ({cols})")
            for (isql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql NOT NULL",
                [table],
            ).fetchall():
                with contextlib.suppress(sqlite3.Error):
                    self.dst.execute(isql)
        have = {c for c, _t, _pk in _columns(self.dst, table)}
        for c, t, _pk in src_cols:
            if c not in have:
                self.dst.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(c)} {t}")
        dst_cols = _columns(self.dst, table)
        key = list(ROW_KEYS.get(table, ()))
        names = {c for c, _t, _pk in dst_cols}
        if not key or not set(key) <= names:
            key = [c for c, _t, pk in sorted(dst_cols, key=lambda c: c[2]) if pk] or [
                c for c, _t, _pk in dst_cols
            ]
        if table not in self.existing:
            cols = ", ".join(_quote(c) for c in key)
            self.existing[table] = {
                tuple(r) for r in self.dst.execute(f"SELECT {cols} FROM {_quote(table)}")
            }
            self.added[table] = set()
            newer = NEWER_BY.get(table)
            if newer in names:
                self.newer[table] = {
                    tuple(r[:-1]): r[-1]
                    for r in self.dst.execute(
                        f"SELECT {cols}, {_quote(newer)} FROM {_quote(table)}"
                    )
                }
        return key

    def add(self, table: str, key: list[str], row: dict[str, Any], second_pass: bool) -> None:
        k = tuple(row.get(c) for c in key)
        if k in self.existing[table]:
            newer = NEWER_BY.get(table)
            old = self.newer.get(table, {}).get(k)
            new = row.get(newer) if newer else None
            if newer and new is not None and (old is None or _gt(new, old)):
                sets = ", ".join(f"{_quote(c)}=?" for c in row)
                where = " AND ".join(f"{_quote(c)} IS ?" for c in key)
                self.dst.execute(
                    f"UPDATE {_quote(table)} SET {sets} WHERE {where}", [*row.values(), *k]
                )
                self.newer[table][k] = new
                self.report.updated[table] = self.report.updated.get(table, 0) + 1
            return
        if second_pass and k in self.added[table]:
            return
        cols = ", ".join(_quote(c) for c in row)
        try:
            self.dst.execute(
                f"INSERT INTO {_quote(table)} ({cols}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        except sqlite3.IntegrityError:  # clashes with a unique index: the restored row wins
            return
        self.added[table].add(k)
        self.report.salvaged[table] = self.report.salvaged.get(table, 0) + 1


def _gt(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return False


def _salvage(damaged: Path, dst: sqlite3.Connection, report: RecoverReport) -> None:
    merger = _Merger(dst, report)
    dst.execute("BEGIN")
    try:
        try:
            src = _connect_ro(damaged)
        except sqlite3.Error as exc:
            report.notes.append(f"The damaged file could not be opened ({exc}).")
        else:
            try:
                _copy_tables(src, merger, report, second_pass=False)
            finally:
                src.close()
            report.methods.append("row-by-row")
        with tempfile.TemporaryDirectory(prefix="pepr-recover-") as work:
            rec = _cli_recover(damaged, Path(work))
            if rec is not None:
                try:
                    before = sum(report.salvaged.values())
                    _copy_tables(rec, merger, None, second_pass=True)
                    report.methods.append("sqlite3 .recover")
                    more = sum(report.salvaged.values()) - before
                    if more:
                        report.notes.append(f"sqlite3 .recover found {more} more row(s).")
                finally:
                    rec.close()
        dst.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            dst.execute("ROLLBACK")
        raise


def _copy_tables(
    src: sqlite3.Connection,
    merger: _Merger,
    report: RecoverReport | None,
    second_pass: bool,
) -> None:
    """Every readable row of every table of src into the merger; unreadable ranges reported."""
    try:
        tables = _tables(src)
    except sqlite3.DatabaseError as exc:
        if report is not None:
            report.unreadable["(all tables)"] = f"the list of tables is unreadable ({exc})"
        return
    for table, sql in tables:
        if table.startswith("lost_and_found"):  # .recover's orphans: no table to put them in
            n = _count(src, table)
            if n:
                merger.report.notes.append(
                    f"{n} orphan row(s) of unknown tables were not restored."
                )
            continue
        try:
            key = merger.prepare(table, sql, src)
            cols = [c for c, _t, _pk in _columns(src, table)]
        except sqlite3.DatabaseError as exc:
            if report is not None:
                report.unreadable[table] = f"unreadable ({exc})"
            continue
        skipped: list[tuple[int, int | None]] = []
        for values in _iter_rows(src, table, cols, skipped):
            merger.add(table, key, dict(zip(cols, values)), second_pass)
        if report is not None and skipped:
            report.unreadable[table] = _describe_skips(skipped)


def _describe_skips(skipped: list[tuple[int, int | None]]) -> str:
    closed = sum(b - a - 1 for a, b in skipped if b is not None)
    text = f"about {closed} row(s) in {len(skipped)} damaged place(s)"
    if any(b is None for _a, b in skipped):
        text += ", and every row after the last damaged place"
    return text


def _iter_rows(
    src: sqlite3.Connection, table: str, cols: Sequence[str], skipped: list[tuple[int, int | None]]
) -> Iterator[tuple[Any, ...]]:
    """The table's rows in rowid order; past a damaged page it seeks to the next readable rowid
    (recording the skipped range as (last rowid before, first rowid after)), so one bad page
    costs only the rows it held.

    Rows come in chunks (`LIMIT`, so SQLite stops at the chunk's end without stepping further);
    a chunk that meets damage is read again one row at a time up to the damaged row."""
    sel = ", ".join(_quote(c) for c in cols)
    try:
        src.execute(f"SELECT rowid FROM {_quote(table)} LIMIT 0")
    except sqlite3.OperationalError:  # WITHOUT ROWID: read up to the first damage
        try:
            yield from src.execute(f"SELECT {sel} FROM {_quote(table)}").fetchall()
        except sqlite3.DatabaseError:
            skipped.append((0, None))
        return
    base = f"SELECT rowid, {sel} FROM {_quote(table)} WHERE rowid >= ? ORDER BY rowid LIMIT "
    start = _MIN_ROWID  # the next rowid to read
    for _ in range(_MAX_SKIPS_PER_TABLE):
        try:
            rows = src.execute(base + str(_CHUNK), [start]).fetchall()
        except sqlite3.DatabaseError:
            while True:  # up to the damage, one row at a time
                try:
                    row = src.execute(base + "1", [start]).fetchone()
                except sqlite3.DatabaseError:
                    break
                if row is None:
                    return
                yield row[1:]
                start = row[0] + 1
            nxt = _next_readable(src, table, start)
            skipped.append((start - 1, nxt))
            if nxt is None:
                return
            start = nxt
            continue
        for row in rows:
            yield row[1:]
        if len(rows) < _CHUNK:
            return
        start = rows[-1][0] + 1
    skipped.append((start - 1, None))


def _first_from(src: sqlite3.Connection, table: str, start: int) -> tuple[bool, int | None]:
    """(readable, the first rowid >= start, or None when there is none)."""
    try:
        row = src.execute(
            f"SELECT rowid FROM {_quote(table)} WHERE rowid >= ? ORDER BY rowid LIMIT 1", [start]
        ).fetchone()
    except sqlite3.DatabaseError:
        return False, None
    return True, (row[0] if row else None)


def _next_readable(src: sqlite3.Connection, table: str, start: int) -> int | None:
    """The first readable rowid after the damage met at `start`: a doubling search for a point
    from which the table reads again, then a bisection back to where the damage ends."""
    bad, step = start, 1
    while True:
        point = min(start + step, _MAX_ROWID)
        if _first_from(src, table, point)[0]:
            break
        if point >= _MAX_ROWID:
            return None
        bad, step = point, step * 2
    good = point
    while good - bad > 1:
        mid = (bad + good) // 2
        if _first_from(src, table, mid)[0]:
            good = mid
        else:
            bad = mid
    return _first_from(src, table, good)[1]


def _cli_recover(damaged: Path, work: Path) -> sqlite3.Connection | None:
    """The sqlite3 program's `.recover` of the damaged file, loaded into a scratch database in
    `work`; None when there is no such program or its `.recover` does not work (some builds lack
    the sqlite_dbpage table it needs)."""
    exe = shutil.which(SQLITE3_CLI)
    if not exe:
        return None
    scratch = work / "recovered.sqlite"
    try:
        with subprocess.Popen(
            [exe, "-readonly", str(damaged), ".recover --ignore-freelist"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        ) as dump:
            subprocess.run(
                [exe, str(scratch)],
                stdin=dump.stdout,
                capture_output=True,
                timeout=CLI_TIMEOUT_S,
                check=False,
            )
            dump.wait(timeout=CLI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("sqlite3 .recover did not run: %s", exc)
        return None
    if dump.returncode != 0 or not scratch.is_file():
        log.info("sqlite3 .recover is not available here (exit %s)", dump.returncode)
        return None
    try:
        conn = sqlite3.connect(str(scratch), isolation_level=None)
        conn.text_factory = _lenient_text
        if not _tables(conn):
            conn.close()
            return None
        return conn
    except sqlite3.Error:
        return None
