"""MobileNetV1 and V2 on NumPy, ONNX Runtime, PyTorch and LiteRT, in float32 and int8: what
the separable saving is worth on each runtime and number format (issue 25).

Run on demand (not a test): ``python benchmarks/bench_int8.py [--models
mobilenet_v1,mobilenet_v2] [-r 224] [--budget 0.5] [--threads 1] [--markdown]`` (about five
minutes on a 2-core machine at the defaults).

Each model is timed by ``sepconv bench MODEL --runtime numpy,onnxruntime,torch,litert
--dtype float32,int8`` (:func:`sepconv_cli.analysis.bench.bench`): every row's standard and
separable forms, each checked against NumPy first, batch 1. A runtime timed in int8 times
float32 first in the same run (each form, then its quantized copy), so both sides of every
int8 gain, and of every speed-up, come from one run. A runtime or number format that is not
available here (NumPy has no int8; sepconv times torch in float32 only; a package not
installed) is a line saying so.

Per model and runtime × dtype: the sums of the rows' medians, all standard and all
separable, the measured separable speed-up beside the MAC ratio, and (int8) the gain over
float32 of each form. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

from sepconv_cli.analysis.bench import BenchReport, RuntimeRun, bench
from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import profile_report
from sepconv_cli.execution.machine import cpu_model, load_average
from sepconv_cli.execution.timing import TimingSettings
from sepconv_cli.spec.presets import resolve_model

MODULES = {"onnxruntime": "onnxruntime", "torch": "torch", "litert": "ai_edge_litert"}


def available(runtime: str) -> bool:
    from importlib.util import find_spec

    return runtime == "numpy" or find_spec(MODULES[runtime]) is not None


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def rows_of(report: BenchReport) -> list[list[str]]:
    """One row per runtime × dtype: std ms, sep ms, speed-up, MAC ratio, int8 gains."""
    std_macs = sum(layer.standard.macs for layer in report.layers)
    sep_macs = sum(layer.separable.total.macs for layer in report.layers)
    floats = {run.name: run for run in report.timed_runs if run.dtype == "float32"}
    out = []
    for run in report.runs:
        label = f"{run.name} {run.dtype}"
        if run.not_run:
            out.append(
                [label, "-", "-", "-", f"{std_macs / sep_macs:.2f}×", "not run: " + run.not_run]
            )
            continue
        std, sep = run.total("standard"), run.total("separable")
        gain = ""
        base: RuntimeRun | None = floats.get(run.name)
        if run.dtype == "int8" and base is not None:
            gain = (
                f"{base.total('standard') / std:.2f}× std, {base.total('separable') / sep:.2f}× sep"
            )
        untimed = sum(layer.timing is None for layer in run.layers)
        if untimed:
            gain += f" ({untimed} rows not timed)"
        out.append(
            [label, ms(std), ms(sep), f"{std / sep:.2f}×", f"{std_macs / sep_macs:.2f}×", gain]
        )
    return out


HEADER = ["runtime", "all std ms", "all sep ms", "speed-up", "MAC ratio", "int8 gain"]


def print_table(title: str, rows: list[list[str]], markdown: bool) -> None:
    print(f"\n{title}")
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join(["---"] + ["---:"] * 4 + ["---"]) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:5], widths[1:5], strict=True)
        ]
        print("  ".join([*cells, row[5]]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v1,mobilenet_v2")
    parser.add_argument("-r", "--resolution", type=int, default=224)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per layer")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtimes", default="numpy,onnxruntime,torch,litert")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    runtimes = [name for name in args.runtimes.split(",") if available(name)]
    for name in args.runtimes.split(","):
        if name not in runtimes:
            print(f"{name}: not installed here, left out")
    settings = TimingSettings(budget_s=args.budget, threads=args.threads)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()}, Python "
        f"{platform.python_version()}; load {load_average() or 0:.2f} at start; batch 1, "
        f"{args.threads} thread(s), {args.budget} s per layer"
    )
    for name in args.models.split(","):
        resolution = (args.resolution, args.resolution)
        counted = profile_report(build(resolve_model(name), resolution=resolution))
        report = bench(counted, runtimes, settings, dtypes=("float32", "int8"))
        versions = "; ".join(
            f"{run.name} {run.dtype}: {run.info.label()}" for run in report.timed_runs
        )
        print_table(
            f"{counted.model.name} at {args.resolution}, one run", rows_of(report), args.markdown
        )
        print(f"  ({versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
