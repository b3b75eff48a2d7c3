"""NumPy execution of a layer norm (an ONNX file's ``LayerNormalization``).

Rules
-----
* The tensor ``(N, *in_shape)`` is viewed as rows of the ``normalized`` trailing values the
  model normalizes over (its own layout: the op's ``in_shape`` is the file's order, batch
  dropped). Per row: ``out = (x - mean) / sqrt(var + eps) * scale + bias``, ``eps`` the
  op's ``epsilon`` (the time does not depend on it), ``scale`` and ``bias``
  of shape ``(normalized,)`` where the model has them.
* The statistics and the result are computed in place in prepared buffers (nothing is
  allocated on the timed path): the row means and variances ``(rows, 1)``, the squares,
  and the output, which also holds ``x - mean`` on the way.
* Precision: float32 and float64 in their own dtype; float16 in NumPy's float16 loops with
  the statistics in float32 (a float16 sum of 768 values loses its last digits).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sepconv_cli.counting.ops import LayerNorm
from sepconv_cli.execution.buffers import Array, Buffer, Prepared, allocate


def plan(op: LayerNorm, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    rows = batch * int(np.prod(op.in_shape)) // op.normalized
    stats = np.dtype(np.float32) if dt == np.float16 else dt
    learned = [
        Buffer(name, (op.normalized,), dt, "random")
        for name, present in (("scale", op.scale), ("bias", op.bias))
        if present
    ]
    return [
        *learned,
        Buffer("mean", (rows, 1), stats),
        Buffer("var", (rows, 1), stats),
        Buffer("squares", (rows, op.normalized), stats),
        Buffer("out", (batch, *op.in_shape), dt),
    ]


def build(
    op: LayerNorm,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    bufs = plan(op, batch, dt)
    arrays = allocate(bufs, rng, weights)
    out = arrays["out"]
    rows = x.reshape(-1, op.normalized)
    centred = out.reshape(-1, op.normalized)
    mean, var, squares = arrays["mean"], arrays["var"], arrays["squares"]
    scale = arrays.get("scale")
    bias = arrays.get("bias")

    def run() -> None:
        np.mean(rows, axis=1, keepdims=True, out=mean, dtype=mean.dtype)
        np.subtract(rows, mean, out=centred, casting="unsafe")
        np.square(centred, out=squares, dtype=squares.dtype)
        np.mean(squares, axis=1, keepdims=True, out=var)
        np.add(var, op.epsilon, out=var)
        np.sqrt(var, out=var)
        np.divide(centred, var, out=centred, casting="unsafe")
        if scale is not None:
            np.multiply(centred, scale, out=centred)
        if bias is not None:
            np.add(centred, bias, out=centred)

    learned = {k: v for k in ("scale", "bias") if (v := arrays.get(k)) is not None}
    return Prepared(
        op,
        x,
        out,
        learned,
        run,
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "layer-norm",
    )
