#!/usr/bin/env bash
# The GPU path proven in one run (issue 21): prerequisites, `pytest -m gpu`, trainer vs a bare loop,
# data path vs Dataset+DataLoader, images/s per model, concurrent vs sequential trials, NVML vs
# fallback vs Zeus energy and meter overhead, peak memory vs prediction, a short `pepr auto`
# (on CUDA with the fast path's defaults, `--amp auto` etc., and `--concurrency 0`: as many trials
# at once as the probe's memory figure allows; its closing message says how many ran at once).
# Under 8 minutes on a lent GPU; writes ONE markdown table to $OUT/gpu_check.md (default
# ./gpu_check_out) and the full log beside it.
#
#   benchmarks/gpu_check.sh [--device cuda|cpu] [--quick]
#
# Needs torch with CUDA (unless --device cpu) and the project importable; optional: nvidia-ml-py
# (pynvml), zeus-ml, medmnist (the data path's baseline). On a machine without network they travel
# as wheels (see the device README); the table says which were missing.
set -u
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
exec "$PY" benchmarks/gpu_check.py --out "${OUT:-gpu_check_out}" "$@"
