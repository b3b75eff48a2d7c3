"""Max and average pooling, windowed and global, as ufunc reductions over strided views.

Rules
-----
* A windowed pooling reduces one strided view of the (padded) input per kernel tap into
  the output (``np.maximum`` or ``np.add``), so each tap is one pass over the output.
* Padding is exactly ``op.pads``: max pooling pads with -inf, so a pad never wins; average
  pooling pads with zeros and divides each window by its number of real (unpadded)
  elements (TensorFlow's ``same`` rule, Keras' ``AveragePooling``), a per-position
  reciprocal computed once, at preparation. Unpadded average pooling divides by the
  kernel's size.
* ``ceil_mode`` (torch): the last window runs past the padded input; the input is padded
  further after (``Pool.window_pads``: -inf or zeros as above), and average pooling still
  divides by the real elements.
* Adaptive pooling (``output_size``, torch's windows ``[floor(i·in/out),
  ceil((i+1)·in/out))``): when every dim's input is a multiple of its output the windows
  are a fixed kernel = stride = in/out, run as above; otherwise each output position
  reduces its own window (one ufunc reduction per output position).
* Global pooling reduces all spatial positions of each item and channel at once.
* Precision: pooling runs in the tensors' own dtype, float16 included (NumPy's float16
  loops).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from math import prod
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sepconv_cli.counting.ops import Pool
from sepconv_cli.counting.shapes import adaptive_windows
from sepconv_cli.execution.buffers import (
    Array,
    Buffer,
    Prepared,
    allocate,
    copier,
    padded_shape,
    sequence,
    window_out,
)


def uniform_windows(op: Pool) -> Pool | None:
    """An adaptive pool whose windows are a fixed kernel = stride (every input size a
    multiple of its output size) as that windowed pool; None otherwise."""
    if op.output_size is None:
        return None
    spatial = op.in_shape[:-1]
    if any(n % o for n, o in zip(spatial, op.output_size, strict=True)):
        return None
    k = tuple(n // o for n, o in zip(spatial, op.output_size, strict=True))
    return Pool(op.in_shape, op.kind, k, k, tuple((0, 0) for _ in k))


def plan(op: Pool, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    if op.global_:
        return [Buffer("out", (batch, c), dt)]
    if op.output_size is not None:
        uniform = uniform_windows(op)
        return plan(uniform, batch, dt) if uniform else [Buffer("out", (batch, *op.out_shape), dt)]
    padded = padded_shape(op.in_shape[:-1], op.window_pads)
    ones = (1,) * len(op.kernel)
    out_sp = window_out(padded, op.kernel, op.stride, ones)
    bufs = []
    if any(p != (0, 0) for p in op.window_pads):
        bufs.append(
            Buffer("x_padded", (batch, *padded, c), dt, "neginf" if op.kind == "max" else "zeros")
        )
        if op.kind == "avg":
            bufs.append(Buffer("inv_count", (*out_sp, 1), dt))
    bufs.append(Buffer("out", (batch, *out_sp, c), dt))
    return bufs


def build(op: Pool, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array) -> Prepared:
    bufs = plan(op, batch, dt)
    arrays = allocate(bufs, rng)
    out = arrays["out"]
    nbytes = sum(b.nbytes for b in bufs)
    c = op.in_shape[-1]
    if op.global_:
        x3 = x.reshape(batch, -1, c)
        inv = 1.0 / x3.shape[1]
        if op.kind == "max":

            def run() -> None:
                np.maximum.reduce(x3, axis=1, out=out)
        else:

            def run() -> None:
                np.add.reduce(x3, axis=1, out=out)
                np.multiply(out, inv, out=out)

        return Prepared(op, x, out, {}, run, nbytes, (batch, *op.out_shape), "global-pool")
    if op.output_size is not None:
        uniform = uniform_windows(op)
        if uniform is not None:
            return replace(build(uniform, batch, dt, rng, x), op=op)
        return _adaptive(op, batch, x, out, nbytes)

    pads = op.window_pads
    rank = len(op.kernel)
    out_sp = out.shape[1:-1]
    steps: list[Callable[[], object]] = []
    src = x
    if "x_padded" in arrays:
        src = arrays["x_padded"]
        interior = (
            slice(None),
            *(slice(b, b + n) for (b, _), n in zip(pads, op.in_shape[:-1], strict=True)),
            slice(None),
        )
        steps.append(copier(src[interior], x))
    st = src.strides
    views = []
    for tap in np.ndindex(*op.kernel):
        index = (slice(None), *tap)
        base = src[index]
        views.append(
            as_strided(
                base,
                shape=out.shape,
                strides=(st[0], *(s * st[1 + i] for i, s in enumerate(op.stride)), st[-1]),
                writeable=False,
            )
        )
    reduce = np.maximum if op.kind == "max" else np.add
    first, rest = views[0], views[1:]

    def window() -> None:
        np.copyto(out, first)
        for v in rest:
            reduce(out, v, out=out)

    steps.append(window)
    if op.kind == "avg":
        if "inv_count" in arrays:
            # real (unpadded) elements per window, per output position, per dim
            inv_count = arrays["inv_count"]
            counts = np.ones(out_sp, dtype=np.float64)
            for i in range(rank):
                starts = np.arange(out_sp[i]) * op.stride[i] - pads[i][0]
                lo = np.clip(starts, 0, op.in_shape[i])
                hi = np.clip(starts + op.kernel[i], 0, op.in_shape[i])
                shape = [1] * rank
                shape[i] = out_sp[i]
                counts = counts * (hi - lo).reshape(shape)
            inv_count[...] = (1.0 / np.maximum(counts, 1))[..., None]
            steps.append(lambda: np.multiply(out, inv_count, out=out))
        else:
            scale = 1.0 / prod(op.kernel)
            steps.append(lambda: np.multiply(out, scale, out=out))
    return Prepared(
        op, x, out, {}, sequence(steps), nbytes, (batch, *op.out_shape), f"{op.kind}-pool"
    )


def _adaptive(op: Pool, batch: int, x: Array, out: Array, nbytes: int) -> Prepared:
    """Adaptive pooling with windows of varying size: one reduction per output position."""
    assert op.output_size is not None
    per_dim = [
        adaptive_windows(n, o) for n, o in zip(op.in_shape[:-1], op.output_size, strict=True)
    ]
    axes = tuple(range(1, len(per_dim) + 1))
    jobs = []
    for position in np.ndindex(*op.output_size):
        windows = [per_dim[d][i] for d, i in enumerate(position)]
        every = slice(None)
        window_index = (every, *(slice(a, b) for a, b in windows), every)
        out_index = (every, *position, every)
        source, target = x[window_index], out[out_index]
        jobs.append((source, target, 1.0 / prod(b - a for a, b in windows)))
    if op.kind == "max":

        def run() -> None:
            for source, target, _ in jobs:
                np.maximum.reduce(source, axis=axes, out=target)
    else:

        def run() -> None:
            for source, target, inv in jobs:
                np.add.reduce(source, axis=axes, out=target)
                np.multiply(target, inv, out=target)

    return Prepared(op, x, out, {}, run, nbytes, (batch, *op.out_shape), f"adaptive-{op.kind}-pool")
