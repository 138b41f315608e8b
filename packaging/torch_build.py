"""Say which PyTorch build a venv holds, without importing torch (seconds and GBs saved):
a CUDA build requires the nvidia-* wheels; PyTorch's CPU-only build does not.

    python packaging/torch_build.py [--expect cpu]

With --expect cpu, a CUDA build gets a warning (the CPU index could not be reached, so pip took
PyPI's build, which also runs on the CPU but weighs about 5 GB more). Exit status 0 either way.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import sys


def build() -> tuple[str, str]:
    """(torch version, 'cpu' | 'cuda' | 'missing')."""
    try:
        dist = md.distribution("torch")
    except md.PackageNotFoundError:
        return "", "missing"
    cuda = any(r.lower().startswith("nvidia-") for r in dist.requires or ())
    return dist.version, "cuda" if cuda else "cpu"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expect", choices=("cpu", "any"), default="any")
    args = ap.parse_args(argv)
    version, kind = build()
    label = {"cpu": "CPU-only build", "cuda": "CUDA build", "missing": "not installed"}[kind]
    print(f"torch {version}: {label}".replace("torch : ", "torch: "))
    if args.expect == "cpu" and kind == "cuda":
        print(
            "warning: asked for the CPU-only build but pip installed the CUDA one (is "
            "download.pytorch.org reachable?); it runs on the CPU too, but weighs ~5 GB more",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
