"""`pepr export-model` and `pepr predict`: take a trained run's model out of the app, or try it."""

from __future__ import annotations

import argparse
import sys

from pepr_desktop.cli._common import open_store, positive_int, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-model",
        help="write a run's trained model as ONNX, TorchScript or safetensors (+ JSON sidecar)",
    )
    p.add_argument("run_id", type=positive_int, help="run id (see `pepr runs`)")
    p.add_argument(
        "--format", choices=("onnx", "torchscript", "safetensors"), default="onnx", help="format"
    )
    p.add_argument("-o", "--output", required=True, help="file to write; the sidecar is FILE.json")
    p.set_defaults(func=cmd_export_model)

    p = sub.add_parser("predict", help="classify images with a trained run's model")
    p.add_argument("run_id", type=positive_int, help="run id (see `pepr runs`)")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_predict)


def cmd_export_model(args: argparse.Namespace) -> int:
    from pepr_desktop.core.models.export import export_model

    with open_store(args, readonly=True) as store:
        path, side = export_model(store, args.run_id, args.format, args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {side}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pepr_desktop.core.models.predict import collect_images, load_run_model, predict_files
    from pepr_desktop.core.training.train import resolve_device

    files = collect_images(args.images)  # a bad path fails before the model is loaded
    with open_store(args, readonly=True) as store:
        rm = load_run_model(store, args.run_id, device=resolve_device(args.device))
    preds = predict_files(rm, files)
    if args.json:
        print_json(
            {
                "run_id": args.run_id,
                "model": rm.spec.model,
                "class_names": rm.spec.class_names,
                "predictions": [p.to_dict() for p in preds],
            }
        )
        return 0
    names = rm.spec.class_names
    print_table(
        [
            [p.path, p.label, f"{p.confidence:.3f}", *(p.probabilities[c] for c in names)]
            for p in preds
        ],
        ["image", "predicted", "confidence", *(f"p({c})" for c in names)],
    )
    return 0
