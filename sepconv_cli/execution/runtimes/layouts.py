"""NumPy's channels-last tensors and weight layouts → the NCHW layouts ONNX and PyTorch use.

Every runtime other than NumPy is fed the very input and weights NumPy's kernels were
prepared with (:mod:`sepconv_cli.execution.kernels` states their layouts), converted here,
so agreement compares one computation, not two random draws:

* activations ``(N, *spatial, C)`` → ``(N, C, *spatial)``; a flat ``(N, C)`` is unchanged;
* convolution ``(*kernel, Cin/groups, Cout)`` → ``(Cout, Cin/groups, *kernel)``; a
  depthwise one (NumPy's ``(*kernel, C, M)``, output channel ``c*M + m``) →
  ``(C*M, 1, *kernel)``, which is the same channel order;
* dense ``(features, units)`` with features in channels-last order → ``(units, features)``
  with features in channels-first order (what flattening an NCHW tensor gives);
* batch-norm ``scale``, ``shift`` → ``scale``, ``bias``, ``mean = 0``, ``var = 1 - eps``
  (so ``scale / sqrt(var + eps)`` is ``scale``: NumPy's folded inference form);
* a form of layer norms (an ONNX file's) keeps its tensor's own layout, the file's, whose
  normalized dims are the trailing ones: no NCHW conversion, and its ``scale`` and
  ``bias`` reshaped from ``(normalized,)`` to those trailing dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.counting.ops import Conv, Dense, LayerNorm, Op
from sepconv_cli.execution.buffers import Array

BN_EPSILON = 1e-5  # ONNX's and torch's default


def to_channels_first(x: Array) -> Array:
    """``(N, *spatial, C)`` → contiguous ``(N, C, *spatial)``; ``(N, C)`` as it is."""
    if x.ndim <= 2:
        return np.ascontiguousarray(x)
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def to_channels_last(x: Array) -> Array:
    """The inverse of :func:`to_channels_first`."""
    if x.ndim <= 2:
        return np.asarray(x)
    return np.moveaxis(x, 1, -1)


def is_depthwise(op: Conv) -> bool:
    """NumPy's depthwise kernel (and its ``(*kernel, C, M)`` weights) runs this conv."""
    return op.groups > 1 and op.groups == op.in_channels


def conv_weight(op: Conv, w: Array) -> Array:
    """NumPy's convolution weights → ``(Cout, Cin/groups, *kernel)``."""
    rank = len(op.kernel)
    if is_depthwise(op):
        flat = w.reshape(*op.kernel, op.out_channels)  # (*k, C, M) → (*k, C*M): o = c*M + m
        return np.ascontiguousarray(np.moveaxis(flat, -1, 0)[:, None])
    return np.ascontiguousarray(np.transpose(w, (rank + 1, rank, *range(rank))))


def dense_weight(op: Dense, w: Array) -> Array:
    """NumPy's ``(features, units)`` → ``(units, features)`` over an NCHW flattening."""
    if len(op.in_shape) > 1:
        grid = w.reshape(*op.in_shape, op.units)
        w = np.moveaxis(grid, len(op.in_shape) - 1, 0).reshape(prod(op.in_shape), op.units)
    return np.ascontiguousarray(w.T)


def batch_norm_params(weights: dict[str, Array]) -> dict[str, Array]:
    """NumPy's folded ``scale`` and ``shift`` as the four tensors of an inference
    batch-norm."""
    scale = np.asarray(weights["scale"])
    dt: Any = scale.dtype
    return {
        "scale": np.ascontiguousarray(scale),
        "bias": np.ascontiguousarray(weights["shift"]),
        "mean": np.zeros_like(scale),
        "var": np.full_like(scale, 1 - BN_EPSILON, dtype=dt),
    }


def keeps_layout(ops: Sequence[Op]) -> bool:
    """A form of layer norms runs on its tensor as the file lays it out."""
    return bool(ops) and all(isinstance(op, LayerNorm) for op in ops)


def to_runtime(x: Array, ops: Sequence[Op]) -> Array:
    """NumPy's input for ``ops`` in the layout the runtime is given."""
    return np.ascontiguousarray(x) if keeps_layout(ops) else to_channels_first(x)


def from_runtime(y: Array, ops: Sequence[Op]) -> Array:
    """The runtime's output of ``ops`` in NumPy's layout."""
    return np.asarray(y) if keeps_layout(ops) else to_channels_last(y)
