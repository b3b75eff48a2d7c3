"""Per-layer times of MobileNetV1 (or V2) on NumPy, ONNX Runtime and PyTorch, and sepconv's
ONNX Runtime times against a direct ``onnxruntime`` session of the same layer.

Run on demand (not a test): ``python benchmarks/bench_runtimes.py [--model mobilenet_v2]
[--budget 1] [--runtimes numpy,onnxruntime,torch] [--threads 1] [--device cuda]``.
With ``--device cuda`` ONNX Runtime and torch run on the GPU (NumPy stays on the CPU, for
the CPU's side of the comparison), and the direct session of part 2 runs on the GPU too,
its feeds copied at every call as ``InferenceSession.run`` copies them.

Part 1, per layer (batch 1, float32, one thread by default): the median of the standard
and the separable form on each runtime, the measured separable speed-up next to the MAC
ratio, as ``sepconv profile --time --runtime R`` measures them (each form checked against
NumPy first). A runtime that is not installed is left out, with a line saying so.

Part 2, sepconv's overhead: for every separable layer, the separable form's median from
part 1 (``profile ms``), then the same form as sepconv runs it on ONNX Runtime (one
session, I/O binding) and a plain ``InferenceSession.run(None, feeds)`` over the export's
one-layer graph (:func:`sepconv_cli.interchange.onnx_rows.form_graph`: the same nodes, the
same session options), both timed by :func:`~sepconv_cli.execution.timing.measure`,
alternately, three times each, the best median kept (a shared machine's noise falls on
both sides alike). The goal: sepconv within 1.2× of the direct session.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from sepconv_cli.counting.network import build
from sepconv_cli.counting.report import LayerReport, profile_report
from sepconv_cli.errors import SepconvError
from sepconv_cli.execution.kernels import prepare_chain
from sepconv_cli.execution.profiling import time_layer
from sepconv_cli.execution.runtimes.base import RUNTIMES
from sepconv_cli.execution.runtimes.registry import load_runtime
from sepconv_cli.execution.runtimes.timed import prepare_steps
from sepconv_cli.execution.timing import TimingSettings, measure
from sepconv_cli.spec.presets import resolve_model

MODULES = {"onnxruntime": ("onnxruntime",), "torch": ("torch",), "litert": ("ai_edge_litert",)}
"""The packages each runtime needs (LiteRT's is ai_edge_litert)."""


def installed(runtime: str) -> bool:
    if runtime == "numpy":
        return True
    try:
        for module in MODULES.get(runtime, (runtime,)):
            importlib.import_module(module)
    except ImportError:
        return False
    return True


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def time_rows(
    layers: list[LayerReport], runtime: str, settings: TimingSettings
) -> dict[str, LayerReport]:
    device = "cpu" if runtime == "numpy" else settings.device
    settings = replace(settings, runtime=runtime, device=device)
    if runtime != "numpy":
        load_runtime(runtime, device, settings.threads, None)
    out = {}
    for layer in layers:
        try:
            out[layer.row.name] = time_layer(layer, settings)
        except SepconvError as exc:
            print(f"  {runtime}: {layer.row.name} not timed: {exc}")
    return out


def per_layer_table(
    layers: list[LayerReport], timed: dict[str, dict[str, LayerReport]], runtimes: list[str]
) -> None:
    width = max(12, *(len(layer.row.name) for layer in layers))
    head = f"{'layer':<{width}} {'MAC ratio':>9}"
    for rt in runtimes:
        short = {"numpy": "np", "onnxruntime": "ort", "torch": "torch", "litert": "lite"}[rt]
        head += f" {short + ' std ms':>12} {short + ' sep ms':>12} {short + ' ×':>7}"
    print(head)
    print("-" * len(head))
    sums = {rt: [0.0, 0.0] for rt in runtimes}
    for layer in layers:
        name = layer.row.name
        sep_macs = layer.separable.total.macs
        ratio = f"{layer.standard.macs / sep_macs:.1f}×" if sep_macs else "-"
        line = f"{name:<{width}} {ratio:>9}"
        for rt in runtimes:
            t = timed[rt].get(name)
            if t is None or t.timing is None:
                line += f" {'-':>12} {'-':>12} {'-':>7}"
                continue
            std, sep = t.timing.standard.median_s, t.timing.separable.median_s
            sums[rt][0] += std
            sums[rt][1] += sep
            line += f" {ms(std):>12} {ms(sep):>12} {std / sep if sep else 0:>6.2f}×"
        print(line)
    macs_std = sum(layer.standard.macs for layer in layers)
    macs_sep = sum(layer.separable.total.macs for layer in layers)
    line = f"{'total':<{width}} {macs_std / max(macs_sep, 1):>8.1f}×"
    for rt in runtimes:
        std, sep = sums[rt]
        line += f" {ms(std):>12} {ms(sep):>12} {std / sep if sep else 0:>6.2f}×"
    print(line)
    print("(a row repeated n times counts n times; × = standard / separable median)")


def direct_session(layer: LayerReport, threads: int, device: str = "cpu") -> Any:
    """A plain ``InferenceSession.run`` over the export's one-layer separable graph, with
    a dict of feeds, as a user timing the layer by hand would call it."""
    import onnxruntime as ort

    from sepconv_cli.interchange.onnx_build import nchw
    from sepconv_cli.interchange.onnx_rows import form_graph

    model = form_graph(layer.row, "separable", seed=0, batch=layer.batch)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    session = ort.InferenceSession(model.SerializeToString(), options, providers=[provider])
    x = np.random.default_rng(0).standard_normal(nchw(layer.row.input_shape, layer.batch))
    feeds = {"input": x.astype(np.float32)}
    return lambda: session.run(None, feeds)


def sepconv_runner(layer: LayerReport, threads: int, device: str = "cpu") -> Any:
    """The separable form exactly as sepconv times it on ONNX Runtime (I/O binding)."""
    ops = layer.row.forms.separable
    chain = prepare_chain(ops, layer.batch, "float32", np.random.default_rng(0))
    rt = load_runtime("onnxruntime", device, threads, None)
    return prepare_steps(rt, ops, chain, range(len(ops)))


def overhead_table(
    layers: list[LayerReport],
    ort_timed: dict[str, LayerReport],
    threads: int,
    seconds: float,
    device: str = "cpu",
) -> float | None:
    """Per separable layer: sepconv's profile median, then sepconv's runner and the direct
    session each timed by the same routine, alternately, three times (best median kept)."""
    print(f"{'layer':<12} {'profile ms':>10} {'sepconv ms':>10} {'direct ms':>10} {'ratio':>6}")
    settings = TimingSettings(threads=threads, budget_s=seconds)
    worst, compared = 0.0, 0
    for layer in layers:
        timed = ort_timed.get(layer.row.name)
        if timed is None or timed.timing is None or layer.row.form != "separable":
            continue
        profiled = timed.timing.separable.median_s / layer.row.repeat  # one instance
        ours_fn = sepconv_runner(layer, threads, device)
        direct_fn = direct_session(layer, threads, device)
        ours, direct = [], []
        for _ in range(3):
            ours.append(measure(ours_fn, settings).median_s)
            direct.append(measure(direct_fn, settings).median_s)
        ratio = min(ours) / min(direct)
        worst, compared = max(worst, ratio), compared + 1
        print(
            f"{layer.row.name:<12} {ms(profiled):>10} {ms(min(ours)):>10} "
            f"{ms(min(direct)):>10} {ratio:>5.2f}×"
        )
    if not compared:
        print("(no layer written as a separable form here: nothing to compare)")
        return None
    print(f"worst ratio sepconv / direct session: {worst:.2f}× (goal: at most 1.2×)")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per layer")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers", type=int, default=0, help="only the first N rows")
    parser.add_argument("--direct-seconds", type=float, default=0.3, help="per measurement")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args(argv)

    report = profile_report(build(resolve_model(args.model)))
    # every row, those without MACs too (a shuffle, a concat: data movement, timed as well)
    layers = list(report.layers)
    if args.layers:
        layers = layers[: args.layers]
    wanted = [rt.strip() for rt in args.runtimes.split(",") if rt.strip()]
    runtimes = [rt for rt in wanted if installed(rt)]
    for rt in wanted:
        if rt not in runtimes:
            print(f"{rt}: not installed, left out")
    settings = TimingSettings(threads=args.threads, budget_s=args.budget, device=args.device)
    where = "" if args.device == "cpu" else f", onnxruntime and torch on {args.device}"
    print(
        f"{args.model}, batch 1, float32, {args.threads} thread(s), {args.budget:g} s per "
        f"layer per runtime{where}; medians in ms"
    )
    for rt in [rt for rt in runtimes if rt != "numpy"]:
        try:  # a runtime that cannot run here (--device cuda without a GPU) is left out
            load_runtime(rt, args.device, args.threads, None)
        except SepconvError as exc:
            print(f"{rt}: left out: {exc}")
            runtimes.remove(rt)
    timed = {rt: time_rows(layers, rt, settings) for rt in runtimes}
    for rt in runtimes:
        if rt != "numpy":
            print(f"{rt}: {load_runtime(rt, args.device, args.threads, None).info.label()}")
    per_layer_table(layers, timed, runtimes)
    if "onnxruntime" in runtimes:
        print()
        print("sepconv's ONNX Runtime separable times vs a direct InferenceSession.run")
        overhead_table(layers, timed["onnxruntime"], args.threads, args.direct_seconds, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
