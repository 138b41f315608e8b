"""The store process (core/store/remote.py): the Store interface, served from another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.store import Store
from pepr_desktop.core.store.remote import RemoteStore, StoreProcess
from tests.conftest import open_descriptors

ROOT = Path(__file__).resolve().parents[3]


def test_remote_store_round_trip_and_typed_errors(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with RemoteStore(db) as store:
        run_id = store.create_run(model="resnet18", dataset="sample", epochs_planned=2)
        named = store.create_run(model="resnet18", dataset="sample", name="trial 0")  # `name=`
        assert store.get_run(named)["name"] == "trial 0"  # (a search's run names cross too)
        store.add_epoch(run_id, {"epoch": 0, "train_loss": 0.5}, {"epochs_done": 1})
        assert store.get_run(run_id)["epochs_done"] == 1
        assert [e["epoch"] for e in store.epochs(run_id)] == [0]
        assert store.data_dir == tmp_path / "pepr_files"
        with pytest.raises(StoreError, match="no run with id 999"):
            store.get_run(999)
    with Store(db, readonly=True) as local:  # what the proxy wrote is in the file
        assert local.get_run(run_id)["model"] == "resnet18"


def test_remote_store_offers_no_raw_connection(tmp_path: Path) -> None:
    with RemoteStore(tmp_path / "pepr.sqlite") as store:
        for name in ("db", "transaction", "_migrate"):
            with pytest.raises(AttributeError, match="store process"):
                getattr(store, name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_this_process_holds_no_descriptor_of_the_database(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with RemoteStore(db) as store:
        store.create_run(model="m", dataset="d")
        store.runs()
        assert db.is_file()
        assert open_descriptors(db) == []
        child = StoreProcess.get().pid
        assert child != os.getpid()
        opened = [f.path for f in psutil.Process(child).open_files()]
        assert str(db) in opened  # the connection is there instead


def test_unusable_database_is_a_store_error_from_the_child(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite" * 500)
    with pytest.raises(StoreError, match="not a SQLite database"):
        RemoteStore(junk)


def test_threads_share_one_proxy_safely(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with RemoteStore(db) as store:
        run_id = store.create_run(model="m", dataset="d")
        errors: list[BaseException] = []

        def write(offset: int) -> None:
            try:
                for e in range(offset, offset + 20):
                    store.add_epoch(run_id, {"epoch": e}, {"epochs_done": e})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.epochs(run_id)) == 80


def test_store_process_death_is_reported_and_recovered(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    store = RemoteStore(db)
    run_id = store.create_run(model="m", dataset="d")
    proc = StoreProcess.get()
    os.kill(proc.pid, signal.SIGKILL)
    proc._proc.join(10)
    with pytest.raises(StoreError, match="store process ended"):
        store.runs()
    store.close()
    with RemoteStore(db) as again:  # a new store process; the committed run is there
        assert again.get_run(run_id)["model"] == "m"
    assert StoreProcess.get().pid != proc.pid


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_store_process_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from pepr_desktop.core.store.remote import RemoteStore, StoreProcess\n"
        "if __name__ == '__main__':\n"
        "    s = RemoteStore(sys.argv[1]); s.create_run(model='m', dataset='d')\n"
        "    print(StoreProcess.get().pid, flush=True); time.sleep(60)\n"
    )
    script = tmp_path / "parent.py"
    script.write_text(code)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "pepr.sqlite")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    alive = psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    assert not alive, "the store process outlived its parent"
    with Store(tmp_path / "pepr.sqlite") as store:
        assert store.get_run(1)["model"] == "m"
