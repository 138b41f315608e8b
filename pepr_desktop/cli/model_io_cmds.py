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
    from pepr_desktop.core.export import export_model

    with open_store(args, readonly=True) as store:
        path, side = export_model(store, args.run_id, args.format, args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {side}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pepr_desktop.core.predict import collect_images, load_run_model, predict_files
    from pepr_desktop.core.train import resolve_device

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


def show_run(args: argparse.Namespace) -> int:
    """`pepr runs --show RUN_ID`: the run's figures, per-class table and confusion matrix."""
    from pepr_desktop.cli._common import clean_for_json
    from pepr_desktop.cli.train_cmds import print_run_summary, run_with_epochs

    with open_store(args) as store:
        run = run_with_epochs(store, args.show)
    if args.json:
        print_json(clean_for_json(run))
        return 0
    print_run_summary(run)
    print()
    print_evaluation(run.get("evaluation"))
    return 0


def print_evaluation(ev: dict | None) -> None:
    """Per-class precision/recall/F1, the confusion matrix and the ROC AUC, as plain text."""
    if not ev:
        print("no per-class evaluation stored (the run did not finish, or predates it)")
        return
    names = ev["class_names"]
    pc = ev["per_class"]
    print(f"per class, {ev['split']} split ({ev['n']} images):")
    rows = [
        [c, pc["precision"][i], pc["recall"][i], pc["f1"][i], pc["support"][i]]
        for i, c in enumerate(names)
    ]
    for avg in ("macro", "weighted"):
        rows.append([f"{avg} avg", *(ev[avg][m] for m in ("precision", "recall", "f1")), ev["n"]])
    print_table(rows, ["class", "precision", "recall", "f1", "support"])
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print_table(
        [[c, *ev["confusion"][i]] for i, c in enumerate(names)], ["true \\ predicted", *names]
    )
    roc = ev.get("roc")
    if roc:
        print(f"\nROC AUC ({roc['positive_class']} as positive): {roc['auc']:.3f}")
    mis = ev.get("misclassified") or {}
    if mis:
        print(f"misclassified test images: {mis['count']}")
