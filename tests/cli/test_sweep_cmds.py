"""`pepr sweep`: a real local sweep, failed jobs and --resume, --recommended, user mistakes."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.events import EpochEnded, RunFinished, RunStarted
from pepr_desktop.core.sweeps import driver as sweep
from tests.conftest import TINY_MODEL

TINY = ["--epochs", "1", "--data-fraction", "0.05", "--device", "cpu", "--no-meter"]


def fake_body(cfg, arrays, settings, control):
    """Trains nothing; a job on seed 1 fails (as a worker error would)."""
    yield sweep.JobPlaced(socket.gethostname(), "cpu", "test-cpu", "unavailable", os.getpid())
    if cfg.seed == 1:
        yield RunFinished(0, "failed", "error", "RuntimeError: simulated")
        return
    yield RunStarted(0, cfg.model, cfg.dataset, "cpu", 123, cfg.epochs, 1)
    yield EpochEnded(0, 0, 0.5, {"val_acc": 0.5, "test_acc": 0.6}, 1.0, 10.0, "process_rss")
    yield RunFinished(0, "finished")


def test_real_local_sweep_json(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "p.sqlite")
    rc = main(["--db", db, "sweep", "--data", "sample", "--models", TINY_MODEL, *TINY, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    s = json.loads(out)
    assert s["counts"] == {"done": 1} and s["status"] == "finished" and s["backend"] == "local"
    job = s["jobs"][0]
    assert job["model"] == TINY_MODEL and job["epochs_done"] == 1 and 0 <= job["test_acc"] <= 1
    assert job["host"] == socket.gethostname() and job["device"] == "cpu"
    assert f"sweep {s['id']}: 1/1 done, 0 running, 0 failed, 0 queued" in err
    # the sweep's run is an ordinary run for `pepr runs`
    assert main(["--db", db, "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["sweep_id"] for r in runs] == [s["id"]]


def test_failed_job_exit_1_then_resume(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sweep, "job_events", fake_body)
    db = str(tmp_path / "p.sqlite")
    rc = main(["--db", db, "sweep", "--data", "sample", "--models", f"{TINY_MODEL},resnet10t",
               "--seed", "0", *TINY])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err  # both on seed 0: both finish
    assert "2 done" in out and "resnet10t" in out

    rc = main(["--db", db, "sweep", "--data", "sample", "--models", TINY_MODEL, "--seed", "1",
               *TINY])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 1
    assert "failed: RuntimeError: simulated" in err
    sweep_id = err.splitlines()[0].split()[1]
    assert f"pepr sweep --resume {sweep_id}" in out

    def fine(cfg, arrays, settings, control):
        from dataclasses import replace

        yield from fake_body(replace(cfg, seed=0), arrays, settings, control)

    monkeypatch.setattr(sweep, "job_events", fine)
    assert main(["--db", db, "sweep", "--resume", sweep_id, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["counts"] == {"done": 1} and s["jobs"][0]["attempts"] == 2


def test_recommended_k_takes_the_fitting_models(tmp_path: Path, capsys, monkeypatch) -> None:
    import pepr_desktop.core.search.recommend as rec

    seen = {}

    def fake_recommend(info, store, budget, cfg, *, top, **kw):
        seen["budget"], seen["top"] = budget, top
        fitting = [SimpleNamespace(model=m, pretrained=False) for m in ("resnet10t", TINY_MODEL)]
        return SimpleNamespace(fitting=fitting, message="2 fit")

    monkeypatch.setattr(rec, "recommend", fake_recommend)
    monkeypatch.setattr(sweep, "job_events", fake_body)
    db = str(tmp_path / "p.sqlite")
    rc = main(["--db", db, "sweep", "--data", "sample", "--recommended", "1", "--time-min", "5",
               *TINY, "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert seen["top"] == 1 and seen["budget"].time_min == 5
    assert [j["model"] for j in json.loads(out)["jobs"]] == ["resnet10t"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "sample"], "--models M1,M2,... or --recommended K"),
        (["--data", "sample", "--models", "resnet_nope"], "unknown model 'resnet_nope'"),
        (["--models", TINY_MODEL], "--data NAME is required"),
        (["--data", "sample", "--resume", "x"], "drop --data"),
        (["--models", TINY_MODEL, "--resume", "x"], "not allowed with argument --models"),
        (["--resume", "abc"], "no sweep with id 'abc'"),
        (["--data", "nope", "--models", TINY_MODEL], "unknown dataset 'nope'"),
        (["--data", "sample", "--models", TINY_MODEL, "--address", "auto"], "for --backend ray"),
        (["--data", "sample", "--models", TINY_MODEL, "--backend", "ray", "--device", "cuda"],
         "needs --num-gpus"),
        (["--data", "sample", "--models", TINY_MODEL, "--num-gpus", "-1"], "must be a number >= 0"),
    ],
)  # fmt: skip
def test_mistakes_exit_2_with_one_line(args, message, tmp_path: Path, capsys) -> None:
    try:
        rc = main(["--db", str(tmp_path / "p.sqlite"), "sweep", *args])
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_stdout_carries_the_result_alone(capfd) -> None:
    """Inside the guard, Ray's print() from its own thread and a write to descriptor 1 (its C++
    core) land on stderr; after it, stdout is the result's again (issue 18)."""
    import threading

    from pepr_desktop.cli.sweep_cmds import stdout_for_result_only

    def ray_like() -> None:
        print("(raylet) The node with node id: 1234 has been marked dead")
        os.write(1, b"core worker: lost the raylet\n")

    with stdout_for_result_only():
        t = threading.Thread(target=ray_like)
        t.start()
        t.join()
    print('{"ok": true}')
    out, err = capfd.readouterr()
    assert json.loads(out) == {"ok": True}
    assert "has been marked dead" in err and "lost the raylet" in err


def test_runs_table_names_the_ray_node_only_when_there_is_one(tmp_path: Path, capsys) -> None:
    from pepr_desktop.core.store import Store

    db = tmp_path / "p.sqlite"
    with Store(db) as store:
        store.create_run(dataset="sample", model=TINY_MODEL, status="finished")
    assert main(["--db", str(db), "runs"]) == 0
    assert "node" not in capsys.readouterr().out.splitlines()[0]  # local runs only: no column

    node = {"id": "f85b16fcb916a961", "ip": "10.0.0.2", "host": "gpu-2", "pid": 4321}
    with Store(db) as store:
        store.create_run(dataset="sample", model=TINY_MODEL, status="finished", node=node)
    assert main(["--db", str(db), "runs"]) == 0
    header, _, local, remote = capsys.readouterr().out.splitlines()
    assert header.split()[-1] == "node"
    assert remote.endswith("f85b16fc (gpu-2, pid 4321)") and "f85b16fc" not in local
