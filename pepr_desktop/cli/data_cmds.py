"""`pepr datasets` and `pepr import-data`."""

from __future__ import annotations

import argparse

from pepr_desktop.cli._common import (
    comma_list,
    non_negative_int,
    open_store,
    print_json,
    print_table,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list built-in and imported datasets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--no-medmnist", action="store_true", help="only imported datasets and the bundled sample"
    )
    p.add_argument(
        "--show", metavar="NAME", help="one dataset: class counts per split, image size, warnings"
    )
    p.add_argument(
        "--download", action="store_true", help="with --show: download a MedMNIST set if needed"
    )
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser(
        "import-data",
        help="register a local .npz (MedMNIST layout) or an image folder (one subfolder per class)",
    )
    p.add_argument("path", help=".npz file or folder")
    p.add_argument("--name", required=True, help="name to use with --data")
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the stratified folder split"
    )
    p.add_argument(
        "--classes", type=comma_list, help="class names in label order, e.g. normal,pneumonia"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of the same name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_import)


def cmd_datasets(args: argparse.Namespace) -> int:
    from pepr_desktop.core.data.registry import list_datasets

    if args.show:
        return show_dataset(args)
    with open_store(args) as store:
        infos = list_datasets(store, include_medmnist=not args.no_medmnist)
    if args.json:
        print_json([i.to_dict() for i in infos])
        return 0
    rows = [
        (
            i.name,
            i.source,
            i.n_classes,
            i.channels,
            f"{i.image_size}px",
            "/".join(str(i.split_sizes.get(s, "?")) for s in ("train", "val", "test"))
            if i.split_sizes
            else "",
            "yes" if i.path else "download on first use",
        )
        for i in infos
    ]
    print_table(rows, ["name", "source", "classes", "ch", "size", "train/val/test", "local"])
    print("\nMedMNIST sets also come at 64/128/224 px: e.g. --data dermamnist_64")
    return 0


def show_dataset(args: argparse.Namespace) -> int:
    """`pepr datasets --show NAME` (issue 13): counts per class and split, and what to watch."""
    from pepr_desktop.core.data.preview import preview_dataset
    from pepr_desktop.core.data.registry import resolve

    with open_store(args) as store:
        info = resolve(args.show, store)
    pv = preview_dataset(info, per_class=0, download=args.download)
    if args.json:
        print_json(pv.to_dict())
        return 0
    h, w = pv.image_size
    print(
        f"{pv.name}: {len(pv.class_names)} classes, {pv.channels} channel(s), {h}x{w} px, "
        f"{sum(pv.sizes.values())} images ({info.source})"
    )
    rows = [
        [c, *(pv.counts[s][i] for s in ("train", "val", "test"))]
        for i, c in enumerate(pv.class_names)
    ]
    rows.append(["total", *(pv.sizes[s] for s in ("train", "val", "test"))])
    print_table(rows, ["class", "train", "val", "test"])
    for warning in pv.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pepr_desktop.core.data.registry import import_dataset

    with open_store(args) as store:
        info = import_dataset(
            args.path,
            args.name,
            store,
            seed=args.seed,
            overwrite=args.overwrite,
            class_names=args.classes,
        )
    if args.json:
        print_json(info.to_dict())
    else:
        sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
        print(
            f"imported '{info.name}': {info.n_classes} classes ({', '.join(info.class_names)}), "
            f"{info.channels} channel(s), {info.image_size}px; {sizes}"
        )
    return 0
