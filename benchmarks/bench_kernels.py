"""sepconv's NumPy kernels next to PyTorch's CPU conv2d on the MobileNetV1-224 layers.

Run on demand (not a test): ``python benchmarks/bench_kernels.py [--threads N]``.

Per layer of MobileNetV1-224 (batch 1, float32): the depthwise and pointwise convolutions of
each separable layer, the standard 3×3 convolution that the separable layer replaces, and
the first (standard) convolution. Both implementations run the convolution alone (no
batch-norm), with the same thread count (for NumPy: BLAS threads via threadpoolctl, and
the parts sepconv's depthwise kernel may split a large layer into; for PyTorch:
``torch.set_num_threads``), measured by the same routine
(:func:`sepconv_cli.execution.timing.measure`), one layer at a time, NumPy then PyTorch, so both
see the same machine state. Sums per kind count a repeated layer (sep7 ×5) five times.

PyTorch runs NCHW (its default ``conv2d`` layout) with symmetric padding where that gives
the same output shape (TensorFlow's ``same`` pads stride-2 layers 0 before / 1 after;
PyTorch's MobileNet pads 1 and 1: same shapes, same MACs), ``torch.no_grad()``. A
``channels_last`` PyTorch column is printed for reference. PyTorch is not a sepconv
dependency: without it only the NumPy side is printed.

Targets (docs/timing.md, "How fast are the kernels?"), summed per kind: depthwise within 2×
of PyTorch; pointwise and standard no slower than PyTorch.

The BLAS kernel matters: the header prints the one OpenBLAS runs (``kernel=``). Some
machines here set ``OPENBLAS_CORETYPE`` (and ``OPENBLAS_L2_SIZE``) to force an old kernel,
which slows a current NumPy; to benchmark what OpenBLAS would choose, unset both for this
command only: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/...``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sepconv_cli.counting.network import build
from sepconv_cli.counting.ops import Conv
from sepconv_cli.execution.kernels import Prepared, prepare
from sepconv_cli.execution.timing import TimingSettings, measure
from sepconv_cli.spec.presets import resolve_model

try:
    torch: Any = importlib.import_module("torch")
except ImportError:  # the NumPy side still runs
    torch = None


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # "depthwise", "pointwise", "standard"
    op: Conv
    repeat: int


def mobilenet_layers() -> list[Layer]:
    model = build(resolve_model("mobilenet_v1"))
    layers: list[Layer] = []
    for row in model.rows:
        convs_std = [op for op in row.forms.standard if isinstance(op, Conv)]
        if row.form == "standard" and convs_std:  # conv1
            layers.append(Layer(row.name, "standard", convs_std[0], row.repeat))
            continue
        if row.form != "separable":
            continue
        for op in row.forms.separable:
            if isinstance(op, Conv):
                layers.append(Layer(row.name, op.role, op, row.repeat))
        layers.append(Layer(row.name, "standard", convs_std[0], row.repeat))
    return layers


def numpy_fn(op: Conv, threads: int) -> Prepared:
    """sepconv's kernel with ``threads``: a depthwise layer times itself whole and split in
    row parts while it is prepared and keeps the faster (its ``kernel`` name says which)."""
    return prepare(op, 1, "float32", np.random.default_rng(0), threads=threads)


def torch_fn(op: Conv, channels_last: bool) -> Callable[[], object]:
    assert torch is not None
    rank = len(op.kernel)
    assert rank == 2
    cin, cout = op.in_channels, op.out_channels
    x = torch.randn(1, cin, *op.in_shape[:-1])
    w = torch.randn(cout, cin // op.groups, *op.kernel)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
    out_shape = op.out_shape[:-1]
    symmetric = [max(b, a) for b, a in op.pads]
    sym_out = [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, p, k, s, d in zip(
            op.in_shape[:-1], symmetric, op.kernel, op.stride, op.dilation, strict=True
        )
    ]
    conv = torch.nn.functional.conv2d
    if tuple(sym_out) == tuple(out_shape):

        def run() -> object:
            with torch.no_grad():
                return conv(
                    x,
                    w,
                    stride=op.stride,
                    padding=symmetric,
                    dilation=op.dilation,
                    groups=op.groups,
                )
    else:
        pad = [p for b, a in reversed(op.pads) for p in (b, a)]

        def run() -> object:
            with torch.no_grad():
                return conv(
                    torch.nn.functional.pad(x, pad),
                    w,
                    stride=op.stride,
                    dilation=op.dilation,
                    groups=op.groups,
                )

    result: Any = run()
    assert tuple(result.shape[2:]) == tuple(out_shape), (result.shape, out_shape)
    return run


def blas_description() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "BLAS: unknown (threadpoolctl not installed)"
    infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "BLAS: none found"
    i = infos[0]
    forced = " ".join(
        f"{name}={os.environ.get(name, '(unset)')}"
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    )
    return (
        f"BLAS: {i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
        f"threads={i.get('num_threads')}; {forced}"
    )


def _busy_jiffies() -> tuple[int, int]:
    """(all CPUs' busy jiffies, this process's), to tell how much else ran meanwhile."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as handle:
            own = handle.read().rsplit(")", 1)[1].split()
        return sum(fields) - fields[3] - fields[4], int(own[11]) + int(own[12])
    except (OSError, ValueError, IndexError):
        return 0, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--min-time", type=float, default=0.02, help="seconds per sample (default 0.02)"
    )
    parser.add_argument("--repeats", type=int, default=9, help="samples per measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="passes over all layers; each figure is its best round's median",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.05,
        help="seconds idle before each measurement, so the other library's idle threads "
        "stop spinning (default 0.05; only with more than one implementation)",
    )
    args = parser.parse_args(argv)

    settings = TimingSettings(
        min_time_s=args.min_time,
        max_repeats=args.repeats,
        min_repeats=args.repeats,
        budget_s=60.0,
        warmup=3,
    )
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        print("threadpoolctl missing: NumPy's BLAS threads not limited", file=sys.stderr)
    print(f"numpy {np.__version__}; {blas_description()}")
    if torch is not None:
        torch.set_num_threads(args.threads)
        print(
            f"torch {torch.__version__}; threads={torch.get_num_threads()}; "
            f"mkldnn={torch.backends.mkldnn.is_available()}"
        )
    else:
        print("torch not installed: NumPy side only")
    print(
        f"threads={args.threads}, batch 1, float32; per figure: the lowest of {args.rounds} "
        f"rounds' medians of {args.repeats} samples >= {args.min_time * 1e3:g} ms each\n"
    )

    layers = mobilenet_layers()
    numpy_preps = [numpy_fn(layer.op, args.threads) for layer in layers]
    impls: list[tuple[str, list[Callable[[], object]]]] = [("numpy", list(numpy_preps))]
    if torch is not None:
        impls.append(("torch", [torch_fn(layer.op, False) for layer in layers]))
        impls.append(("torch NHWC", [torch_fn(layer.op, True) for layer in layers]))
    # one untimed pass over every layer first: PyTorch's first calls on new shapes (and
    # its allocator's first large blocks) are several times slower than its steady state
    for _, fns in impls:
        for fn in fns:
            for _ in range(3):
                fn()
    busy0, own0 = _busy_jiffies()
    start = time.monotonic()

    # rounds interleave the implementations layer by layer, so that both see the same
    # machine; a shared virtual machine has slow spells that only ever add time, so each
    # figure is the lowest of its rounds' medians
    best = [[float("inf")] * len(impls) for _ in layers]
    for _ in range(args.rounds):
        for i in range(len(layers)):
            for j, (_, fns) in enumerate(impls):
                if len(impls) > 1:  # let the other library's idle threads stop spinning
                    time.sleep(args.pause)
                best[i][j] = min(best[i][j], measure(fns[i], settings).median_s)

    head = f"{'layer':<11}{'kind':<10}{'input':>14}{'out':>6}{'s':>3}{'numpy µs':>11}"
    if torch is not None:
        head += f"{'torch µs':>11}{'np/torch':>10}{'torch NHWC':>12}"
    head += "  numpy kernel"
    print(head)
    sums: dict[str, list[float]] = {}
    for i, layer in enumerate(layers):
        op = layer.op
        times = list(best[i])
        while len(times) < 3:
            times.append(float("nan"))
        ours, theirs, nhwc = times
        row = (
            f"{layer.name:<11}{layer.kind:<10}{'x'.join(map(str, op.in_shape)):>14}"
            f"{op.out_channels:>6}{op.stride[0]:>3}{ours * 1e6:>11.1f}"
        )
        if torch is not None:
            row += f"{theirs * 1e6:>11.1f}{ours / theirs:>10.2f}{nhwc * 1e6:>12.1f}"
        row += f"  {numpy_preps[i].kernel}" + (f" ×{layer.repeat}" if layer.repeat > 1 else "")
        print(row, flush=True)
        for kind in (layer.kind, *(("conv1",) if layer.name == "conv1" else ())):
            acc = sums.setdefault(kind, [0.0, 0.0, 0.0])
            for j, t in enumerate(times):
                acc[j] += t * layer.repeat

    print("\nsummed per kind (µs; repeats counted; standard includes conv1)")
    print(f"{'kind':<12}{'numpy':>10}{'torch':>10}{'np/torch':>10}{'torch NHWC':>12}  target")
    targets = {"depthwise": 2.0, "pointwise": 1.0, "standard": 1.0, "conv1": 1.0}
    for kind, target in targets.items():
        ours, theirs, nhwc = sums.get(kind, [0.0, 0.0, 0.0])
        line = f"{kind:<12}{ours * 1e6:>10.0f}"
        if torch is not None:
            ratio = ours / theirs
            verdict = "met" if ratio <= target else "MISSED"
            note = " (not a target on its own)" if kind == "conv1" else ""
            line += (
                f"{theirs * 1e6:>10.0f}{ratio:>10.2f}{nhwc * 1e6:>12.0f}"
                f"  <= {target:g}x: {verdict}{note}"
            )
        print(line)
    dw, pw, std, first = (sums[k] for k in ("depthwise", "pointwise", "standard", "conv1"))
    body = [s - f for s, f in zip(std, first, strict=True)]
    print(
        "\nseparable speed-up on the MobileNetV1 body (13 separable layers: standard 3×3 "
        "time / (depthwise + pointwise) time)"
    )
    for j, (name, _) in enumerate(impls):
        print(
            f"  {name:<11} {body[j] / (dw[j] + pw[j]):5.2f}x "
            f"({body[j] * 1e3:.2f} ms / {(dw[j] + pw[j]) * 1e3:.2f} ms)"
        )
    busy1, own1 = _busy_jiffies()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    elapsed = time.monotonic() - start
    other = ((busy1 - busy0) - (own1 - own0)) / ticks / max(elapsed, 1e-9) / (os.cpu_count() or 1)
    print(
        f"\nother processes used {max(other, 0.0):.0%} of the machine during the "
        f"measurements (figures are trustworthy near 0%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
