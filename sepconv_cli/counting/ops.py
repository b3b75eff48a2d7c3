"""Exact integer cost of primitive operations: output shapes, MACs, FLOPs, parameters, bytes.

Pure arithmetic on Python ints (never floats, never NumPy), so counts stay exact at any size
and ``sepconv cost`` starts fast. One class per primitive operation, each with its own cost
rule, in three modules by role: :mod:`window_ops` (convolutions, dense layers, pools),
:mod:`channel_ops` (norms, adds, scales, squeeze-excite, concats, shuffles, free data
movement) and :mod:`tensor_ops` (products, recurrent layers, elementwise and reductions of
model files). This module is their one ``Op`` union, imported by everything that counts,
with the activations' FLOPs and the whole-form cost.

The rules these functions implement (channels-last shapes with the batch apart, the output
size and TensorFlow's ``same`` padding, a bias is not a MAC, FLOPs = 2·MACs plus the bias
adds, batch-norm counted in ``params``, what ``bytes_moved`` assumes) are stated once, in
:mod:`sepconv_cli.counting.conventions`: the JSON ``conventions``, the ``--help`` text, the
table footers and ``docs/conventions.md`` are all produced from that one table. A change
of rule here is a change of text there.

The window arithmetic the operations share (output sizes, padding, pooling windows,
:class:`ShapeError`) is :mod:`sepconv_cli.counting.shapes`; the :class:`Cost` record and
how costs combine is :mod:`sepconv_cli.counting.cost`.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Literal

from sepconv_cli.counting.channel_ops import (
    Add,
    BatchNorm,
    Concat,
    LayerNorm,
    Passthrough,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.counting.cost import Cost as Cost
from sepconv_cli.counting.cost import chain
from sepconv_cli.counting.tensor_ops import (
    Elementwise,
    GroupNorm,
    Product,
    Recurrent,
    Reduce,
)
from sepconv_cli.counting.window_ops import (
    Conv,
    ConvRole,
    ConvTranspose,
    Dense,
    Pool,
    PoolKind,
    cached_once,
)

# bytes per value: defined with the dtypes a spec accepts, re-exported for the counting code
from sepconv_cli.spec.fields import DTYPE_BYTES as DTYPE_BYTES

__all__ = [
    "DTYPE_BYTES",
    "Add",
    "BatchNorm",
    "Concat",
    "Conv",
    "ConvRole",
    "ConvTranspose",
    "Cost",
    "Dense",
    "Elementwise",
    "GroupNorm",
    "LayerNorm",
    "Op",
    "Passthrough",
    "Pool",
    "PoolKind",
    "Product",
    "Recurrent",
    "Reduce",
    "Role",
    "Scale",
    "Shuffle",
    "SqueezeExcite",
    "activation_flops",
    "cached_once",
    "ops_cost",
    "theory_ratio",
]

Role = Literal[
    ConvRole,
    "dense",
    "pool",
    "batch_norm",
    "add",
    "scale",
    "squeeze_excite",
    "concat",
    "shuffle",
    "conv_transpose",
    "shape",
    "product",
    "recurrent",
    "elementwise",
    "reduce",
    "normalization",
]
"""What an operation is, as reports and JSON name it and as execution picks its kernel."""


# --------------------------------------------------------------------------- all operations

Op = (
    Conv
    | Dense
    | Pool
    | BatchNorm
    | LayerNorm
    | Add
    | Scale
    | SqueezeExcite
    | Concat
    | Shuffle
    | ConvTranspose
    | Passthrough
    | Product
    | Recurrent
    | Elementwise
    | Reduce
    | GroupNorm
)


# --------------------------------------------------------------------------- activations

ACTIVATION_FLOPS: dict[str, int] = {
    "none": 0,
    "relu": 1,  # max(x, 0)
    "relu6": 2,  # min(max(x, 0), 6)
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6
    "hardswish": 5,  # x · hardsigmoid(x)
    "sigmoid": 4,  # 1 / (1 + exp(-x)): negate, exp, add, divide
    "silu": 5,  # x · sigmoid(x)
    "gelu": 5,  # x / 2 · (1 + erf(x / √2)): divide, erf, add, multiply, halve
    "tanh": 1,  # a primitive, counted as one like exp and erf
    "leaky_relu": 2,  # max(x, a·x): multiply, max (whatever the slope a)
    # exp(x - max) / sum over the channels: the compare into the max, the subtraction, the
    # exp, the add into the sum, the division (a classifier's last activation, Keras-style)
    "softmax": 5,
}
"""FLOPs per element of each activation function: one per arithmetic operation of its
formula, an ``exp`` or ``erf`` counted as one (sepconv's convention, stated in
counting/conventions.py; ptflops and mmcv count every ReLU-like function as 1)."""


def activation_flops(function: str, elements: int) -> int:
    """FLOPs of ``function`` applied to ``elements`` values (kept apart from ``flops``)."""
    return ACTIVATION_FLOPS[function] * elements


def ops_cost(ops: Sequence[Op], batch: int, itemsize: int) -> Cost:
    """Cost of a sequence of operations (one form of a layer)."""
    return chain([op.cost(batch, itemsize) for op in ops])


def theory_ratio(out_channels: int, kernel: Sequence[int]) -> tuple[int, int]:
    """The MobileNet closed form ``1/Cout + 1/prod(k)`` as an exact (numerator, denominator).

    It is exactly separable/standard MACs when M = 1 and groups = 1.

    >>> theory_ratio(256, (5, 5))
    (281, 6400)
    """
    from math import gcd

    k = prod(kernel)
    num, den = k + out_channels, out_channels * k
    g = gcd(num, den)
    return num // g, den // g
