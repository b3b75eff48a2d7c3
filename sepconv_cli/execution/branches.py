"""The merge of a ``branches`` block and the channel shuffle: data movement only, in NumPy.

Rules
-----
* Concat: ``np.concatenate`` along the channel axis into a prepared output. The chain hands
  the op its first input; the other branches' outputs are seeded random arrays allocated at
  preparation (a timed row measures the copy, as the count's bytes say: every input read
  once, the output written once).
* A channel split needs no kernel: each branch reads its slice of the input in place.
* Shuffle: channels viewed as ``(groups, C/groups)`` and written transposed,
  ``(C/groups, groups)`` — torch's ``channel_shuffle`` — as one strided copy per group
  (``np.copyto``) into a prepared output.
* Both run in the tensors' own dtype; nothing is computed, so every dtype is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Concat, Shuffle
from sepconv_cli.execution.buffers import Array, Buffer, Prepared, allocate


def plan_concat(op: Concat, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    """The other branches' outputs (seeded random) and the output."""
    others = [
        Buffer(f"branch{i}", (batch, *shape), dt, "random")
        for i, shape in enumerate(op.in_shapes[1:], start=1)
    ]
    return [*others, Buffer("out", (batch, *op.out_shape), dt)]


def build_concat(
    op: Concat, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array
) -> Prepared:
    bufs = plan_concat(op, batch, dt)
    arrays = allocate(bufs, rng)
    others = {f"branch{i}": arrays[f"branch{i}"] for i in range(1, len(op.in_shapes))}
    parts = [x, *others.values()]
    out = arrays["out"]
    return Prepared(
        op,
        x,
        out,
        {},
        lambda: np.concatenate(parts, axis=-1, out=out),
        sum(b.nbytes for b in bufs),
        (batch, *op.out_shape),
        "concat",
        others,
    )


def plan_shuffle(op: Shuffle, batch: int, dt: np.dtype[Any]) -> list[Buffer]:
    return [Buffer("out", (batch, *op.in_shape), dt)]


def build_shuffle(
    op: Shuffle, batch: int, dt: np.dtype[Any], rng: np.random.Generator, x: Array
) -> Prepared:
    bufs = plan_shuffle(op, batch, dt)
    out = allocate(bufs, rng)["out"]
    per_group = op.in_shape[-1] // op.groups
    # output channel j*groups + k is input channel k*per_group + j: group k's channels go,
    # in order, to every groups-th output channel from k. One copy per group keeps the inner
    # loop per_group long; a single copy over a (per_group, groups) view loops over groups
    # (2 in ShuffleNet) innermost and is ~5x slower
    copies = [
        (out[..., k :: op.groups], x[..., k * per_group : (k + 1) * per_group])
        for k in range(op.groups)
    ]

    def run() -> None:
        for target, source in copies:
            np.copyto(target, source)

    return Prepared(
        op,
        x,
        out,
        {},
        run,
        out.nbytes,
        (batch, *op.out_shape),
        "shuffle",
    )
