"""NumPy execution of a squeeze-and-excite (issue 13): its parts run on the other kernels.

Global average pool (:mod:`sepconv_cli.execution.pooling`), two pointwise GEMMs with bias on
the pooled ``(N, 1, …, 1, C)`` map (:mod:`sepconv_cli.execution.gemm`), then the channel-wise
multiply of the block's input by the result (:mod:`sepconv_cli.execution.elementwise`). Its
activation and gate are not executed (no activation is, anywhere: they are not counted
either). Weights, when given, are ``squeeze_w``, ``squeeze_b``, ``excite_w``, ``excite_b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sepconv_cli.counting.ops import SqueezeExcite
from sepconv_cli.execution import elementwise, gemm, pooling
from sepconv_cli.execution.buffers import Array, Buffer, Prepared, sequence


def plan(op: SqueezeExcite, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    pool, squeeze, excite, scale = op.parts
    return [
        *pooling.plan(pool, batch, dt),
        *gemm.plan_conv(squeeze, batch, dt).buffers,
        *gemm.plan_conv(excite, batch, dt).buffers,
        *elementwise.plan_scale(scale, batch, dt, gate=False),
    ]


def build(
    op: SqueezeExcite,
    batch: int,
    dt: np.dtype[Any],
    rng: np.random.Generator,
    x: Array,
    weights: dict[str, Array] | None,
) -> Prepared:
    pool, squeeze, excite, scale = op.parts
    given = weights or {}

    def conv_weights(prefix: str) -> dict[str, Array]:
        return {k: given[f"{prefix}_{k}"] for k in ("w", "b") if f"{prefix}_{k}" in given}

    pooled = pooling.build(pool, batch, dt, rng, x)
    pooled_map = pooled.out.reshape(batch, *squeeze.in_shape)  # (N, C) as (N, 1, ..., 1, C)
    down = gemm.build_conv(squeeze, batch, dt, rng, pooled_map, conv_weights("squeeze"))
    up = gemm.build_conv(excite, batch, dt, rng, down.out, conv_weights("excite"))
    multiply = elementwise.build_scale(scale, batch, dt, rng, x, up.out)
    parts = (pooled, down, up, multiply)
    made = {
        f"{name}_{k}": v
        for name, p in (("squeeze", down), ("excite", up))
        for k, v in p.weights.items()
    }
    return Prepared(
        op,
        x,
        multiply.out,
        made,  # the weights the two GEMMs were built with
        sequence([p.run for p in parts]),
        sum(p.nbytes for p in parts),
        (batch, *op.out_shape),
        "squeeze-excite",
    )
