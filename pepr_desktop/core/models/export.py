"""Export a run's trained model as ONNX, TorchScript or safetensors, with a JSON sidecar.

The exported network takes the *normalised* float input (N, C, H, W) and returns logits; the
sidecar (`<file>.json`) says how to get there from an image (colour mode, size, mean/std), which
class each output is, and the run's measured figures, so the file is usable without this app.
ONNX goes through torch's TorchScript-based exporter (`dynamo=False`): it needs only the `onnx`
package, handles timm's CNNs, and gives a dynamic batch axis; tests check it with onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript", "safetensors")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
ONNX_OPSET = 17


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def pepr_figures(store: Any, run: dict[str, Any]) -> dict[str, Any]:
    """PePR-E/C/T/M of the run within the finished runs on its dataset (its model space).

    PePR is relative to a comparison set, so the sidecar names the set it was computed over.
    """
    from pepr_desktop.core.scoring.compare import compare_runs

    runs = [r for r in store.runs(dataset=run["dataset"], status="finished")]
    if not any(int(r["id"]) == int(run["id"]) for r in runs):
        runs.append(run)
    try:
        table = compare_runs(runs, "all")
    except UserError as exc:
        return {"note": str(exc)}
    row = next(r for r in table.rows if r.run_id == int(run["id"]))
    return {
        "comparison_set": {"dataset": run["dataset"], "run_ids": [int(r["id"]) for r in runs]},
        "performance": "test_acc",
        **{v.name: row.pepr[v.resource] for v in table.variants},
    }


def _check_output(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name for -o, e.g. {path}/model.onnx.")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist; create it or choose another -o.")
    return path


def export_model(
    store: Any, run_id: int, fmt: str, path: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write the run's model in `fmt` to `path` and its sidecar beside it; return both paths."""
    import torch

    from pepr_desktop.core.models.predict import load_run_model

    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, not '{fmt}'.")
    path = _check_output(Path(path))
    rm = load_run_model(store, run_id, device="cpu")
    spec = rm.spec
    model = rm.model.eval()
    example = torch.zeros(1, spec.channels, spec.input_size, spec.input_size)
    tmp = path.with_name(path.name + ".part")
    try:
        if fmt == "onnx":
            _export_onnx(model, example, tmp)
        elif fmt == "torchscript":
            with torch.no_grad(), warnings.catch_warnings():
                # torch 2.14 marks jit deprecated, yet TorchScript is what C++/mobile users load
                warnings.simplefilter("ignore", FutureWarning)
                traced = torch.jit.trace(model, example, check_trace=False)
            traced.save(str(tmp))
        else:
            from safetensors.torch import save_file

            state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
            save_file(state, str(tmp), metadata={"timm_model": spec.model, "run_id": str(run_id)})
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write {path} ({exc.strerror or exc}); choose another -o."
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    run = store.get_run(run_id)
    meta = {
        "format": fmt,
        "file": path.name,
        "input": "float32 (N, C, H, W), normalised as below; output: logits (N, num_classes)",
        **spec.to_dict(),
        "pepr": pepr_figures(store, run),
        "exported_by": "pepr-desktop",
    }
    side = sidecar_path(path)
    side.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    log.info("exported run %s as %s to %s", run_id, fmt, path)
    return path, side


def _export_onnx(model: Any, example: Any, path: Path) -> None:
    import torch

    try:
        import onnx  # noqa: F401  (the exporter needs it; say so plainly when it is missing)
    except ImportError:
        raise UserError(
            "ONNX export needs the onnx package: pip install 'pepr-desktop[export]'."
        ) from None
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
