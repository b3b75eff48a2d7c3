"""The tensor layers as ONNX nodes (``sepconv export``, issue 21): ``reshape``,
``transpose``, ``slice``, ``softmax`` and a ``merge: matmul`` row.

Rules (the writer's layout, :mod:`~sepconv_cli.interchange.onnx_build`: a spec shape
``[d0, …, d(r-2), C]`` is the ONNX tensor ``[N, C, d0, …, d(r-2)]``, so spec dim ``i`` is
ONNX dim ``i + 2``, and the last spec dim ONNX dim 1):

- ``reshape``: one ``Reshape`` to the target's ONNX shape (the values' order is the
  writer's, the count the spec's: a reshape counts nothing either way).
- ``transpose``: one ``Transpose``, the spec's ``perm`` mapped to ONNX's dims.
- ``slice``: one ``Slice`` on the mapped axes.
- ``softmax``: one ``Softmax`` on the mapped axis.
- ``merge: matmul``: each operand brought channels-last (a ``Transpose``; a ``Reshape``
  adding 1s after the batch where its rank is the smaller, so the batch lines up), one
  ``MatMul`` (ONNX broadcasts the leading dims as the spec does), and a ``Transpose``
  back. Read back, the ``MatMul`` of two computed tensors counts the row's MACs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sepconv_cli.counting.network import Row
from sepconv_cli.interchange.onnx_build import ExportError, GraphBuilder, emit_activation, nchw
from sepconv_cli.spec.layers import LayerSpec

TENSOR_ROWS = frozenset({"reshape", "transpose", "slice", "softmax", "matmul"})
"""The row types written here."""


def onnx_axis(axis: int, rank: int) -> int:
    """Spec dim ``axis`` of a rank-``rank`` spec shape as its ONNX dim (batch first)."""
    axis %= rank
    return 1 if axis == rank - 1 else axis + 2


def _to_last(g: GraphBuilder, x: str, rank: int, name: str) -> str:
    """An ONNX tensor of a rank-``rank`` spec shape, channels moved last."""
    if rank < 2:
        return x
    return g.node("Transpose", [x], name, perm=[0, *range(2, rank + 1), 1])


def emit_tensor_row(
    g: GraphBuilder,
    row: Row,
    layer: LayerSpec,
    inputs: Sequence[str],
    name: str,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> str:
    """Write ``row`` (a type of :data:`TENSOR_ROWS`, made from ``layer``) reading
    ``inputs`` (of ``shapes``, for a matmul), then its activation; its output."""
    rank = len(row.input_shape)
    x = inputs[0]
    if row.type == "reshape":
        target = np.array(nchw(row.output_shape, 0), np.int64)  # 0: keep the batch
        out = g.node("Reshape", [x, g.constant(f"{name}.shape", target)], name)
    elif row.type == "transpose":
        perm = layer.perm or tuple(range(rank))
        dims = [spec_dim_of_onnx(j, rank) for j in range(1, rank + 1)]
        out = g.node("Transpose", [x], name, perm=[0, *(onnx_axis(perm[d], rank) for d in dims)])
    elif row.type == "slice":
        out = _emit_slice(g, layer, rank, x, name)
    elif row.type == "softmax":
        axis = (layer.axis or (-1,))[0]
        out = g.node("Softmax", [x], name, axis=onnx_axis(axis, rank))
    else:
        if shapes is None or len(shapes) != 2 or len(inputs) != 2:
            raise ExportError(f"{name}: a matmul row needs its two operands' shapes")
        out = _emit_matmul(g, inputs, shapes, name)
    return emit_activation(g, row.activation, out, f"{name}/{row.activation}")


def spec_dim_of_onnx(j: int, rank: int) -> int:
    """ONNX dim ``j`` (≥ 1) of a tensor of a rank-``rank`` spec shape as its spec dim."""
    return rank - 1 if j == 1 else j - 2


def _emit_slice(g: GraphBuilder, layer: LayerSpec, rank: int, x: str, name: str) -> str:
    axes = list(layer.axis or ())
    starts, ends = list(layer.start or ()), list(layer.end or ())
    steps = list(layer.step or (1,) * len(axes))

    def const(key: str, values: list[int]) -> str:
        return g.constant(f"{name}.{key}", np.array(values, np.int64))

    onnx_axes = [onnx_axis(a, rank) for a in axes]
    parts = [const("starts", starts), const("ends", ends), const("axes", onnx_axes)]
    return g.node("Slice", [x, *parts, const("steps", steps)], name)


def _emit_matmul(
    g: GraphBuilder, inputs: Sequence[str], shapes: Sequence[tuple[int, ...]], name: str
) -> str:
    rank = max(len(s) for s in shapes)
    operands = []
    for i, (x, shape) in enumerate(zip(inputs, shapes, strict=True)):
        y = _to_last(g, x, len(shape), f"{name}/operand{i}_to_last")
        if len(shape) < rank:  # 1s after the batch: ONNX aligns the leading dims right
            target = np.array([0, *(1,) * (rank - len(shape)), *shape], np.int64)
            y = g.node("Reshape", [y, g.constant(f"{name}.operand{i}", target)], f"{name}/rank{i}")
        operands.append(y)
    product = g.node("MatMul", operands, name)
    return g.node("Transpose", [product], f"{name}/to_first", perm=[0, rank, *range(1, rank)])
