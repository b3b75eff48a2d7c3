"""A ``learned`` layer and a ``concat`` along another dim than the channels as ONNX nodes
(``sepconv export``), written so that the ONNX reader counts them as the spec does and
``export-spec`` reads them back (:mod:`~sepconv_cli.interchange.spec_tables`). The writer's
layout (:mod:`~sepconv_cli.interchange.onnx_build`): a spec shape ``[d0, …, C]`` is the
ONNX tensor ``[N, C, d0, …]``.

- ``learned``: one ``Add`` (or ``Mul``) of the input and an initializer, its table: the
  spec shape padded with leading 1s to the input's dims, then in ONNX's order
  ``[1, C, d0, …]``, so ONNX broadcasts it as the spec does; seeded values.
- ``concat`` with an ``axis``: one ``Concat`` of the named tensors along that dim's ONNX
  axis (the channels: 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from sepconv_cli.counting.network import Row
from sepconv_cli.interchange.onnx_build import GraphBuilder, emit_activation, nchw
from sepconv_cli.interchange.onnx_tensor_emit import onnx_axis
from sepconv_cli.spec.layers import LayerSpec

TABLE_ROWS = frozenset({"learned"})
"""The leaf row types written here (a concat with an axis is written here too)."""


def emit_table_row(
    g: GraphBuilder,
    row: Row,
    layer: LayerSpec,
    inputs: Sequence[str],
    name: str,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> str:
    """Write ``row`` (a ``learned`` row, or a ``concat`` with an ``axis`` reading
    ``inputs``), then its activation."""
    if row.type == "concat":
        axis = onnx_axis((layer.axis or (-1,))[0], len(row.input_shape))
        out = g.node("Concat", list(inputs), name, axis=axis)
    else:
        table = tuple(layer.shape or ())
        padded = (1,) * (len(row.input_shape) - len(table)) + table
        weight = g.weight(f"{name}.table", nchw(padded, 1), 1)
        op = "Mul" if layer.operation == "mul" else "Add"
        out = g.node(op, [inputs[0], weight], name)
    return emit_activation(g, row.activation, out, f"{name}/{row.activation}")
