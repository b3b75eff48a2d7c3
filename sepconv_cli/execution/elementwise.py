"""Batch normalisation, the residual add and the channel-wise multiply: one elementwise pass
each, in NumPy's ufunc loops.

Rules
-----
* Batch-norm is the inference form, ``out = x * scale + shift`` per channel, with ``scale``
  and ``shift`` of shape ``(C,)`` (the folded ``gamma / sqrt(var + eps)`` and
  ``beta - mean * scale``). Both vectors are tiled once, at preparation, along the last
  spatial dim (where there is one), so each multiply and add runs over whole contiguous
  rows of ``W*C`` elements rather than broadcasting a ``C``-element vector row by row.
* The add reads its two operands in place (the chain's output and the residual) and writes
  a new output; shapes must agree exactly.
* The channel-wise multiply (squeeze-and-excite's last step) reads its tensor and its gate
  (one value per item and channel, shape ``(N, 1, …, 1, C)``) in place and writes a new
  output, broadcasting the gate over the spatial positions.
* Precision: all three run in the tensors' own dtype, float16 included (NumPy's float16 loops;
  no GEMM to widen for).
"""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Add, BatchNorm, Scale
from sepconv_cli.execution.buffers import Array, Buffer, Prepared, allocate


def _flat2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, row length) with the last spatial dim and the channels coalesced, so that a
    per-channel vector tiled along that dim broadcasts over whole contiguous rows."""
    if len(shape) >= 3:
        return prod(shape[:-2]), shape[-2] * shape[-1]
    return prod(shape[:-1]), shape[-1]


def plan_batch_norm(op: BatchNorm, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    c = op.in_shape[-1]
    row = _flat2d((batch, *op.in_shape))[1]
    return [
        Buffer("scale", (c,), dt, "random"),
        Buffer("shift", (c,), dt, "random"),
        Buffer("scale_tiled", (row,), dt),
        Buffer("shift_tiled", (row,), dt),
        Buffer("out", (batch, *op.in_shape), dt),
    ]


def build_batch_norm(
    op: BatchNorm,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    bufs = plan_batch_norm(op, batch, dt)
    arrays = allocate(bufs, rng, weights)
    rows, row = _flat2d((batch, *op.in_shape))
    reps = row // op.in_shape[-1]
    np.copyto(arrays["scale_tiled"], np.tile(arrays["scale"], reps))
    np.copyto(arrays["shift_tiled"], np.tile(arrays["shift"], reps))
    out = arrays["out"]
    x2, o2 = x.reshape(rows, row), out.reshape(rows, row)
    scale, shift = arrays["scale_tiled"], arrays["shift_tiled"]

    def run() -> None:
        np.multiply(x2, scale, out=o2)
        np.add(o2, shift, out=o2)

    return Prepared(
        op,
        x,
        out,
        {"scale": arrays["scale"], "shift": arrays["shift"]},
        run,
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "batch-norm",
    )


def build_add(
    op: Add, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array, residual: Array
) -> Prepared:
    bufs = [Buffer("out", (batch, *op.in_shape), dt)]
    out = allocate(bufs, rng)["out"]
    if residual.shape != out.shape:
        raise ValueError(f"residual must have shape {out.shape}, got {residual.shape}")
    return Prepared(
        op,
        x,
        out,
        {},
        lambda: np.add(x, residual, out=out),
        out.nbytes,
        (batch, *op.out_shape),
        "add",
        {"residual": residual},
    )


def plan_scale(op: Scale, batch: int, dt: np.dtype[Any], *, gate: bool = True) -> list[Buffer]:
    """The output, and a seeded random gate unless the caller gives one."""
    bufs = [Buffer("gate", (batch, *op.gate_shape), dt, "random")] if gate else []
    return [*bufs, Buffer("out", (batch, *op.in_shape), dt)]


def build_scale(
    op: Scale,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    gate: Array | None = None,
) -> Prepared:
    """``out = x * gate`` per item and channel; ``gate`` defaults to seeded random values."""
    bufs = plan_scale(op, batch, dt, gate=gate is None)
    arrays = allocate(bufs, rng)
    out = arrays["out"]
    g = arrays["gate"] if gate is None else gate
    if g.shape != (batch, *op.gate_shape):
        raise ValueError(f"gate must have shape {(batch, *op.gate_shape)}, got {g.shape}")
    return Prepared(
        op,
        x,
        out,
        {},
        lambda: np.multiply(x, g, out=out),
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "scale",
        {"gate": g},
    )
