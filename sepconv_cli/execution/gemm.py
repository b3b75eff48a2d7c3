"""Convolution and dense layers as BLAS GEMMs (NumPy's ``matmul``).

Rules
-----
* Kernels: a standard or grouped convolution copies its input windows into an im2col buffer
  in blocks of whole output rows and multiplies each block by the weights with one BLAS
  GEMM (one per group, looped in C); a pointwise (1×1, unpadded) convolution is a GEMM on
  the input itself; a dense layer is one GEMM on the flattened input. Depthwise
  convolutions are not GEMMs: :mod:`sepconv_cli.execution.depthwise` runs them.
* Weights come in the layouts :mod:`sepconv_cli.execution.kernels` states (convolution
  ``(*kernel, Cin/groups, Cout)``, TensorFlow's HWIO; dense ``(features, units)``). A grouped
  or float16 convolution's weights are copied once, at preparation, into the
  ``(groups, K, Cout/groups)`` form its GEMMs read, in the GEMM precision.
* Precision: NumPy has no half-precision BLAS (its float16 matmul runs at about
  0.5 GFLOP/s), so float16 tensors are stored in half precision while the GEMMs read them
  into float32 buffers, compute in float32 and write half precision back (what CPU
  frameworks do).
* Memory: :func:`plan_conv` and :func:`plan_dense` list every buffer the builders allocate
  (:func:`sepconv_cli.execution.kernels.estimate_bytes` sums them); the im2col buffer holds
  one block of at most :data:`IM2COL_BLOCK_ELEMENTS` elements (or one output row, where a
  row is larger), whatever the layer's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from sepconv_cli.counting.ops import Conv, Dense
from sepconv_cli.execution.buffers import (
    Array,
    Buffer,
    Prepared,
    allocate,
    compute_dtype,
    copier,
    padded_shape,
    sequence,
    window_out,
)

# im2col elements per GEMM block (8 MiB in float32): few GEMM calls, because each call
# wakes the BLAS worker threads, which costs most on an idle virtual machine (measured
# 56x56x128 -> 128, 3x3: 8.6 ms with 2**19-element blocks, 5.9 ms with 2**21), while
# bounding the buffer whatever the layer's size.
IM2COL_BLOCK_ELEMENTS = 1 << 21


# --------------------------------------------------------------------------- convolution


@dataclass(frozen=True)
class _GemmConvPlan:
    """im2col (or direct, for pointwise) GEMM plan for a standard or grouped convolution."""

    buffers: list[Buffer]
    out_spatial: tuple[int, ...]
    rows_per_block: int  # output rows (of the flattened N*out_spatial) per im2col block
    direct: bool  # pointwise with stride 1 and no cast: GEMM straight on the input


def plan_conv(op: Conv, batch: int, dt: np.dtype[Any]) -> _GemmConvPlan:
    rank = len(op.kernel)
    g = op.groups
    cin, cout = op.in_channels, op.out_channels
    padded = padded_shape(op.in_shape[:-1], op.pads)
    out_sp = window_out(padded, op.kernel, op.stride, op.dilation)
    m = batch * prod(out_sp)
    k = prod(op.kernel) * cin // g
    gdt = compute_dtype(dt)
    pointwise = prod(op.kernel) == 1 and all(p == (0, 0) for p in op.pads)
    direct = pointwise and all(s == 1 for s in op.stride) and g == 1 and gdt == dt
    bufs = [Buffer("w", (*op.kernel, cin // g, cout), dt, "weight", k)]
    if op.bias:
        bufs.append(Buffer("b", (cout,), dt, "weight"))
    # the weights as the GEMM reads them: (groups, K, Cout/groups), in the GEMM precision
    if g > 1 or gdt != dt:
        bufs.append(Buffer("w_gemm", (g, k, cout // g), gdt))
    if any(p != (0, 0) for p in op.pads) and not pointwise:
        bufs.append(Buffer("x_padded", (batch, *padded, cin), dt, "zeros"))
    # blocks of whole output rows (one (n, h) row; a whole item in 1D): the im2col block
    # stays in cache between its copy and its GEMM, and the buffer stays small however
    # large the layer is
    row = prod(out_sp[1:]) if rank > 1 else out_sp[0]
    rows_total = out_sp[0] if rank > 1 else batch
    rows_per_block = max(1, min(rows_total, IM2COL_BLOCK_ELEMENTS // max(row * k * g, 1)))
    if not direct:
        block_m = min(rows_per_block * row, m)
        bufs.append(Buffer("col", (g * block_m * k,), gdt))
        if g > 1 or gdt != dt:
            bufs.append(Buffer("gemm_out", (g * block_m * (cout // g),), gdt))
    bufs.append(Buffer("out", (batch, *out_sp, cout), dt))
    return _GemmConvPlan(bufs, out_sp, rows_per_block, direct)


def build_conv(
    op: Conv,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    p = plan_conv(op, batch, dt)
    arrays = allocate(p.buffers, rng, weights)
    nbytes = sum(b.nbytes for b in p.buffers)
    g, cin, cout = op.groups, op.in_channels, op.out_channels
    cg, og = cin // g, cout // g
    rank = len(op.kernel)
    w, out = arrays["w"], arrays["out"]
    out2 = out.reshape(-1, cout)
    k = prod(op.kernel) * cg
    w_gemm = arrays.get("w_gemm")
    if w_gemm is not None:
        # (*k, cg, Cout) -> (g, K, og): output channel o = gi*og + j reads input group gi
        np.copyto(w_gemm, w.reshape(k, g, og).transpose(1, 0, 2), casting="unsafe")
    bias = arrays.get("b")
    src = arrays.get("x_padded", x)
    interior = (
        slice(None),
        *(slice(b, b + n) for (b, _), n in zip(op.pads, op.in_shape[:-1], strict=True)),
        slice(None),
    )
    copy_in: Callable[[], object] | None = None
    if "x_padded" in arrays:
        padded_interior = arrays["x_padded"][interior]

        def copy_in() -> None:
            np.copyto(padded_interior, x)

    steps: list[Callable[[], object]] = []
    if p.direct:
        w2 = w.reshape(cin, cout)
        x2 = x.reshape(-1, cin)
        steps.append(lambda: np.matmul(x2, w2, out=out2))
    else:
        # window view of the (padded) input: (N, *out, *k, g, cg), read-only
        st = src.strides
        item = src.itemsize
        view = as_strided(
            src,
            shape=(batch, *p.out_spatial, *op.kernel, g, cg),
            strides=(
                st[0],
                *(s * st[1 + i] for i, s in enumerate(op.stride)),
                *(d * st[1 + i] for i, d in enumerate(op.dilation)),
                cg * item,
                item,
            ),
            writeable=False,
        )
        # blocks of rows_per_block rows: (n, h0:h1) in 2D/3D, (n0:n1) in 1D
        if rank > 1:
            blocks = [
                (n, r, min(r + p.rows_per_block, p.out_spatial[0]))
                for n in range(batch)
                for r in range(0, p.out_spatial[0], p.rows_per_block)
            ]
            out_rows = out.reshape(batch, p.out_spatial[0], -1)
        else:
            blocks = [
                (-1, r, min(r + p.rows_per_block, batch)) for r in range(0, batch, p.rows_per_block)
            ]
            out_rows = out.reshape(1, batch, -1)
        col_all, gout_all = arrays["col"], arrays.get("gemm_out")
        wg = w_gemm if w_gemm is not None else w.reshape(1, k, cout)
        for n, r0, r1 in blocks:
            win = view[n, r0:r1] if rank > 1 else view[r0:r1]  # (rows, *out[1:], *k, g, cg)
            dst = out_rows[max(n, 0), r0:r1].reshape(-1, cout)
            mb = dst.shape[0]
            # the block's buffers are contiguous prefixes, so the reshapes below are views
            col = col_all[: g * mb * k].reshape(g, mb, k)
            # (g, rows..., *k, cg) order so that each group's K columns are contiguous
            win_g = np.moveaxis(win, -2, 0)
            col_view = col.reshape(win_g.shape)
            if gout_all is None:
                steps.append(_im2col_gemm(col_view, win_g, col[0], wg[0], dst))
            else:
                gout = gout_all[: g * mb * og].reshape(g, mb, og)
                dst_g = dst.reshape(mb, g, og).transpose(1, 0, 2)
                steps.append(_im2col_gemm_grouped(col_view, win_g, col, wg, gout, dst_g))
    if bias is not None:
        steps.append(lambda: np.add(out2, bias, out=out2))
    if copy_in is not None:
        steps.insert(0, copy_in)
    return Prepared(
        op,
        x,
        out,
        {k_: arrays[k_] for k_ in ("w", "b") if k_ in arrays},
        sequence(steps),
        nbytes,
        (batch, *op.out_shape),
        "pointwise-gemm" if p.direct else "im2col-gemm",
    )


def _im2col_gemm(
    col_view: Array, win: Array, col: Array, w: Array, dst: Array
) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=dst)

    return step


def _im2col_gemm_grouped(
    col_view: Array, win: Array, col: Array, w: Array, gout: Array, dst: Array
) -> Callable[[], object]:
    def step() -> None:
        np.copyto(col_view, win, casting="unsafe")
        np.matmul(col, w, out=gout)  # one GEMM per group, looped in C
        np.copyto(dst, gout, casting="unsafe")

    return step


# --------------------------------------------------------------------------- dense


def plan_dense(op: Dense, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    features = prod(op.in_shape)
    gdt = compute_dtype(dt)
    bufs = [Buffer("w", (features, op.units), dt, "weight", features)]
    if op.bias:
        bufs.append(Buffer("b", (op.units,), dt, "weight"))
    if gdt != dt:
        bufs += [
            Buffer("w_gemm", (features, op.units), gdt),
            Buffer("x_gemm", (batch, features), gdt),
            Buffer("gemm_out", (batch, op.units), gdt),
        ]
    bufs.append(Buffer("out", (batch, op.units), dt))
    return bufs


def build_dense(
    op: Dense,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    bufs = plan_dense(op, batch, dt)
    arrays = allocate(bufs, rng, weights)
    out = arrays["out"]
    x2 = x.reshape(batch, -1)
    steps: list[Callable[[], object]] = []
    if "w_gemm" in arrays:
        w32, x32, o32 = arrays["w_gemm"], arrays["x_gemm"], arrays["gemm_out"]
        np.copyto(w32, arrays["w"])
        steps += [copier(x32, x2), lambda: np.matmul(x32, w32, out=o32), copier(out, o32)]
    else:
        w = arrays["w"]
        steps.append(lambda: np.matmul(x2, w, out=out))
    bias = arrays.get("b")
    if bias is not None:
        steps.append(lambda: np.add(out, bias, out=out))
    return Prepared(
        op,
        x,
        out,
        {k: arrays[k] for k in ("w", "b") if k in arrays},
        sequence(steps),
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "dense-gemm",
    )
