"""`pepr meter`: what this machine can measure (and why not), then a short live readout.

It builds exactly the meters a training run would get, so a user can diagnose a set-up (RAPL
permissions, a missing NVIDIA driver) before spending an hour on a run.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pepr_desktop.cli._common import fmt, positive_float, print_json
from pepr_desktop.cli.options import meter_settings_from_args
from pepr_desktop.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "meter",
        help="what this machine can measure, then a live power readout",
        description="List the energy meters usable here (and why others are not), then read them "
        "live for a few seconds. The same meters meter `pepr train`.",
    )
    p.add_argument(
        "--seconds", type=float, default=3.0, help="live readout length (0 = report only)"
    )
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: settings, else auto)")
    p.add_argument("--period", type=positive_float, default=0.5, help="seconds between readings")
    p.add_argument("--cpu-watts", type=positive_float, help="CPU power for the estimate (W)")
    p.add_argument("--region", help="region for the carbon intensity, e.g. DE, DEU, US-CA")
    p.add_argument(
        "--carbon-intensity", type=positive_float, metavar="G_PER_KWH", help="gCO2eq per kWh"
    )
    p.add_argument("--pue", type=positive_float, help="power usage effectiveness (default 1.0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_meter)


def _device(spec: str) -> str:
    from pepr_desktop.core.devices import metering_device

    return metering_device(spec)


def _gpu_probe(device: str) -> dict[str, Any]:
    """Whether NVML could meter a GPU here, even when this readout is for the CPU."""
    from pepr_desktop.core.metering.base import MeterUnavailable
    from pepr_desktop.core.metering.nvml import NvmlMeter

    m = NvmlMeter(device if device.startswith("cuda") else "cuda")
    try:
        m.open()
    except MeterUnavailable as exc:
        return {"available": False, "reason": str(exc)}
    try:
        return {"available": True, "method": m.method, **m.info()}
    finally:
        m.close()


def run_meter(args: argparse.Namespace) -> int:
    from pepr_desktop.core.metering import describe, meter_factory

    if args.seconds < 0 or args.seconds > 3600:
        raise UserError(f"--seconds must be 0-3600, not {args.seconds:g}.")
    device = _device(args.device)
    settings = meter_settings_from_args(args, period_s=args.period, idle_baseline_s=0.0)
    gpu = _gpu_probe(device) if not device.startswith("cuda") else None
    session = meter_factory(settings)(device)
    report = describe(session)
    carbon = settings.intensity
    out: dict[str, Any] = {
        "device": device,
        **report,
        "gpu": gpu,
        "carbon": {"g_per_kwh": carbon.g_per_kwh, "region": carbon.region, "source": carbon.source},
        "pue": settings.pue,
    }
    if not args.json:
        _print_report(out)
    samples: list[dict[str, Any]] = []
    if args.seconds > 0:
        session.start(0)
        if not args.json:
            print(f"\nLive readout every {args.period:g} s for {args.seconds:g} s (Ctrl-C stops):")
        t_end = time.monotonic() + args.seconds
        try:
            while time.monotonic() < t_end:
                time.sleep(min(args.period, max(0.0, t_end - time.monotonic())))
                for s in session.drain_samples():
                    row = {
                        "t": s.t,
                        "power_w": s.power_w,
                        "energy_j": s.energy_j,
                        "method": s.method,
                    }
                    samples.append(row)
                    if not args.json:
                        _print_sample(row, len(samples) == 1)
        except KeyboardInterrupt:
            pass
        total = session.stop()
        out["samples"] = samples
        out["total"] = {
            "energy_j": total.energy_j,
            "seconds": total.detail.get("seconds"),
            "method": total.method,
            "note": total.note,
        }
        if not args.json:
            secs = total.detail.get("seconds") or 0.0
            print(f"Total: {fmt(total.energy_j, 1)} J over {secs:.1f} s ({total.method})")
    if args.json:
        print_json(out)
    return 0


def _print_report(out: dict[str, Any]) -> None:
    print(f"Device: {out['device']}")
    print("Meters in use:" if out["meters"] else "Meters in use: none (energy will be unavailable)")
    for m in out["meters"]:
        label = "ESTIMATE" if m["estimate"] else "measured"
        details = ", ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in m.items()
            if k not in ("component", "method", "estimate")
        )
        print(f"  {m['component']:<5} {m['method']:<14} {label:<9} {details}")
    if any(m["estimate"] and m["component"] == "cpu" for m in out["meters"]):
        print("  (set your CPU's power with --cpu-watts; allow RAPL for a measurement)")
    unusable = list(out["notes"])
    gpu = out.get("gpu")
    if gpu is not None and not gpu["available"]:
        unusable.append(f"gpu (nvml): {gpu['reason']}")
    if unusable:
        print("Not usable here:")
        for n in unusable:
            print(f"  {n}")
    if gpu is not None and gpu["available"]:
        print(f"A GPU is meterable ({gpu.get('name', 'GPU')}, {gpu['method']}): use --device cuda")
    c = out["carbon"]
    print(f"Carbon intensity: {c['g_per_kwh']:g} gCO2/kWh ({c['source']}); PUE {out['pue']:g}")


def _print_sample(row: dict[str, Any], header: bool) -> None:
    comps = sorted(row["power_w"])
    if header:
        print(
            "  "
            + "  ".join(
                [
                    f"{'t (s)':>7}",
                    *(f"{c + ' W':>8}" for c in comps),
                    f"{'total W':>8}",
                    f"{'energy J':>9}",
                ]
            )
        )
    total = sum(row["power_w"].values())
    cells = [
        f"{row['t']:7.1f}",
        *(f"{row['power_w'][c]:8.1f}" for c in comps),
        f"{total:8.1f}",
        f"{fmt(row['energy_j'], 1):>9}",
    ]
    print("  " + "  ".join(cells))
