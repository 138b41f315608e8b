"""The store process: the database's connections live in a child process, never in the caller's.

Why: SQLite's WAL locking rests on POSIX advisory locks, and on POSIX a `close()` of *any*
descriptor of a file releases *all* of the process's locks on it. A GUI process opens file
dialogs, whose icon and type lookups open `pepr.sqlite`, `-wal` and `-shm` to sniff their content
and close them again: the locks vanish while the connection lives, and the next process that
opens the database (the CLI) checkpoints and deletes the WAL the GUI is still writing through.
Committed runs are lost ("How To Corrupt An SQLite Database File", section 2.2). A process that
holds no SQLite connection has no locks to lose, so the GUI keeps none: every `RemoteStore` call
is a message to the store process, which opens one `Store` (one connection) per client, as the GUI
used to open one per thread, and which opens nothing else. tests/core/store/test_remote.py and
tests/gui/test_dialog_locks.py enforce it.

The proxy has the `Store` interface except the raw connection (`db`, `transaction`): SQL lives in
`database.py` alone, and a caller that needs a new query adds a `Store` method.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import secrets
import sqlite3
import threading
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import StoreError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
# What core/store/backup.py offers a GUI (check, backups, recovery), run in the store process.
BACKUP_FUNCTIONS = frozenset(
    {"check", "list_backups", "newest_good_backup", "recover", "backup_now"}
)
# What a client may not ask for: the raw connection cannot cross a process boundary.
_NOT_REMOTE = frozenset({"db", "transaction"})


# ---------------------------------------------------------------------------------- the server


def _serve(lifeline: Connection, authkey: bytes) -> None:
    """Entry point of the store process: accept clients until the parent goes away."""
    listener = Listener(authkey=authkey)
    lifeline.send(listener.address)

    def watch_parent() -> None:
        # EOF on the lifeline: the parent ended (even by SIGKILL). Every connection commits per
        # transaction, so leaving now loses nothing that was committed.
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        os._exit(0)

    threading.Thread(target=watch_parent, name="store-lifeline", daemon=True).start()
    while True:
        try:
            conn = listener.accept()
        except OSError:
            continue  # a client that failed authentication or vanished while connecting
        threading.Thread(
            target=_client_loop, args=(conn,), name="store-client", daemon=True
        ).start()


def _client_loop(conn: Connection) -> None:
    """One client = one `Store` = one SQLite connection, used by this thread alone."""
    from pepr_desktop.core.store.database import Store

    store: Store | None = None
    try:
        while True:
            try:
                name, args, kwargs = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if name == "__open__":
                    store = Store(*args, **kwargs)
                    result: Any = {"data_dir": store.data_dir}
                elif name == "__backup__":  # a function of core/store/backup.py, by name
                    from pepr_desktop.core.store import backup

                    fname, fargs = args
                    if fname not in BACKUP_FUNCTIONS:
                        raise StoreError(f"the store process does not offer backup.{fname}")
                    result = getattr(backup, fname)(*fargs, **kwargs)
                elif name == "__close__":
                    if store is not None:
                        store.close()  # before answering: the caller may delete the file next
                        store = None
                    conn.send(("ok", None))
                    return
                elif store is None or name.startswith("_") or name in _NOT_REMOTE:
                    raise StoreError(f"the store process does not offer '{name}'")
                else:
                    result = getattr(store, name)(*args, **kwargs)
                reply = ("ok", result)
            except sqlite3.DatabaseError as exc:  # found damaged after it opened
                reply = ("err", damaged_error(args[0] if name == "__open__" else store, exc))
            except BaseException as exc:  # every failure goes back to the caller, typed
                reply = ("err", _portable(exc))
            conn.send(reply)
    finally:
        if store is not None:
            store.close()
        conn.close()


def damaged_error(where: Any, exc: sqlite3.DatabaseError) -> StoreError:
    """A raw SQLite error met after the file opened (a damaged page) as the user's one line."""
    from pepr_desktop.core.store.database import RECOVER_HINT

    path = getattr(where, "path", where)
    return StoreError(f"database {path} is damaged ({exc}); {RECOVER_HINT}")


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a StoreError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return StoreError(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------- the client


class StoreProcess:
    """The child process that owns every SQLite connection of this process (one per process)."""

    _instance: StoreProcess | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._authkey = secrets.token_bytes(32)
        # spawn, not fork: a forked child would inherit the GUI's threads and Qt state.
        ctx = mp.get_context("spawn")
        self._lifeline, child_end = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child_end, self._authkey), name="pepr-store", daemon=True
        )
        self._proc.start()  # returns at once: the caller goes on while the child imports
        child_end.close()
        self._address: Any = None

    @property
    def address(self) -> Any:
        """The child's listening address, waited for on first use."""
        if self._address is None:
            if not self._lifeline.poll(START_TIMEOUT_S):
                self._proc.kill()
                raise StoreError("the store process did not start; see the log file and try again.")
            self._address = self._lifeline.recv()
            log.info("store process %d listening", self._proc.pid)
        return self._address

    @classmethod
    def get(cls) -> StoreProcess:
        """The running store process, started (again) when there is none."""
        with cls._instance_lock:
            inst = cls._instance
            if inst is None or not inst.alive:
                cls._instance = inst = cls()
            return inst

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def connect(self) -> Connection:
        return Client(self.address, authkey=self._authkey)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close the lifeline: the process exits (its clients should have closed first)."""
        self._lifeline.close()
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()

    @classmethod
    def shutdown(cls) -> None:
        with cls._instance_lock:
            if cls._instance is not None:
                cls._instance.stop()
                cls._instance = None


class RemoteStore:
    """`Store`'s interface, served by the store process. Safe to share between threads (calls
    are serialised per proxy); give a long-running worker its own proxy, as with `Store`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        process: StoreProcess | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self._lock = threading.Lock()
        self._process = process or StoreProcess.get()
        self._conn: Connection | None = self._process.connect()
        try:
            opened = self._call("__open__", str(self.path), readonly=readonly)
        except BaseException:
            self._drop()
            raise
        self.data_dir: Path = opened["data_dir"]

    def _call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        # positional-only: a Store method may take `name=` itself (create_run's run name)
        with self._lock:
            if self._conn is None:
                raise StoreError(f"the database {self.path} was closed; open it again.")
            try:
                self._conn.send((method, args, kwargs))
                status, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._conn = None
                raise StoreError(
                    f"the store process ended while using {self.path}; nothing committed is lost. "
                    "Try again (it restarts on the next use)."
                ) from None
        if status == "err":
            raise value
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in _NOT_REMOTE:
            raise AttributeError(
                f"RemoteStore has no '{name}': the connection lives in the store process; "
                "add a Store method in core/store/database.py for what you need."
            )
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.send(("__close__", (), {}))
            conn.recv()  # the store process closed its connection before answering
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteStore({str(self.path)!r}, readonly={self.readonly})"


class RemoteBackup:
    """core/store/backup.py's functions, run in the store process: recovery and checks open
    SQLite connections too, and the GUI process keeps none."""

    def __init__(self, process: StoreProcess | None = None) -> None:
        self._process = process

    def __getattr__(self, fname: str) -> Any:
        if fname not in BACKUP_FUNCTIONS:
            raise AttributeError(fname)

        def call(*args: Any, **kwargs: Any) -> Any:
            conn = (self._process or StoreProcess.get()).connect()
            try:
                conn.send(("__backup__", (fname, args), kwargs))
                status, value = conn.recv()
            except (EOFError, OSError):
                raise StoreError("the store process ended; try again.") from None
            finally:
                conn.close()
            if status == "err":
                raise value
            return value

        return call
