"""``elementwise`` and ``expand`` rows as ONNX nodes (``sepconv export``), written so that
the ONNX reader counts them as the spec does and ``export-spec`` reads them back
(:mod:`~sepconv_cli.interchange.spec_elementwise`). The writer's layout
(:mod:`~sepconv_cli.interchange.onnx_build`): a spec shape ``[d0, …, C]`` is the ONNX
tensor ``[N, C, d0, …]``.

- ``elementwise``: its ``operation``'s node (``Add``, ``Sub``, ``Mul``, ``Div``, ``Pow``
  of the input and a one-value constant, 2, which is no identity the reader would skip;
  ``Sqrt``, ``Reciprocal``... of the input alone); none without one (only its
  activation, on an ``Identity``).
- ``expand``: one ``Expand`` to ``[1, C, d0, …]`` (the batch broadcasts as it is).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sepconv_cli.counting.network import Row
from sepconv_cli.interchange.onnx_build import GraphBuilder, emit_activation, nchw
from sepconv_cli.spec.elementwise_more import ARITHMETIC, FUNCTIONS
from sepconv_cli.spec.layers import LayerSpec

ELEMENTWISE_ROWS = frozenset({"elementwise", "expand"})
"""The row types written here."""


def emit_elementwise_row(
    g: GraphBuilder,
    row: Row,
    layer: LayerSpec,
    inputs: Sequence[str],
    name: str,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> str:
    """Write ``row`` (a type of :data:`ELEMENTWISE_ROWS`, made from ``layer``) reading
    ``inputs[0]``, then its activation."""
    x = inputs[0]
    if row.type == "expand":
        target = np.array(nchw(row.output_shape, 1), np.int64)
        out = g.node("Expand", [x, g.constant(f"{name}.shape", target)], name)
    elif layer.operation in ARITHMETIC:
        out = g.node(ARITHMETIC[layer.operation], [x, g.scalar(f"{name}.c", 2.0)], name)
    elif layer.operation in FUNCTIONS:
        out = g.node(FUNCTIONS[layer.operation], [x], name)
    else:  # only its activation
        out = g.node("Identity", [x], name)
    return emit_activation(g, row.activation, out, f"{name}/{row.activation}")
