"""Sweeps: the local backend, Ray on a local 2-CPU cluster, failed and lost jobs, resume, progress.

Training is tiny (mobilenetv3_small_050, the bundled sample at 28 px, 5% of it, 1 epoch); jobs
that only need to exist (progress, resume bookkeeping) use a fake job body that trains nothing.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import BatchEnded, EpochEnded, RunFinished, RunStarted
from pepr_desktop.core.store import Store
from pepr_desktop.core.sweeps import driver as sweep
from pepr_desktop.core.training.config import TrainConfig
from tests.conftest import TINY_MODEL

BASE = TrainConfig(
    dataset="sample", model="", epochs=1, data_fraction=0.05, device="cpu", eval_batch_size=512
)


def fake_body(cfg, arrays, settings, control):
    """A job that trains nothing: where it ran, one epoch, the end (for bookkeeping tests)."""
    yield sweep.JobPlaced(socket.gethostname(), "cpu", "test-cpu", "unavailable", os.getpid())
    yield RunStarted(0, cfg.model, cfg.dataset, "cpu", 123, cfg.epochs, 1)
    yield EpochEnded(0, 0, 0.5, {"val_acc": 0.5, "test_acc": 0.6}, 1.0, 10.0, "process_rss")
    yield RunFinished(0, "finished")


def run_all(store: Store, sweep_id: str, **kw) -> list[sweep.SweepUpdate]:
    return list(sweep.run_sweep(store, sweep_id, **kw))


# ------------------------------------------------------------------ local backend


def test_local_sweep_failed_job_then_resume_reruns_only_it(store: Store, monkeypatch) -> None:
    from pepr_desktop.core.training import train

    real_prepare = train.prepare

    def prepare_failing_second(cfg, arrays):
        if cfg.seed == 1:
            raise RuntimeError("simulated failure in job 1")
        return real_prepare(cfg, arrays)

    monkeypatch.setattr(train, "prepare", prepare_failing_second)
    spec = sweep.make_spec(BASE, [TINY_MODEL, (TINY_MODEL, {"seed": 1})])
    sid = sweep.create_sweep(spec, store)
    updates = run_all(store, sid)

    s = sweep.summarize(store, sid)
    assert s["status"] == "incomplete"
    assert s["counts"] == {"done": 1, "failed": 1}
    ok, bad = s["jobs"]
    assert ok["status"] == "finished" and ok["epochs_done"] == 1
    assert bad["status"] == "failed" and "simulated failure in job 1" in bad["message"]
    run = store.get_run(ok["run_id"])
    assert run["sweep_id"] == sid and run["host"] == socket.gethostname()
    assert run["node"] is None and ok["node"] is None  # trained in the driver: no Ray node
    assert run["device"] == "cpu" and run["params"] > 0
    assert len(store.epochs(ok["run_id"])) == 1
    assert updates[-1].progress.done == 1 and updates[-1].progress.failed == 1

    # the rerun trains nothing (job 0 above was the real training): what matters is which ran
    reran = [
        u.job for u in run_all(store, sid, job_fn=fake_body) if isinstance(u.event, sweep.JobPlaced)
    ]
    assert reran == [1]
    s = sweep.summarize(store, sid)
    assert s["status"] == "finished" and s["counts"] == {"done": 2}
    assert s["jobs"][0]["run_id"] == ok["run_id"]  # the finished job was not touched
    assert s["jobs"][1]["attempts"] == 2 and s["jobs"][1]["run_id"] != bad["run_id"]
    assert store.get_run(bad["run_id"])["status"] == "failed"  # the old attempt stays on record
    assert s["comparison"] and len(s["comparison"]["runs"]) == 2
    # nothing left to do: a third call runs no job
    assert not [u for u in run_all(store, sid) if isinstance(u.event, sweep.JobPlaced)]


def test_runs_left_running_by_a_dead_driver_are_interrupted_and_rerun(store: Store) -> None:
    spec = sweep.make_spec(BASE, ["resnet10t", TINY_MODEL])
    sid = sweep.create_sweep(spec, store)
    # a driver that died mid-job on another machine leaves its run `running`
    run_id = store.create_run(
        dataset="sample", model="resnet10t", config=spec.jobs[0], sweep_id=sid, host="node-7"
    )
    ran = [
        (u.job, u.run_id)
        for u in run_all(store, sid, job_fn=fake_body)
        if isinstance(u.event, sweep.JobPlaced)
    ]
    assert [j for j, _ in ran] == [0, 1]
    lost = store.get_run(run_id)
    assert lost["status"] == "interrupted" and "driver ended" in lost["message"]
    assert sweep.summarize(store, sid)["status"] == "finished"


def test_progress_counts_and_eta(store: Store) -> None:
    spec = sweep.make_spec(BASE, [TINY_MODEL] * 3)
    info = sweep.validate(spec, store)
    jobs = [sweep._Job(i, c) for i, c in enumerate(spec.configs())]
    d = sweep.SweepDriver(store, "s1", spec, info, jobs, done=0)
    assert d.progress().eta_s is None and d.progress().queued == 3
    d.handle(0, sweep.JobPlaced("h", "cpu", "x", "unavailable", 1))
    d.handle(0, RunStarted(0, TINY_MODEL, "sample", "cpu", 10, 1, 4))
    jobs[0].started -= 10.0  # 10 s in, half the epoch done -> a job takes ~20 s
    u = d.handle(0, BatchEnded(0, 0, 2, 4, 10.0))
    p = u.progress
    assert (p.running, p.queued, p.done) == (1, 2, 0)
    assert p.eta_s == pytest.approx(10 + 2 * 20, rel=0.05)  # one job at a time
    assert "0/3 done, 1 running" in p.line()
    u = d.handle(0, RunFinished(0, "failed", "error", "boom"))
    assert u.progress.failed == 1 and u.progress.running == 0
    assert store.get_run(u.run_id)["status"] == "failed"


def test_warnings_for_mixed_devices_methods_and_shared_machines() -> None:
    runs = [
        {"id": 1, "device": "cpu", "device_name": "x86", "energy_method": "rapl", "host": "a",
         "energy_j": 5.0, "created_at": 0.0, "updated_at": 10.0},
        {"id": 2, "device": "cuda", "device_name": "A100", "energy_method": "nvml", "host": "a",
         "energy_j": 7.0, "created_at": 5.0, "updated_at": 15.0},
        {"id": 3, "device": "cpu", "device_name": "x86", "energy_method": "rapl", "host": "b",
         "energy_j": 7.0, "created_at": 5.0, "updated_at": 15.0},
    ]  # fmt: skip
    w = sweep.sweep_warnings(runs)
    assert len(w) == 3
    assert "different devices" in w[0] and "A100" in w[0]
    assert "different methods: nvml, rapl" in w[1]
    assert "runs 1, 2 ran at the same time" in w[2]  # run 3 was on another host
    assert sweep.sweep_warnings(runs[:1]) == []


def test_mistakes_are_refused_before_any_run(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown model 'resnet_nope'"):
        sweep.create_sweep(sweep.make_spec(BASE, [TINY_MODEL, "resnet_nope"]), store)
    with pytest.raises(UserError, match="at least one model"):
        sweep.create_sweep(sweep.make_spec(BASE, []), store)
    with pytest.raises(UserError, match="needs --num-gpus"):
        spec = sweep.make_spec(replace(BASE, device="cuda"), [TINY_MODEL], backend="ray")
        sweep.create_sweep(spec, store)
    with pytest.raises(UserError, match="does not exist"):
        spec = sweep.make_spec(replace(BASE, weights=str(tmp_path / "no.pt")), [TINY_MODEL])
        sweep.create_sweep(spec, store)
    with pytest.raises(UserError, match="no sweep with id 'nope'"):
        run_all(store, "nope")
    assert store.runs() == [] and sweep.list_sweeps(store) == []


def test_jobs_from_whole_configs_are_built_like_pepr_sweep_s() -> None:
    """The GUI's queue (one TrainConfig per model) builds its sweep with `spec_from_configs`,
    through the same `make_spec` as `pepr sweep` (issue 17): each job keeps its own settings, gets
    its index, and no checkpoints."""
    from pepr_desktop.core.sweeps.jobs import JOB_KEY

    a = replace(BASE, model=TINY_MODEL, seed=3, lr=1e-3)
    b = replace(BASE, model="resnet10t", seed=4, checkpoint=True)
    spec = sweep.spec_from_configs([a, b], backend="ray", num_cpus=2.0)
    jobs = spec.configs()
    assert [j.model for j in jobs] == [TINY_MODEL, "resnet10t"]
    assert [(j.seed, j.lr) for j in jobs] == [(3, 1e-3), (4, BASE.lr)]
    assert [j.extra[JOB_KEY] for j in jobs] == [0, 1]
    assert not any(j.checkpoint for j in jobs)
    assert (spec.dataset, spec.backend, spec.num_cpus, spec.meter) == ("sample", "ray", 2.0, None)
    assert (
        spec.to_dict()
        == sweep.make_spec(
            a,
            [(TINY_MODEL, {}), ("resnet10t", {"seed": 4, "lr": BASE.lr})],
            backend="ray",
            num_cpus=2.0,
        ).to_dict()
    )
    with pytest.raises(UserError, match="at least one model"):
        sweep.spec_from_configs([])


# ------------------------------------------------------------------ Ray backend


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is the optional extra pepr-desktop[cluster]")
    # test-local job bodies travel to the workers by value (this module is not importable there)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_sweep_streams_every_job_to_the_driver(ray_local, store: Store, tmp_path) -> None:
    from pepr_desktop.core.metering import MeterSettings

    garbage = tmp_path / "broken.pt"
    garbage.write_bytes(b"not a state dict")
    jobs = [TINY_MODEL, (TINY_MODEL, {"seed": 1}), (TINY_MODEL, {"seed": 2}),
            (TINY_MODEL, {"weights": str(garbage)})]  # fmt: skip
    settings = MeterSettings(idle_baseline_s=0, period_s=0.2)
    spec = sweep.make_spec(BASE, jobs, backend="ray", meter_settings=settings)
    sid = sweep.create_sweep(spec, store)
    updates = run_all(store, sid)

    s = sweep.summarize(store, sid)
    assert s["backend"] == "ray" and s["counts"] == {"done": 3, "failed": 1}
    assert "broken.pt is not a usable weights file" in s["jobs"][3]["message"]
    for j in s["jobs"][:3]:
        run = store.get_run(j["run_id"])
        assert run["status"] == "finished" and run["sweep_id"] == sid
        assert run["pid"] == os.getpid()  # created and written by the driver, not the worker
        assert run["host"] == socket.gethostname() and run["device"] == "cpu"
        assert run["energy_method"] not in (None, "", "unavailable")  # the worker's meter
        assert run["energy_j"] > 0 and run["co2_g"] > 0
        assert [e["epoch"] for e in store.epochs(run["id"])] == [0]
        assert store.samples(run["id"])  # meter samples came back through the stream
    # the worker processes sent events: their pids are not ours
    placed = [u.event for u in updates if isinstance(u.event, sweep.JobPlaced)]
    assert len(placed) == 4 and all(p.pid != os.getpid() for p in placed)
    # each run names the Ray node and the worker process that trained it
    here = ray_local.get_runtime_context().get_node_id()
    worker_pids = {u.run_id: u.event.pid for u in updates if isinstance(u.event, sweep.JobPlaced)}
    for j in s["jobs"]:
        node = store.get_run(j["run_id"])["node"]
        assert node["id"] == here and node["ip"] and node["host"] == socket.gethostname()
        assert node["pid"] == worker_pids[j["run_id"]] != os.getpid()
        assert j["node"] == node
    # two CPUs, one per job: jobs overlapped and the summary says their energy is shared
    assert any("at the same time on one machine" in w for w in s["warnings"])


def test_ray_worker_death_is_interrupted_and_resume_reruns_it(ray_local, store: Store) -> None:
    def crash_on_seed_1(cfg, arrays, settings, control):
        if cfg.seed == 1:
            os._exit(1)  # the worker process dies, as on a lost node
        yield from fake_body(cfg, arrays, settings, control)

    spec = sweep.make_spec(BASE, [TINY_MODEL, (TINY_MODEL, {"seed": 1})], backend="ray")
    sid = sweep.create_sweep(spec, store)
    run_all(store, sid, job_fn=crash_on_seed_1)
    s = sweep.summarize(store, sid)
    assert s["jobs"][0]["status"] == "finished"
    lost = s["jobs"][1]
    assert lost["status"] == "interrupted" and lost["reason"] == "node", lost
    assert "--resume" in lost["message"]

    ran = [
        u.job
        for u in run_all(store, sid, job_fn=fake_body, overrides={"backend": "local"})
        if isinstance(u.event, sweep.JobPlaced)
    ]
    assert ran == [1]
    assert sweep.summarize(store, sid)["counts"] == {"done": 2}


def test_ray_stop_cancels_running_jobs(ray_local, store: Store) -> None:
    def slow(cfg, arrays, settings, control):
        import time

        yield sweep.JobPlaced(socket.gethostname(), "cpu", "x", "unavailable", os.getpid())
        time.sleep(60)  # a long epoch; the cancellation must cut it short
        yield RunFinished(0, "finished")

    from pepr_desktop.core.training.config import Control

    control = Control()
    spec = sweep.make_spec(BASE, [TINY_MODEL] * 3, backend="ray")
    sid = sweep.create_sweep(spec, store)
    updates = []
    for u in sweep.run_sweep(store, sid, control=control, job_fn=slow):
        updates.append(u)
        if isinstance(u.event, sweep.JobPlaced):
            control.stop()  # what Ctrl-C does on the CLI
    s = sweep.summarize(store, sid)
    assert s["status"] == "stopped"
    started = [j for j in s["jobs"] if j["run_id"] is not None]
    assert started and all(j["status"] == "stopped" for j in started), s["jobs"]
    assert all(j["status"] in ("stopped", "pending") for j in s["jobs"])


def test_ray_jobs_one_at_a_time_recorded_by_the_caller(ray_local, store: Store) -> None:
    """What a search does (issue 18): submit a job whenever it wants, read its events, cancel
    the one it prunes, record everything itself (`SweepDriver.add_job` + `handle`)."""
    from pepr_desktop.core.sweeps.ray_backend import RayJobs

    def body(cfg, arrays, settings, control):
        if cfg.seed == 1:  # a trial the caller prunes: it would run a minute
            import time

            yield sweep.JobPlaced(socket.gethostname(), "cpu", "x", "unavailable", os.getpid())
            time.sleep(60)
        yield from fake_body(cfg, arrays, settings, control)

    from pepr_desktop.core.data import registry

    spec = sweep.make_spec(BASE, [], backend="ray")
    info = registry.resolve("sample", store)
    driver = sweep.SweepDriver(store, "search-1", spec, info, [], 0)
    ended: dict[int, str] = {}
    with RayJobs(spec, None, job_fn=body) as pool:
        for index, seed in enumerate((0, 1)):
            cfg = replace(BASE, model=TINY_MODEL, seed=seed)
            driver.add_job(index, cfg)
            pool.submit(index, cfg)
            while index not in ended:
                msg = pool.next(timeout=30)
                assert msg is not None, "no message from Ray within 30 s"
                u = driver.handle(*msg)
                if u is not None and isinstance(u.event, sweep.JobPlaced) and msg[0] == 1:
                    pool.cancel(1)  # pruned
                if u is not None and isinstance(u.event, RunFinished):
                    ended[msg[0]] = u.event.status
        assert ended == {0: "finished", 1: "stopped"}
    runs = {r["id"]: r for r in store.runs(sweep_id="search-1")}
    assert sorted(r["status"] for r in runs.values()) == ["finished", "stopped"]
    assert all(
        r["node"]["id"] == ray_local.get_runtime_context().get_node_id() for r in runs.values()
    )
    assert driver.progress().total == 2


def test_compare_warns_on_mixed_devices_and_methods() -> None:
    from pepr_desktop.core.scoring.compare import compare_runs

    base = {"dataset": "sample", "status": "finished", "test_acc": 0.8, "energy_j": 10.0}
    runs = [
        {**base, "id": 1, "device": "cpu", "device_name": "x86", "energy_method": "rapl"},
        {**base, "id": 2, "device": "cuda", "device_name": "A100", "energy_method": "nvml"},
    ]
    notes = compare_runs(runs, "energy").notes
    assert "warning: runs on different devices: cpu (x86), cuda (A100)" in notes
    assert "warning: energy measured with different methods: nvml, rapl" in notes
    assert not any("warning" in n for n in compare_runs(runs[:1] * 2, "energy").notes)


def test_a_stream_ended_by_ray_shutdown_ends_quietly(monkeypatch) -> None:
    """ray.shutdown() raises SystemExit in a thread still inside ray.get: the job's pump thread
    ends its stream without a traceback on the user's terminal (seen in the Ray tests' warnings)."""
    import queue
    import threading

    pytest.importorskip("ray", reason="Ray is the optional extra pepr-desktop[cluster]")
    from pepr_desktop.core.sweeps import ray_backend

    class ShutDownRay:
        def get(self, ref):
            raise SystemExit(0)

    escaped: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: escaped.append(a.exc_value))
    out: queue.Queue = queue.Queue()
    t = threading.Thread(target=ray_backend._pump, args=(ShutDownRay(), 3, iter([object()]), out))
    t.start()
    t.join(5)
    assert not escaped
    assert out.get_nowait() == (3, ray_backend._END)
    assert out.empty()
