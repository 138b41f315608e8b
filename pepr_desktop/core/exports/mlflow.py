"""Stored runs to an MLflow tracking server or store (optional extra `mlflow`).

Each run becomes one MLflow run in the experiment (default "pepr-desktop"): its training settings
as params, every epoch's figures as metrics by step (the epoch, from 0), the run's totals (energy
in kWh, CO2eq in kg, time, peak memory) as metrics at the last step, and tags saying where it came
from. A run already exported from the same database is skipped, so exporting again adds only new
runs; runs still training are skipped until they end.

MLflow 3 refuses its file store (`./mlruns`, `file:...`) unless `MLFLOW_ALLOW_FILE_STORE` is true;
a user who names a file store here has chosen it, so it is allowed for this process unless that
variable says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.metering.carbon import J_PER_KWH

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "pepr-desktop"
KEY_TAG = "pepr.run_key"
# a run stopped by its budget ended as planned; one stopped by the user or Ctrl-C did not
STATUS = {"finished": "FINISHED", "failed": "FAILED", "stopped": "KILLED", "interrupted": "KILLED"}
EPOCH_METRICS = {  # stored epoch column -> MLflow metric name (and the factor to its unit)
    "train_loss": ("train_loss", 1.0),
    "val_acc": ("val_acc", 1.0),
    "val_auc": ("val_auc", 1.0),
    "val_bacc": ("val_bacc", 1.0),
    "test_acc": ("test_acc", 1.0),
    "test_auc": ("test_auc", 1.0),
    "test_bacc": ("test_bacc", 1.0),
    "seconds": ("epoch_time_s", 1.0),
    "peak_mem_mb": ("epoch_peak_mem_mb", 1.0),
    "energy_j": ("epoch_energy_kwh", 1 / J_PER_KWH),
}
RUN_METRICS = {  # stored run column -> (metric, factor)
    "energy_j": ("energy_kwh", 1 / J_PER_KWH),
    "energy_net_j": ("energy_net_kwh", 1 / J_PER_KWH),
    "co2_g": ("co2eq_kg", 1 / 1000),
    "train_time_s": ("train_time_s", 1.0),
    "peak_mem_mb": ("peak_mem_mb", 1.0),
    "best_val_acc": ("best_val_acc", 1.0),
}
RUN_PARAMS = ("dataset", "model", "device", "device_name", "params", "pue", "carbon_intensity")
MAX_PER_CALL = {"metrics": 1000, "params": 100}  # MLflow's log_batch limits


@dataclass(frozen=True)
class Exported:
    logged: int
    skipped: int
    running: int
    experiment_id: str


def export_runs(
    uri: str, runs: Sequence[dict[str, Any]], db_id: str, experiment: str = DEFAULT_EXPERIMENT
) -> Exported:
    """Log `runs` (each with its `epochs`) to the MLflow tracking `uri`; `db_id` names their
    database (its path) so a second export skips what the first logged."""
    make_client = _client_class(uri)
    try:
        client = make_client(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else client.create_experiment(experiment)
    except Exception as exc:  # a wrong URI, a server not reachable, a store MLflow refuses
        raise UserError(f"MLflow at {uri} cannot be used: {_first_line(exc)}") from None
    logged = skipped = running = 0
    prefix = hashlib.sha1(db_id.encode()).hexdigest()[:12]
    for run in runs:
        if run.get("status") not in STATUS:
            running += 1
            continue
        key = f"{prefix}:{run['id']}"
        if client.search_runs([exp_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'"):
            skipped += 1
            continue
        _log_run(client, exp_id, run, key)
        logged += 1
    return Exported(logged, skipped, running, exp_id)


def _client_class(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError(
            "MLflow is not installed; install the extra: pip install 'pepr-desktop[mlflow]'."
        ) from None
    if "://" not in uri or uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient


def _log_run(client: Any, exp_id: str, run: dict[str, Any], key: str) -> None:
    from mlflow.entities import Metric, Param, RunTag

    start_ms = _ms(run.get("created_at"))
    mlrun = client.create_run(
        exp_id,
        start_time=start_ms,
        run_name=run.get("name") or f"{run.get('model')} #{run['id']}",
        tags={KEY_TAG: key, "mlflow.source.name": "pepr-desktop", **_tags(run)},
    )
    rid = mlrun.info.run_id
    metrics = [Metric(name, value, ms, step) for name, value, ms, step in _metrics(run, start_ms)]
    params = [Param(k, v) for k, v in params_of(run).items()]
    for chunk in _chunks(metrics, MAX_PER_CALL["metrics"]):
        client.log_batch(rid, metrics=chunk)
    for chunk in _chunks(params, MAX_PER_CALL["params"]):
        client.log_batch(rid, params=chunk)
    client.log_batch(rid, tags=[RunTag("pepr.run_id", str(run["id"]))])
    status = "FINISHED" if run.get("reason") == "budget" else STATUS[run["status"]]
    client.set_terminated(rid, status=status, end_time=_ms(run.get("updated_at")))


def params_of(run: dict[str, Any]) -> dict[str, str]:
    """The run's training settings (its TrainConfig) and set-up, as MLflow's text params."""
    config = run.get("config") or {}
    if isinstance(config, str):
        config = json.loads(config)
    out = {k: v for k, v in config.items() if v is not None}
    out.update({k: run[k] for k in RUN_PARAMS if run.get(k) is not None})
    if "carbon_intensity" in out:
        out["carbon_intensity_g_per_kwh"] = out.pop("carbon_intensity")
    if "params" in out:
        out["model_params"] = out.pop("params")
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in out.items()}


def _metrics(run: dict[str, Any], start_ms: int | None) -> Iterator[tuple[str, float, int, int]]:
    """(name, value, timestamp ms, step): each epoch's figures at its end, then the totals."""
    t_ms, last = start_ms or 0, 0
    so_far: float | None = 0.0  # energy up to this epoch; None once an epoch lacks it
    for ep in run.get("epochs") or []:
        step = last = int(ep["epoch"])
        t_ms += int(1000 * (ep.get("seconds") or 0))
        for column, (name, factor) in EPOCH_METRICS.items():
            if _finite(ep.get(column)):
                yield name, ep[column] * factor, t_ms, step
        energy = ep.get("energy_j")
        so_far = so_far + energy if so_far is not None and _finite(energy) else None
        if so_far is not None:
            yield "energy_so_far_kwh", so_far / J_PER_KWH, t_ms, step
    for column, (name, factor) in RUN_METRICS.items():
        if _finite(run.get(column)):
            yield name, run[column] * factor, t_ms, last


def _tags(run: dict[str, Any]) -> dict[str, str]:
    tags = {
        f"pepr.{k}": str(run[k])
        for k in ("status", "reason", "energy_method", "mem_method", "host", "tags")
        if run.get(k)
    }
    if run.get("message"):
        tags["mlflow.note.content"] = str(run["message"])
    return tags


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
